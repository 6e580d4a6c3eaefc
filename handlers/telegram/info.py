"""/schedule, /help and /language."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import t
from handlers.telegram import views
from handlers.telegram.common import Screen, Turn, begin_turn, show
from handlers.telegram.notify import menu_screen


async def schedule(update: Update, turn: Turn) -> None:
    now = turn.services.clock.now()
    await show(update, views.schedule(turn.language, turn.campaign, now))


async def schedule_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await schedule(update, await begin_turn(update, context))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    await show(update, views.help_screen(turn.language))


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    await show(update, views.language_picker(turn.language))


async def set_language(update: Update, turn: Turn, language: str) -> None:
    citizen = await turn.services.citizens.set_language(turn.citizen, language)
    menu = await menu_screen(Turn(turn.services, citizen, turn.campaign))
    await show(update, Screen(f"{t(citizen.language, 'language.set')}\n\n{menu.text}",
                              menu.keyboard))
