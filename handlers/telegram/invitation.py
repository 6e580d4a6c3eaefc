"""An invitation code typed in the chat: the role it carries, on this Telegram account."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import plain, t
from bot.services.staff import InvitationOutcome, invitation_code
from handlers.telegram.common import CHANNEL, Screen, begin_turn, show
from handlers.telegram.menus import refresh_staff_menu


async def typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """True if the text was an invitation code (and was answered)."""
    message, user = update.effective_message, update.effective_user
    code = invitation_code(message.text or "") if message and user else None
    if code is None or user is None:
        return False
    turn = await begin_turn(update, context)
    result = await turn.services.staff.accept(CHANNEL, str(user.id), code)
    if result.outcome is InvitationOutcome.INVALID or result.role is None:
        await show(update, Screen(t(turn.language, "web.invite.invalid")))
        return True
    role = plain(turn.language, f"staff.role.{result.role.value}")
    await show(update, Screen(t(turn.language, f"web.invite.{result.outcome.value}", role=role)))
    await refresh_staff_menu(context.bot, turn.services, str(user.id))
    return True
