"""Where the tests keep their data: each test its own database, on the backend the run names.

Without `CHAMYEO_TEST_DATABASE_URL` every test gets a fresh SQLite file in its tmp_path. With
it (a PostgreSQL server's maintenance database, e.g.
`postgresql+asyncpg://postgres@127.0.0.1:5432/postgres`), every test gets a fresh PostgreSQL
database of its own, copied from a template migrated once per run (a copy takes tens of
milliseconds; migrating takes seconds), and dropped when the test ends.

Administration runs in a thread of its own with its own event loop, so it works the same from
a plain function, a fixture or inside a running test."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

SERVER_URL = os.environ.get("CHAMYEO_TEST_DATABASE_URL", "").strip() or None
ON_POSTGRES = SERVER_URL is not None
BACKEND = "postgresql" if ON_POSTGRES else "sqlite"

_names = itertools.count(1)
_template_lock = threading.Lock()
_template: str | None = None

T = TypeVar("T")


def _in_own_loop(make: Callable[[], Awaitable[T]]) -> T:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


def url_of(name: str) -> str:
    """The SQLAlchemy URL of database `name` on the test server."""
    assert SERVER_URL is not None
    return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


def _dsn(name: str | None = None) -> str:
    """The same server for asyncpg itself (no "+asyncpg" driver suffix)."""
    assert SERVER_URL is not None
    url = make_url(SERVER_URL).set(drivername="postgresql")
    if name is not None:
        url = url.set(database=name)
    return url.render_as_string(hide_password=False)


async def _admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn())
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _ensure_template() -> str:
    """A database migrated to head, created once per test run (per process)."""
    global _template
    with _template_lock:
        if _template is None:
            name = f"chamyeo_template_{os.getpid()}"

            async def create() -> None:
                from storage.database import Database
                from storage.migrate import upgrade

                await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                             f'CREATE DATABASE "{name}"')
                db = Database(url_of(name))
                try:
                    await upgrade(db)
                finally:
                    await db.dispose()

            _in_own_loop(create)
            _template = name
        return _template


def new_database_url(tmp_path: Path, migrated: bool = True) -> str:
    """A database nobody else uses: migrated to head, or empty (for migration tests)."""
    if not ON_POSTGRES:
        return f"sqlite+aiosqlite:///{tmp_path / f'chamyeo-{next(_names)}.db'}"
    name = f"chamyeo_test_{os.getpid()}_{next(_names)}"
    template = _ensure_template() if migrated else "template0"
    _in_own_loop(lambda: _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return url_of(name)


def drop_database_url(url: str) -> None:
    """Drop a PostgreSQL test database, whoever is still connected to it (a killed bot)."""
    if not url.startswith("postgresql"):
        return
    name = make_url(url).database
    _in_own_loop(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def drop_template() -> None:
    global _template
    if _template is not None and ON_POSTGRES:
        name = _template
        _in_own_loop(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        _template = None


def query(url: str, sql: str, *params: Any) -> list[tuple]:
    """Read a database from outside the bot (a subprocess's), with the backend's own driver.
    `sql` uses `?` placeholders on both backends."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(make_url(url).database, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    async def fetch() -> list[tuple]:
        import asyncpg

        numbered = sql
        for i in range(1, len(params) + 1):
            numbered = numbered.replace("?", f"${i}", 1)
        conn = await asyncpg.connect(_dsn(make_url(url).database))
        try:
            return [tuple(row) for row in await conn.fetch(numbered, *params)]
        finally:
            await conn.close()

    return _in_own_loop(fetch)
