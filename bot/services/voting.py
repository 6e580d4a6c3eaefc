"""Casting votes. The window is checked against the stored phase times at the moment of the
request; the one-vote rule is enforced by the database inside one transaction."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.domain import (
    NO_VOTES,
    Campaign,
    Case,
    CaseStatus,
    Citizen,
    Identity,
    PhaseStatus,
    Vote,
    VoteIntent,
    VoteOutcome,
    VoteResult,
    votes_token,
    window_refusal,
)
from bot.services.identity import IdentityService
from storage.database import Database
from storage.repositories import (
    AuditRepository,
    CampaignRepository,
    CaseRepository,
    VoteRepository,
)

log = logging.getLogger(__name__)

RECEIPT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud on a phone
ATTEMPTS = 3


def new_receipt() -> str:
    code = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


class _Moved(Exception):
    """The vote to move was moved by another transaction between our read and write."""


@dataclass(frozen=True)
class HeldVote:
    vote: Vote
    case: Case


NEEDS = {Identity.PHONE: VoteOutcome.NEEDS_PHONE, Identity.CODE: VoteOutcome.NEEDS_CODE}


class VotingService:
    def __init__(self, db: Database, clock: Clock, identity: IdentityService) -> None:
        self.db = db
        self.clock = clock
        self.identity = identity
        self._shown: dict[int, tuple[int, float, Case]] = {}

    async def intent(self, campaign: Campaign, citizen: Citizen, case_id: int) -> VoteIntent:
        """What voting for this case would do now: for the confirmation step. Changes nothing."""
        now = self.clock.now()
        refusal = window_refusal(campaign, now)
        if refusal:
            return VoteIntent(refusal[0], boundary=refusal[1])
        async with self.db.read() as conn:
            case = await self._votable_case(CaseRepository(conn), campaign, case_id)
            if case is None:
                return VoteIntent(VoteOutcome.UNKNOWN_CASE)
            voter = await self.identity.voter(conn, campaign, citizen)
            if voter is None:
                return VoteIntent(NEEDS[campaign.rules.identity], case=case)
            held = await VoteRepository(conn).of_voter(campaign.id, voter)
            outcome, replaced = self._decide(campaign, held, case_id)
            previous = await CaseRepository(conn).get(replaced.case_id) if replaced else None
        same = next((v for v in held if v.case_id == case_id), None)
        return VoteIntent(outcome, case=case, previous_case=previous, vote=same or replaced,
                          held=votes_token(held))

    async def cast_vote(self, campaign: Campaign, citizen: Citizen, case_id: int,
                        made_for: str | None = None) -> VoteResult:
        """Record the vote. When this returns RECORDED or CHANGED, the vote is on disk.

        `made_for` is the votes_token a confirmation was made for (VoteIntent.held): when the
        citizen's votes are no longer those, nothing changes and the outcome is STALE. Decided
        in the vote's own transaction, so a press on another worker a moment ago counts."""
        for attempt in range(ATTEMPTS):
            try:
                return await self._cast(campaign, citizen, case_id, made_for)
            except (IntegrityError, _Moved):
                # Another process took the slot or moved the vote between our read and write:
                # decide again.
                log.warning("vote conflict for citizen %s, attempt %s", citizen.id, attempt + 1)
        raise RuntimeError("vote could not be recorded after repeated conflicts")

    async def _cast(self, campaign: Campaign, citizen: Citizen, case_id: int,
                    made_for: str | None) -> VoteResult:
        async with self.db.write() as conn:
            now = self.clock.now()
            cases = CaseRepository(conn)
            repo = VoteRepository(conn)
            # Who the campaign counts this account as (under `account`, without a query).
            voter = await self.identity.voter(conn, campaign, citizen)
            if voter is None:
                return VoteResult(NEEDS[campaign.rules.identity],
                                  case=await self._votable_case(cases, campaign, case_id))
            # Most votes are a citizen's first: one statement checks the voting window (the
            # phase times as stored now, not as a cache remembers them), the case, and writes.
            # It writes only where the citizen holds no vote in slot 1, so it is right for a
            # confirmation made for no votes; one made for votes takes the longer way.
            if made_for in (None, NO_VOTES):
                first = await repo.insert_first(campaign.id, citizen.id, case_id, now,
                                                new_receipt(), voter)
                if first is not None:
                    return VoteResult(VoteOutcome.RECORDED, vote=first,
                                      case=await self._case_to_show(cases, case_id))
            # The phase times and rules as stored, read inside this transaction: a /close or
            # /extend a moment ago (in any process) counts.
            campaign = await CampaignRepository(conn).get(campaign.id) or campaign
            refusal = window_refusal(campaign, now)
            if refusal:
                return VoteResult(refusal[0], boundary=refusal[1])
            case = await self._votable_case(cases, campaign, case_id)
            if case is None:
                return VoteResult(VoteOutcome.UNKNOWN_CASE)
            # Locked: two casts for one voter at once (two workers, or two channels of one
            # person) take turns here, so the second decides on the votes the first left, not
            # on what both read before.
            held = await repo.of_voter(campaign.id, voter, lock=True)
            if made_for is not None and votes_token(held) != made_for:
                return VoteResult(VoteOutcome.STALE, case=case)
            outcome, replaced = self._decide(campaign, held, case_id)
            if outcome is VoteOutcome.RECORDED:
                slot = min(set(range(1, len(held) + 2)) - {v.slot for v in held})
                vote = await repo.insert(campaign.id, citizen.id, case_id, slot, now,
                                         new_receipt(), voter)
                return VoteResult(outcome, vote=vote, case=case)
            if outcome is VoteOutcome.CHANGED:
                assert replaced is not None
                previous = await cases.get(replaced.case_id)
                moved = await repo.move(replaced, case_id, now, new_receipt(), citizen.id)
                if moved is None:
                    raise _Moved  # rolls this transaction back
                await AuditRepository(conn).record(
                    now, f"citizen:{citizen.id}", "vote.changed", campaign.id,
                    from_case=replaced.case_id, to_case=case_id, receipt=moved.receipt,
                )
                return VoteResult(outcome, vote=moved, case=case, previous_case=previous)
            same = next((v for v in held if v.case_id == case_id), None)
            return VoteResult(outcome, vote=same or (held[0] if held else None), case=case)

    @staticmethod
    def _decide(
        campaign: Campaign, held: list[Vote], case_id: int
    ) -> tuple[VoteOutcome, Vote | None]:
        """The outcome for a citizen holding `held` who votes for `case_id`, and the vote that
        would be replaced."""
        if any(v.case_id == case_id for v in held):
            return VoteOutcome.SAME_CASE, None
        if len(held) < campaign.rules.votes_per_citizen:
            return VoteOutcome.RECORDED, None
        if not campaign.rules.allow_change:
            return VoteOutcome.ALREADY_VOTED, None
        if campaign.rules.votes_per_citizen == 1:
            return VoteOutcome.CHANGED, held[0]
        # With several votes there is no single vote to move: the citizen has used them all.
        return VoteOutcome.NO_VOTES_LEFT, None

    async def _case_to_show(self, cases: CaseRepository, case_id: int) -> Case:
        """The case a vote was just recorded for, for its title on the receipt: cached until
        this process changes a case (or a second passes), since every vote needs one."""
        version = self.db.changes["cases"]
        cached = self._shown.get(case_id)
        if cached is not None and cached[0] == version and time.monotonic() - cached[1] < 1.0:
            return cached[2]
        case = await cases.get(case_id)
        assert case is not None  # a vote for it was just recorded in this transaction
        if len(self._shown) > 10_000:
            self._shown.clear()
        self._shown[case_id] = (version, time.monotonic(), case)
        return case

    @staticmethod
    async def _votable_case(cases: CaseRepository, campaign: Campaign, case_id: int) -> Case | None:
        case = await cases.get(case_id)
        if case is None or case.campaign_id != campaign.id or case.status != CaseStatus.APPROVED:
            return None
        return case

    async def current_votes(self, campaign: Campaign, citizen: Citizen) -> list[HeldVote]:
        """The votes the citizen holds, as the person the campaign counts (a vote cast on
        another channel by the same verified person included)."""
        async with self.db.read() as conn:
            voter = await self.identity.voter(conn, campaign, citizen)
            if voter is None:
                return []
            held = await VoteRepository(conn).of_voter(campaign.id, voter)
            cases = await CaseRepository(conn).many(v.case_id for v in held)
        return [HeldVote(v, cases[v.case_id]) for v in held]

    async def voted_case_ids(self, campaign: Campaign, citizen: Citizen) -> frozenset[int]:
        """The cases the citizen holds a vote for: to mark them in the list, on the case and
        at home. Empty before voting opens (nobody holds a vote then)."""
        if campaign.voting_window(self.clock.now()) is PhaseStatus.UPCOMING:
            return frozenset()
        async with self.db.read() as conn:
            voter = await self.identity.voter(conn, campaign, citizen)
            if voter is None:
                return frozenset()
            held = await VoteRepository(conn).of_voter(campaign.id, voter)
        return frozenset(v.case_id for v in held)
