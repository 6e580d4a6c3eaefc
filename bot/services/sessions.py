"""Chat sessions: what the bot waits for from a chat account between two of its updates (a
search word, a rejection reason, a case being written...), kept in the database so that any
worker can take the account's next update, and a restart forgets nothing.

Updates of one account are handled one at a time and in order. Within a process the update
processor sees to that; when several processes share the database (PostgreSQL), each update
also takes the account's turn in the database first: a worker that finds another worker's
turn running waits for it to end (or for its lease to run out, if that worker died).

Keys starting with "_" are bookkeeping, not answers awaited (what the pressed message shows,
so a double tap edits nothing). They change on nearly every press. When one process serves
the database (SQLite) they stay in its memory: writing them would double the writes of a vote,
and a restart that forgets them costs one redundant edit. Processes sharing the database need
them there, and the turn's own write carries them.

When one process serves the database it is also the only one writing sessions, so it
remembers what it last read or wrote for an account and reads the row only for an account it
does not remember: one read transaction less on every update (most sessions are empty, and a
press of a button reads nothing else about the account). Forgetting an account (privacy)
forgets it here too. A session's write runs to its end even when its update is given up
(KakaoTalk's deadline), and the account's next update waits for it: what it reads, and what
is remembered, is what the database keeps."""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from storage.coordination import WORKER_SILENT_AFTER
from storage.database import Database
from storage.repositories.sessions import SessionRepository

log = logging.getLogger(__name__)

# Longer than an update takes. A worker that died holding a turn is silent in a few seconds
# (storage/coordination.py), and its turn is taken over then; the lease is the last resort.
TURN_LEASE = timedelta(seconds=60)
TURN_POLL_SECONDS = 0.05
TURN_WAIT_LOGGED = 5.0  # seconds of waiting for a turn worth a log line
BOOKKEEPING = "_"
REMEMBERED = 50_000  # accounts whose state one process keeps; the oldest are forgotten


def _split(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the database keeps, bookkeeping)"""
    kept = {k: v for k, v in state.items() if not k.startswith(BOOKKEEPING)}
    return kept, {k: v for k, v in state.items() if k.startswith(BOOKKEEPING)}


@dataclass
class Session:
    channel: str
    external_id: str
    state: dict[str, Any]
    loaded: dict[str, Any] = field(repr=False, default_factory=dict)
    turn: bool = False


class SessionService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        worker_id: str,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.clock = clock
        self.worker_id = worker_id
        self.sleep = sleep
        self._bookkeeping: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        # Not shared: what the database keeps for each account, as last read or written.
        self._stored: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._forgotten = 0  # accounts forgotten so far: a read older than one is not kept
        self._writing: dict[tuple[str, str], asyncio.Future[None]] = {}  # not shared

    async def begin(self, channel: str, external_id: str, turn: bool = True) -> Session:
        """The account's session, its turn taken when processes share the database. Without
        `turn`, only read (an update that at most clears the state: the turn's two writes
        would be the most of its cost); end() then writes only if the state changed."""
        if not self.db.shared or not turn:
            account = (channel, external_id)
            writing = self._writing.get(account)
            if writing is not None:  # its last update's write, still going
                await asyncio.wait({writing})
            loaded = self._stored.get(account)
            if loaded is None:
                forgotten = self._forgotten
                async with self.db.read() as conn:
                    loaded, _ = _split(await SessionRepository(conn).load(channel, external_id))
                if not self.db.shared and forgotten == self._forgotten:
                    self._remember(self._stored, account, loaded)
            else:
                self._stored.move_to_end(account)
            # A copy: the handlers change the state in place; `loaded` stays as stored.
            current = {**copy.deepcopy(loaded), **self._bookkeeping.get(account, {})}
            return Session(channel, external_id, current, loaded)
        waited = 0.0
        while True:
            async with self.db.write() as conn:
                now = self.clock.now()
                state = await SessionRepository(conn).take_turn(
                    channel, external_id, self.worker_id, now, now + TURN_LEASE,
                    silent_since=now - WORKER_SILENT_AFTER)
            if state is not None:
                if waited >= TURN_WAIT_LOGGED:
                    log.info("waited %.1f s for another worker's turn with %s account",
                             waited, channel)
                return Session(channel, external_id, state, copy.deepcopy(state), turn=True)
            if waited < TURN_WAIT_LOGGED <= waited + TURN_POLL_SECONDS:
                log.info("waiting for another worker's turn with %s account %s", channel,
                         external_id)
            await self.sleep(TURN_POLL_SECONDS)
            waited += TURN_POLL_SECONDS

    async def end(self, session: Session, state: dict[str, Any]) -> None:
        """Keep the state if it changed, and end the turn."""
        if not session.turn:
            state = self._keep_bookkeeping(session, state)
        changed = state != session.loaded
        if not changed and not session.turn:
            return
        if self.db.shared:
            await self._write(session, state, changed)
            return
        account = (session.channel, session.external_id)
        # Until the write has ended, this process does not know what the database keeps.
        self._stored.pop(account, None)
        writing = asyncio.ensure_future(self._write_and_remember(session, state))
        self._writing[account] = writing
        writing.add_done_callback(functools.partial(self._written, account))
        await asyncio.shield(writing)  # given up on, the write still ends

    async def _write_and_remember(self, session: Session, state: dict[str, Any]) -> None:
        forgotten = self._forgotten
        await self._write(session, state, changed=True)
        if forgotten == self._forgotten:
            # As the database gives it back (JSON: a tuple comes back a list).
            self._remember(self._stored, (session.channel, session.external_id),
                           json.loads(json.dumps(state)) if state else {})

    def _written(self, account: tuple[str, str], writing: asyncio.Future[None]) -> None:
        if self._writing.get(account) is writing:
            del self._writing[account]
        if not writing.cancelled() and writing.exception() is not None:
            # (The update that waited for it hears of it; one given up on does not.)
            log.debug("a session write failed", exc_info=writing.exception())

    async def _write(self, session: Session, state: dict[str, Any], changed: bool) -> None:
        async with self.db.write() as conn:
            repo = SessionRepository(conn)
            now = self.clock.now()
            if session.turn:
                await repo.end_turn(session.channel, session.external_id, self.worker_id,
                                    state if changed else None, now)
            elif state:
                await repo.save(session.channel, session.external_id, state, now)
            else:  # nothing awaited: no row (a forgotten account leaves none behind)
                await repo.delete(session.channel, session.external_id)

    def forget_account(self, channel: str, external_id: str) -> None:
        """The account was forgotten: nothing of it stays in this process's memory."""
        self._forgotten += 1
        self._bookkeeping.pop((channel, external_id), None)
        self._stored.pop((channel, external_id), None)

    @staticmethod
    def _remember(memory: OrderedDict[tuple[str, str], dict[str, Any]],
                  account: tuple[str, str], state: dict[str, Any]) -> None:
        """Keep `state` for the account, as the newest; forget the oldest beyond REMEMBERED."""
        memory.pop(account, None)
        memory[account] = state
        if len(memory) > REMEMBERED:
            memory.popitem(last=False)

    def _keep_bookkeeping(self, session: Session, state: dict[str, Any]) -> dict[str, Any]:
        """Remember the bookkeeping in memory; return what the database keeps."""
        kept, bookkeeping = _split(state)
        account = (session.channel, session.external_id)
        self._bookkeeping.pop(account, None)
        if bookkeeping:
            self._remember(self._bookkeeping, account, bookkeeping)
        return kept
