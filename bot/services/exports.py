"""Exports for staff and for the record: CSV files (UTF-8 with a BOM, so Excel reads Korean)
and one workbook with a sheet per CSV. No Telegram id or chat address goes into any file:
citizens and judges appear as per-campaign pseudonyms.

A pseudonym is the first 12 hex digits of HMAC-SHA256 over the role and the internal citizen
number, keyed per campaign with a key derived from the campaign's id and a random secret the
instance makes once and keeps in the database (`instance_secrets`; in no export, no log). It is
stable across exports of one campaign, by any worker (so a vote log can be compared over time),
differs between campaigns and between a citizen's vote and their scores as a judge, and cannot
be computed, nor linked across files, by someone who has the exports but not the secret. (An
earlier key, the campaign's slug and creation time, could be guessed: that linked a judge's
scores to the same person's vote.)"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.domain import Campaign, Case, CaseStatus, Text
from bot.services.results import ResultsService
from bot.services.tally import unusual_activity
from bot.workbooks import CSV_ENCODING, LazyRows, Named, Percent, Sheet, Term, write_files
from storage.database import Database
from storage.repositories import (
    AuditRepository,
    CaseRepository,
    ScoreRepository,
    SecretRepository,
)
from storage.repositories.reports import ReportRepository
from storage.repositories.vote_counts import VoteCountRepository

__all__ = ["CSV_ENCODING", "ExportService", "Sheet", "campaign_key", "pseudonym"]

PSEUDONYM_SECRET = "export_pseudonyms"  # its name in instance_secrets
# The vote log goes into the workbook up to this many votes (in votes.csv always): beyond it,
# writing the sheet would take most of a big export's time (bench.scale).
WORKBOOK_VOTES = 100_000
VOTE_PAGE = 5_000  # votes read at a time: each page's rows are made on the event loop


def new_secret() -> str:
    return secrets.token_hex(32)


def campaign_key(secret: str, campaign_id: int) -> bytes:
    """One campaign's pseudonym key: another campaign's exports tell nothing about this one's."""
    return hmac.new(secret.encode(), f"export-pseudonyms|campaign:{campaign_id}".encode(),
                    hashlib.sha256).digest()


def pseudonym(key: bytes, prefix: str, internal_id: int) -> str:
    # hmac.digest: the same HMAC-SHA256 as hmac.new, in one C call (a million voters).
    return hmac.digest(key, f"{prefix}:{internal_id}".encode(), "sha256").hex()[:12]


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # no loop runs in this thread
        return False


class VoteLog:
    """The campaign's votes, oldest first, read page by page while the file writer (in its
    thread) asks for them: each page is one short query on the event loop, so citizens are
    served between pages, and no more than a page is held. `total` is counted first; votes
    cast after it are in the next export."""

    def __init__(self, db: Database, campaign_id: int, total: int,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.db = db
        self.campaign_id = campaign_id
        self.total = total
        self.loop = loop

    def __len__(self) -> int:
        return self.total

    async def _page(self, after: tuple[datetime, int] | None,
                    limit: int) -> list[tuple[int, int, datetime, int]]:
        async with self.db.read(scans=True) as conn:
            return await ReportRepository(conn).vote_log(self.campaign_id, after, limit)

    def __iter__(self) -> Iterator[tuple[int, int, datetime]]:
        """Only from a thread other than the loop's (it waits for the loop)."""
        if _on_loop(self.loop):
            raise RuntimeError("the vote log is read from a writer thread, not the event loop")
        after, left = None, self.total
        while left > 0:
            page = asyncio.run_coroutine_threadsafe(
                self._page(after, min(VOTE_PAGE, left)), self.loop).result()
            if not page:
                return
            for citizen_id, case_id, at, _ in page:
                yield citizen_id, case_id, at
            left -= len(page)
            after = page[-1][2], page[-1][3]


R = TypeVar("R")


@dataclass(frozen=True)
class Column(Generic[R]):
    key: str  # the CSV header, and exports.header.<key> in the catalogs
    get: Callable[[R], object]


@dataclass(frozen=True)
class CaseLine:
    campaign: Campaign
    case: Case
    votes: int
    contact: str | None = None  # the submitter's, for staff only (cases sent in by chat)


def district(campaign: Campaign, key: str) -> Named:
    option = campaign.district(key)
    return Named(key, option.name if option else Text(key))


def category(campaign: Campaign, key: str) -> Named:
    option = campaign.category(key)
    return Named(key, option.name if option else Text(key))


def neighbourhood(campaign: Campaign, case: Case) -> Named:
    """Stored by its Korean name; the campaign file may give it an English one."""
    option = campaign.district(case.district)
    name = next((h for h in (option.neighbourhoods if option else ())
                 if h.ko == case.neighbourhood), None)
    return Named(case.neighbourhood, name or Text(case.neighbourhood))


def status(value: CaseStatus) -> Term:
    return Term(value.value, f"reports.status.{value.value}")


# The cases sheet, one line a column, in this order.
CASE_COLUMNS: tuple[Column[CaseLine], ...] = (
    Column("case_id", lambda line: line.case.id),
    Column("key", lambda line: line.case.key),
    Column("status", lambda line: status(line.case.status)),
    Column("district", lambda line: district(line.campaign, line.case.district)),
    Column("neighbourhood", lambda line: neighbourhood(line.campaign, line.case)),
    Column("category", lambda line: category(line.campaign, line.case.category)),
    Column("title_ko", lambda line: line.case.ko.title),
    Column("title_en", lambda line: line.case.en.title if line.case.en else None),
    Column("organization_ko", lambda line: line.case.ko.organization),
    Column("organization_en", lambda line: line.case.en.organization if line.case.en else None),
    Column("summary_ko", lambda line: line.case.ko.summary),
    Column("body_ko", lambda line: line.case.ko.body),
    # A new column is one line here plus exports.header.<key> in ko/en.exports.toml.
    Column("contact", lambda line: line.contact),
    Column("votes", lambda line: line.votes),
)


def summary_rows(campaign: Campaign, counted: list[tuple[Case, int]]) -> list[tuple]:
    """Cases, approved cases and votes per district, then per category, then in all."""
    total = sum(n for _, n in counted)

    def line(group: str, name: Named | None, of: list[tuple[Case, int]]) -> tuple:
        votes = sum(n for _, n in of)
        return (Term(group, f"exports.group.{group}"), name, len(of),
                sum(1 for case, _ in of if case.status is CaseStatus.APPROVED), votes,
                Percent(votes / total if total else 0.0))

    def grouped(group: str, keys: list[str], key_of: Callable[[Case], str],
                name_of: Callable[[Campaign, str], Named]) -> list[tuple]:
        # The campaign file's order, then any key a case holds that the file no longer has.
        keys = keys + sorted({key_of(c) for c, _ in counted} - set(keys))
        return [line(group, name_of(campaign, key), [(c, n) for c, n in counted
                                                     if key_of(c) == key]) for key in keys]

    return [
        *grouped("district", [d.key for d in campaign.districts], lambda c: c.district,
                 district),
        *grouped("category", [c.key for c in campaign.categories], lambda c: c.category,
                 category),
        line("total", None, counted),
    ]


class ExportService:
    def __init__(self, db: Database, clock: Clock, results: ResultsService) -> None:
        self.db = db
        self.clock = clock
        self.results = results  # the ranking sheet is the ranking staff publish, not a copy

    async def export(self, campaign: Campaign, out_dir: str | Path,
                     language: str = "ko", by: str | None = None) -> list[Path]:
        """Write every export of `campaign` into `out_dir` (created if needed): the CSV files,
        then the workbook with its headers and names in `language` (the staff member's); the
        paths. `by`: the staff member who takes the files away, audited (they hold the
        submitters' contacts)."""
        sheets = await self.sheets(campaign)
        # File writing blocks: keep it off the event loop the bot also serves citizens on.
        paths = await asyncio.to_thread(write_files, sheets, Path(out_dir),
                                        f"chamyeo-{campaign.slug}.xlsx", language)
        if by is not None:
            async with self.db.write() as conn:
                await AuditRepository(conn).record(
                    self.clock.now(), by, "export.made", campaign.id,
                    files=[p.name for p in paths])
        return paths

    async def pseudonym_secret(self) -> str:
        """The instance's secret behind every pseudonym, made on the first export."""
        async with self.db.read() as conn:
            secret = await SecretRepository(conn).get(PSEUDONYM_SECRET)
        if secret is None:
            async with self.db.write() as conn:
                secret = await SecretRepository(conn).get_or_create(
                    PSEUDONYM_SECRET, new_secret, self.clock.now())
        return secret

    async def sheets(self, campaign: Campaign) -> list[Sheet]:
        key = campaign_key(await self.pseudonym_secret(), campaign.id)
        async with self.db.read(scans=True) as conn:
            reports = ReportRepository(conn)
            counted = await reports.cases_with_votes(campaign.id)
            contacts = await CaseRepository(conn).contacts(campaign.id)
            log = VoteLog(self.db, campaign.id, await reports.vote_total(campaign.id),
                          asyncio.get_running_loop())
            signals = await unusual_activity(VoteCountRepository(conn), campaign, counted)
            scores = await ScoreRepository(conn).of_campaign(campaign.id)
        ranked = await self.results.ranking(campaign)
        zone = ZoneInfo(campaign.timezone)

        def local(instant: datetime) -> datetime:
            return instant.astimezone(zone)

        by_id = {case.id: case for case, _ in counted}
        total = sum(n for _, n in counted)
        criteria = campaign.judging.criteria

        def criterion(index: int) -> Named | Term:
            if index < len(criteria):
                return Named(index, criteria[index])
            return Term(index, "exports.overall_score")  # a single score, no criteria

        cases_rows = [tuple(column.get(CaseLine(campaign, c, n, contacts.get(c.id)))
                            for column in CASE_COLUMNS)
                      for c, n in counted]
        ordered = sorted(counted, key=lambda item: (-item[1], item[0].id))
        tally_rows = [
            (c.id, c.key, c.ko.title, status(c.status), n,
             Percent(n / total if total else 0.0),
             Term("yes", "exports.yes") if c.votable else Term("no", "exports.no"))
            for c, n in ordered
        ]
        score_rows = [
            (s["case_id"], by_id[s["case_id"]].key if s["case_id"] in by_id else "",
             "J-" + pseudonym(key, "judge", s["judge_id"]), criterion(s["criterion"]),
             s["score"], local(s["updated_at"]))
            for s in scores
        ]
        ranking_rows = [
            (r.rank, r.case_id, case.key, case.ko.title, r.votes, r.vote_points, r.judge_mean,
             r.judge_count, r.judge_points, r.final, Named(r.award.name.ko, r.award.name)
             if r.award else None)
            for r, case in ((result.ranked, result.case) for result in ranked)
        ]
        keys = {case.id: case.key for case, _ in counted}

        def vote_row(vote: tuple[int, int, datetime]) -> tuple:
            citizen_id, case_id, at = vote
            return (pseudonym(key, "citizen", citizen_id), case_id, keys.get(case_id, ""),
                    local(at))

        return [
            Sheet("summary", ("group", "name", "cases", "approved", "votes", "share_percent"),
                  summary_rows(campaign, counted)),
            Sheet("cases", tuple(column.key for column in CASE_COLUMNS), cases_rows),
            Sheet("tally", ("case_id", "key", "title_ko", "status", "votes", "share_percent",
                            "votable"), tally_rows),
            Sheet("scores", ("case_id", "key", "judge", "criterion", "score", "updated_at"),
                  score_rows),
            Sheet("ranking", ("rank", "case_id", "key", "title_ko", "votes", "vote_points",
                              "judge_mean", "judge_count", "judge_points", "final", "award"),
                  ranking_rows),
            # Pseudonymous: the same voter has the same pseudonym in every export.
            Sheet("votes", ("voter", "case_id", "key", "cast_at"), LazyRows(log, vote_row),
                  workbook_max=WORKBOOK_VOTES),
            # Unusual activity worth a look (bot/services/signals.py): nothing was removed.
            Sheet("signals", ("signal", "case_id", "key", "title_ko", "window_start",
                              "window_end", "votes", "window_votes"),
                  [(Term(s.kind.value, f"exports.signal.{s.kind.value}"), s.case.id,
                    s.case.key, s.case.ko.title, local(s.start), local(s.end), s.votes,
                    s.window_votes) for s in signals]),
        ]
