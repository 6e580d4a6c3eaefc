"""Staff commands and buttons: each module registers its own handlers here, before the
citizen fallbacks, and guards each one with `access.staff_only`."""

from __future__ import annotations

from telegram.ext import Application

from handlers.telegram.staff import (
    audit,
    broadcast,
    dashboard,
    exports,
    judging,
    moderation,
    phases,
    results,
    roles,
    web_link,
)

MODULES = [dashboard, exports, roles, judging, results, phases, moderation, broadcast, audit,
           web_link]


def register(application: Application) -> None:
    for module in MODULES:
        module.register(application)
