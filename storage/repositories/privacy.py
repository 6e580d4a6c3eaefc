"""Forgetting a citizen and purging a campaign's personal data: the deletes and anonymising
updates over every table that holds something of a person. The service decides the
transaction and what to keep."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.repositories.broadcasts import PENDING
from storage.repositories.citizens import NO_CHANNEL, CitizenRepository
from storage.tables import (
    broadcasts,
    cases,
    chat_sessions,
    citizen_phones,
    citizens,
    deliveries,
    identity_tries,
    scores,
    staff_roles,
    submission_drafts,
    subscriptions,
    votes,
    voting_codes,
)

FORGOTTEN = "forgotten:"  # an anonymised citizen's external_id starts with this
ANONYMOUS = "x:"  # a purged vote's voter, and a forgotten delivery's address
# The one account every purged vote is counted under: votes.citizen_id cannot be NULL.
NOBODY = (NO_CHANNEL, "purged")


class PrivacyRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # --- one citizen ------------------------------------------------------------------------

    async def anonymise_citizen(self, citizen_id: int, external_id: str, marker: str) -> bool:
        """Replace the account's key by `marker` and drop its names: only if it still has
        `external_id` (a conditional write: of two presses at once, one forgets)."""
        result = await self.conn.execute(
            citizens.update()
            .where(citizens.c.id == citizen_id, citizens.c.external_id == external_id)
            .values(external_id=marker, username=None, alias=None)
        )
        return result.rowcount == 1

    async def delete_account_data(self, citizen_id: int, channel: str, external_id: str) -> None:
        """What is the account's alone: its phone hash, subscriptions, draft, wrong-code
        tries, chat session, and the messages not yet sent to it. Messages sent keep their
        status for the broadcast's report, without the address."""
        for table in (citizen_phones, subscriptions, submission_drafts, identity_tries):
            await self.conn.execute(table.delete().where(table.c.citizen_id == citizen_id))
        await self.conn.execute(chat_sessions.delete().where(
            chat_sessions.c.channel == channel, chat_sessions.c.external_id == external_id))
        await self.conn.execute(deliveries.delete().where(
            deliveries.c.citizen_id == citizen_id, deliveries.c.status == PENDING))
        await self.conn.execute(
            deliveries.update().where(deliveries.c.citizen_id == citizen_id)
            .values(citizen_id=None, address=_anonymous_address()))
        # The code stays used (bound_at kept): nobody can vote with it again.
        await self.conn.execute(voting_codes.update().where(voting_codes.c.citizen_id == citizen_id)
                                .values(citizen_id=None))
        # Published with consent, the case stays; who sent it does not.
        await self.conn.execute(cases.update().where(cases.c.submitter_id == citizen_id)
                                .values(submitter_id=None, contact=None))

    # --- one campaign -----------------------------------------------------------------------

    def _linked_to(self, campaign_id: int) -> sa.CompoundSelect:
        """Ids of the accounts with anything in the campaign."""
        of_campaign = [
            sa.select(votes.c.citizen_id).where(votes.c.campaign_id == campaign_id),
            sa.select(subscriptions.c.citizen_id).where(subscriptions.c.campaign_id == campaign_id),
            sa.select(submission_drafts.c.citizen_id)
            .where(submission_drafts.c.campaign_id == campaign_id),
            sa.select(identity_tries.c.citizen_id)
            .where(identity_tries.c.campaign_id == campaign_id),
            sa.select(voting_codes.c.citizen_id).where(voting_codes.c.campaign_id == campaign_id,
                                                       voting_codes.c.citizen_id.is_not(None)),
            sa.select(cases.c.submitter_id).where(cases.c.campaign_id == campaign_id,
                                                  cases.c.submitter_id.is_not(None)),
            sa.select(deliveries.c.citizen_id)
            .select_from(deliveries.join(broadcasts, broadcasts.c.id == deliveries.c.broadcast_id))
            .where(broadcasts.c.campaign_id == campaign_id, deliveries.c.citizen_id.is_not(None)),
        ]
        return sa.union(*of_campaign)

    async def linked_accounts(self, campaign_id: int) -> list[tuple[int, str, str]]:
        """(id, channel, external id) of the accounts with anything in the campaign and
        nothing anywhere else: no other campaign's vote, subscription, draft, code, case or
        message, no staff role, no score; not forgotten already."""
        c = citizens.c
        other = [
            sa.exists().where(votes.c.citizen_id == c.id, votes.c.campaign_id != campaign_id),
            sa.exists().where(subscriptions.c.citizen_id == c.id,
                              subscriptions.c.campaign_id != campaign_id),
            sa.exists().where(submission_drafts.c.citizen_id == c.id,
                              submission_drafts.c.campaign_id != campaign_id),
            sa.exists().where(voting_codes.c.citizen_id == c.id,
                              voting_codes.c.campaign_id != campaign_id),
            sa.exists().where(cases.c.submitter_id == c.id, cases.c.campaign_id != campaign_id),
            sa.exists().where(deliveries.c.citizen_id == c.id,
                              deliveries.c.broadcast_id == broadcasts.c.id,
                              broadcasts.c.campaign_id != campaign_id),
            sa.exists().where(staff_roles.c.channel == c.channel,
                              staff_roles.c.external_id == c.external_id),
            sa.exists().where(scores.c.judge_id == c.id),
        ]
        rows = await self.conn.execute(
            sa.select(c.id, c.channel, c.external_id)
            .where(c.id.in_(self._linked_to(campaign_id)), ~c.external_id.startswith(FORGOTTEN),
                   c.channel != NOBODY[0], *(sa.not_(o) for o in other))
            .order_by(c.id)
        )
        return [(r.id, r.channel, r.external_id) for r in rows]

    async def campaign_counts(self, campaign_id: int) -> dict[str, int]:
        """What a purge of the campaign would remove or anonymise, by kind."""
        async def count(query) -> int:
            return int(await self.conn.scalar(
                sa.select(sa.func.count()).select_from(query.subquery())) or 0)

        return {
            "subscriptions": await count(sa.select(subscriptions.c.citizen_id)
                                         .where(subscriptions.c.campaign_id == campaign_id)),
            "drafts": await count(sa.select(submission_drafts.c.citizen_id)
                                  .where(submission_drafts.c.campaign_id == campaign_id)),
            "voting_codes": await count(sa.select(voting_codes.c.id)
                                        .where(voting_codes.c.campaign_id == campaign_id)),
            "identity_tries": await count(sa.select(identity_tries.c.citizen_id)
                                          .where(identity_tries.c.campaign_id == campaign_id)),
            "deliveries": await count(self._campaign_deliveries(campaign_id)),
            "votes": await count(sa.select(votes.c.id).where(*self._named_votes(campaign_id))),
            "submitters": await count(sa.select(cases.c.id).where(
                cases.c.campaign_id == campaign_id, cases.c.submitter_id.is_not(None))),
            "accounts": len(await self.linked_accounts(campaign_id)),
        }

    @staticmethod
    def _campaign_deliveries(campaign_id: int) -> sa.Select:
        """The campaign's messages to citizens still naming them (the announce chat's are not
        a person's)."""
        return sa.select(deliveries.c.id).where(
            deliveries.c.citizen_id.is_not(None),
            deliveries.c.broadcast_id.in_(
                sa.select(broadcasts.c.id).where(broadcasts.c.campaign_id == campaign_id)))

    async def nobody(self, now: datetime) -> int:
        """The id of the account purged votes are counted under (made the first time)."""
        return (await CitizenRepository(self.conn).create(*NOBODY, "ko", now)).id

    @staticmethod
    def _named_votes(campaign_id: int) -> list:
        return [votes.c.campaign_id == campaign_id, ~votes.c.voter.startswith(ANONYMOUS)]

    async def purge_campaign_rows(self, campaign_id: int, nobody_id: int) -> None:
        """Delete the campaign's subscriptions, drafts, codes and tries; its messages to
        citizens lose their address; each of its votes is counted under `nobody_id`, its
        voter an anonymous value that still tells the voters apart (the number of voters
        stays) but names none: "x:<the voter's first vote id>"."""
        for table in (subscriptions, submission_drafts, voting_codes, identity_tries):
            await self.conn.execute(table.delete().where(table.c.campaign_id == campaign_id))
        ids = self._campaign_deliveries(campaign_id)
        await self.conn.execute(deliveries.delete().where(deliveries.c.id.in_(ids),
                                                          deliveries.c.status == PENDING))
        await self.conn.execute(deliveries.update().where(deliveries.c.id.in_(ids))
                                .values(citizen_id=None, address=_anonymous_address()))
        rows = await self.conn.execute(sa.select(votes.c.id, votes.c.voter)
                                       .where(*self._named_votes(campaign_id)))
        first: dict[str, int] = {}
        for vote_id, voter in rows:
            first[voter] = min(vote_id, first.get(voter, vote_id))
        if first:
            # One statement per voter (executemany): the new values never clash with the old
            # ones (no old voter starts with "x:"), so the unique constraints hold throughout.
            await self.conn.execute(
                votes.update().where(votes.c.campaign_id == campaign_id,
                                     votes.c.voter == sa.bindparam("old"))
                .values(voter=sa.bindparam("new")),
                [{"old": v, "new": f"{ANONYMOUS}{i}"} for v, i in first.items()])
        await self.conn.execute(votes.update().where(votes.c.campaign_id == campaign_id)
                                .values(citizen_id=nobody_id))
        await self.conn.execute(cases.update().where(cases.c.campaign_id == campaign_id)
                                .values(submitter_id=None, contact=None))


def _anonymous_address() -> sa.ColumnElement:
    """"x:<delivery id>": unique per broadcast, as the constraint wants, and no one's."""
    return sa.literal(ANONYMOUS) + sa.cast(deliveries.c.id, sa.String)
