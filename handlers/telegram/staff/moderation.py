"""/moderate and /hide: moderators approve or reject submitted cases one at a time (a rejection
asks for the reason as the next typed message) and hide approved ones. The submitter is told
each decision by the service (a case notice, in their channel and language), not from here."""

from __future__ import annotations

from telegram import InlineKeyboardButton, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
)

from bot.domain import Campaign, Case, Role
from bot.i18n import plain, t
from bot.services.moderation import ModerationOutcome, ModerationResult, Submitter
from bot.services.staff import actor
from bot.text import shorten
from handlers.telegram.common import (
    CHANNEL,
    PRIVATE,
    TELEGRAM_PHOTO,
    Screen,
    Turn,
    begin_turn,
    send_case_photo,
    show,
)
from handlers.telegram.staff.access import StaffButton, campaign_turn, staff_only, staff_pattern
from handlers.telegram.staff.pending import awaiting_text

AREA = "m"
AWAITING_REASON = "operations.reject_case"  # user_data: (campaign id, case id)
BODY_PREVIEW = 2500  # the card stays well under Telegram's 4096


def _button(lang: str, label: str, action: str, *args: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(plain(lang, label),
                                callback_data=StaffButton(AREA, action, args).encode())


def case_screen(lang: str, campaign: Campaign, case: Case, waiting: int,
                submitter: Submitter | None = None) -> Screen:
    text = case.text(lang)
    district = campaign.district(case.district)
    category = campaign.category(case.category)
    body = t(lang, "operations.moderation.card", id=case.id, waiting=waiting, title=text.title,
             district=district.name.get(lang) if district else case.district,
             neighbourhood=campaign.neighbourhood_name(case, lang),
             category=category.name.get(lang) if category else case.category,
             organization=text.organization, summary=text.summary,
             body=shorten(text.body, BODY_PREVIEW))
    if submitter is not None and submitter.citizen.channel == CHANNEL:
        kind = plain(lang, f"submission.type.{submitter.kind or 'individual'}")
        body += "\n\n" + t(lang, "operations.moderation.sent_by_chat", reference=case.key,
                             kind=kind, user=submitter.citizen.external_id)
    if submitter is not None and submitter.contact:
        body += "\n" + t(lang, "operations.moderation.contact", contact=submitter.contact)
    ids = (str(campaign.id), str(case.id))
    return Screen(body, [[_button(lang, "operations.moderation.button_approve", "ok", *ids),
                          _button(lang, "operations.moderation.button_reject", "no", *ids)]])


async def show_next(update: Update, turn: Turn, new_message: bool = False) -> None:
    queue = await turn.services.moderation.queue(turn.campaign)
    if not queue:
        await show(update, Screen(t(turn.language, "operations.moderation.empty")), new_message)
        return
    case = queue[0]
    if case.image and case.image.startswith(TELEGRAM_PHOTO):  # the photo sent in with it
        new_message = await send_case_photo(update, case.image, f"#{case.id}") or new_message
    submitter = await turn.services.moderation.submitter(case)
    await show(update, case_screen(turn.language, turn.campaign, case, len(queue), submitter),
               new_message)


def refusal(lang: str, result: ModerationResult, case_id: int, hiding: bool = False) -> str:
    if result.outcome is ModerationOutcome.BAD_REASON:
        return t(lang, "operations.moderation.bad_reason")
    if result.outcome is ModerationOutcome.UNKNOWN_CASE:
        return t(lang, "operations.moderation.unknown_case", id=case_id)
    key = "not_approved" if hiding else "not_submitted"
    return t(lang, f"operations.moderation.{key}", id=case_id)


@staff_only(Role.MODERATOR)
async def moderate_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await campaign_turn(update, context)
    if turn is None:
        return
    await show_next(update, turn)


@staff_only(Role.MODERATOR)
async def hide_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await campaign_turn(update, context)
    if turn is None:
        return
    lang, campaign = turn.language, turn.campaign
    args = context.args or []
    number = args[0].lstrip("#") if args else ""
    if len(args) < 2 or not (number.isascii() and number.isdigit() and len(number) < 10):
        await show(update, Screen(t(lang, "operations.moderation.hide_usage")))
        return
    case_id = int(number)
    # The reason as typed, after the case number (keeps the staff member's spacing).
    reason = update.effective_message.text.split(None, 2)[2]
    result = await turn.services.moderation.hide(
        campaign, case_id, actor(CHANNEL, str(update.effective_user.id)), reason)
    if result.outcome is not ModerationOutcome.DONE:
        await show(update, Screen(refusal(lang, result, case_id, hiding=True)))
        return
    await show(update, Screen(t(lang, "operations.moderation.hidden", id=case_id,
                                title=result.case.text(lang).title)))


@staff_only(Role.MODERATOR)
async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    turn = await begin_turn(update, context)
    lang, campaign = turn.language, turn.campaign
    button = StaffButton.decode(query.data)
    if button is not None and button.action == "x":
        context.user_data.pop(AWAITING_REASON, None)
        await query.answer()
        await show(update, Screen(t(lang, "operations.cancelled")))
        return
    campaign_id = button.int_arg(0) if button else None
    case_id = button.int_arg(1) if button else None
    if (button is None or button.action not in ("ok", "no") or case_id is None
            or campaign is None or campaign.id != campaign_id):
        await query.answer(plain(lang, "expired"), show_alert=True)
        return
    await query.answer()
    context.user_data.pop(AWAITING_REASON, None)  # a new decision: no reason is awaited now
    moderation = turn.services.moderation
    if button.action == "no":
        case = await moderation.pending(campaign, case_id)
        if case is None:
            await show(update, Screen(t(lang, "operations.moderation.not_submitted", id=case_id)))
            return
        context.user_data[AWAITING_REASON] = (campaign.id, case_id)
        await show(update, Screen(
            t(lang, "operations.moderation.ask_reason", id=case_id, title=case.text(lang).title),
            [[_button(lang, "operations.button_cancel", "x")]]))
        return
    result = await moderation.approve(campaign, case_id,
                                      actor(CHANNEL, str(update.effective_user.id)))
    if result.outcome is not ModerationOutcome.DONE:
        await show(update, Screen(refusal(lang, result, case_id)))
        return
    await show(update, Screen(t(lang, "operations.moderation.approved", id=case_id,
                                title=result.case.text(lang).title), continues=True))
    await show_next(update, turn, new_message=True)


@staff_only(Role.MODERATOR)
async def reason_typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    lang, campaign = turn.language, turn.campaign
    campaign_id, case_id = context.user_data.pop(AWAITING_REASON)
    if campaign is None or campaign.id != campaign_id:
        await show(update, Screen(t(lang, "expired")))
        return
    result = await turn.services.moderation.reject(
        campaign, case_id, actor(CHANNEL, str(update.effective_user.id)),
        update.effective_message.text)
    if result.outcome is ModerationOutcome.BAD_REASON:
        context.user_data[AWAITING_REASON] = (campaign_id, case_id)  # ask again
    if result.outcome is not ModerationOutcome.DONE:
        await show(update, Screen(refusal(lang, result, case_id)))
        return
    await show(update, Screen(t(lang, "operations.moderation.rejected", id=case_id,
                                title=result.case.text(lang).title, reason=result.reason),
                              continues=True))
    await show_next(update, turn)


def register(application: Application) -> None:
    application.add_handler(CommandHandler("moderate", moderate_command, filters=PRIVATE))
    application.add_handler(CommandHandler("hide", hide_command, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(on_button, pattern=staff_pattern(AREA)))
    application.add_handler(MessageHandler(awaiting_text(application, AWAITING_REASON),
                                           reason_typed))
