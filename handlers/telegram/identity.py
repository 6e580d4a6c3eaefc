"""One person, one vote on Telegram (`[voting] identity = "phone"` or `"code"`): when a vote
needs the citizen to show who they are, the screens that ask and the answers.

Phone: a notice (why, what is kept, for how long) and a reply keyboard with Telegram's "share
my contact" button. A contact counts only when it is the sender's own (`contact.user_id` is
the sender): a forwarded contact card is someone else's number. Code: the citizen types the
code printed on their paper.

Either way the chat session remembers the case being voted for (WAITING), so once the citizen
is known they go straight to that case's confirmation. Nothing here logs a number or a code."""

from __future__ import annotations

from datetime import timedelta

from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.domain import Identity, VoteOutcome
from bot.i18n import plain, t
from bot.phrases import when
from bot.services.identity import MAX_WRONG_CODES, CodeOutcome, PhoneOutcome, normalize_code
from handlers.telegram import callbacks as cb
from handlers.telegram.common import Screen, Turn, begin_turn, show
from handlers.telegram.views import button

# user_data: what the citizen is showing who they are for: {"w": PHONE or CODE, "k": campaign
# id, "c": case id}. Dropped by any command or button (handlers/telegram/setup.py).
WAITING = "identity_wait"
PHONE = "phone"
CODE = "code"


def _cancel_code(turn: Turn, case_id: int) -> list:
    assert turn.campaign is not None
    return [[button(plain(turn.language, "identity_telegram.code.cancel"),
                    cb.CancelVote(turn.campaign.id, case_id, cb.ListState()))]]


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn, case_id: int,
              outcome: VoteOutcome) -> None:
    """A vote answered NEEDS_PHONE or NEEDS_CODE: ask, and remember the case."""
    campaign, lang = turn.campaign, turn.language
    assert campaign is not None and context.user_data is not None
    if outcome is VoteOutcome.NEEDS_CODE:
        context.user_data[WAITING] = {"w": CODE, "k": campaign.id, "c": case_id}
        await show(update, Screen(t(lang, "identity_telegram.code.ask"),
                                  _cancel_code(turn, case_id)))
        return
    context.user_data[WAITING] = {"w": PHONE, "k": campaign.id, "c": case_id}
    # Personal data is removed `retention_days` after the last phase ends.
    until = campaign.span()[1] + timedelta(days=campaign.retention_days)
    text = t(lang, "identity_telegram.phone.notice", days=campaign.retention_days,
             until=when(campaign, until, lang))
    # A reply keyboard (under the text field): only it can ask Telegram for the contact.
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(plain(lang, "identity_telegram.phone.share"), request_contact=True)],
         [KeyboardButton(plain(lang, "identity_telegram.phone.cancel"))]],
        resize_keyboard=True, one_time_keyboard=True)
    chat = update.effective_chat
    assert chat is not None  # a vote is asked in a chat
    await update.get_bot().send_message(chat.id, text, parse_mode=ParseMode.HTML,
                                        reply_markup=keyboard)


def _waiting(context: ContextTypes.DEFAULT_TYPE, turn: Turn, kind: str) -> int | None:
    """The case the citizen is showing who they are for, if they are, for this campaign."""
    waiting = (context.user_data or {}).get(WAITING)
    campaign = turn.campaign
    if (not isinstance(waiting, dict) or waiting.get("w") != kind or campaign is None
            or waiting.get("k") != campaign.id
            or campaign.rules.identity is not Identity(kind)):
        return None
    case_id = waiting.get("c")
    return case_id if isinstance(case_id, int) else None


async def _to_confirmation(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn,
                           case_id: int) -> None:
    from handlers.telegram import vote  # vote asks here: imported when needed, no circle

    assert turn.campaign is not None
    await vote.ask_vote(update, context, turn, cb.AskVote(turn.campaign.id, case_id,
                                                          cb.ListState()))


async def on_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A shared contact: the citizen's own number, when a vote waits for it."""
    turn = await begin_turn(update, context)
    message, user, lang = update.effective_message, update.effective_user, turn.language
    assert message is not None and user is not None  # registered for contact messages
    contact = message.contact
    if contact is None or contact.user_id is None or contact.user_id != user.id:
        # A forwarded card, or one typed in by hand: not proof of the sender's number.
        await message.reply_text(t(lang, "identity_telegram.phone.not_yours"),
                                 parse_mode=ParseMode.HTML)
        return
    case_id = _waiting(context, turn, PHONE)
    if case_id is None:  # the least data: a number nobody asked for is not kept
        (context.user_data or {}).pop(WAITING, None)
        await message.reply_text(t(lang, "identity_telegram.phone.not_waiting"),
                                 reply_markup=ReplyKeyboardRemove())
        return
    outcome = await turn.services.identity.verify_phone(turn.citizen, contact.phone_number)
    if outcome is PhoneOutcome.INVALID:
        await message.reply_text(t(lang, "identity_telegram.phone.invalid"))
        return
    (context.user_data or {}).pop(WAITING, None)
    said = "verified" if outcome is PhoneOutcome.VERIFIED else "other_number"
    await message.reply_text(t(lang, f"identity_telegram.phone.{said}"),
                             reply_markup=ReplyKeyboardRemove())
    await _to_confirmation(update, context, turn, case_id)


async def typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Typed text while the citizen is showing who they are: a voting code, or the phone
    keyboard's cancel key. False when nothing of this waits for it."""
    waiting = (context.user_data or {}).get(WAITING)
    if not waiting:
        return False
    turn = await begin_turn(update, context)
    message = update.effective_message
    assert message is not None  # registered for text messages
    lang, text = turn.language, message.text or ""
    if isinstance(waiting, dict) and waiting.get("w") == PHONE:
        if text.strip() != plain(lang, "identity_telegram.phone.cancel"):
            return False  # anything else is read as usual; the number is still awaited
        (context.user_data or {}).pop(WAITING, None)
        await message.reply_text(t(lang, "identity_telegram.phone.cancelled"),
                                                  reply_markup=ReplyKeyboardRemove())
        from handlers.telegram import start

        await start.main_menu(update, turn)
        return True
    case_id = _waiting(context, turn, CODE)
    campaign = turn.campaign
    if case_id is None or campaign is None:
        (context.user_data or {}).pop(WAITING, None)
        return False
    if normalize_code(text) is None:  # not counted as a wrong try: it is not a code at all
        await show(update, Screen(t(lang, "identity_telegram.code.not_a_code"),
                                  _cancel_code(turn, case_id)))
        return True
    result = await turn.services.identity.redeem_code(campaign, turn.citizen, text)
    if result.outcome in (CodeOutcome.ACCEPTED, CodeOutcome.HAS_OTHER):
        (context.user_data or {}).pop(WAITING, None)
        said = "accepted" if result.outcome is CodeOutcome.ACCEPTED else "has_other"
        await message.reply_text(t(lang, f"identity_telegram.code.{said}"))
        await _to_confirmation(update, context, turn, case_id)
        return True
    if result.outcome is CodeOutcome.TOO_MANY:
        assert result.retry_at is not None
        answer = t(lang, "identity_telegram.code.too_many",
                   time=when(campaign, result.retry_at, lang))
    elif result.outcome is CodeOutcome.USED:
        answer = t(lang, "identity_telegram.code.used")
    else:
        answer = t(lang, "identity_telegram.code.wrong", tries=MAX_WRONG_CODES)
    await show(update, Screen(answer, _cancel_code(turn, case_id)))
    return True
