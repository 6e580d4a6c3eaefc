"""Updates of different users run concurrently; each user's updates run one at a time, in the
order they came. A vote opening brings a burst: one slow request must not hold up everyone, and
a double tap must not race with itself.

Around each update the user's chat session (bot/services/sessions.py) is loaded into PTB's
`context.user_data` and saved after, so what a flow waits for lives in the database: any
worker can take the user's next update, and a restart forgets nothing. Where several workers
share the database, the session also gives the user's turn, so their updates stay in order
across workers too."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, BaseUpdateProcessor

from bot.domain import LANGUAGES
from bot.i18n import plain
from bot.services.sessions import SessionService
from handlers.telegram.common import SESSION_DATA, TURN_LANGUAGE

log = logging.getLogger(__name__)

MAX_WAITING = 20  # updates of one user queued behind the running one; more are dropped
DEFAULT_LANGUAGE = "ko"


class PerUserUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256, channel: str = "telegram",
                 max_waiting: int = MAX_WAITING) -> None:
        super().__init__(max_concurrent_updates)
        self.channel = channel
        self.max_waiting = max_waiting
        # user id -> updates waiting behind the one that is running for that user
        self._waiting: dict[int, deque[Awaitable[Any]]] = {}
        self._dropping: set[int] = set()
        self._application: Application | None = None
        self._sessions: SessionService | None = None

    def keep_sessions(self, application: Application, sessions: SessionService) -> None:
        """Load and save each user's session around their updates (set by the wiring)."""
        self._application = application
        self._sessions = sessions

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update) or update.effective_user is None:
            await _run(coroutine)
            return
        user = update.effective_user
        waiting = self._waiting.get(user.id)
        if waiting is not None:
            # The user's earlier update is running and will run this one after it. Returning
            # now frees the concurrency slot, so a user who sends many updates at once cannot
            # take every slot and stall other users; and no more than max_waiting are kept.
            if len(waiting) >= self.max_waiting:
                _discard(coroutine)
                await self._answer_dropped(update)
                if user.id not in self._dropping:  # one log line per flood, not per update
                    self._dropping.add(user.id)
                    log.warning("user %s sent more than %s updates at once; dropping the "
                                "rest until the queue drains", user.id, self.max_waiting)
                return
            waiting.append(coroutine)
            return
        waiting = self._waiting[user.id] = deque()
        try:
            await self._in_session(user.id, coroutine)
            while waiting:
                await self._in_session(user.id, waiting.popleft())
        finally:
            del self._waiting[user.id]  # forget idle users: memory stays flat
            self._dropping.discard(user.id)

    async def _answer_dropped(self, update: Update) -> None:
        """A dropped press still gets an answer (else the button spins): no database, no
        queue, just Telegram's hint of the user's language."""
        query = update.callback_query
        if query is None or self._sessions is None:
            return
        user = update.effective_user
        language = (user.language_code or "").split("-")[0] if user else ""
        try:
            await query.answer(plain(language if language in LANGUAGES else DEFAULT_LANGUAGE,
                                     "too_fast"))
        except TelegramError:
            log.debug("could not answer a dropped press", exc_info=True)

    async def _in_session(self, user_id: int, coroutine: Awaitable[Any]) -> None:
        if self._sessions is None or self._application is None:
            await _run(coroutine)
            return
        try:
            session = await self._sessions.begin(self.channel, str(user_id))
        except Exception:
            # The database is failing: the handlers will meet it too and say so to the user.
            log.exception("could not load the chat session of user %s", user_id)
            await _run(coroutine)
            return
        data = self._application.user_data[user_id]
        data.clear()
        data.update(session.state)
        shown = SESSION_DATA.set(data)
        language = TURN_LANGUAGE.set(None)  # begin_turn learns it for this update
        try:
            await _run(coroutine)
        finally:
            TURN_LANGUAGE.reset(language)
            SESSION_DATA.reset(shown)
            state = dict(data)
            self._application.drop_user_data(user_id)  # the database keeps it, not memory
            try:
                await self._sessions.end(session, state)
            except Exception:
                log.exception("could not save the chat session of user %s", user_id)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


async def _run(coroutine: Awaitable[Any]) -> None:
    # Application.process_update hands errors to the error handler; this is a last guard so
    # that one failure never strands the updates queued behind it.
    try:
        await coroutine
    except Exception:
        log.exception("update processing failed")


def _discard(coroutine: Awaitable[Any]) -> None:
    """An update dropped before it started: close its coroutine, so nothing half-runs."""
    if isinstance(coroutine, Coroutine):
        coroutine.close()
