"""Backups. `chamyeo backup --out FILE` copies a live SQLite database through SQLite's online
backup API while another connection keeps writing, checks the copy, and says how to restore it;
the copy is one moment of the database and works once restored. PostgreSQL is backed up with
pg_dump and restored with pg_restore, exactly as the README says (on a PostgreSQL run).

The SQLite tests use a SQLite file of their own on either run: the backup command is for
SQLite only (on PostgreSQL it points to pg_dump: tests/test_cli_database.py)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from storage.tables import campaigns, cases, citizens, votes
from tests.conftest import DAEJEON_FILE
from tests.databases import ON_POSTGRES, drop_database_url, new_database_url, query
from tests.test_cli_settings import Cli, assert_one_clear_line, head_revision

WRITER = "backup-writer-"  # external ids of the citizens the writer adds
STARTED_AFTER = 40  # writes before the backup starts
AFTER_BACKUP = 40  # writes still made once the backup is done


class VoteWriter(threading.Thread):
    """Another connection to the live database, adding one citizen and their vote per
    transaction, in a loop, until stopped. It never checkpoints (wal_autocheckpoint=0), so
    everything it commits is in the -wal file only, until it closes."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="vote-writer", daemon=True)
        self.engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
        self.committed = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self._target = STARTED_AFTER
        self._reached = threading.Event()
        self._lock = threading.Lock()

    def wait_for(self, writes: int, timeout: float = 60) -> None:
        """Until `writes` transactions in all have been committed."""
        with self._lock:
            self._target = writes
            if self.committed >= writes:
                self._reached.set()
            else:
                self._reached.clear()
        assert self._reached.wait(timeout) or self.error, f"only {self.committed} writes"
        assert self.error is None, self.error

    def run(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                conn.exec_driver_sql("PRAGMA busy_timeout=10000")
                campaign_id = conn.execute(sa.select(campaigns.c.id)).scalar_one()
                case_ids = conn.execute(sa.select(cases.c.id).order_by(cases.c.id)).scalars().all()
                conn.commit()
                i = 0
                while not self.stop.is_set():
                    now = datetime.now(UTC)
                    with conn.begin():
                        citizen_id = conn.execute(citizens.insert().values(
                            channel="telegram", external_id=f"{WRITER}{i}", language="ko",
                            first_seen=now)).inserted_primary_key[0]
                        conn.execute(votes.insert().values(
                            campaign_id=campaign_id, citizen_id=citizen_id,
                            case_id=case_ids[i % len(case_ids)], slot=1, cast_at=now,
                            receipt=f"W{i:07d}", voter=f"a:{citizen_id}"))
                    i += 1
                    with self._lock:
                        self.committed = i
                        if i >= self._target:
                            self._reached.set()
        except BaseException as exc:  # reported to the test by wait_for()
            self.error = exc
            self._reached.set()
        finally:
            self.engine.dispose()


def writer_rows(path: Path) -> tuple[list[int], list[int]]:
    """The writer's citizens and the citizens of its votes, by number."""
    conn = sqlite3.connect(path)
    try:
        people = [int(e.removeprefix(WRITER)) for (e,) in conn.execute(
            "SELECT external_id FROM citizens WHERE external_id LIKE ?", (f"{WRITER}%",))]
        voters = [int(e.removeprefix(WRITER)) for (e,) in conn.execute(
            "SELECT c.external_id FROM votes v JOIN citizens c ON c.id = v.citizen_id "
            "WHERE c.external_id LIKE ?", (f"{WRITER}%",))]
    finally:
        conn.close()
    return sorted(people), sorted(voters)


@pytest.fixture
def live(tmp_path) -> Cli:
    """The command on a SQLite database of its own with the Daejeon campaign loaded."""
    folder = tmp_path / "live"
    folder.mkdir()
    cli = Cli(tmp_path, f"sqlite+aiosqlite:///{folder / 'chamyeo.db'}")
    loaded = cli("campaign", "load", str(DAEJEON_FILE))
    assert loaded.returncode == 0, loaded.stderr
    return cli


def live_file(cli: Cli) -> Path:
    return Path(make_url(cli.database_url).database)


def test_a_backup_while_votes_are_written_is_one_moment_and_restores(live, tmp_path):
    path = live_file(live)
    copy = tmp_path / "backups" / "chamyeo-copy.db"
    copy.parent.mkdir()
    writer = VoteWriter(path)
    writer.start()
    try:
        writer.wait_for(STARTED_AFTER)
        wal = Path(f"{path}-wal")
        assert wal.exists() and wal.stat().st_size > 0  # the writes are in the WAL only
        before = writer.committed
        result = live("backup", "--out", str(copy))
        after = writer.committed
        writer.wait_for(after + AFTER_BACKUP)  # and the writing goes on
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""

    # The copy: checked, at head, and the database of one moment during the backup.
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file
    finally:
        conn.close()
    people, voters = writer_rows(copy)
    moment = len(people)
    # Every transaction whole or not at all, in commit order: the writes up to one moment.
    assert people == voters == list(range(moment))
    assert before <= moment <= after, (before, moment, after)
    assert writer.committed > moment  # writes after the copy are not in it
    assert not list(copy.parent.glob(".*partial*"))  # no temporary file left behind

    out = result.stdout
    assert f"backup written: {copy}" in out
    assert "integrity check ok" in out and f"database revision {head_revision()}" in out

    # Restore as the printed steps say (the bot, here the writer, is stopped): remove the old
    # -wal and -shm, copy the backup over the database.
    steps = [line.strip() for line in out.splitlines()]
    assert "To restore it:" in steps
    remove = next(s for s in steps if s.startswith("rm -f "))
    put_back = next(s for s in steps if "cp '" in s).split(": ", 1)[1]
    Path(f"{path}-wal").write_bytes(b"stale")  # as a crashed bot could leave it
    for command in (remove, put_back):
        subprocess.run(["bash", "-c", command], check=True)
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    assert writer_rows(path) == (list(range(moment)), list(range(moment)))

    listed = live("campaign", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("daejeon-2024\tTime to Change Daejeon 2024\t")
    assert copy.exists()  # the backup itself stays as it was


def test_a_backup_never_overwrites_a_file(live, tmp_path):
    existing = tmp_path / "precious.db"
    existing.write_bytes(b"keep me")
    result = live("backup", "--out", str(existing))
    assert_one_clear_line(result, str(existing), "already exists")
    assert existing.read_bytes() == b"keep me"
    assert result.stdout == ""


def test_a_backup_of_a_database_that_does_not_exist(tmp_path):
    cli = Cli(tmp_path)  # x.db in tmp_path, never created
    result = cli("backup", "--out", str(tmp_path / "copy.db"))
    assert_one_clear_line(result, "no database at", "x.db")
    assert not (tmp_path / "x.db").exists()
    assert not (tmp_path / "copy.db").exists()


def test_a_backup_into_a_folder_that_does_not_exist(live, tmp_path):
    result = live("backup", "--out", str(tmp_path / "nowhere" / "copy.db"))
    assert_one_clear_line(result, "does not exist")
    assert not (tmp_path / "nowhere").exists()


# ------------------------------------------------------------------------------------------
# PostgreSQL: the README's pg_dump and pg_restore commands
# ------------------------------------------------------------------------------------------


def libpq(url: str) -> str:
    """A postgresql+asyncpg:// URL as pg_dump and pg_restore take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.skipif(not ON_POSTGRES, reason="needs the PostgreSQL server of a PostgreSQL run "
                                            "(CHAMYEO_TEST_DATABASE_URL)")
@pytest.mark.skipif(shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
                    reason="pg_dump and pg_restore are not installed")
def test_the_readme_pg_dump_and_pg_restore_commands(tmp_path, database_url):
    cli = Cli(tmp_path, database_url)
    assert cli("campaign", "load", str(DAEJEON_FILE)).returncode == 0
    listed = cli("campaign", "list").stdout
    dump = tmp_path / "chamyeo.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", libpq(database_url)],
                   check=True, capture_output=True)

    # Into a new, empty database.
    fresh = new_database_url(tmp_path, migrated=False)
    try:
        subprocess.run(["pg_restore", "--no-owner", "--single-transaction",
                        f"--dbname={libpq(fresh)}", str(dump)], check=True, capture_output=True)
        restored = Cli(tmp_path, fresh)
        assert restored("campaign", "list").stdout == listed
        assert query(fresh, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    finally:
        drop_database_url(fresh)

    # Over the same database, changed since the dump (the bot stopped): back as it was.
    query(database_url, "UPDATE campaigns SET slug = 'changed-since'")
    subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner",
                    "--single-transaction", f"--dbname={libpq(database_url)}", str(dump)],
                   check=True, capture_output=True)
    assert cli("campaign", "list").stdout == listed


def test_without_hard_links_the_copy_is_still_written_and_never_over_a_file(live, tmp_path,
                                                                            monkeypatch):
    import storage.backup

    def no_links(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(storage.backup.os, "link", no_links)
    copy = tmp_path / "copy.db"
    report = storage.backup.backup_sqlite(live_file(live), copy)
    assert report.revision == head_revision()
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("SELECT slug FROM campaigns").fetchall() == [("daejeon-2024",)]
    finally:
        conn.close()
    with pytest.raises(storage.backup.BackupError, match="already exists"):
        storage.backup.backup_sqlite(live_file(live), copy)
    assert not list(tmp_path.glob(".*partial*"))
