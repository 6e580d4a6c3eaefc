"""/grant, /revoke and /staff: admins manage who runs the campaign."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.domain import Role
from bot.i18n import t
from bot.services.staff import GrantOutcome, ResolveOutcome, actor
from handlers.telegram.common import CHANNEL, PRIVATE, Screen, begin_turn, show
from handlers.telegram.menus import refresh_staff_menu
from handlers.telegram.staff.access import staff_only

ROLE_WORDS = {"admin": Role.ADMIN, "moderator": Role.MODERATOR, "judge": Role.JUDGE,
              "관리자": Role.ADMIN, "운영자": Role.MODERATOR, "심사위원": Role.JUDGE}


async def _change(update: Update, context: ContextTypes.DEFAULT_TYPE, grant: bool) -> None:
    turn = await begin_turn(update, context)
    lang = turn.language
    args = context.args or []
    role = ROLE_WORDS.get(args[1].lower()) if len(args) == 2 else None
    if role is None:
        await show(update, Screen(t(lang, "staff.grant_usage" if grant else "staff.revoke_usage")))
        return
    staff = turn.services.staff
    found = await staff.resolve(CHANNEL, args[0])
    if found.outcome is not ResolveOutcome.FOUND or found.external_id is None:
        await show(update, Screen(t(lang, f"staff.{found.outcome.value}", who=args[0])))
        return
    target = found.external_id
    by = actor(CHANNEL, str(update.effective_user.id))
    outcome = await (staff.grant if grant else staff.revoke)(by, CHANNEL, target, role)
    role_name = t(lang, f"staff.role.{role.value}")
    await show(update, Screen(t(lang, f"staff.{outcome.value}", who=args[0], role=role_name)))
    if outcome in (GrantOutcome.GRANTED, GrantOutcome.REVOKED):
        await refresh_staff_menu(context.bot, turn.services, target)


@staff_only(Role.ADMIN)
async def grant_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _change(update, context, grant=True)


@staff_only(Role.ADMIN)
async def revoke_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _change(update, context, grant=False)


@staff_only(Role.ADMIN)
async def staff_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    lang = turn.language
    lines = [t(lang, "staff.list_header")]
    for member in await turn.services.staff.members():
        name = f"@{member.username}" if member.username else member.external_id
        roles = ", ".join(t(lang, f"staff.role.{r.value}") for r in sorted(member.roles))
        note = t(lang, "staff.bootstrap_note") if member.bootstrap else ""
        lines.append(f"• {name} ({member.external_id}): {roles}{note}")
    await show(update, Screen("\n".join(lines)))


def register(application: Application) -> None:
    application.add_handler(CommandHandler("grant", grant_command, filters=PRIVATE))
    application.add_handler(CommandHandler("revoke", revoke_command, filters=PRIVATE))
    application.add_handler(CommandHandler("staff", staff_command, filters=PRIVATE))
