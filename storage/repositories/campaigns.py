from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import (
    AwardTier,
    Campaign,
    CaseOrder,
    Identity,
    JudgingRules,
    Option,
    Phase,
    PhaseName,
    RankingRules,
    SubmissionRules,
    Text,
    VotingRules,
)
from storage.tables import campaigns, phases
from storage.upsert import new_id


def _options_to_json(options: tuple[Option, ...]) -> list[dict[str, Any]]:
    return [
        {
            "key": o.key,
            "ko": o.name.ko,
            "en": o.name.en,
            "neighbourhoods": [{"ko": h.ko, "en": h.en} for h in o.neighbourhoods],
        }
        for o in options
    ]


def _options_from_json(raw: list[dict[str, Any]]) -> tuple[Option, ...]:
    return tuple(
        Option(
            o["key"],
            Text(o["ko"], o.get("en")),
            tuple(Text(h["ko"], h.get("en")) for h in o.get("neighbourhoods", [])),
        )
        for o in raw
    )


class CampaignRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def all(self) -> list[Campaign]:
        rows = (await self.conn.execute(campaigns.select().order_by(campaigns.c.id))
                ).mappings().all()
        phase_rows = (await self.conn.execute(phases.select())).mappings().all()
        by_campaign: dict[int, list[Phase]] = {}
        for p in phase_rows:
            by_campaign.setdefault(p["campaign_id"], []).append(
                Phase(PhaseName(p["name"]), p["starts_at"], p["ends_at"])
            )
        return [self._campaign(row, by_campaign.get(row["id"], [])) for row in rows]

    async def get(self, campaign_id: int) -> Campaign | None:
        return await self._one(campaigns.c.id == campaign_id)

    async def by_slug(self, slug: str) -> Campaign | None:
        return await self._one(campaigns.c.slug == slug)

    async def _one(self, condition) -> Campaign | None:
        row = (await self.conn.execute(campaigns.select().where(condition))).mappings().first()
        if row is None:
            return None
        phase_rows = (
            await self.conn.execute(phases.select().where(phases.c.campaign_id == row["id"]))
        ).mappings()
        return self._campaign(
            row, [Phase(PhaseName(p["name"]), p["starts_at"], p["ends_at"]) for p in phase_rows]
        )

    @staticmethod
    def _campaign(row, phase_list: list[Phase]) -> Campaign:
        return Campaign(
            id=row["id"],
            slug=row["slug"],
            title=Text(row["title_ko"], row["title_en"]),
            description=Text(row["description_ko"], row["description_en"]),
            timezone=row["timezone"],
            phases=tuple(sorted(phase_list, key=lambda p: p.start)),
            rules=VotingRules(
                votes_per_citizen=row["votes_per_citizen"],
                allow_change=row["allow_change"],
                show_running_tally=row["show_running_tally"],
                reminder_hours=tuple(row["reminder_hours"]),
                identity=Identity(row["identity"]),
                order=CaseOrder(row["case_order"]),
            ),
            districts=_options_from_json(row["districts"]),
            categories=_options_from_json(row["categories"]),
            sample_data=row["sample_data"],
            judging=JudgingRules(
                scale_min=row["judging"].get("scale_min", 0),
                scale_max=row["judging"].get("scale_max", 100),
                criteria=tuple(Text(c["ko"], c.get("en"))
                               for c in row["judging"].get("criteria", [])),
            ),
            ranking=RankingRules(**row["ranking"]) if row["ranking"] else RankingRules(),
            awards=tuple(AwardTier(Text(a["ko"], a.get("en")), a["count"])
                         for a in row["awards"]),
            submission=SubmissionRules(cases_per_citizen=row["cases_per_citizen"]),
            retention_days=row["retention_days"],
            results_published_at=row["results_published_at"],
        )

    async def save(self, campaign: Campaign, now: datetime) -> int:
        """Insert or update by slug; returns the campaign id. Phases are replaced."""
        values = {
            "slug": campaign.slug,
            "title_ko": campaign.title.ko,
            "title_en": campaign.title.en,
            "description_ko": campaign.description.ko,
            "description_en": campaign.description.en,
            "timezone": campaign.timezone,
            "votes_per_citizen": campaign.rules.votes_per_citizen,
            "allow_change": campaign.rules.allow_change,
            "show_running_tally": campaign.rules.show_running_tally,
            "reminder_hours": list(campaign.rules.reminder_hours),
            "districts": _options_to_json(campaign.districts),
            "categories": _options_to_json(campaign.categories),
            "sample_data": campaign.sample_data,
            "judging": {
                "scale_min": campaign.judging.scale_min,
                "scale_max": campaign.judging.scale_max,
                "criteria": [{"ko": c.ko, "en": c.en} for c in campaign.judging.criteria],
            },
            "ranking": {"citizen_weight": campaign.ranking.citizen_weight,
                        "judge_weight": campaign.ranking.judge_weight},
            "awards": [{"ko": a.name.ko, "en": a.name.en, "count": a.count}
                       for a in campaign.awards],
            "cases_per_citizen": campaign.submission.cases_per_citizen,
            "identity": campaign.rules.identity.value,
            "case_order": campaign.rules.order.value,
            "retention_days": campaign.retention_days,
            "updated_at": now,
        }
        existing = await self.conn.scalar(
            sa.select(campaigns.c.id).where(campaigns.c.slug == campaign.slug)
        )
        if existing is None:
            result = await self.conn.execute(campaigns.insert().values(created_at=now, **values))
            campaign_id = new_id(result)
        else:
            campaign_id = existing
            await self.conn.execute(
                campaigns.update().where(campaigns.c.id == campaign_id).values(**values)
            )
            await self.conn.execute(phases.delete().where(phases.c.campaign_id == campaign_id))
        if campaign.phases:
            await self.conn.execute(
                phases.insert(),
                [
                    {
                        "campaign_id": campaign_id,
                        "name": p.name.value,
                        "starts_at": p.start,
                        "ends_at": p.end,
                    }
                    for p in campaign.phases
                ],
            )
        return campaign_id

    async def mark_results_published(self, campaign_id: int, at: datetime) -> bool:
        """True for the one call that publishes; False if the results were published already
        (by anyone, in any process: the row count decides, not an earlier read)."""
        result = await self.conn.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign_id, campaigns.c.results_published_at.is_(None))
            .values(results_published_at=at)
        )
        return result.rowcount == 1

    async def results_published_at(self, campaign_id: int) -> datetime | None:
        return await self.conn.scalar(
            sa.select(campaigns.c.results_published_at).where(campaigns.c.id == campaign_id)
        )

    async def set_phase(self, campaign_id: int, phase: Phase, now: datetime) -> None:
        """Replace one phase's times (staff phase control)."""
        await self.conn.execute(
            phases.update()
            .where(phases.c.campaign_id == campaign_id, phases.c.name == phase.name.value)
            .values(starts_at=phase.start, ends_at=phase.end)
        )
        await self.conn.execute(
            campaigns.update().where(campaigns.c.id == campaign_id).values(updated_at=now)
        )
