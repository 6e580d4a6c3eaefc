"""/broadcast: an admin writes a message for every subscriber of the current campaign, sees a
preview with the number of recipients, and sends it (or not). The broadcaster delivers it and
its summary reaches the admins when it is done."""

from __future__ import annotations

from telegram import InlineKeyboardButton, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
)

from bot.domain import Role
from bot.i18n import plain, t
from bot.services.staff import actor
from bot.services.staff_broadcasts import StaffBroadcastOutcome, clean_text
from handlers.telegram.common import CHANNEL, PRIVATE, Screen, begin_turn, show
from handlers.telegram.staff.access import StaffButton, campaign_turn, staff_only, staff_pattern
from handlers.telegram.staff.pending import awaiting_text

AREA = "b"
AWAITING_TEXT = "operations.broadcast_text"  # user_data: campaign id
DRAFT = "operations.broadcast_draft"  # user_data: (campaign id, text) until Send or Cancel


def _button(lang: str, label: str, action: str, *args: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(plain(lang, label),
                                callback_data=StaffButton(AREA, action, args).encode())


@staff_only(Role.ADMIN)
async def broadcast_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await campaign_turn(update, context)
    if turn is None:
        return
    lang, campaign = turn.language, turn.campaign
    context.user_data.pop(DRAFT, None)
    context.user_data[AWAITING_TEXT] = campaign.id
    count = await turn.services.staff_broadcasts.recipients(campaign)
    await show(update, Screen(t(lang, "operations.broadcast.ask", title=campaign.title.get(lang),
                                count=count),
                              [[_button(lang, "operations.button_cancel", "x")]]))


@staff_only(Role.ADMIN)
async def text_typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    lang, campaign = turn.language, turn.campaign
    campaign_id = context.user_data.pop(AWAITING_TEXT)
    if campaign is None or campaign.id != campaign_id:
        await show(update, Screen(t(lang, "operations.broadcast.expired")))
        return
    text = clean_text(update.effective_message.text)
    if text is None:
        context.user_data[AWAITING_TEXT] = campaign_id  # ask again
        await show(update, Screen(t(lang, "operations.broadcast.bad_text")))
        return
    context.user_data[DRAFT] = (campaign_id, text)
    count = await turn.services.staff_broadcasts.recipients(campaign)
    await show(update, Screen(
        t(lang, "operations.broadcast.preview", count=count, text=text),
        [[_button(lang, "operations.broadcast.button_send", "send", str(campaign_id)),
          _button(lang, "operations.button_cancel", "x")]]))


@staff_only(Role.ADMIN)
async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    turn = await begin_turn(update, context)
    lang, campaign = turn.language, turn.campaign
    button = StaffButton.decode(query.data)
    if button is not None and button.action == "x":
        context.user_data.pop(AWAITING_TEXT, None)
        context.user_data.pop(DRAFT, None)
        await query.answer()
        await show(update, Screen(t(lang, "operations.cancelled")))
        return
    draft = context.user_data.pop(DRAFT, None)
    if (button is None or button.action != "send" or draft is None or campaign is None
            or button.int_arg(0) != campaign.id or draft[0] != campaign.id):
        await query.answer(plain(lang, "expired"), show_alert=True)
        if button is not None and button.action == "send":
            await show(update, Screen(t(lang, "operations.broadcast.expired")))
        return
    await query.answer()
    result = await turn.services.staff_broadcasts.send(
        campaign, draft[1], actor(CHANNEL, str(update.effective_user.id)))
    if result.outcome is StaffBroadcastOutcome.STARTED:
        await show(update, Screen(t(lang, "operations.broadcast.sending",
                                    count=result.recipients)))
    elif result.outcome is StaffBroadcastOutcome.NO_RECIPIENTS:
        await show(update, Screen(t(lang, "operations.broadcast.no_recipients")))
    else:
        await show(update, Screen(t(lang, "operations.broadcast.bad_text")))


def register(application: Application) -> None:
    application.add_handler(CommandHandler("broadcast", broadcast_command, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(on_button, pattern=staff_pattern(AREA)))
    application.add_handler(MessageHandler(awaiting_text(application, AWAITING_TEXT),
                                           text_typed))
