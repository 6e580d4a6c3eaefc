"""/export: an admin gets the campaign's files (CSV and a workbook, the workbook in the admin's
language) as documents in the chat.
The files are built in a temporary directory that is removed once they are sent."""

from __future__ import annotations

import logging
import tempfile

from telegram import InputFile, Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.domain import Role
from bot.i18n import t
from bot.services.staff import actor
from handlers.telegram.common import CHANNEL, PRIVATE
from handlers.telegram.staff.access import campaign_turn, staff_only

log = logging.getLogger(__name__)


async def send_export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Build and send the files; callers have checked the admin role."""
    turn = await campaign_turn(update, context, new_message=True)
    if turn is None:
        return
    lang = turn.language
    chat = update.effective_chat
    await chat.send_message(t(lang, "reports.export.working"))
    with tempfile.TemporaryDirectory(prefix="chamyeo-export-") as directory:
        paths = await turn.services.exports.export(
            turn.campaign, directory, lang, actor(CHANNEL, str(update.effective_user.id)))
        try:
            for path in paths:
                await chat.send_document(InputFile(path.read_bytes(), filename=path.name))
        except TelegramError:
            log.warning("could not send the export", exc_info=True)
            await chat.send_message(t(lang, "reports.export.failed"))
            return
    await chat.send_message(t(lang, "reports.export.done", count=len(paths)))


@staff_only(Role.ADMIN)
async def export_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await send_export(update, context)


def register(application: Application) -> None:
    application.add_handler(CommandHandler("export", export_command, filters=PRIVATE))
