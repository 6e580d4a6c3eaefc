"""Staff flows that wait for the next typed message (a rejection reason, a broadcast text).
The waiting state lives in the user's `context.user_data`; this filter lets the flow's text
handler take the message only while something is waiting, ahead of the citizen catch-alls."""

from __future__ import annotations

from telegram import Message
from telegram.ext import Application, filters

from handlers.telegram.common import PRIVATE


class _Awaiting(filters.MessageFilter):
    def __init__(self, application: Application, key: str) -> None:
        super().__init__(name=f"awaiting({key})")
        self.application = application
        self.key = key

    def filter(self, message: Message) -> bool:
        user = message.from_user
        if user is None:
            return False
        return self.key in self.application.user_data.get(user.id, {})


def awaiting_text(application: Application, key: str) -> filters.BaseFilter:
    """Typed text (not a command) in a private chat while `key` is set in the user's data."""
    return PRIVATE & filters.TEXT & ~filters.COMMAND & _Awaiting(application, key)
