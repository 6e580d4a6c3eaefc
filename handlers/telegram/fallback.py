"""Anything the other handlers did not take: a short hint and the menu, never silence."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import t
from handlers.telegram.browse import search_reply
from handlers.telegram.common import Screen, begin_turn, show
from handlers.telegram.notify import menu_screen


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await search_reply(update, context):
        return
    await hint(update, context)


async def hint(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    menu = await menu_screen(turn)
    await show(update, Screen(t(turn.language, "fallback"), menu.keyboard))
