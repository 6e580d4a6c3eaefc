"""The command menus: every citizen's (in Korean by default, in English for English-language
users), and each staff member's own, in their chat only (a per-chat command scope); citizens
never see staff commands."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot.domain import Role
from bot.i18n import plain
from bot.services import Services
from handlers.telegram.common import CHANNEL

log = logging.getLogger(__name__)

COMMANDS = ("start", "submit", "mycases", "search", "myvote", "schedule", "notify", "help",
            "language", "cancel", "forgetme")


async def set_commands(bot: Bot) -> None:
    """The citizens' command menu."""
    for language, code in (("ko", None), ("en", "en")):
        commands = [BotCommand(name, plain(language, f"command.{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, language_code=code)

# Each staff command and the roles that may use it (an admin may use every moderator one).
STAFF_COMMANDS: dict[str, tuple[Role, ...]] = {
    "admin": (Role.ADMIN,),
    "phase": (Role.ADMIN,),
    "extend": (Role.ADMIN,),
    "close": (Role.ADMIN,),
    "moderate": (Role.MODERATOR,),
    "hide": (Role.MODERATOR,),
    "tally": (Role.MODERATOR,),
    "score": (Role.JUDGE,),
    "results": (Role.ADMIN,),
    "publish": (Role.ADMIN,),
    "export": (Role.ADMIN,),
    "broadcast": (Role.ADMIN,),
    "audit": (Role.ADMIN,),
    "grant": (Role.ADMIN,),
    "revoke": (Role.ADMIN,),
    "staff": (Role.ADMIN,),
    "web": (Role.JUDGE, Role.MODERATOR),
}


def commands_for(roles: frozenset[Role], language: str) -> list[BotCommand]:
    can = set(roles) | ({Role.MODERATOR} if Role.ADMIN in roles else set())
    names = [*COMMANDS, *(name for name, needed in STAFF_COMMANDS.items()
                          if any(r in can for r in needed))]
    return [BotCommand(name, plain(language, f"command.{name}")) for name in names]


async def refresh_staff_menu(bot: Bot, services: Services, external_id: str | None = None) -> None:
    """Set the menu of every staff member's chat (or of one account after a grant/revoke, or
    when a staff member starts the bot). A chat exists only once its person has written to
    the bot: a bootstrap admin who has not gets their menu at their first /start."""
    members = await services.staff.members()
    targets = [m for m in members if m.channel == CHANNEL and (
        m.external_id == external_id if external_id is not None else m.has_written)]
    if external_id is not None and not targets:  # no role left: back to the citizen menu
        try:
            await bot.delete_my_commands(scope=BotCommandScopeChat(int(external_id)))
        except TelegramError as exc:
            log.warning("could not reset the command menu of chat %s: %s", external_id, exc)
    for member in targets:  # one chat refusing (it was deleted, say) costs the others nothing
        scope = BotCommandScopeChat(int(member.external_id))
        try:
            for language, code in (("ko", None), ("en", "en")):
                await bot.set_my_commands(commands_for(member.roles, language), scope=scope,
                                          language_code=code)
        except TelegramError as exc:
            log.warning("could not set the staff command menu of chat %s: %s",
                        member.external_id, exc)
