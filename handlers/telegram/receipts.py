"""The public receipt list on Telegram, once voting has closed: type a receipt, see the case
its vote was counted for; or take the whole list as a CSV file to recount."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import plain, t
from bot.services.receipts import ReceiptsNotYet, ReceiptStatus
from handlers.telegram import callbacks as cb
from handlers.telegram.common import Screen, Turn, begin_turn, show
from handlers.telegram.views import button, home_button

AWAITING_RECEIPT = "awaiting_receipt"  # user_data: the campaign a typed receipt is for


def _buttons(turn: Turn) -> list:
    assert turn.campaign is not None
    return [[button(plain(turn.language, "receipts.list_button"),
                    cb.ReceiptList(turn.campaign.id))],
            [home_button(turn.language)]]


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn) -> None:
    campaign, lang = turn.campaign, turn.language
    assert campaign is not None and context.user_data is not None
    if not turn.services.receipts.is_open(campaign):
        await show(update, Screen(t(lang, "receipts.not_yet"), [[home_button(lang)]]))
        return
    context.user_data[AWAITING_RECEIPT] = campaign.id
    await show(update, Screen(t(lang, "receipts.ask"), _buttons(turn)))


async def typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A receipt typed after "check my receipt". False when none was awaited."""
    campaign_id = (context.user_data or {}).pop(AWAITING_RECEIPT, None)
    if campaign_id is None:
        return False
    turn = await begin_turn(update, context)
    message = update.effective_message
    if turn.campaign is None or turn.campaign.id != campaign_id or message is None:
        return False
    lang = turn.language
    found = await turn.services.receipts.lookup(turn.campaign, message.text or "")
    if found.status is ReceiptStatus.FOUND:
        assert found.case is not None
        text = t(lang, "receipts.found", receipt=found.receipt,
                 title=found.case.text(lang).title)
    else:
        text = t(lang, f"receipts.{found.status.value}")
        if found.status is ReceiptStatus.NOT_FOUND and context.user_data is not None:
            context.user_data[AWAITING_RECEIPT] = campaign_id  # another try
    await show(update, Screen(text, _buttons(turn)))
    return True


async def send_list(update: Update, turn: Turn) -> None:
    campaign, lang = turn.campaign, turn.language
    assert campaign is not None
    try:
        data = await turn.services.receipts.csv_bytes(campaign, lang)
    except ReceiptsNotYet:
        await show(update, Screen(t(lang, "receipts.not_yet"), [[home_button(lang)]]))
        return
    chat = update.effective_chat
    assert chat is not None
    await chat.send_document(data, filename=f"receipts-{campaign.slug}.csv",
                             caption=plain(lang, "receipts.list_caption",
                                           title=campaign.title.get(lang)))
