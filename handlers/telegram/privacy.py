"""/forgetme: what will be deleted and what stays, then the citizen's confirmation."""

from __future__ import annotations

from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot.i18n import plain, t
from handlers.telegram import callbacks as cb
from handlers.telegram import views
from handlers.telegram.common import Screen, Turn, begin_turn, show


def question(lang: str) -> Screen:
    return Screen(t(lang, "privacy.ask"), [
        [InlineKeyboardButton(plain(lang, "privacy.button.yes"),
                              callback_data=cb.encode(cb.Forget(True)))],
        [InlineKeyboardButton(plain(lang, "privacy.button.no"),
                              callback_data=cb.encode(cb.Forget(False)))],
    ])


async def forgetme_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    await show(update, question(turn.language))


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn,
                 confirmed: bool) -> None:
    if not confirmed:
        await show(update, Screen(t(turn.language, "privacy.kept"),
                                  [[views.home_button(turn.language)]]))
        return
    await turn.services.privacy.forget(turn.citizen)
    if context.user_data is not None:
        context.user_data.clear()  # no chat state of theirs is written back after this update
    await show(update, Screen(t(turn.language, "privacy.done")))
