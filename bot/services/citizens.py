"""Who is talking to the bot: one citizen per channel account."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from bot.clock import Clock
from bot.domain import LANGUAGES, Citizen
from storage.database import Database
from storage.repositories import CitizenRepository
from storage.repositories.citizens import USERNAME_LENGTH

CACHE_SIZE = 50_000  # accounts remembered; about 10 MB


def username_key(username: str | None) -> str | None:
    """A username as kept: usernames are case-insensitive, so in lower case. One that does not
    fit (no real one: Telegram's have 5-32 characters; lower() can lengthen odd ones) is not
    kept, and the one on record stays."""
    if not username:
        return None
    key = username.lower()
    return key if len(key) <= USERNAME_LENGTH else None


class CitizenService:
    def __init__(self, db: Database, clock: Clock, default_language: str = "ko") -> None:
        self.db = db
        self.clock = clock
        self.default_language = default_language
        # Every update starts by asking who is talking; the answer only changes through this
        # service (a new account, a language, a username), which keeps the cache up to date,
        # as long as this process is the only one serving the database (SQLite). With several
        # workers (PostgreSQL) another one may change it: then every update reads it afresh.
        self._known: OrderedDict[tuple[str, str], Citizen] = OrderedDict()

    def _remember(self, citizen: Citizen) -> Citizen:
        if self.db.shared:
            return citizen
        key = (citizen.channel, citizen.external_id)
        self._known[key] = citizen
        self._known.move_to_end(key)
        if len(self._known) > CACHE_SIZE:
            self._known.popitem(last=False)
        return citizen

    def language_for(self, hint: str | None) -> str:
        """The language to start with, from the channel's language code (e.g. "en-GB")."""
        code = (hint or "").split("-")[0].lower()
        return code if code in LANGUAGES else self.default_language

    def _forget(self, channel: str, external_ids: list[str]) -> None:
        for external_id in external_ids:
            self._known.pop((channel, external_id), None)

    def forget_account(self, channel: str, external_id: str) -> None:
        """The account was forgotten (bot/services/privacy.py): its next update is a new
        citizen's, not the one remembered here."""
        self._forget(channel, [external_id])

    async def identify(
        self, channel: str, external_id: str, language_hint: str | None,
        username: str | None = None, alias: str | None = None,
    ) -> Citizen:
        """The citizen behind a channel account, created on first contact. `username` (so
        staff can name people by @username) and `alias` (another key the channel gives the
        account) are kept up to date, written only when they change. A username seen here is
        taken, in the same transaction, from any other account of the channel still holding
        it: someone dropped it and this account took it. Usernames are case-insensitive and
        kept in lower case, so that is one indexed comparison."""
        username = username_key(username)
        citizen = self._known.get((channel, external_id))
        if citizen is None:
            async with self.db.read() as conn:
                citizen = await CitizenRepository(conn).find(channel, external_id)
        released: list[str] = []
        if citizen is not None:
            names = replace(citizen, username=username or citizen.username,
                            alias=alias or citizen.alias)
            if names != citizen:
                async with self.db.write() as conn:
                    citizens = CitizenRepository(conn)
                    await citizens.set_names(citizen.id, names.username, names.alias)
                    if username and username != citizen.username:
                        released = await citizens.release_username(channel, username,
                                                                   citizen.id)
            citizen = names
        else:
            async with self.db.write() as conn:
                citizens = CitizenRepository(conn)
                citizen = await citizens.create(
                    channel, external_id, self.language_for(language_hint), self.clock.now(),
                    username, alias,
                )
                if username:
                    released = await citizens.release_username(channel, username, citizen.id)
        self._forget(channel, released)  # as remembered here, they still hold the name
        return self._remember(citizen)

    async def set_language(self, citizen: Citizen, language: str) -> Citizen:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}")
        async with self.db.write() as conn:
            await CitizenRepository(conn).set_language(citizen.id, language)
        return self._remember(replace(citizen, language=language))

    async def language_of(self, channel: str, external_id: str) -> str:
        """The language a chat account reads (the default for an account never seen): for
        messages to staff that no update of theirs asked for."""
        async with self.db.read() as conn:
            found = await CitizenRepository(conn).find(channel, external_id)
        return found.language if found is not None else self.default_language
