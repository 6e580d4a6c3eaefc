"""The rules of a participation campaign: phases, cases, votes. Pure data and functions: no
I/O, and nothing of ours is imported here."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, StrEnum

LANGUAGES = ("ko", "en")
# A case picture that is the file id of a photo sent in by chat: Telegram's, shown only there.
TELEGRAM_PHOTO = "telegram:"


@dataclass(frozen=True)
class Text:
    """A text in Korean (required) and English (optional; Korean stands in for it)."""

    ko: str
    en: str | None = None

    def get(self, language: str) -> str:
        if language == "en" and self.en:
            return self.en
        return self.ko


class PhaseName(StrEnum):
    SUBMISSION = "submission"
    VOTING = "voting"
    REVIEW = "review"
    AWARDS = "awards"


PHASE_ORDER = (PhaseName.SUBMISSION, PhaseName.VOTING, PhaseName.REVIEW, PhaseName.AWARDS)


class PhaseStatus(StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Phase:
    """A half-open interval [start, end). Awards is one instant: end is None."""

    name: PhaseName
    start: datetime
    end: datetime | None = None

    def status_at(self, now: datetime) -> PhaseStatus:
        if now < self.start:
            return PhaseStatus.UPCOMING
        if self.end is not None and now < self.end:
            return PhaseStatus.OPEN
        return PhaseStatus.CLOSED


class Identity(Enum):
    """Who a campaign counts as one voter."""

    ACCOUNT = "account"  # each chat account
    PHONE = "phone"  # each verified phone number, across channels
    CODE = "code"  # each one-time voting code handed out on paper


class CaseOrder(Enum):
    """The order citizens see cases in while voting is open."""

    RANDOM = "random"  # each citizen their own stable random order
    FILE = "file"  # the campaign file's order


@dataclass(frozen=True)
class VotingRules:
    votes_per_citizen: int = 1
    allow_change: bool = True
    show_running_tally: bool = False
    # Reminders to subscribers who have not voted, this many hours before voting closes.
    reminder_hours: tuple[float, ...] = (24, 1)
    identity: Identity = Identity.ACCOUNT
    order: CaseOrder = CaseOrder.RANDOM


@dataclass(frozen=True)
class SubmissionRules:
    """Cases citizens send in by chat during the submission phase."""

    cases_per_citizen: int = 3  # every case a citizen sent counts, whatever staff decided


@dataclass(frozen=True)
class JudgingRules:
    """How judges score a case: one score on a scale, or one per criterion (summed)."""

    scale_min: int = 0
    scale_max: int = 100
    criteria: tuple[Text, ...] = ()  # empty: a single overall score


@dataclass(frozen=True)
class RankingRules:
    """How citizen votes and judges' scores combine into the final ranking. Votes are
    normalised so the most-voted case gets 100; judges' scores are their mean, normalised to
    0-100 on the scale; the final score is the weighted sum."""

    citizen_weight: float = 0.3
    judge_weight: float = 0.7


@dataclass(frozen=True)
class AwardTier:
    name: Text
    count: int


@dataclass(frozen=True)
class Option:
    """A district or a category: a stable key and a localized name."""

    key: str
    name: Text
    neighbourhoods: tuple[Text, ...] = ()


@dataclass(frozen=True)
class Campaign:
    id: int
    slug: str
    title: Text
    description: Text
    timezone: str
    phases: tuple[Phase, ...]
    rules: VotingRules = field(default_factory=VotingRules)
    districts: tuple[Option, ...] = ()
    categories: tuple[Option, ...] = ()
    sample_data: bool = False
    judging: JudgingRules = field(default_factory=JudgingRules)
    ranking: RankingRules = field(default_factory=RankingRules)
    awards: tuple[AwardTier, ...] = ()
    submission: SubmissionRules = field(default_factory=SubmissionRules)
    # Days after the last phase ends that the campaign's personal data is kept.
    retention_days: int = 90
    # Set when staff publish the results; not part of the campaign file.
    results_published_at: datetime | None = field(default=None, compare=False)

    def phase(self, name: PhaseName) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    def district(self, key: str | None) -> Option | None:
        return next((d for d in self.districts if d.key == key), None)

    def category(self, key: str | None) -> Option | None:
        return next((c for c in self.categories if c.key == key), None)

    def neighbourhood_name(self, case: Case, lang: str) -> str:
        """A case's neighbourhood in `lang`: it is stored by its Korean name, and the
        campaign file may give it an English one."""
        district = self.district(case.district)
        named = next((h for h in (district.neighbourhoods if district else ())
                      if h.ko == case.neighbourhood), None)
        return named.get(lang) if named else case.neighbourhood

    def moment(self, now: datetime) -> Moment:
        """Where the campaign stands at `now`: the open phase, or the next one to come."""
        ordered = sorted(self.phases, key=lambda p: p.start)
        current = next((p for p in ordered if p.status_at(now) is PhaseStatus.OPEN), None)
        upcoming = next((p for p in ordered if p.status_at(now) is PhaseStatus.UPCOMING), None)
        return Moment(current=current, next=upcoming, finished=current is None and upcoming is None)

    def voting_window(self, now: datetime) -> PhaseStatus:
        """Whether voting is open, from the stored phase times alone."""
        voting = self.phase(PhaseName.VOTING)
        if voting is None:
            return PhaseStatus.CLOSED
        return voting.status_at(now)

    @property
    def counts_visible(self) -> bool:
        """Citizens see vote counts only if the campaign allows it, or once results are out."""
        return self.rules.show_running_tally or self.results_published_at is not None

    def span(self) -> tuple[datetime, datetime]:
        starts = [p.start for p in self.phases]
        ends = [p.end or p.start for p in self.phases]
        return min(starts), max(ends)


@dataclass(frozen=True)
class Moment:
    current: Phase | None
    next: Phase | None
    finished: bool


def pick_current_campaign(campaigns: list[Campaign], now: datetime) -> Campaign | None:
    """The campaign the bot serves: one under way, else the next to start, else the latest."""
    if not campaigns:
        return None
    running = [c for c in campaigns if c.span()[0] <= now <= c.span()[1]]
    if running:
        return min(running, key=lambda c: c.span()[0])
    upcoming = [c for c in campaigns if c.span()[0] > now]
    if upcoming:
        return min(upcoming, key=lambda c: c.span()[0])
    return max(campaigns, key=lambda c: c.span()[1])


class CaseStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    HIDDEN = "hidden"
    REMOVED = "removed"  # dropped from the campaign file; kept because votes may point at it
    WITHDRAWN = "withdrawn"  # taken back by its submitter before moderation


@dataclass(frozen=True)
class CaseText:
    title: str
    summary: str
    body: str
    organization: str


@dataclass(frozen=True)
class Case:
    id: int
    campaign_id: int
    key: str
    status: CaseStatus
    district: str
    neighbourhood: str
    category: str
    ko: CaseText
    en: CaseText | None = None
    image: str | None = None

    def text(self, language: str) -> CaseText:
        if language == "en" and self.en is not None:
            return self.en
        return self.ko

    @property
    def votable(self) -> bool:
        return self.status is CaseStatus.APPROVED


@dataclass(frozen=True)
class CasePage:
    cases: tuple[Case, ...]
    page: int  # 0-based
    pages: int
    total: int


@dataclass(frozen=True)
class Citizen:
    id: int
    channel: str
    external_id: str
    language: str
    first_seen: datetime
    username: str | None = None
    alias: str | None = None  # another key the channel gives the account


@dataclass(frozen=True)
class Vote:
    id: int
    campaign_id: int
    citizen_id: int
    case_id: int
    slot: int
    cast_at: datetime
    receipt: str


NO_VOTES = "0"  # the votes_token of a citizen holding no vote


class VoteOutcome(Enum):
    RECORDED = "recorded"
    CHANGED = "changed"
    SAME_CASE = "same_case"
    ALREADY_VOTED = "already_voted"  # the campaign does not allow changing a vote
    NO_VOTES_LEFT = "no_votes_left"  # several votes per citizen, all used
    NOT_OPEN_YET = "not_open_yet"
    CLOSED = "closed"
    UNKNOWN_CASE = "unknown_case"
    # The confirmation was made for votes the citizen no longer holds (see votes_token):
    # nothing changed; ask again.
    STALE = "stale"
    # The campaign counts verified people (Identity.PHONE / CODE) and this account has not
    # shown who it is yet: ask for the number or the code, then vote.
    NEEDS_PHONE = "needs_phone"
    NEEDS_CODE = "needs_code"


@dataclass(frozen=True)
class VoteResult:
    outcome: VoteOutcome
    vote: Vote | None = None
    case: Case | None = None
    previous_case: Case | None = None
    # for NOT_OPEN_YET / CLOSED: the boundary to tell the citizen about
    boundary: datetime | None = None

    @property
    def stored(self) -> bool:
        return self.outcome in (VoteOutcome.RECORDED, VoteOutcome.CHANGED)


@dataclass(frozen=True)
class VoteIntent:
    """What a press on "vote for this case" would do, before the citizen confirms."""

    outcome: VoteOutcome  # RECORDED means "would record", CHANGED "would change"
    case: Case | None = None
    previous_case: Case | None = None
    vote: Vote | None = None
    boundary: datetime | None = None
    # The votes the citizen held when asked (votes_token): the confirmation carries it.
    held: str = NO_VOTES


def votes_token(held: Sequence[Vote]) -> str:
    """A short fingerprint of the votes a citizen holds in a campaign, carried by a vote's
    confirmation button: a press whose fingerprint is no longer the citizen's was made before
    their votes changed. Every vote and every change writes a new receipt, so the receipts
    tell it. NO_VOTES for none, else 8 hex digits."""
    if not held:
        return NO_VOTES
    text = ",".join(f"{v.slot}:{v.case_id}:{v.receipt}"
                    for v in sorted(held, key=lambda v: v.slot))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def is_votes_token(text: str) -> bool:
    """Whether `text` could be a votes_token: what a button carries is never trusted."""
    return text == NO_VOTES or (len(text) == 8 and all(c in "0123456789abcdef" for c in text))


def window_refusal(campaign: Campaign, now: datetime) -> tuple[VoteOutcome, datetime] | None:
    """Why voting is refused at `now`, with the boundary to mention; None when open."""
    voting = campaign.phase(PhaseName.VOTING)
    if voting is None:
        return VoteOutcome.CLOSED, now
    status = voting.status_at(now)
    if status is PhaseStatus.UPCOMING:
        return VoteOutcome.NOT_OPEN_YET, voting.start
    if status is PhaseStatus.CLOSED:
        return VoteOutcome.CLOSED, voting.end or voting.start
    return None


class AnnouncementKind(StrEnum):
    SUBMISSION_OPENS = "submission_opens"
    SUBMISSION_CLOSES = "submission_closes"
    VOTING_OPENS = "voting_opens"
    VOTING_REMINDER = "voting_reminder"
    VOTING_CLOSES = "voting_closes"
    # A phase that opens again after its closing was announced (a reload or staff moved its
    # end into the future): told as reopened, never as a second "it opens".
    SUBMISSION_REOPENS = "submission_reopens"
    VOTING_REOPENS = "voting_reopens"
    RESULTS = "results"  # announced when staff publish the results, not at a fixed time


# A "closed" announcement that is this late is no longer news: it is skipped, not sent.
CLOSE_NEWS_LIFETIME = timedelta(hours=12)


def plan_announcements(campaign: Campaign) -> list[tuple[AnnouncementKind, datetime]]:
    """Every announcement the calendar calls for, from the stored phase times."""
    plan: list[tuple[AnnouncementKind, datetime]] = []
    submission = campaign.phase(PhaseName.SUBMISSION)
    if submission is not None and submission.end is not None:
        plan.append((AnnouncementKind.SUBMISSION_OPENS, submission.start))
        plan.append((AnnouncementKind.SUBMISSION_CLOSES, submission.end))
    voting = campaign.phase(PhaseName.VOTING)
    if voting is not None and voting.end is not None:
        plan.append((AnnouncementKind.VOTING_OPENS, voting.start))
        for hours in sorted(set(campaign.rules.reminder_hours), reverse=True):
            at = voting.end - timedelta(hours=hours)
            if at > voting.start:
                plan.append((AnnouncementKind.VOTING_REMINDER, at))
        plan.append((AnnouncementKind.VOTING_CLOSES, voting.end))
    return plan


def announcement_still_true(
    kind: AnnouncementKind, due: datetime, campaign: Campaign, now: datetime
) -> bool:
    """Whether an announcement due at `due` is still worth sending at `now` (it may be late
    because the bot was down). "Voting is open" is only true while voting is open."""
    phase_of = {
        AnnouncementKind.SUBMISSION_OPENS: PhaseName.SUBMISSION,
        AnnouncementKind.VOTING_OPENS: PhaseName.VOTING,
        AnnouncementKind.VOTING_REMINDER: PhaseName.VOTING,
        AnnouncementKind.SUBMISSION_REOPENS: PhaseName.SUBMISSION,
        AnnouncementKind.VOTING_REOPENS: PhaseName.VOTING,
    }
    if kind in phase_of:
        phase = campaign.phase(phase_of[kind])
        return phase is not None and phase.status_at(now) is PhaseStatus.OPEN
    if kind in (AnnouncementKind.SUBMISSION_CLOSES, AnnouncementKind.VOTING_CLOSES):
        return now < due + CLOSE_NEWS_LIFETIME
    return True


# What each boundary announcement tells subscribers about its phase; reminders and results
# tell no change of state.
ANNOUNCED_STATE = {
    AnnouncementKind.SUBMISSION_OPENS: (PhaseName.SUBMISSION, "open"),
    AnnouncementKind.SUBMISSION_REOPENS: (PhaseName.SUBMISSION, "open"),
    AnnouncementKind.SUBMISSION_CLOSES: (PhaseName.SUBMISSION, "closed"),
    AnnouncementKind.VOTING_OPENS: (PhaseName.VOTING, "open"),
    AnnouncementKind.VOTING_REOPENS: (PhaseName.VOTING, "open"),
    AnnouncementKind.VOTING_CLOSES: (PhaseName.VOTING, "closed"),
}
REOPENS = {PhaseName.SUBMISSION: AnnouncementKind.SUBMISSION_REOPENS,
           PhaseName.VOTING: AnnouncementKind.VOTING_REOPENS}


def reopened_phases(campaign: Campaign, now: datetime) -> list[PhaseName]:
    """The announced phases (those with planned boundaries) that are open at `now`: if
    subscribers were last told one of them closed, it has reopened."""
    return [name for name in REOPENS
            if (phase := campaign.phase(name)) is not None and phase.end is not None
            and phase.status_at(now) is PhaseStatus.OPEN]


@dataclass(frozen=True)
class Announcement:
    id: int
    campaign_id: int
    kind: AnnouncementKind
    due_at: datetime
    status: str  # planned, sent, skipped, cancelled
    broadcast_id: int | None = None


@dataclass(frozen=True)
class Broadcast:
    id: int
    campaign_id: int
    # an AnnouncementKind value, "staff" for a message staff wrote, or CASE_NOTICE_KIND
    kind: str
    payload: dict
    status: str  # running, done
    created_at: datetime


CASE_NOTICE_KIND = "case_notice"  # a broadcast to one submitter: see CaseNotice


@dataclass(frozen=True)
class CaseNotice:
    """What a case's submitter is told of a moderation decision. Kept as the payload of a
    broadcast of CASE_NOTICE_KIND (to that one person), so it is sent once, and rendered when
    it goes out, in the recipient's language."""

    decision: CaseStatus  # APPROVED, REJECTED or HIDDEN
    case_id: int
    reference: str  # the case's key, which the submitter was given
    title: Text  # the case's title in every language it has
    reason: str | None = None  # staff's words, as typed (rejected, hidden)

    DECISIONS = (CaseStatus.APPROVED, CaseStatus.REJECTED, CaseStatus.HIDDEN)

    def payload(self) -> dict:
        return {"decision": self.decision.value, "case_id": self.case_id,
                "reference": self.reference,
                "title": {"ko": self.title.ko, "en": self.title.en}, "reason": self.reason}

    @classmethod
    def from_payload(cls, payload: dict) -> CaseNotice:
        """Raises ValueError for a payload that is not a notice."""
        try:
            decision = CaseStatus(payload["decision"])
            title = payload["title"]
            notice = cls(decision, int(payload["case_id"]), str(payload["reference"]),
                         Text(str(title["ko"]), title.get("en")), payload.get("reason"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a case notice: {exc!r}") from exc
        if decision not in cls.DECISIONS:
            raise ValueError(f"not a moderation decision: {decision.value}")
        return notice


@dataclass(frozen=True)
class Delivery:
    """One recipient of a broadcast: a citizen, or (citizen_id None) an announcement chat."""

    id: int
    broadcast_id: int
    citizen_id: int | None
    channel: str
    address: str
    language: str
    attempts: int = 0


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    JUDGE = "judge"


@dataclass(frozen=True)
class StaffMember:
    channel: str
    external_id: str
    roles: frozenset[Role]
    username: str | None = None
    bootstrap: bool = False  # an admin from CHAMYEO_ADMIN_IDS: cannot be revoked in the chat
    has_written: bool = True  # has used the bot (a chat to set a menu in exists)
