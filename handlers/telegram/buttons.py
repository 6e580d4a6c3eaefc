"""Every inline button press comes here: the data is decoded in one place, checked against the
current campaign, and handed to its flow. A stale or forged button changes nothing."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import plain, t
from handlers.telegram import (
    browse,
    info,
    notify,
    privacy,
    receipts,
    results_view,
    start,
    submission,
    views,
    vote,
)
from handlers.telegram import callbacks as cb
from handlers.telegram.common import Screen, Turn, begin_turn, show


def _is_stale(action: cb.Action, turn: Turn) -> bool:
    campaign_id = getattr(action, "campaign_id", None)
    if campaign_id is None:
        return False
    return turn.campaign is None or turn.campaign.id != campaign_id


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    turn = await begin_turn(update, context)
    action = cb.decode(query.data)
    if action is None or _is_stale(action, turn):
        await query.answer(plain(turn.language, "expired"), show_alert=True)
        return
    lang = turn.language
    match action:
        case cb.CancelVote():
            await query.answer(plain(lang, "vote.cancelled"))
        case _:
            await query.answer()
    match action:
        case cb.Menu():
            await start.main_menu(update, turn, context)
        case cb.ShowList(state=state):
            await browse.show_list(update, context, turn, state)
        case cb.PickDistrict(state=state):
            await show(update, views.district_picker(lang, turn.campaign, state))
        case cb.PickCategory(state=state):
            await show(update, views.category_picker(lang, turn.campaign, state))
        case cb.AskSearch():
            await browse.ask_search(update, context, turn)
        case cb.ShowCase(case_id=case_id, state=state, part=part):
            await browse.open_case(update, context, turn, case_id, state, part)
        case cb.AskVote():
            await vote.ask_vote(update, context, turn, action)
        case cb.ConfirmVote():
            await vote.confirm_vote(update, context, turn, action)
        case cb.CancelVote(case_id=case_id, state=state):
            await browse.open_case(update, context, turn, case_id, state)
        case cb.MyVote():
            await vote.my_vote(update, turn)
        case cb.Schedule():
            await info.schedule(update, turn)
        case cb.Help():
            await show(update, views.help_screen(lang))
        case cb.SetLanguage(language=language):
            await info.set_language(update, turn, language)
        case cb.Subscribe(on=on):
            await notify.set_subscription(update, turn, on)
        case cb.ShowResults():
            await results_view.show_results(update, context, turn)
        case cb.AskReceipt():
            await receipts.ask(update, context, turn)
        case cb.ReceiptList():
            await receipts.send_list(update, turn)
        case cb.Forget(confirmed=confirmed):
            await privacy.answer(update, context, turn, confirmed)
        case cb.MyCases():
            await submission.my_cases(update, turn)
        case cb.MyCase(case_id=case_id):
            await submission.open_mine(update, turn, case_id)
        case cb.Withdraw(case_id=case_id, confirmed=confirmed):
            await submission.withdraw(update, turn, case_id, confirmed)
        case _:  # a new action without a flow: say so rather than stay silent
            await show(update, Screen(t(lang, "expired")))
