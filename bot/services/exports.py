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
import csv
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.domain import Campaign, CaseStatus
from bot.services.results import ResultsService
from bot.services.tally import unusual_activity
from storage.database import Database
from storage.repositories import ScoreRepository, SecretRepository
from storage.repositories.reports import ReportRepository

CSV_ENCODING = "utf-8-sig"
PSEUDONYM_SECRET = "export_pseudonyms"  # its name in instance_secrets


def new_secret() -> str:
    return secrets.token_hex(32)


def campaign_key(secret: str, campaign_id: int) -> bytes:
    """One campaign's pseudonym key: another campaign's exports tell nothing about this one's."""
    return hmac.new(secret.encode(), f"export-pseudonyms|campaign:{campaign_id}".encode(),
                    hashlib.sha256).digest()


def pseudonym(key: bytes, prefix: str, internal_id: int) -> str:
    digest = hmac.new(key, f"{prefix}:{internal_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:12]


@dataclass(frozen=True)
class Sheet:
    name: str  # the CSV file's stem and the workbook sheet's title
    header: tuple[str, ...]
    rows: list[tuple]


class ExportService:
    def __init__(self, db: Database, clock: Clock, results: ResultsService) -> None:
        self.db = db
        self.clock = clock
        self.results = results  # the ranking sheet is the ranking staff publish, not a copy

    async def export(self, campaign: Campaign, out_dir: str | Path) -> list[Path]:
        """Write every export of `campaign` into `out_dir` (created if needed); the paths."""
        sheets = await self.sheets(campaign)
        # File writing blocks: keep it off the event loop the bot also serves citizens on.
        return await asyncio.to_thread(write_files, sheets, Path(out_dir),
                                       f"chamyeo-{campaign.slug}.xlsx")

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
        async with self.db.read() as conn:
            reports = ReportRepository(conn)
            counted = await reports.cases_with_votes(campaign.id)
            log = await reports.vote_log(campaign.id)
            signals = await unusual_activity(reports, campaign, counted)
            scores = await ScoreRepository(conn).of_campaign(campaign.id)
        ranked = await self.results.ranking(campaign)
        zone = ZoneInfo(campaign.timezone)

        def local(instant: datetime) -> str:
            return instant.astimezone(zone).isoformat(timespec="seconds")

        by_id = {case.id: case for case, _ in counted}
        total = sum(n for _, n in counted)
        cases_rows = [
            (c.id, c.key, c.status.value, c.district, c.neighbourhood, c.category,
             c.ko.title, c.en.title if c.en else "", c.ko.organization,
             c.en.organization if c.en else "", c.ko.summary, n)
            for c, n in counted
        ]
        ordered = sorted(counted, key=lambda item: (-item[1], item[0].id))
        tally_rows = [
            (c.id, c.key, c.ko.title, c.status.value, n,
             round(100.0 * n / total, 2) if total else 0.0,
             "yes" if c.status is CaseStatus.APPROVED else "no")
            for c, n in ordered
        ]
        score_rows = [
            (s["case_id"], by_id[s["case_id"]].key if s["case_id"] in by_id else "",
             "J-" + pseudonym(key, "judge", s["judge_id"]), s["criterion"], s["score"],
             local(s["updated_at"]))
            for s in scores
        ]
        ranking_rows = [
            (r.rank, r.case_id, case.key, case.ko.title, r.votes, r.vote_points, r.judge_mean,
             r.judge_count, r.judge_points, r.final, r.award.name.ko if r.award else "")
            for r, case in ((result.ranked, result.case) for result in ranked)
        ]
        vote_rows = [
            (pseudonym(key, "citizen", citizen_id), case_id,
             by_id[case_id].key if case_id in by_id else "", local(at))
            for citizen_id, case_id, at in log
        ]
        return [
            Sheet("cases", ("case_id", "key", "status", "district", "neighbourhood",
                            "category", "title_ko", "title_en", "organization_ko",
                            "organization_en", "summary_ko", "votes"), cases_rows),
            Sheet("tally", ("case_id", "key", "title_ko", "status", "votes", "share_percent",
                            "votable"), tally_rows),
            Sheet("scores", ("case_id", "key", "judge", "criterion", "score", "updated_at"),
                  score_rows),
            Sheet("ranking", ("rank", "case_id", "key", "title_ko", "votes", "vote_points",
                              "judge_mean", "judge_count", "judge_points", "final", "award"),
                  ranking_rows),
            Sheet("votes", ("voter", "case_id", "key", "cast_at"), vote_rows),
            # Unusual activity worth a look (bot/services/signals.py): nothing was removed.
            Sheet("signals", ("signal", "case_id", "key", "title_ko", "window_start",
                              "window_end", "votes", "window_votes"),
                  [(s.kind.value, s.case.id, s.case.key, s.case.ko.title, local(s.start),
                    local(s.end), s.votes, s.window_votes) for s in signals]),
        ]


def write_files(sheets: list[Sheet], out: Path, workbook_name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for sheet in sheets:
        path = out / f"{sheet.name}.csv"
        with open(path, "w", encoding=CSV_ENCODING, newline="") as f:
            writer = csv.writer(f)
            writer.writerow(sheet.header)
            writer.writerows(sheet.rows)
        paths.append(path)
    from openpyxl import Workbook  # loaded when exporting, not every time the bot starts

    # Write-only: rows stream to the file instead of piling up as cell objects (a million
    # votes would take gigabytes otherwise).
    workbook = Workbook(write_only=True)
    for sheet in sheets:
        ws = workbook.create_sheet(sheet.name)
        ws.append(list(sheet.header))
        for row in sheet.rows:
            ws.append(["" if v is None else v for v in row])
    book = out / workbook_name
    workbook.save(book)
    paths.append(book)
    return paths
