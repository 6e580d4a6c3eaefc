"""`chamyeo backup`: a consistent copy of a live SQLite database, through SQLite's online backup
API (Python's sqlite3.Connection.backup). It copies through a connection, so what is still in
the -wal file is in the copy; it copies every page in one step, under one read transaction, so
the copy is the database as of one moment, while the bot keeps writing (in WAL mode a reader
does not block writers). PostgreSQL is backed up with its own tools (pg_dump; README,
"Backups")."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """One line: why no backup was written."""


class DamagedCopy(BackupError):
    """The copy failed its integrity check: not a usable backup (none is kept)."""


@dataclass(frozen=True)
class BackupReport:
    source: Path
    copy: Path
    pages: int
    page_size: int
    revision: str | None  # the Alembic revision in the copy (None: not a Chamyeo database)

    @property
    def size_bytes(self) -> int:
        return self.pages * self.page_size


def sqlite_file(url: str) -> Path:
    """The file of a sqlite+aiosqlite:/// URL, absolute (relative to the working directory)."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("the database is in memory: there is no file to back up")
    return Path(database).resolve()


def backup_sqlite(source: Path, out: Path) -> BackupReport:
    """Copy the database `source` to the new file `out` (never overwritten), check the copy
    (PRAGMA integrity_check) and return what it holds. The copy is a single file
    (rollback-journal mode; the bot turns WAL back on when it opens it)."""
    out = out.absolute()
    if out.exists() or out.is_symlink():
        raise BackupError(f"{out} already exists: a backup never overwrites a file, "
                          "choose a new name")
    if not out.parent.is_dir():
        raise BackupError(f"cannot write {out}: the folder {out.parent} does not exist")
    if not source.is_file():
        raise BackupError(f"there is no database at {source}: nothing to back up")
    # Written under a temporary name next to `out`, and given its name only once checked.
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        report = _copy_and_check(source, partial)
        _publish(partial, out)
        return BackupReport(source, out, report.pages, report.page_size, report.revision)
    finally:
        for leftover in (partial, Path(f"{partial}-journal"), Path(f"{partial}-wal"),
                         Path(f"{partial}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _publish(partial: Path, out: Path) -> None:
    """Give the checked copy its name, never replacing a file that appeared meanwhile: a hard
    link where the file system has them, else an exclusive create and a byte copy."""
    exists = BackupError(f"{out} already exists: a backup never overwrites a file, "
                         "choose a new name")
    try:
        os.link(partial, out)
        return
    except FileExistsError:
        raise exists from None
    except OSError:
        pass  # no hard links here
    created = False
    try:
        with open(partial, "rb") as source, open(out, "xb") as target:
            created = True
            shutil.copyfileobj(source, target)
            target.flush()
            os.fsync(target.fileno())
    except FileExistsError:
        raise exists from None
    except OSError as exc:
        if created:  # ours, half written
            with contextlib.suppress(FileNotFoundError):
                out.unlink()
        raise BackupError(f"cannot write {out}: {exc.strerror or exc}") from None


def _copy_and_check(source: Path, target: Path) -> BackupReport:
    # Read-only: the backup never changes the live database (mode=ro also refuses to create
    # a missing file).
    try:
        live = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {source}: {exc}") from None
    try:
        copy = sqlite3.connect(target)
    except sqlite3.Error as exc:
        live.close()
        raise BackupError(f"cannot write {target.parent}: {exc}") from None
    try:
        try:
            # pages=-1: every page in one step, so another connection's commit cannot make
            # SQLite start over (it would, between steps) and the copy is one moment's.
            live.backup(copy, pages=-1)
        except sqlite3.Error as exc:
            raise BackupError(f"the backup of {source} failed: {exc}") from None
        # The copy inherits WAL mode from the live file; as a backup it should be one file.
        copy.execute("PRAGMA journal_mode=DELETE")
        problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise DamagedCopy(f"the copy failed its integrity check ({problems[0]}); the live "
                              "database may be damaged: run PRAGMA integrity_check on it")
        pages = copy.execute("PRAGMA page_count").fetchone()[0]
        page_size = copy.execute("PRAGMA page_size").fetchone()[0]
        revision = _revision(copy)
    finally:
        copy.close()
        live.close()
    return BackupReport(source, target, pages, page_size, revision)


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table: not (yet) a Chamyeo database
        return None
    return row[0] if row else None


def restore_instructions(report: BackupReport) -> list[str]:
    live = report.source
    return [
        "To restore it:",
        "  1. stop the bot (every `chamyeo run` on this database)",
        f"  2. remove the old {live.name}-wal and {live.name}-shm next to it, if they exist:",
        f"     rm -f '{live}-wal' '{live}-shm'",
        f"  3. put the copy in its place: cp '{report.copy}' '{live}'",
        "  4. start the bot again",
    ]
