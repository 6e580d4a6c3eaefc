"""What the benchmarks share: a scratch database on either backend, and a count of the SQL
statements and transactions an engine runs (SQLAlchemy events on the instance; nothing in
the bot is edited)."""

from __future__ import annotations

import collections
import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from storage.database import Database


def is_postgres(url: str | None) -> bool:
    return bool(url) and url.startswith("postgresql")


@asynccontextmanager
async def scratch_database(server: str | None, folder: Path, name: str) -> AsyncIterator[str]:
    """The URL of an empty database nobody else uses, removed afterwards. Without `server`, an
    SQLite file in `folder`. With `server`, a PostgreSQL URL (e.g. the maintenance database
    `postgresql+asyncpg://postgres@127.0.0.1:5432/postgres`): a database
    `chamyeo_bench_<pid>_<name>` is created on that server and dropped at the end."""
    if not server:
        yield f"sqlite+aiosqlite:///{folder / f'{name}.db'}"
        return
    if not is_postgres(server):
        raise SystemExit(f"--database: a postgresql+asyncpg:// URL, not {server.split(':')[0]}")
    import asyncpg

    url = make_url(server)
    dbname = f"chamyeo_bench_{os.getpid()}_{name}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def admin(*statements: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    await admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)', f'CREATE DATABASE "{dbname}"')
    try:
        yield url.set(database=dbname).render_as_string(hide_password=False)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


_VERB_TABLE = re.compile(
    r"^\s*(?:WITH\b.*?\)\s*)?(SELECT|INSERT|UPDATE|DELETE|BEGIN|PRAGMA)\b"
    r"(?:.*?\b(?:FROM|INTO|UPDATE)\s+\"?(\w+))?",
    re.IGNORECASE | re.DOTALL,
)


def statement_kind(statement: str) -> str:
    """"UPDATE deliveries", "SELECT chat_sessions", "BEGIN"...: the verb and the first table."""
    match = _VERB_TABLE.match(statement)
    if not match:
        return statement.split(None, 1)[0].upper() if statement.strip() else "?"
    verb, table = match.group(1).upper(), match.group(2)
    if verb == "UPDATE":  # the table follows the verb itself
        table = re.match(r"^\s*(?:WITH\b.*?\)\s*)?UPDATE\s+\"?(\w+)", statement,
                         re.IGNORECASE | re.DOTALL)
        table = table.group(1) if table else None
    return f"{verb} {table.lower()}" if table and verb not in ("BEGIN", "PRAGMA") else verb


class StatementCounter:
    """Counts every statement an engine executes (by verb and first table) and every COMMIT
    and ROLLBACK, from the moment it is attached. `snapshot()` and `since()` give counts
    over a stretch of the run."""

    def __init__(self, db: Database) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        for sync_engine in db.sync_engines():
            self._attach(sync_engine)

    def _attach(self, sync_engine: sa.Engine) -> None:
        @event.listens_for(sync_engine, "before_cursor_execute")
        def _on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
            self.counts[statement_kind(statement)] += 1
            self.counts["(statements)"] += 1

        @event.listens_for(sync_engine, "commit")
        def _on_commit(conn) -> None:
            self.counts["(commits)"] += 1

        @event.listens_for(sync_engine, "rollback")
        def _on_rollback(conn) -> None:
            self.counts["(rollbacks)"] += 1

    def snapshot(self) -> collections.Counter[str]:
        return collections.Counter(self.counts)

    def since(self, before: collections.Counter[str]) -> dict[str, int]:
        diff = self.counts - before
        return dict(sorted(diff.items()))


def count_transactions(db, counts: collections.Counter[str]) -> None:
    """Shadow `db.read` and `db.write` on this Database instance with versions that count
    "(read transactions)" and "(write transactions)" into `counts`."""
    for name in ("read", "write"):
        original = getattr(db, name)

        def counted(original=original, key=f"({name} transactions)", **options):
            counts[key] += 1
            return original(**options)  # e.g. read(scans=True)

        setattr(db, name, counted)


def per(counts: dict[str, int], n: int) -> dict[str, float]:
    return {k: round(v / n, 2) for k, v in counts.items()} if n else {}


RESULTS = Path(__file__).resolve().parent / "results"


def write_result(name: str, result: dict) -> int:
    """Keep a run's figures in bench/results/<name>-<UTC time>.json; the exit status: 0 only
    if every target in result["targets"] holds."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"  written: {out}")
    return 0 if all(result["targets"].values()) else 1
