"""/web: a staff member asks for a one-time sign-in link to the web console."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.domain import Role
from bot.i18n import t
from bot.services.staff import actor
from handlers.telegram.common import CHANNEL, PRIVATE, Screen, begin_turn, show
from handlers.telegram.staff.access import staff_only


@staff_only(Role.JUDGE, Role.MODERATOR)
async def web_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    assert update.effective_user is not None  # staff_only let it through: there is a user
    user_id = str(update.effective_user.id)
    url = await turn.services.web_access.link_for(CHANNEL, user_id, by=actor(CHANNEL, user_id))
    # Sent without a link preview (show() never previews a plain link): a preview would
    # fetch the page, and the link must reach only its owner's browser.
    text = t(turn.language, "web.link.telegram", url=url) if url \
        else t(turn.language, "web.link.no_public_url")
    await show(update, Screen(text))


def register(application: Application) -> None:
    application.add_handler(CommandHandler("web", web_command, filters=PRIVATE))
