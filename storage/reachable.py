"""Whether the database can be reached, said in one line. The `chamyeo` command checks it before
anything touches the database, so a PostgreSQL server that is down, a wrong password, an
unknown database or a SQLite file in a folder that does not exist is one clear line (and exit
status 2), never a traceback, and never the password."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

CHECK_TIMEOUT_SECONDS = 15.0

# SQLSTATE classes and codes that mean "this connection cannot be made": 08 connection
# exception, 28 invalid authorization (wrong password, unknown role), 3D000 unknown database,
# 57P01-57P03 the server is shutting down, crashed or starting, 53300 too many connections.
_UNREACHABLE_CLASSES = ("08", "28")
_UNREACHABLE_CODES = ("3D000", "57P01", "57P02", "57P03", "53300")
# What SQLite says when the file cannot be opened, or is not a database at all.
_SQLITE_UNREACHABLE = ("unable to open database file", "file is not a database")


class DatabaseUnreachable(Exception):
    """One line: which database (password hidden) and why it cannot be used."""


def safe_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL make_url cannot read: show only its scheme
        return url.split("://", 1)[0] + "://..."


def unreachable_line(url: str, reason: str) -> str:
    line = f"cannot reach the database {safe_url(url)}: {reason}"
    line = " ".join(line.split())  # one line, whatever the driver's message held
    try:
        password = make_url(url).password
    except Exception:
        password = None
    if password:  # a driver could echo it back; it never leaves this function
        line = line.replace(str(password), "***")
    return line


def unreachable_reason(exc: BaseException) -> str | None:
    """Why the database cannot be reached, if `exc` says that it cannot; None for any other
    error (a bug must still show as one)."""
    cause = _driver_error(exc)
    if isinstance(cause, TimeoutError):
        return "no answer in time: is the server up, and are the host and port right?"
    if isinstance(cause, socket.gaierror):
        return f"unknown host ({cause.strerror or cause})"
    if isinstance(cause, ConnectionRefusedError) or (
        isinstance(cause, OSError) and "Connect call failed" in str(cause)
    ):
        return "connection refused: is the PostgreSQL server running, on that host and port?"
    if isinstance(cause, OSError):
        return cause.strerror or str(cause)
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(sqlstate, str) and (
        sqlstate[:2] in _UNREACHABLE_CLASSES or sqlstate in _UNREACHABLE_CODES
    ):
        return str(cause)
    if isinstance(cause, sqlite3.Error) and str(cause) in _SQLITE_UNREACHABLE:
        return str(cause)
    if _is_asyncpg_connection_error(cause):
        return f"the connection was lost ({cause})"
    return None


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrapping (asyncpg's errors are adapted
    once more: the adapted error's __cause__ is asyncpg's)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        orig: BaseException = exc.orig
        cause = orig.__cause__
        if cause is not None and type(cause).__module__.startswith("asyncpg"):
            return cause
        return orig
    return exc


def _is_asyncpg_connection_error(exc: BaseException) -> bool:
    try:
        from asyncpg.exceptions import ConnectionDoesNotExistError
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(exc, ConnectionDoesNotExistError)


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, absolute (relative to the working directory); None for a
    server database or one in memory."""
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except Exception:
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def database_location(url: str) -> str:
    """Where the data is, for a log line: a SQLite file's absolute path, else the URL with
    its password hidden."""
    path = _sqlite_path(url)
    return str(path) if path is not None else safe_url(url)


def missing_sqlite_folder(url: str) -> Path | None:
    """The folder a SQLite URL's file would be in, if that folder does not exist."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    folder = Path(database).parent
    return None if folder.is_dir() else folder


async def check_reachable(url: str) -> None:
    """Open one connection and ask one question; DatabaseUnreachable if that fails. A SQLite
    file that does not exist yet (in a folder that does) is created, as any command would."""
    folder = missing_sqlite_folder(url)
    if folder is not None:
        raise DatabaseUnreachable(unreachable_line(url, f"the folder {folder} does not exist"))
    # PRAGMA schema_version reads the file's header: a file that is not a database fails here.
    question = "PRAGMA schema_version" if url.startswith("sqlite") else "SELECT 1"
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), engine.connect() as conn:
            await conn.exec_driver_sql(question)
    except Exception as exc:
        # Whatever stops the first connection stops the command: say it in one line.
        reason = unreachable_reason(exc) or str(_driver_error(exc)) or type(exc).__name__
        raise DatabaseUnreachable(unreachable_line(url, reason)) from None
    finally:
        await engine.dispose()


async def has_campaign(url: str) -> bool | None:
    """Whether a campaign was ever loaded into this database (campaigns are never deleted);
    None if it has no tables at all: new, created empty by the first connection."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            if not tables:
                return None
            if "campaigns" not in tables:
                return False
            return (await conn.execute(text("SELECT 1 FROM campaigns LIMIT 1"))).first() \
                is not None
    finally:
        await engine.dispose()
