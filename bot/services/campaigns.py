"""Campaigns: loading campaign files into the database, listing them, picking the current one."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.campaign_file import CampaignSpec, CaseSpec, parse_campaign_file
from bot.clock import Clock
from bot.domain import (
    Campaign,
    Case,
    CaseStatus,
    Moment,
    pick_current_campaign,
)
from bot.services.announcements import replan
from storage.database import Database
from storage.repositories import (
    AuditRepository,
    CampaignRepository,
    CaseRepository,
)
from storage.repositories.cases import case_values

log = logging.getLogger(__name__)

CACHE_SECONDS = 1.0  # the longest a change made by another process goes unseen


@dataclass
class LoadReport:
    slug: str
    campaign_id: int
    created: bool = False
    settings_changed: bool = False
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return self.created or self.settings_changed or bool(
            self.added or self.updated or self.removed
        )


def campaign_from_spec(spec: CampaignSpec, campaign_id: int = 0) -> Campaign:
    return Campaign(
        id=campaign_id, slug=spec.slug, title=spec.title, description=spec.description,
        timezone=spec.timezone, phases=tuple(sorted(spec.phases, key=lambda p: p.start)),
        rules=spec.rules, districts=spec.districts, categories=spec.categories,
        sample_data=spec.sample_data, judging=spec.judging, ranking=spec.ranking,
        awards=spec.awards, submission=spec.submission, retention_days=spec.retention_days,
    )


def _case_from_spec(spec: CaseSpec, campaign_id: int, status: CaseStatus) -> Case:
    return Case(
        id=0, campaign_id=campaign_id, key=spec.key, status=status, district=spec.district,
        neighbourhood=spec.neighbourhood, category=spec.category, ko=spec.ko, en=spec.en,
        image=spec.image,
    )


class CampaignService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._cache: tuple[tuple[int, int], float, tuple[Campaign, ...]] | None = None

    async def load_file(self, path: str | Path, actor: str = "cli") -> LoadReport:
        """Validate the file (raises CampaignFileError, changing nothing) and bring the database
        in line with it. Loading the same file again changes nothing; votes are never touched."""
        return await self.load(parse_campaign_file(path), actor=actor, source=str(path))

    async def load(self, spec: CampaignSpec, actor: str = "cli", source: str = "") -> LoadReport:
        now = self.clock.now()
        async with self.db.write() as conn:
            campaigns = CampaignRepository(conn)
            cases = CaseRepository(conn)
            existing = await campaigns.by_slug(spec.slug)
            wanted = campaign_from_spec(spec, existing.id if existing else 0)
            report = LoadReport(spec.slug, existing.id if existing else 0)
            if existing is None:
                report.created = True
                report.campaign_id = await campaigns.save(wanted, now)
            elif existing != wanted:
                report.settings_changed = True
                await campaigns.save(wanted, now)
            await self._load_cases(cases, spec, report, now)
            # Same transaction as the phase times: the plan never lags behind them.
            await replan(conn, report.campaign_id, campaign_from_spec(spec), now)
            if report.changed:
                await AuditRepository(conn).record(
                    now, actor, "campaign.loaded", report.campaign_id, source=source,
                    created=report.created, settings_changed=report.settings_changed,
                    added=report.added, updated=report.updated, removed=report.removed,
                )
        log.info("campaign %s loaded: %s", spec.slug, "changed" if report.changed else "unchanged")
        return report

    async def _load_cases(
        self, cases: CaseRepository, spec: CampaignSpec, report: LoadReport, now
    ) -> None:
        on_file = await cases.from_file(report.campaign_id)
        taken = await cases.keys(report.campaign_id)
        for case_spec in spec.cases:
            current = on_file.get(case_spec.key)
            if current is None:
                if case_spec.key in taken:
                    raise ValueError(f"case key {case_spec.key!r} is used by a submitted case")
                await cases.insert(
                    _case_from_spec(case_spec, report.campaign_id, CaseStatus.APPROVED),
                    "file", now,
                )
                report.added.append(case_spec.key)
                continue
            # Staff may have hidden a case: a reload keeps that. A case back in the file returns.
            status = CaseStatus.APPROVED if current.status is CaseStatus.REMOVED else current.status
            wanted = _case_from_spec(case_spec, report.campaign_id, status)
            if case_values(wanted) != case_values(current):
                await cases.update(current.id, wanted, now)
                report.updated.append(case_spec.key)
            else:
                report.unchanged += 1
        in_file = {c.key for c in spec.cases}
        for key, case in on_file.items():
            if key not in in_file and case.status is not CaseStatus.REMOVED:
                await cases.set_status(case.id, CaseStatus.REMOVED, now)
                report.removed.append(key)

    async def all(self) -> list[Campaign]:
        """Every campaign, from a cache that every update reads: refreshed when this process
        changes a campaign or its phases, and at least every CACHE_SECONDS (another process,
        `chamyeo campaign load`, may have changed them)."""
        version = (self.db.changes["campaigns"], self.db.changes["phases"])
        cached = self._cache
        if cached is not None and cached[0] == version \
                and time.monotonic() - cached[1] < CACHE_SECONDS:
            return list(cached[2])
        async with self.db.read() as conn:
            campaigns = await CampaignRepository(conn).all()
        self._cache = (version, time.monotonic(), tuple(campaigns))
        return campaigns

    async def get(self, campaign_id: int) -> Campaign | None:
        async with self.db.read() as conn:
            return await CampaignRepository(conn).get(campaign_id)

    async def current(self) -> Campaign | None:
        return pick_current_campaign(await self.all(), self.clock.now())

    async def listing(self) -> list[tuple[Campaign, Moment]]:
        now = self.clock.now()
        return [(c, c.moment(now)) for c in await self.all()]



