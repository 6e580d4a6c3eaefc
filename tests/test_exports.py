"""Exports: CSV (UTF-8 with BOM) and a workbook that parse back with Korean intact, a vote log
with stable pseudonyms and no Telegram id anywhere, /export in the chat, and the CLI."""

from __future__ import annotations

import asyncio
import csv
import logging
import re
import tempfile
from pathlib import Path

import sqlalchemy as sa
from openpyxl import load_workbook

from bot.campaign_file import parse_campaign
from bot.services import Services
from bot.services.exports import PSEUDONYM_SECRET, campaign_key, pseudonym
from storage.database import Database
from storage.repositories import ScoreRepository, SecretRepository
from storage.tables import campaigns, instance_secrets
from tests.conftest import DAEJEON_FILE, small_campaign
from tests.test_cli_settings import Cli
from tests.test_tally_dashboard import ADMIN, NON_VOTER, VOTERS, cast_votes

JUDGE_EXTERNAL_ID = "7779999"
NAMES = ["summary.csv", "cases.csv", "tally.csv", "scores.csv", "ranking.csv", "votes.csv",
         "signals.csv", "chamyeo-test-2024.xlsx"]


async def prepare(services, clock, campaign):
    cases = await cast_votes(services, clock, campaign)
    judge = await services.citizens.identify("telegram", JUDGE_EXTERNAL_ID, "ko")
    async with services.db.write() as conn:
        await ScoreRepository(conn).set(campaign.id, cases[1].id, judge.id, 0, 90, clock.now())
    return cases


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def all_text(path: Path) -> str:
    if path.suffix == ".xlsx":
        book = load_workbook(path)
        return "\n".join(str(v) for ws in book for row in ws.iter_rows(values_only=True)
                         for v in row)
    return path.read_text(encoding="utf-8-sig")


async def test_exports_parse_back_without_telegram_ids(services, clock, campaign, tmp_path):
    cases = await prepare(services, clock, campaign)
    paths = await services.exports.export(campaign, tmp_path / "a")
    assert [p.name for p in paths] == NAMES
    for path in paths[:-1]:
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    by_name = {p.name: p for p in paths}
    exported_cases = read_csv(by_name["cases.csv"])
    assert len(exported_cases) == 10
    assert exported_cases[0]["title_ko"] == "사례 제목 01번"
    assert exported_cases[0]["organization_ko"].endswith("지역사회보장협의체")

    tally = read_csv(by_name["tally.csv"])
    assert [(r["key"], r["votes"]) for r in tally[:3]] == [
        (cases[0].key, "2"), (cases[1].key, "1"), (cases[2].key, "1")]
    assert tally[2]["status"] == "hidden" and tally[2]["votable"] == "no"

    [score] = read_csv(by_name["scores.csv"])
    assert score["key"] == cases[1].key and score["score"] == "90.0"
    assert re.fullmatch(r"J-[0-9a-f]{12}", score["judge"])

    ranking = read_csv(by_name["ranking.csv"])
    assert [r["rank"] for r in ranking] == [str(i) for i in range(1, 10)]
    assert ranking[0]["key"] == cases[1].key  # the judges' score weighs most
    assert cases[2].key not in {r["key"] for r in ranking}  # hidden: not ranked

    votes = read_csv(by_name["votes.csv"])
    assert [r["key"] for r in votes] == [cases[0].key, cases[0].key, cases[1].key, cases[2].key]
    assert votes[0]["cast_at"] == "2024-11-28T10:15:00+09:00"
    assert all(re.fullmatch(r"[0-9a-f]{12}", r["voter"]) for r in votes)
    assert len({r["voter"] for r in votes}) == 4

    book = load_workbook(by_name["chamyeo-test-2024.xlsx"])
    assert book.sheetnames == ["요약", "사례", "득표", "심사 점수", "순위", "투표 기록",
                               "살펴볼 움직임"]
    rows = list(book["투표 기록"].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [r["voter"] for r in votes]
    assert book["사례"]["G2"].value == "사례 제목 01번"

    secret_ids = [*VOTERS, NON_VOTER, JUDGE_EXTERNAL_ID]
    for path in paths:
        text = all_text(path)
        assert not any(external_id in text for external_id in secret_ids), path.name

    # Stable across exports of one campaign; a different campaign gets other pseudonyms.
    again = {p.name: p for p in await services.exports.export(campaign, tmp_path / "b")}
    assert read_csv(again["votes.csv"]) == votes
    assert read_csv(again["scores.csv"]) == [score]


async def test_pseudonyms_differ_between_campaigns(services, clock, campaign, tmp_path):
    await prepare(services, clock, campaign)
    await services.exports.export(campaign, tmp_path / "a")
    other_report = await services.campaigns.load(
        parse_campaign(small_campaign(slug="other-2024")))
    other = await services.campaigns.get(other_report.campaign_id)
    other_cases = await services.tally.tally(other)
    clock.set(clock.now())
    citizen = await services.citizens.identify("telegram", VOTERS[0], "ko")
    assert (await services.voting.cast_vote(other, citizen, other_cases.cases[0].case.id)).stored
    await services.exports.export(other, tmp_path / "b")
    first = read_csv(tmp_path / "a" / "votes.csv")
    second = read_csv(tmp_path / "b" / "votes.csv")
    assert first[0]["voter"] != second[0]["voter"]


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir()]


async def test_export_command_sends_documents(staffbot, services, clock, campaign,  # noqa: F811
                                              tmp_path, monkeypatch):
    await prepare(services, clock, campaign)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    calls = await staffbot.send(ADMIN, "/export")
    documents = [c for c in calls if c.method == "sendDocument"]
    assert [name for c in documents for name, _ in c.params["_files"].values()] == NAMES
    assert all(c.chat_id == ADMIN.id for c in documents)
    [(name, content)] = documents[5].params["_files"].values()
    assert name == "votes.csv" and content.startswith(b"\xef\xbb\xbf")
    assert not any(v.encode() in content for v in VOTERS)
    assert calls[-1].text.startswith("✅ 파일 8개를 보냈습니다")
    assert leftovers(scratch) == []  # the temporary directory is gone
    # Who took the files (they hold the submitters' contacts) is in the audit log.
    [made] = await services.audit.latest(kind="privacy")
    assert (made.action, made.actor, len(made.detail["files"])) == (
        "export.made", f"telegram:{ADMIN.id}", 8)

    # The dashboard's export button does the same.
    await staffbot.send(ADMIN, "/admin")
    calls = await staffbot.press(ADMIN, "내려받기")
    assert len([c for c in calls if c.method == "sendDocument"]) == 8


def test_cli_export(tmp_path):
    cli = Cli(tmp_path)
    assert cli("campaign", "load", str(DAEJEON_FILE)).returncode == 0
    result = cli("export", "--campaign", "daejeon-2024", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted([*NAMES[:-1], "chamyeo-daejeon-2024.xlsx"])
    assert len(result.stdout.splitlines()) == 8
    assert read_csv(tmp_path / "out" / "cases.csv")[0]["title_ko"]

    result = cli("export", "--campaign", "nope", "--out", str(tmp_path / "none"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "nope" in line and "daejeon-2024" in line
    assert not (tmp_path / "none").exists()


# --- pseudonyms: keyed with the instance's secret --------------------------------------------


async def citizen_id(services, external_id: str) -> int:
    return (await services.citizens.identify("telegram", external_id, "ko")).id


async def stored_secrets(db) -> list[tuple[str, str]]:
    async with db.read() as conn:
        return [tuple(r) for r in await conn.execute(
            sa.select(instance_secrets.c.name, instance_secrets.c.value))]


async def prepare_a_judge_who_voted(services, clock, campaign) -> tuple:
    """The exports after VOTERS[2], who voted for case 1, also scored case 0 as a judge."""
    cases = await prepare(services, clock, campaign)
    both = await citizen_id(services, VOTERS[2])
    async with services.db.write() as conn:
        await ScoreRepository(conn).set(campaign.id, cases[0].id, both, 0, 70, clock.now())
    return cases, both


async def test_pseudonyms_cannot_be_computed_from_the_campaign(services, clock, campaign,
                                                               tmp_path):
    cases, both = await prepare_a_judge_who_voted(services, clock, campaign)
    by_name = {p.name: p for p in await services.exports.export(campaign, tmp_path / "a")}
    votes, scores = read_csv(by_name["votes.csv"]), read_csv(by_name["scores.csv"])

    # The key used to be the slug and the creation time, both known to anyone who has seen
    # the campaign: then anyone could compute every pseudonym and link a judge to their vote.
    async with services.db.read() as conn:
        created = await conn.scalar(
            sa.select(campaigns.c.created_at).where(campaigns.c.id == campaign.id))
    guessable = f"{campaign.slug}|{created.isoformat()}".encode()
    ids = [await citizen_id(services, v) for v in [*VOTERS, NON_VOTER, JUDGE_EXTERNAL_ID]]
    guessed = {pseudonym(guessable, role, i) for role in ("citizen", "judge") for i in ids}
    exported = {r["voter"] for r in votes} | {r["judge"].removeprefix("J-") for r in scores}
    assert len(exported) == 4 + 2 and not exported & guessed

    # VOTERS[2]'s vote (case 1) and their score (case 0) cannot be told to be one person's.
    [their_vote] = [r for r in votes if r["key"] == cases[1].key]
    [their_score] = [r for r in scores if r["key"] == cases[0].key]
    assert their_vote["voter"] != their_score["judge"].removeprefix("J-")

    # The key comes from a random secret made on the first export, in the database only.
    [(name, secret)] = await stored_secrets(services.db)
    assert name == PSEUDONYM_SECRET and re.fullmatch(r"[0-9a-f]{64}", secret)
    key = campaign_key(secret, campaign.id)
    assert their_vote["voter"] == pseudonym(key, "citizen", both)
    assert their_score["judge"] == "J-" + pseudonym(key, "judge", both)


async def test_the_secret_is_in_no_exported_file(services, clock, campaign, tmp_path, caplog):
    await prepare_a_judge_who_voted(services, clock, campaign)
    caplog.set_level(logging.INFO)  # what `chamyeo run` logs (a driver's DEBUG echoes SQL)
    paths = await services.exports.export(campaign, tmp_path / "a")
    [(_, secret)] = await stored_secrets(services.db)
    key = campaign_key(secret, campaign.id)
    for path in paths:
        for text in (all_text(path), path.read_bytes().decode("latin-1")):
            assert secret not in text and key.hex() not in text, path.name
    assert secret not in caplog.text


async def test_two_workers_export_the_same_pseudonyms(services, clock, campaign, database_url,
                                                      tmp_path):
    """Two Database objects stand for two processes; both export before the secret exists,
    at once: one secret is stored, and both files agree."""
    await prepare_a_judge_who_voted(services, clock, campaign)
    other_db = Database(database_url)
    try:
        other = Services.create(other_db, clock)
        first, second = await asyncio.gather(
            services.exports.export(campaign, tmp_path / "a"),
            other.exports.export(campaign, tmp_path / "b"))
        assert len(await stored_secrets(services.db)) == 1
        for a, b in zip(first[:-1], second[:-1], strict=True):
            assert a.name == b.name and read_csv(a) == read_csv(b), a.name
        # And later exports by either one, after the secret exists: the same again.
        again = await other.exports.export(campaign, tmp_path / "c")
        assert read_csv(again[5]) == read_csv(first[5])  # votes
        assert read_csv(again[3]) == read_csv(first[3])  # scores
    finally:
        await other_db.dispose()


async def test_workers_making_the_secret_at_once_all_get_the_first(db, database_url, clock):
    other_db = Database(database_url)

    async def make(database: Database, value: str) -> str:
        async with database.write() as conn:
            return await SecretRepository(conn).get_or_create("race", lambda: value, clock.now())

    try:
        got = await asyncio.gather(*[make(db if n % 2 else other_db, f"{n:064x}")
                                     for n in range(12)])
        assert len(set(got)) == 1
        assert await make(other_db, "later") == got[0]  # made once, never replaced
    finally:
        await other_db.dispose()
    async with db.read() as conn:
        assert await SecretRepository(conn).get("race") == got[0]
