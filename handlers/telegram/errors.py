"""The one error handler: log the failure with its cause, tell the user something went wrong
in their language, and reveal nothing else."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import RetryAfter, TelegramError
from telegram.ext import ContextTypes

from bot.i18n import plain, t
from handlers.telegram.common import CHANNEL, services_of

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    if isinstance(context.error, RetryAfter):
        # A reply flood control kept waiting past its deadline: the rate limiter has said
        # which and why. Telling the user would wait behind the same hold: nothing more.
        log.info("an update's reply was dropped by flood control (see the warning above)")
        return
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    language = await _language(update, context)
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(plain(language, "error"), show_alert=True)
        else:
            await update.effective_chat.send_message(t(language, "error"))
    except TelegramError:
        log.warning("could not tell the user about the error", exc_info=True)


async def _language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    """The citizen's chosen language; Telegram's hint if the database is what failed."""
    citizens = services_of(context).citizens
    user = update.effective_user
    if user is None:
        return citizens.default_language
    try:
        citizen = await citizens.identify(CHANNEL, str(user.id), user.language_code)
    except Exception:
        return citizens.language_for(user.language_code)
    return citizen.language
