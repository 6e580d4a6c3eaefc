"""Who may use a staff command or button, checked on the server at every call. To a citizen
with no staff role a staff command looks like any unknown command (the staff surface is not
revealed), a staff button like an expired one. A staff member lacking this command's role is
told which role it needs. Every attempt is recorded in the audit log."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.domain import Role
from bot.i18n import plain, t
from bot.services.staff import IMPLIED
from handlers.telegram.common import CHANNEL, Screen, Turn, begin_turn, services_of, show
from handlers.telegram.fallback import hint

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]

STAFF_PREFIX = "S"
MAX_BYTES = 64


def staff_only(*roles: Role) -> Callable[[Handler], Handler]:
    """For a staff command or button handler: run it only for holders of one of `roles`
    (an admin also passes for moderator work)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            services = services_of(context)
            user = update.effective_user
            if user is not None and await services.staff.allowed(CHANNEL, str(user.id), roles):
                await handler(update, context)
                return
            attempt = (update.callback_query.data if update.callback_query
                       else (update.effective_message.text if update.effective_message else ""))
            held: frozenset[Role] = frozenset()
            if user is not None:
                await services.staff.refuse(CHANNEL, str(user.id), attempt or "")
                held = await services.staff.roles(CHANNEL, str(user.id))
            # Whatever staff answer was awaited (the role may have been revoked meanwhile) is
            # void: without this, every later typed message would land here again.
            context.user_data.clear()
            command = _command_of(attempt or "")
            if update.callback_query is not None:
                language = services.citizens.language_for(user.language_code if user else None)
                await update.callback_query.answer(plain(language, "expired"), show_alert=True)
            elif held and command:
                language = (await begin_turn(update, context)).language
                await show(update, Screen(t(language, "staffux.needs_role", command=command,
                                            roles=_role_names(language, roles))))
            else:
                await hint(update, context)

        return guarded

    return wrap


def _command_of(text: str) -> str | None:
    """"/score" from "/score 3" or "/score@chamyeo_bot"; None for text that is no command."""
    if not text.startswith("/"):
        return None
    word = text.split(maxsplit=1)[0].split("@", 1)[0]
    return word if len(word) > 1 else None


def _role_names(language: str, needed: tuple[Role, ...]) -> str:
    """Every role that may use a command needing `needed`, e.g. "운영자·관리자"."""
    order = (Role.JUDGE, Role.MODERATOR, Role.ADMIN)
    able = [r for r in order if any(n in IMPLIED[r] for n in needed)]
    return plain(language, "staffux.role_separator").join(
        plain(language, f"staff.role.{r.value}") for r in able)


async def campaign_turn(
    update: Update, context: ContextTypes.DEFAULT_TYPE, new_message: bool = False
) -> Turn | None:
    """The turn of a staff function that works on the current campaign; None, after telling
    the staff member, when no campaign is loaded."""
    turn = await begin_turn(update, context)
    if turn.campaign is None:
        await show(update, Screen(t(turn.language, "staff.no_campaign")), new_message=new_message)
        return None
    return turn


@dataclass(frozen=True)
class StaffButton:
    """Staff button data: `S<area>:<action>:<arg>:...`. Arguments are short ASCII numbers or
    words; the area's handler re-checks everything they name."""

    area: str  # a letter or two naming the staff module, e.g. "p" for phases
    action: str
    args: tuple[str, ...] = ()

    def encode(self) -> str:
        data = ":".join([STAFF_PREFIX + self.area, self.action, *self.args])
        if len(data.encode()) > MAX_BYTES:
            raise ValueError(f"staff button data too long: {data!r}")
        return data

    @classmethod
    def decode(cls, data: str | None) -> StaffButton | None:
        if not data or not data.startswith(STAFF_PREFIX) or len(data.encode()) > MAX_BYTES:
            return None
        if not data.isascii():
            return None
        head, *rest = data.split(":")
        if not rest or len(head) < 2:
            return None
        action, *args = rest
        if not action or any(not a or not a.replace("-", "").replace(".", "").isalnum()
                             for a in args):
            return None
        return cls(head[1:], action, tuple(args))

    def int_arg(self, index: int) -> int | None:
        """Argument `index` as a non-negative number, or None if it is not one."""
        if index >= len(self.args):
            return None
        value = self.args[index]
        return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def staff_pattern(area: str) -> str:
    """The CallbackQueryHandler pattern for one staff area's buttons."""
    return rf"^{STAFF_PREFIX}{area}:"
