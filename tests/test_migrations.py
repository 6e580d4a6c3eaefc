"""Migrations keep every row and run alone: a database holding data at any past revision
upgrades to head with every row intact, and several workers starting together on an empty
database all come up. On SQLite and on PostgreSQL (CHAMYEO_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.database import BUSY_TIMEOUT_MS, Database
from storage.migrate import (
    MigrationError,
    alembic_config,
    current_revision,
    run_migration,
    upgrade,
)
from storage.tables import UTCDateTime, metadata
from tests import databases
from tests.test_cli_settings import Cli

T0 = datetime(2024, 11, 28, 0, 0, 1, 123456, tzinfo=UTC)
T1 = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)

DISTRICTS = [{"key": "dong", "ko": "동구", "en": "Dong-gu", "neighbourhoods": [{"ko": "효동"}]}]
CATEGORIES = [{"key": "care", "ko": "돌봄", "en": "Care"}]


def _campaign(id: int, slug: str, **later_columns: Any) -> dict[str, Any]:
    """A campaign row with every column of 0001, plus `later_columns`."""
    return {
        "id": id, "slug": slug, "title_ko": "대전을 바꾸는 시간", "title_en": None,
        "description_ko": "사례를 모읍니다.", "description_en": "We collect cases.",
        "timezone": "Asia/Seoul", "votes_per_citizen": 2, "allow_change": False,
        "show_running_tally": True, "districts": DISTRICTS, "categories": CATEGORIES,
        "sample_data": True, "created_at": T0, "updated_at": T1, **later_columns,
    }


def _case(id: int, key: str, **later_columns: Any) -> dict[str, Any]:
    """A case row of campaign 1 with every column of 0001, plus `later_columns`."""
    return {
        "id": id, "campaign_id": 1, "key": key, "status": "approved", "source": "file",
        "district": "dong", "neighbourhood": "효동", "category": "care", "image": None,
        "title_ko": f"반찬 나눔 {id}", "summary_ko": "이웃이 만든 반찬", "body_ko": "본문 " * 20,
        "organization_ko": "효동 지역사회보장협의체", "title_en": f"Side dishes {id}",
        "summary_en": None, "body_en": None, "organization_en": "Hyo-dong council",
        "created_at": T0, "updated_at": T1, **later_columns,
    }


def _citizen(id: int, channel: str, external_id: str, **later_columns: Any) -> dict[str, Any]:
    return {"id": id, "channel": channel, "external_id": external_id, "language": "ko",
            "first_seen": T0, **later_columns}


# What each revision brings, for the upgrade tests. A new revision adds one entry:
#   "rows":     representative rows, in an order the foreign keys accept, of every table it
#               creates, and of older tables using the columns it adds (each row gives every
#               column its table has at that revision);
#   "defaults": the value each column it adds to an older table takes in the rows that were
#               already there (or a function of the row giving it).
REVISIONS: dict[str, dict[str, dict[str, Any]]] = {
    "0001": {
        "rows": {
            "campaigns": [_campaign(1, "daejeon-2024")],
            "phases": [
                {"id": 1, "campaign_id": 1, "name": "voting", "starts_at": T0, "ends_at": T1},
                {"id": 2, "campaign_id": 1, "name": "awards", "starts_at": T1, "ends_at": None},
            ],
            "cases": [_case(1, "case-1"), _case(2, "case-2", status="hidden")],
            "citizens": [_citizen(1, "telegram", "1001"),
                         _citizen(2, "telegram", "1002", language="en")],
            "votes": [
                {"id": 1, "campaign_id": 1, "citizen_id": 1, "case_id": 1, "slot": 1,
                 "cast_at": T0, "receipt": "A1B2C3"},
                {"id": 2, "campaign_id": 1, "citizen_id": 1, "case_id": 2, "slot": 2,
                 "cast_at": T1, "receipt": "D4E5F6"},
                {"id": 3, "campaign_id": 1, "citizen_id": 2, "case_id": 1, "slot": 1,
                 "cast_at": T1, "receipt": "G7H8J9"},
            ],
            "audit_log": [
                {"id": 1, "at": T0, "actor": "cli", "action": "campaign.created",
                 "campaign_id": 1, "detail": {"cases": 2, "제목": "대전"}},
                {"id": 2, "at": T1, "actor": "telegram:9001", "action": "staff.denied",
                 "campaign_id": None, "detail": {}},
            ],
        },
        "defaults": {},
    },
    "0002": {
        "rows": {
            "campaigns": [_campaign(2, "daejeon-2025", reminder_hours=[48, 2])],
            "subscriptions": [
                {"campaign_id": 1, "citizen_id": 1, "active": True, "updated_at": T0},
                {"campaign_id": 1, "citizen_id": 2, "active": False, "updated_at": T1},
            ],
            "broadcasts": [
                {"id": 1, "campaign_id": 1, "kind": "phase_started",
                 "payload": {"phase": "voting"}, "status": "done", "created_at": T0,
                 "finished_at": T1},
            ],
            "announcements": [
                {"id": 1, "campaign_id": 1, "kind": "phase_started", "due_at": T0,
                 "status": "sent", "broadcast_id": 1, "updated_at": T0},
                {"id": 2, "campaign_id": 1, "kind": "reminder", "due_at": T1,
                 "status": "planned", "broadcast_id": None, "updated_at": T0},
            ],
            "deliveries": [
                {"id": 1, "broadcast_id": 1, "citizen_id": 1, "channel": "telegram",
                 "address": "1001", "language": "ko", "status": "sent", "attempts": 1,
                 "error": None, "updated_at": T0},
                {"id": 2, "broadcast_id": 1, "citizen_id": None, "channel": "telegram",
                 "address": "-100123", "language": "ko", "status": "failed", "attempts": 3,
                 "error": "Forbidden: bot was kicked", "updated_at": T1},
            ],
        },
        "defaults": {"campaigns": {"reminder_hours": [24, 1]}},
    },
    "0003": {
        "rows": {
            "campaigns": [_campaign(
                3, "daejeon-2026", reminder_hours=[24], judging={"criteria": ["impact"]},
                ranking={"citizen_weight": 0.3}, awards=[{"ko": "대상", "count": 1}],
                results_published_at=T1,
            )],
            "citizens": [_citizen(3, "telegram", "9002", username="judge_kim")],
            "cases": [_case(3, "chat-3", source="chat", status="rejected",
                            status_reason="중복 접수", submitter_id=3)],
            "staff_roles": [
                {"channel": "telegram", "external_id": "9002", "role": "judge",
                 "granted_by": "telegram:9001", "granted_at": T0},
            ],
            "scores": [
                {"id": 1, "campaign_id": 1, "case_id": 1, "judge_id": 3, "criterion": 0,
                 "score": 7.5, "updated_at": T0},
                {"id": 2, "campaign_id": 1, "case_id": 1, "judge_id": 3, "criterion": 1,
                 "score": 3.25, "updated_at": T1},
            ],
        },
        "defaults": {
            "campaigns": {"judging": {}, "ranking": {}, "awards": [],
                          "results_published_at": None},
            "cases": {"status_reason": None, "submitter_id": None},
            "citizens": {"username": None},
        },
    },
    "0004": {
        "rows": {
            "campaigns": [_campaign(
                4, "daejeon-2027", reminder_hours=[1], judging={}, ranking={}, awards=[],
                results_published_at=None, cases_per_citizen=5,
            )],
            "cases": [_case(4, "chat-4", source="chat", status="pending", status_reason=None,
                            submitter_id=2, submitter_type="council", consented_at=T0)],
            "submission_drafts": [
                {"citizen_id": 2, "campaign_id": 1, "step": "title",
                 "answers": {"district": "dong", "summary": "반찬"}, "from_preview": True,
                 "started_at": T0, "updated_at": T1},
            ],
        },
        "defaults": {
            "campaigns": {"cases_per_citizen": 3},
            "cases": {"submitter_type": None, "consented_at": None},
        },
    },
    "0005": {
        "rows": {
            "citizens": [_citizen(4, "kakao", "bot-user-key", username=None,
                                  alias="plusfriend-key")],
        },
        "defaults": {"citizens": {"alias": None}},
    },
    "0006": {
        "rows": {
            "deliveries": [
                {"id": 3, "broadcast_id": 1, "citizen_id": 4, "channel": "kakao",
                 "address": "bot-user-key", "language": "ko", "status": "sending",
                 "attempts": 1, "error": None, "claimed_by": "worker-a", "lease_until": T1,
                 "updated_at": T0},
            ],
            "audit_log": [
                {"id": 3, "at": T1, "actor": "kakao:bot-user-key", "action": "vote.refused",
                 "campaign_id": 1, "detail": {"why": "closed"}, "repeats": 4,
                 "dedup_key": "vote.refused:kakao:bot-user-key:2024-12-01T09:00"},
            ],
            "chat_sessions": [
                {"channel": "telegram", "external_id": "1001",
                 "state": {"awaiting": "search"}, "turn_owner": "worker-a",
                 "turn_until": T1, "updated_at": T0},
            ],
            "outbound_pace": [{"lane": "telegram", "next_at": 1733043600.25}],
            "workers": [{"id": "worker-a", "seen_at": T1}],
            "instance_secrets": [
                {"name": "export_pseudonym_key", "value": "0f" * 32, "created_at": T0},
            ],
        },
        "defaults": {
            "deliveries": {"claimed_by": None, "lease_until": None},
            "audit_log": {"repeats": 1, "dedup_key": None},
        },
    },
    "0007": {
        "rows": {
            "announced_phases": [
                {"campaign_id": 1, "phase": "voting", "state": "closed", "announcement_id": 1,
                 "updated_at": T1},
            ],
        },
        "defaults": {},
    },
    "0008": {
        "rows": {
            "campaigns": [_campaign(
                5, "daejeon-2028", reminder_hours=[2], judging={}, ranking={}, awards=[],
                results_published_at=None, cases_per_citizen=2, identity="phone",
                case_order="file", retention_days=30,
            )],
            "votes": [
                {"id": 4, "campaign_id": 5, "citizen_id": 1, "case_id": 1, "slot": 1,
                 "cast_at": T1, "receipt": "K2M3-N4P5", "voter": "p:" + "ab" * 20},
            ],
            "citizen_phones": [{"citizen_id": 1, "phone_key": "cd" * 32, "verified_at": T0}],
            "voting_codes": [
                {"id": 1, "campaign_id": 5, "code_hash": "ef" * 32, "batch": "b1",
                 "citizen_id": 2, "bound_at": T1, "created_at": T0},
            ],
            "identity_tries": [
                {"campaign_id": 5, "citizen_id": 2, "window_start": T0, "failures": 2},
            ],
        },
        # Every vote before 0008 counts as its account's.
        "defaults": {
            "campaigns": {"identity": "account", "case_order": "random", "retention_days": 90},
            "votes": {"voter": lambda row: f"a:{row['citizen_id']}"},
        },
    },
    "0009": {
        "rows": {
            "cases": [_case(5, "chat-5", source="chat", status="withdrawn", status_reason=None,
                            submitter_id=1, submitter_type="individual", consented_at=T0,
                            contact="010-1234-5678")],
        },
        # Cases sent in before 0009 have no contact.
        "defaults": {"cases": {"contact": None}},
    },
    "0010": {
        "rows": {
            "web_links": [
                {"token_hash": "a" * 64, "channel": "telegram", "external_id": "9001",
                 "created_by": "telegram:9001", "created_at": T0, "expires_at": T1,
                 "used_at": T1, "revoked_at": None},
            ],
            "web_sessions": [
                {"token_hash": "b" * 64, "channel": "telegram", "external_id": "9001",
                 "csrf": "c" * 43, "created_at": T0, "expires_at": T1, "ended_at": None},
            ],
            "staff_invitations": [
                {"code_hash": "d" * 64, "role": "judge", "created_by": "cli:kim",
                 "created_at": T0, "expires_at": T1, "used_at": T1,
                 "used_by": "kakao:bot-user-key"},
            ],
        },
        "defaults": {},
    },
    "0011": {
        "rows": {
            "vote_counts": [
                {"campaign_id": 1, "case_id": 1, "window_start": 1_732_800_000, "votes": 2,
                 "first_votes": 2, "fresh_votes": 0},
            ],
        },
        "defaults": {},
    },
    "0012": {
        "rows": {
            "broadcasts": [
                {"id": 2, "campaign_id": 1, "kind": "staff", "payload": {"text": "안녕하세요"},
                 "status": "running", "created_at": T1, "finished_at": None,
                 "request_key": "e" * 43},
            ],
        },
        # Broadcasts started before 0012 carry no form key.
        "defaults": {"broadcasts": {"request_key": None}},
    },
    "0013": {"rows": {}, "defaults": {}},  # an index only
}


def _all_revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


ALL_REVISIONS = _all_revisions()
HEAD = ALL_REVISIONS[-1]


def _bind(name: str, value: Any) -> sa.BindParameter:
    """A bound value typed the way the tables store it (plain SQL knows no JSON or UTC)."""
    if isinstance(value, datetime):
        return sa.bindparam(name, value, type_=UTCDateTime())
    if isinstance(value, bool):
        return sa.bindparam(name, value, type_=sa.Boolean())
    if isinstance(value, dict | list):
        return sa.bindparam(name, value, type_=sa.JSON())
    return sa.bindparam(name, value)


async def insert_rows(db: Database, revision: str) -> set[str]:
    """The seed rows of every revision up to `revision`, in that order, by plain INSERTs
    valid at `revision`; returns the tables they went into."""
    tables: set[str] = set()
    upto = ALL_REVISIONS.index(revision) + 1
    async with db.write() as conn:
        for i, rev in enumerate(ALL_REVISIONS[:upto]):
            for table, rows in REVISIONS[rev]["rows"].items():
                tables.add(table)
                for seed in rows:
                    # An older row inserted at a later revision gives the columns added since.
                    row = _with_defaults(table, seed, ALL_REVISIONS[i + 1:upto])
                    names = list(row)
                    statement = sa.text(
                        f"INSERT INTO {table} ({', '.join(names)}) "
                        f"VALUES ({', '.join(':' + n for n in names)})"
                    ).bindparams(*(_bind(n, row[n]) for n in names))
                    await conn.execute(statement)
    return tables


def expected_at_head(revision: str) -> dict[str, list[dict[str, Any]]]:
    """The rows seeded up to `revision` as head shows them: each with the defaults of every
    column added after the revision that wrote it."""
    expected: dict[str, list[dict[str, Any]]] = {}
    for i, rev in enumerate(ALL_REVISIONS[: ALL_REVISIONS.index(revision) + 1]):
        for table, rows in REVISIONS[rev]["rows"].items():
            for row in rows:
                expected.setdefault(table, []).append(
                    _with_defaults(table, row, ALL_REVISIONS[i + 1:]))
    return expected


def _with_defaults(table: str, row: dict[str, Any], later: list[str]) -> dict[str, Any]:
    """`row` with the defaults of the columns the `later` revisions add to its table (a default
    may be a function of the row: a column filled from others)."""
    full = dict(row)
    for rev in later:
        for column, default in REVISIONS[rev]["defaults"].get(table, {}).items():
            full[column] = default(full) if callable(default) else default
    return full


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    return names - {"alembic_version"}


async def rows_at_head(db: Database, table_name: str) -> list[dict[str, Any]]:
    table = metadata.tables[table_name]
    async with db.read() as conn:
        result = await conn.execute(sa.select(table).order_by(*table.primary_key.columns))
        return [dict(row._mapping) for row in result]


def _by_key(table_name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    key = [c.name for c in metadata.tables[table_name].primary_key.columns]
    return sorted(rows, key=lambda row: tuple(row[k] for k in key))


async def seed_and_upgrade(url: str, revision: str) -> Database:
    db = Database(url)
    await upgrade(db, revision)
    assert await current_revision(db) == revision
    seeded = await insert_rows(db, revision)
    # Every table of the revision holds rows: a new table without seed rows fails here.
    assert seeded == await table_names(db)
    await upgrade(db)
    return db


async def assert_every_row_kept(db: Database, revision: str) -> None:
    for table_name, expected in expected_at_head(revision).items():
        assert await rows_at_head(db, table_name) == _by_key(table_name, expected), table_name


def test_every_revision_has_seed_rows():
    assert list(REVISIONS) == ALL_REVISIONS


async def test_upgrading_a_0002_database_with_votes_keeps_them(empty_database_url):
    # 0003 rebuilds `cases` on SQLite (a new foreign key): with foreign keys on, dropping
    # the old table failed on the votes that refer to it.
    db = await seed_and_upgrade(empty_database_url, "0002")
    try:
        assert await current_revision(db) == HEAD
        async with db.read() as conn:
            votes = (await conn.execute(sa.text("SELECT id, case_id FROM votes ORDER BY id"))).all()
        assert [tuple(v) for v in votes] == [(1, 1), (2, 2), (3, 1)]
    finally:
        await db.dispose()


async def test_0011_counts_the_votes_already_recorded(empty_database_url):
    db = await seed_and_upgrade(empty_database_url, "0010")
    try:
        async with db.read() as conn:
            rows = (await conn.execute(sa.text(
                "SELECT campaign_id, case_id, window_start, votes, first_votes, fresh_votes"
                " FROM vote_counts ORDER BY campaign_id, case_id, window_start"))).all()
        # The seeded votes: 1 (case 1, slot 1, T0), 2 (case 2, slot 2, T1), 3 (case 1, slot 1,
        # T1), 4 (campaign 5, case 1, slot 1, T1); every account first seen at T0, so the
        # votes at T0 are from accounts new then.
        t0, t1 = (int(t.timestamp()) // 600 * 600 for t in (T0, T1))
        assert [tuple(r) for r in rows] == [
            (1, 1, t0, 1, 1, 1), (1, 1, t1, 1, 1, 0), (1, 2, t1, 1, 0, 0), (5, 1, t1, 1, 1, 0)]
    finally:
        await db.dispose()


@pytest.mark.parametrize("revision", ALL_REVISIONS)
async def test_upgrading_from_every_revision_keeps_every_row(empty_database_url, revision):
    # At head itself nothing migrates: that case checks the newest seed rows are valid.
    db = await seed_and_upgrade(empty_database_url, revision)
    try:
        assert await current_revision(db) == HEAD
        await assert_every_row_kept(db, revision)
    finally:
        await db.dispose()


async def test_0007_fills_what_subscribers_were_told_from_the_sent_announcements(
    empty_database_url
):
    db = Database(empty_database_url)
    try:
        await upgrade(db, "0006")
        await insert_rows(db, "0006")
        async with db.write() as conn:
            for id, kind, status, at in [(10, "voting_opens", "sent", T0),
                                         (11, "voting_closes", "sent", T1),
                                         (12, "submission_opens", "sent", T0),
                                         (13, "submission_closes", "planned", T1)]:
                await conn.execute(sa.text(
                    "INSERT INTO announcements (id, campaign_id, kind, due_at, status, "
                    "updated_at) VALUES (:id, 1, :kind, :at, :status, :at)"
                ).bindparams(_bind("id", id), _bind("kind", kind), _bind("status", status),
                             _bind("at", at)))
        await upgrade(db)
        rows = await rows_at_head(db, "announced_phases")
        assert [(r["campaign_id"], r["phase"], r["state"], r["announcement_id"])
                for r in rows] == [(1, "submission", "open", 12), (1, "voting", "closed", 11)]
    finally:
        await db.dispose()


async def assert_connection_restored(db: Database) -> None:
    """The connection the migration used (a new Database's pool holds only that one) is as
    every other again: foreign keys enforced, SQLite's usual busy timeout."""
    with pytest.raises(sa.exc.IntegrityError):
        async with db.write() as conn:
            await conn.execute(sa.text(
                "INSERT INTO votes (id, campaign_id, citizen_id, case_id, slot, cast_at, receipt)"
                " VALUES (99, 1, 2, 999, 2, :at, 'X')"
            ).bindparams(_bind("at", T0)))
    if db.is_sqlite:
        async with db.read() as conn:
            timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        assert timeout == BUSY_TIMEOUT_MS


async def test_rebuilding_campaigns_keeps_the_rows_that_refer_to_it(empty_database_url):
    # What a future migration changing `campaigns` does on SQLite: a new table, a copy, DROP
    # the old one, rename. With foreign keys on, the DROP cascaded to phases, cases, votes...
    db = await seed_and_upgrade(empty_database_url, HEAD)
    await db.dispose()
    db = Database(empty_database_url)

    def rebuild_campaigns(connection):
        operations = Operations(MigrationContext.configure(connection))
        recreate = "always" if connection.dialect.name == "sqlite" else "auto"
        with operations.batch_alter_table("campaigns", recreate=recreate) as batch:
            batch.add_column(sa.Column("note", sa.Text))

    try:
        await run_migration(db, rebuild_campaigns)
        await assert_every_row_kept(db, HEAD)
        await assert_connection_restored(db)
    finally:
        await db.dispose()


async def test_a_migration_leaving_dangling_rows_changes_nothing(empty_database_url):
    db = await seed_and_upgrade(empty_database_url, HEAD)
    await db.dispose()
    db = Database(empty_database_url)

    def forget_a_voter(connection):
        connection.exec_driver_sql("DELETE FROM citizens WHERE id = 1")

    try:
        # SQLite (foreign keys off) finds the dangling rows before commit; PostgreSQL refuses
        # the DELETE itself.
        with pytest.raises((MigrationError, sa.exc.IntegrityError)) as raised:
            await run_migration(db, forget_a_voter)
        if db.is_sqlite:
            assert raised.type is MigrationError
            message = str(raised.value)
            for table in ("votes", "subscriptions", "deliveries"):
                assert f"in {table} (to citizens)" in message, message
        await assert_every_row_kept(db, HEAD)
        await assert_connection_restored(db)
    finally:
        await db.dispose()


@pytest.mark.skipif(databases.ON_POSTGRES, reason="PostgreSQL enforces foreign keys on "
                    "every write: a database there cannot hold a dangling row to refuse")
def test_db_upgrade_refusing_dangling_rows_is_one_line(empty_database_url, tmp_path):
    """A database that already holds a row pointing nowhere (written with foreign keys off by
    some other tool) is not upgraded; the command says why in one line, no traceback."""

    async def seed() -> None:
        db = Database(empty_database_url)
        try:
            await upgrade(db, "0005")
            await insert_rows(db, "0005")
        finally:
            await db.dispose()

    asyncio.run(seed())
    import sqlite3

    raw = sqlite3.connect(sa.engine.make_url(empty_database_url).database)
    raw.execute("PRAGMA foreign_keys=OFF")  # as a careless tool would
    raw.execute("DELETE FROM citizens WHERE id = 1")
    raw.commit()
    raw.close()
    result = Cli(tmp_path, empty_database_url)("db", "upgrade")
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("chamyeo: the database was not upgraded:") and "votes" in line
    assert "Traceback" not in result.stderr


def test_the_alembic_command_line_migrates_the_same_way(empty_database_url):
    # No connection handed over: env.py opens its own, through run_migration.
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0002")

    async def seed() -> None:
        db = Database(empty_database_url)
        try:
            await insert_rows(db, "0002")
        finally:
            await db.dispose()

    async def check() -> None:
        db = Database(empty_database_url)
        try:
            assert await current_revision(db) == HEAD
            await assert_every_row_kept(db, "0002")
        finally:
            await db.dispose()

    asyncio.run(seed())
    command.upgrade(config, "head")
    asyncio.run(check())


# ------------------------------------------------------------------------------------------
# Several workers starting together on one empty database
# ------------------------------------------------------------------------------------------

WORKERS = 4

# Each worker loads the bot, says it is ready and waits for the word to go: all of them reach
# the migration together instead of one finishing before the next has loaded.
_GATED_CLI = (
    "import runpy, sys; import bot.app, bot.cli, storage.migrate; print('ready', flush=True); "
    "sys.stdin.readline(); sys.argv = ['bot', 'db', 'upgrade']; "
    "runpy.run_module('bot', run_name='__main__')"
)


def test_workers_starting_together_on_an_empty_database_all_come_up(
    tmp_path, empty_database_url
):
    env = dict(Cli(tmp_path).env, CHAMYEO_DATABASE_URL=empty_database_url)
    workers = [
        subprocess.Popen([sys.executable, "-c", _GATED_CLI], cwd=tmp_path, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(WORKERS)
    ]
    for worker in workers:
        assert worker.stdout is not None
        ready = worker.stdout.readline()
        assert ready == "ready\n", ready + worker.communicate(timeout=120)[1]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (stdout, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
        assert stdout.strip() == f"database is at revision {HEAD}"
    assert databases.query(empty_database_url, "SELECT version_num FROM alembic_version") == [
        (HEAD,)
    ]
    assert databases.query(empty_database_url, "SELECT count(*) FROM votes") == [(0,)]
