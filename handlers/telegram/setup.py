"""Registers the citizen handlers on an Application and the command menu on the bot."""

from __future__ import annotations

import re

from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from handlers.telegram import browse, identity, info, notify, privacy, start, vote
from handlers.telegram.buttons import on_button
from handlers.telegram.common import PRIVATE
from handlers.telegram.errors import on_error
from handlers.telegram.fallback import hint, on_text
from handlers.telegram.submission import WRITING

# user_data: the citizen went elsewhere; a case they are writing waits for a button or /submit
# before it takes typed text again. Set only while a case is being written (submission.WRITING):
# it matters to nothing else, and a session with nothing in it is never written.
ELSEWHERE = "elsewhere"
SUBMISSION_BUTTONS = r"^(d|sb):"


async def forget_awaited_answers(update, context) -> None:
    """Any command starts something new: a search word, score, reason or broadcast text that
    was awaited is forgotten, so the next typed message is not taken for it. The recent
    searches stay: they are no answer awaited, and the lists already shown need them. A case
    being written is no longer written to: it waits for a button or /submit."""
    browse.clear_keeping_searches(context.user_data)


async def mark_elsewhere(update, context) -> None:
    """A button outside the submission flow: a case being written stops taking typed text
    until the citizen goes back to it (its own buttons and /submit clear the mark); a voting
    code no longer awaited."""
    if WRITING in context.user_data:
        context.user_data[ELSEWHERE] = True
    context.user_data.pop(identity.WAITING, None)


def register(application: Application) -> None:
    # Group -1 runs before every other handler, and lets them run too.
    application.add_handler(
        MessageHandler(PRIVATE & filters.COMMAND, forget_awaited_answers), group=-1
    )
    application.add_handler(
        CallbackQueryHandler(mark_elsewhere,
                             pattern=lambda data: not re.match(SUBMISSION_BUTTONS, data or "")),
        group=-1,
    )
    application.add_handler(CommandHandler("start", start.start, filters=PRIVATE))
    application.add_handler(CommandHandler("search", browse.search_command, filters=PRIVATE))
    application.add_handler(CommandHandler("myvote", vote.my_vote_command, filters=PRIVATE))
    application.add_handler(CommandHandler("schedule", info.schedule_command, filters=PRIVATE))
    application.add_handler(CommandHandler("help", info.help_command, filters=PRIVATE))
    application.add_handler(CommandHandler("language", info.language_command, filters=PRIVATE))
    application.add_handler(CommandHandler("notify", notify.notify_command, filters=PRIVATE))
    application.add_handler(CommandHandler("forgetme", privacy.forgetme_command,
                                           filters=PRIVATE))
    # Staff commands and buttons come before the citizen catch-alls below.
    from handlers.telegram import staff  # staff modules build on this module

    staff.register(application)
    # After the staff flows that await typed text, before the citizen catch-alls.
    from handlers.telegram import submission

    submission.register(application)
    application.add_handler(CallbackQueryHandler(on_button))
    # "Share my number": the sender's own contact, when a vote asked for it.
    application.add_handler(MessageHandler(PRIVATE & filters.CONTACT, identity.on_contact))
    application.add_handler(MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, on_text))
    # Unknown commands, photos, stickers, voice...: a hint, never silence.
    application.add_handler(MessageHandler(PRIVATE, hint))
    application.add_error_handler(on_error)
