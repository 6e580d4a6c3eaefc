"""/start: the greeting and main menu, and deep links into a case (`/start case_12`)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from handlers.telegram import callbacks as cb
from handlers.telegram import notify
from handlers.telegram.browse import open_case
from handlers.telegram.common import CHANNEL, begin_turn, show
from handlers.telegram.menus import refresh_staff_menu

DEEP_LINK_PREFIX = "case_"


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    argument = context.args[0] if context.args else ""
    if argument.startswith(DEEP_LINK_PREFIX) and turn.campaign is not None:
        case_id = argument.removeprefix(DEEP_LINK_PREFIX)
        if case_id.isascii() and case_id.isdigit() and len(case_id) < 10:
            await open_case(update, context, turn, int(case_id), cb.ListState())
            # Not now, over the case they came for: at the first pause (home, or a vote).
            if context.user_data is not None and await turn.services.subscriptions.status(
                    turn.campaign, turn.citizen) is None:
                context.user_data[notify.ASK_NEWS_LATER] = turn.campaign.id
            return
    if await turn.services.staff.roles(CHANNEL, turn.citizen.external_id):
        # A staff member's chat may be new (a bootstrap admin's first /start): its menu now.
        await refresh_staff_menu(context.bot, turn.services, turn.citizen.external_id)
    subscribed = None
    if turn.campaign is not None:
        subscribed = await turn.services.subscriptions.status(turn.campaign, turn.citizen)
    await show(update, await notify.menu_screen(turn, subscribed))
    await notify.ask_once(update, turn, subscribed)


async def main_menu(update: Update, turn, context: ContextTypes.DEFAULT_TYPE | None = None) -> None:
    await show(update, await notify.menu_screen(turn))
    if context is not None:
        await notify.ask_if_put_off(update, context, turn)
