"""The live tally and the admin dashboard: counts staff watch while the campaign runs. Every
figure comes from aggregate queries, never one query per vote or per case."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.domain import Announcement, Campaign, Case, CaseStatus, Option, Phase, PhaseName
from bot.services.signals import (
    NEW_ACCOUNT_VOTES,
    NEW_ACCOUNT_WINDOW,
    SPIKE_WINDOW,
    Signal,
    find_signals,
)
from bot.services.staff import StaffService
from storage.database import Database
from storage.repositories import (
    AnnouncementRepository,
    CaseRepository,
    CitizenRepository,
    SubscriptionRepository,
)
from storage.repositories.vote_counts import VoteCountRepository


@dataclass(frozen=True)
class CaseCount:
    case: Case
    votes: int


@dataclass(frozen=True)
class Tally:
    # Votable (approved) cases, most votes first; ties by case id.
    cases: tuple[CaseCount, ...]
    # Votes already cast for cases that are no longer votable (hidden, removed...): they stay
    # recorded and are reported here, apart from the running count.
    set_aside: tuple[CaseCount, ...]
    total_votes: int  # every vote recorded, set-aside ones included
    voters: int
    citizens: int  # everyone who started the bot, staff (admins, moderators, judges) not
    hourly: tuple[tuple[datetime, int], ...]  # local hour start -> votes, oldest first
    daily: tuple[tuple[date, int], ...]  # local day -> votes, oldest first
    timezone: str
    signals: tuple[Signal, ...] = ()  # unusual activity to look at (bot/services/signals.py)
    # Votes per district, in the campaign's order (districts with no case left out),
    # set-aside votes included.
    districts: tuple[tuple[Option, int], ...] = ()
    voting_opens: datetime | None = None

    @property
    def turnout(self) -> float:
        """Voters as a share of the citizens (not staff) who started the bot (0..1): every
        one of them could vote, and nobody else is known to the bot."""
        return self.voters / self.citizens if self.citizens else 0.0

    def last_hours(self, now: datetime, hours: int = 24) -> list[tuple[datetime, int]]:
        """The local hours since voting opened (or the first vote, if earlier), at most the
        last `hours` of them up to and including the current one, zeros filled in; none
        before anything could happen."""
        zone = ZoneInfo(self.timezone)
        by_hour = dict(self.hourly)
        firsts = [start for start, _ in self.hourly[:1]]
        if self.voting_opens is not None:
            firsts.append(self.voting_opens.astimezone(zone))
        if not firsts:
            return []
        first = min(firsts).replace(minute=0, second=0, microsecond=0)
        current = now.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        starts = [current - timedelta(hours=i) for i in range(hours - 1, -1, -1)]
        return [(start, by_hour.get(start, 0)) for start in starts if start >= first]


@dataclass(frozen=True)
class Dashboard:
    citizens: int
    subscribers: int
    cases_by_status: dict[CaseStatus, int]
    votes: int
    daily: tuple[tuple[date, int], ...]
    current_phase: Phase | None
    next_phase: Phase | None
    next_boundary: datetime | None  # when the current phase ends, or the next one starts
    finished: bool
    upcoming: tuple[Announcement, ...]


def _local_buckets(
    per_utc_hour: dict[datetime, int], timezone: str
) -> tuple[tuple[tuple[datetime, int], ...], tuple[tuple[date, int], ...]]:
    zone = ZoneInfo(timezone)
    hourly: Counter[datetime] = Counter()
    daily: Counter[date] = Counter()
    for start, n in per_utc_hour.items():
        local = start.astimezone(zone)
        # Zones whose offset is not whole hours: the bucket goes to the local hour it starts in.
        hourly[local.replace(minute=0, second=0, microsecond=0)] += n
        daily[local.date()] += n
    return tuple(sorted(hourly.items())), tuple(sorted(daily.items()))


async def unusual_activity(counts: VoteCountRepository, campaign: Campaign,
                           counted: list[tuple[Case, int]]) -> tuple[Signal, ...]:
    """The signals of bot/services/signals.py, from the kept counts: two grouped queries (the
    short windows only where enough new accounts voted to be a signal)."""
    short = await counts.per_window(campaign.id, int(NEW_ACCOUNT_WINDOW.total_seconds()),
                                    min_fresh=NEW_ACCOUNT_VOTES)
    hourly = await counts.per_window(campaign.id, int(SPIKE_WINDOW.total_seconds()))
    return find_signals(short, hourly, {case.id: case for case, _ in counted})


def _most_votes_first(item: CaseCount) -> tuple[int, int]:
    return -item.votes, item.case.id


class TallyService:
    def __init__(self, db: Database, clock: Clock, staff: StaffService | None = None) -> None:
        self.db = db
        self.clock = clock
        self.staff = staff  # whose admins from the settings are not counted as citizens

    async def _citizens(self, repo: CitizenRepository) -> int:
        bootstrap = self.staff.bootstrap_admins if self.staff is not None else {}
        return await repo.count_without_staff(bootstrap)

    async def tally(self, campaign: Campaign) -> Tally:
        async with self.db.read(scans=True) as conn:
            counts = VoteCountRepository(conn)
            per_case = await counts.per_case(campaign.id)
            counted = [(case, per_case.get(case.id, 0))
                       for case in await CaseRepository(conn).all_of(campaign.id)]
            voters = await counts.voters(campaign.id)
            per_hour = await counts.per_utc_hour(campaign.id)
            citizens = await self._citizens(CitizenRepository(conn))
            signals = await unusual_activity(counts, campaign, counted)
        votable = [CaseCount(c, n) for c, n in counted if c.status is CaseStatus.APPROVED]
        set_aside = [CaseCount(c, n) for c, n in counted
                     if c.status is not CaseStatus.APPROVED and n > 0]
        hourly, daily = _local_buckets(per_hour, campaign.timezone)
        by_district: Counter[str] = Counter()
        for case, n in counted:
            by_district[case.district] += n
        districts = [(d, by_district[d.key]) for d in campaign.districts if d.key in by_district]
        voting = campaign.phase(PhaseName.VOTING)
        return Tally(
            cases=tuple(sorted(votable, key=_most_votes_first)),
            set_aside=tuple(sorted(set_aside, key=_most_votes_first)),
            total_votes=sum(n for _, n in counted),
            voters=voters,
            citizens=citizens,
            hourly=hourly,
            daily=daily,
            timezone=campaign.timezone,
            signals=signals,
            districts=tuple(districts),
            voting_opens=voting.start if voting else None,
        )

    async def dashboard(self, campaign: Campaign) -> Dashboard:
        async with self.db.read(scans=True) as conn:
            citizens = await self._citizens(CitizenRepository(conn))
            subscribers = await SubscriptionRepository(conn).count_active(campaign.id)
            by_status = await CaseRepository(conn).count_by_status(campaign.id)
            per_hour = await VoteCountRepository(conn).per_utc_hour(campaign.id)
            upcoming = await AnnouncementRepository(conn).upcoming(campaign.id)
        _, daily = _local_buckets(per_hour, campaign.timezone)
        now = self.clock.now()
        moment = campaign.moment(now)
        if moment.current is not None:
            boundary = moment.current.end
        elif moment.next is not None:
            boundary = moment.next.start
        else:
            boundary = None
        return Dashboard(
            citizens=citizens,
            subscribers=subscribers,
            cases_by_status=by_status,
            votes=sum(per_hour.values()),
            daily=daily,
            current_phase=moment.current,
            next_phase=moment.next,
            next_boundary=boundary,
            finished=moment.finished,
            # Planned but already due ones are the scheduler's to send or skip any moment now.
            upcoming=tuple(a for a in upcoming if a.due_at > now),
        )
