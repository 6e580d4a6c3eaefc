"""Chat sessions (bot/services/sessions.py): what a chat account's next update needs is kept
in the database; one process serving the database alone (SQLite) remembers it, and reads the
row only for an account it does not remember. What it remembers never differs from the
database: forgetting an account, and a write cut short, forget it here too."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from bot.services import sessions as sessions_module
from storage.repositories.sessions import SessionRepository
from storage.tables import chat_sessions
from tests.databases import ON_POSTGRES

CHANNEL = "telegram"


def session_reads(services) -> list[str]:
    """The SELECTs of chat_sessions from now on."""
    seen: list[str] = []

    def on_execute(conn, cursor, statement, *rest) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "chat_sessions" in statement:
            seen.append(statement)

    for engine in services.db.sync_engines():
        event.listen(engine, "before_cursor_execute", on_execute)
    return seen


async def stored(services, account: str) -> dict | None:
    async with services.db.read() as conn:
        return await conn.scalar(sa.select(chat_sessions.c.state).where(
            chat_sessions.c.channel == CHANNEL, chat_sessions.c.external_id == account))


async def update(services, account: str, change: dict | None = None) -> dict:
    """One update of the account: its session as begun, with `change` made to it."""
    session = await services.sessions.begin(CHANNEL, account)
    state = dict(session.state)
    if change is not None:
        state.update(change)
    await services.sessions.end(session, state)
    return session.state


async def test_an_account_s_session_is_read_once_by_the_one_process(services):
    reads = session_reads(services)
    assert await update(services, "100", {"search": "돌봄"}) == {}
    assert await update(services, "100") == {"search": "돌봄"}
    assert await update(services, "100", {"search": ("노인", "돌봄")}) == {"search": "돌봄"}
    # As the database gives it back: the tuple is a list from the memory too.
    assert await update(services, "100") == {"search": ["노인", "돌봄"]}
    if not services.db.shared:  # (several processes read it as they take the turn)
        assert len(reads) == 1
    assert await stored(services, "100") == {"search": ["노인", "돌봄"]}


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite is served by one process")
async def test_processes_sharing_the_database_see_each_other_s_sessions(services):
    await update(services, "101", {"search": "돌봄"})
    async with services.db.write() as conn:  # another worker's update of the account
        await SessionRepository(conn).save(CHANNEL, "101", {"search": "마을"},
                                           services.clock.now())
    assert await update(services, "101") == {"search": "마을"}


async def test_a_forgotten_account_s_session_is_not_remembered(services):
    await update(services, "102", {"search": "돌봄"})
    citizen = await services.citizens.identify(CHANNEL, "102", "ko")
    assert await services.privacy.forget(citizen)
    assert await stored(services, "102") is None
    assert await update(services, "102") == {}


def telling(write, written: asyncio.Event):
    async def write_then_tell(*args, **kwargs) -> None:
        await write(*args, **kwargs)
        written.set()

    return write_then_tell


async def test_a_write_cut_short_is_read_back_from_the_database(services, monkeypatch):
    await update(services, "103", {"search": "돌봄"})
    written = asyncio.Event()
    for name in ("save", "end_turn"):  # (one process; several)
        monkeypatch.setattr(SessionRepository, name, telling(getattr(SessionRepository, name),
                                                             written))
    on_disk = hold_sqlite_commits(monkeypatch)
    session = await services.sessions.begin(CHANNEL, "103")
    # E.g. KakaoTalk's deadline: the request is given up on once its write is under way.
    ending = asyncio.create_task(services.sessions.end(session, {"search": "마을"}))
    await written.wait()
    ending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ending
    # The account's next update, while the COMMIT is still on its way to the disk: it waits
    # for it, rather than read (and remember) the state from before.
    following = asyncio.create_task(update(services, "103"))
    for _ in range(20):
        await asyncio.sleep(0)
    on_disk.set()
    assert await following == {"search": "마을"}
    assert await stored(services, "103") == {"search": "마을"}
    assert await update(services, "103") == {"search": "마을"}


def hold_sqlite_commits(monkeypatch) -> asyncio.Event:
    """SQLite's COMMITs (run in a thread by storage/sqlite_inline.py) wait for the event."""
    from storage import sqlite_inline

    on_disk = asyncio.Event()
    to_thread = asyncio.to_thread

    async def held(fn, *args, **kwargs):
        if getattr(fn, "__name__", "") == "commit":
            await on_disk.wait()
        return await to_thread(fn, *args, **kwargs)

    monkeypatch.setattr(sqlite_inline.asyncio, "to_thread", held)
    return on_disk


@pytest.mark.skipif(ON_POSTGRES, reason="several processes remember no sessions")
async def test_the_oldest_accounts_are_forgotten_beyond_the_limit(services, monkeypatch):
    monkeypatch.setattr(sessions_module, "REMEMBERED", 2)
    reads = session_reads(services)
    for account in ("104", "105", "106", "105"):
        await update(services, account)
    assert len(reads) == 3  # 105 was remembered
    await update(services, "104")  # the oldest was forgotten: read again
    assert len(reads) == 4


async def test_a_citizen_who_browses_and_votes_leaves_no_session_behind(telegram, services):
    """Nothing is awaited from a citizen who only browses and votes: no session state is
    written for them (on SQLite, each would be a write transaction on their /start; several
    processes keep a row for the account's turn, with nothing in it)."""
    from tests.conftest import KIM

    await telegram.send(KIM, "/start")
    await telegram.press(KIM, "사례 보기")
    await telegram.press(KIM, "사례 제목 01번")
    await telegram.press(KIM, "🗳 이 사례에 투표하기")
    async with services.db.read() as conn:
        states = (await conn.execute(sa.select(chat_sessions.c.state))).scalars().all()
    if services.db.shared:  # (its "_" bookkeeping too: what the pressed message shows)
        assert [{k: v for k, v in state.items() if not k.startswith("_")}
                for state in states] == [{}]
    else:
        assert states == []
