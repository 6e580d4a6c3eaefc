"""The database schema, in SQLAlchemy Core. Alembic migrations in storage/migrations/ create
it; this module is what the repositories query."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: SQLite has no timezone type."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class _NoNul:
    """PostgreSQL cannot hold the NUL character in text (SQLite can): it is dropped on the way
    in, on both, so a citizen's stray NUL never fails a write or a search, and both backends
    keep the same."""

    def process_bind_param(self, value, dialect):
        return value.replace("\x00", "") if isinstance(value, str) else value


class String(_NoNul, TypeDecorator):
    impl = sa.String
    cache_ok = True


class Text(_NoNul, TypeDecorator):
    impl = sa.Text
    cache_ok = True


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", String(64), nullable=False, unique=True),
    sa.Column("title_ko", Text, nullable=False),
    sa.Column("title_en", Text),
    sa.Column("description_ko", Text, nullable=False),
    sa.Column("description_en", Text),
    sa.Column("timezone", String(64), nullable=False),
    sa.Column("votes_per_citizen", sa.Integer, nullable=False, server_default="1"),
    sa.Column("allow_change", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("show_running_tally", sa.Boolean, nullable=False, server_default=sa.false()),
    # Districts (with neighbourhoods) and categories are campaign settings, read whole.
    sa.Column("districts", sa.JSON, nullable=False),
    sa.Column("categories", sa.JSON, nullable=False),
    sa.Column("sample_data", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reminder_hours", sa.JSON, nullable=False, server_default="[24, 1]"),
    sa.Column("judging", sa.JSON, nullable=False, server_default="{}"),
    sa.Column("ranking", sa.JSON, nullable=False, server_default="{}"),
    sa.Column("awards", sa.JSON, nullable=False, server_default="[]"),
    sa.Column("results_published_at", UTCDateTime),
    sa.Column("cases_per_citizen", sa.Integer, nullable=False, server_default="3"),
    # Who counts as one voter (account, phone, code) and the order citizens see cases in.
    sa.Column("identity", String(16), nullable=False, server_default="account"),
    sa.Column("case_order", String(16), nullable=False, server_default="random"),
    # Days after the last phase ends that its personal data is kept (`chamyeo purge`).
    sa.Column("retention_days", sa.Integer, nullable=False, server_default="90"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

phases = sa.Table(
    "phases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", String(16), nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime),
    sa.UniqueConstraint("campaign_id", "name"),
)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("key", String(64), nullable=False),
    sa.Column("status", String(16), nullable=False),
    sa.Column("source", String(16), nullable=False),  # "file" or "chat"
    sa.Column("district", String(64), nullable=False),
    sa.Column("neighbourhood", String(64), nullable=False),
    sa.Column("category", String(64), nullable=False),
    sa.Column("image", Text),
    sa.Column("title_ko", Text, nullable=False),
    sa.Column("summary_ko", Text, nullable=False),
    sa.Column("body_ko", Text, nullable=False),
    sa.Column("organization_ko", Text, nullable=False),
    sa.Column("title_en", Text),
    sa.Column("summary_en", Text),
    sa.Column("body_en", Text),
    sa.Column("organization_en", Text),
    sa.Column("status_reason", Text),  # why staff rejected or hid it
    sa.Column("submitter_id", sa.Integer, sa.ForeignKey("citizens.id")),  # submitted by chat
    sa.Column("submitter_type", String(16)),  # individual, organization, council
    sa.Column("consented_at", UTCDateTime),  # to be contacted by staff and to be published
    # The submitter's phone or e-mail for staff to call back (optional; never shown to citizens,
    # never logged); cleared when they are forgotten or the campaign's data is purged.
    sa.Column("contact", String(100)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("campaign_id", "key"),
    sa.Index("ix_cases_campaign_status", "campaign_id", "status"),
    sa.Index("ix_cases_submitter", "submitter_id"),
)

citizens = sa.Table(
    "citizens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", String(16), nullable=False),
    sa.Column("external_id", String(128), nullable=False),
    sa.Column("language", String(8), nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("username", String(64)),  # so staff can /grant @username
    sa.Column("alias", String(128)),  # another key for the account (Kakao plusfriendUserKey)
    sa.UniqueConstraint("channel", "external_id"),
    sa.Index("ix_citizens_username", "username"),
)

# One row per vote a voter holds. The voter is who the campaign counts as one person: the
# account ("a:<citizen id>"), or a keyed hash of a verified phone number ("p:…") or of a voting
# code ("c:…"), so several chat accounts of one person share one voter. `slot` runs
# 1..votes_per_citizen: the UNIQUE constraints make the database itself refuse a second vote
# in a slot, or two votes for one case, per voter. `citizen_id` is the account that cast it
# (last).
votes = sa.Table(
    "votes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("citizen_id", sa.Integer, sa.ForeignKey("citizens.id"), nullable=False),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("slot", sa.Integer, nullable=False),
    sa.Column("cast_at", UTCDateTime, nullable=False),
    sa.Column("receipt", String(16), nullable=False),
    sa.Column("voter", String(80), nullable=False),
    sa.UniqueConstraint("campaign_id", "voter", "slot"),
    sa.UniqueConstraint("campaign_id", "voter", "case_id"),
    sa.CheckConstraint("slot >= 1", name="slot_positive"),
    sa.Index("ix_votes_case", "case_id"),
    sa.Index("ix_votes_citizen", "citizen_id"),
    sa.Index("ix_votes_campaign_cast", "campaign_id", "cast_at", "id"),  # the export's order
)

# The votes counted as they are cast, per campaign, case and ten-minute UTC window (its start,
# whole seconds since 1970), in the vote's own transaction: the tally and the dashboard read
# these few rows instead of grouping every vote. `first_votes`: votes in slot 1, one per voter
# (a voter's first vote always takes slot 1 and votes are never deleted); `fresh_votes`: votes
# from accounts first seen less than 30 minutes before (bot/services/signals.py).
vote_counts = sa.Table(
    "vote_counts",
    metadata,
    sa.Column("campaign_id", sa.Integer,
              sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("window_start", sa.BigInteger, nullable=False),
    sa.Column("votes", sa.Integer, nullable=False),
    sa.Column("first_votes", sa.Integer, nullable=False),
    sa.Column("fresh_votes", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("campaign_id", "case_id", "window_start", name="pk_vote_counts"),
)

# A citizen's verified phone number, only as a keyed hash (HMAC-SHA256 with
# CHAMYEO_IDENTITY_KEY over the E.164 form): never the number. Accounts of one person on
# several channels share it. Set once per account; /forgetme deletes it.
citizen_phones = sa.Table(
    "citizen_phones",
    metadata,
    sa.Column("citizen_id", sa.Integer, sa.ForeignKey("citizens.id"), primary_key=True),
    sa.Column("phone_key", String(64), nullable=False),
    sa.Column("verified_at", UTCDateTime, nullable=False),
    sa.Index("ix_citizen_phones_phone_key", "phone_key"),
)

# One-time voting codes of a campaign, only as keyed hashes. A code binds to the first account
# that enters it (citizen_id, bound_at): that account votes as the code's voter.
voting_codes = sa.Table(
    "voting_codes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("code_hash", String(64), nullable=False),
    sa.Column("batch", String(32), nullable=False),  # which `chamyeo codes issue` made it
    sa.Column("citizen_id", sa.Integer, sa.ForeignKey("citizens.id")),
    sa.Column("bound_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("campaign_id", "code_hash"),
    sa.UniqueConstraint("campaign_id", "citizen_id"),
)

# Wrong voting codes an account entered, per campaign, in the current window: past the limit
# it must wait for the window to end, so guessing a code is hopeless.
identity_tries = sa.Table(
    "identity_tries",
    metadata,
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("citizen_id", sa.Integer, sa.ForeignKey("citizens.id"), primary_key=True),
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", String(64), nullable=False),
    sa.Column("action", String(64), nullable=False),
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="SET NULL")),
    sa.Column("detail", sa.JSON, nullable=False),
    # A refusal repeated within a minute counts here instead of taking a row each time.
    sa.Column("repeats", sa.Integer, nullable=False, server_default="1"),
    sa.Column("dedup_key", String(200), unique=True),
    sa.Index("ix_audit_log_action", "action"),
)

# Whether a citizen wants this campaign's announcements. A row means "we asked": opt-in only.
subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("citizen_id", sa.Integer, sa.ForeignKey("citizens.id"), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The announcement plan: one row per (campaign, kind, instant). Rebuilt in the same
# transaction as any change to the phase times, so no announcement fires with an old time.
announcements = sa.Table(
    "announcements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("kind", String(32), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("status", String(16), nullable=False),  # planned, sent, skipped, cancelled
    sa.Column("broadcast_id", sa.Integer, sa.ForeignKey("broadcasts.id")),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("campaign_id", "kind", "due_at"),
    sa.Index("ix_announcements_status_due", "status", "due_at"),
)

# What subscribers were last told about each phase: "open" or "closed". An opening or closing
# is announced only when it changes this row (a conditional write), so a boundary that moved,
# or a phase closed and reopened, is never announced twice; an opening after "closed" is
# announced as reopened.
announced_phases = sa.Table(
    "announced_phases",
    metadata,
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("phase", String(16), primary_key=True),
    sa.Column("state", String(8), nullable=False),  # open, closed
    sa.Column("announcement_id", sa.Integer, sa.ForeignKey("announcements.id")),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

broadcasts = sa.Table(
    "broadcasts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("kind", String(32), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", String(16), nullable=False),  # running, done
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    # The form that sent a staff broadcast from the web: a second press finds this row.
    sa.Column("request_key", String(64)),
    sa.Index("uq_broadcasts_request_key", "request_key", unique=True),
)

# One row per recipient of a broadcast, written before the first message goes out; its status
# is the broadcast's progress, so a restart resumes where it stopped.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "broadcast_id", sa.Integer, sa.ForeignKey("broadcasts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("citizen_id", sa.Integer, sa.ForeignKey("citizens.id")),  # NULL: announce chat
    sa.Column("channel", String(16), nullable=False),
    sa.Column("address", String(128), nullable=False),
    sa.Column("language", String(8), nullable=False),
    # pending, sending, sent, blocked, failed, uncertain (in flight when the bot stopped)
    sa.Column("status", String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", Text),
    # Who is sending it, and until when that worker counts as alive: a worker that starts
    # never takes a live worker's message in flight for lost.
    sa.Column("claimed_by", String(64)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("broadcast_id", "channel", "address"),
    sa.Index("ix_deliveries_broadcast_status", "broadcast_id", "status"),
)

# Staff roles beyond the bootstrap admins of CHAMYEO_ADMIN_IDS, by chat account.
staff_roles = sa.Table(
    "staff_roles",
    metadata,
    sa.Column("channel", String(16), primary_key=True),
    sa.Column("external_id", String(128), primary_key=True),
    sa.Column("role", String(16), primary_key=True),
    sa.Column("granted_by", String(64), nullable=False),
    sa.Column("granted_at", UTCDateTime, nullable=False),
)

# A judge's score for a case: criterion 0 is the single overall score, or criteria 1..n.
scores = sa.Table(
    "scores",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("judge_id", sa.Integer, sa.ForeignKey("citizens.id"), nullable=False),
    sa.Column("criterion", sa.Integer, nullable=False, server_default="0"),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("case_id", "judge_id", "criterion"),
)

# A case a citizen is writing by chat: where they are in the guided steps and what they have
# answered so far, written at every step so a restart of the bot loses nothing.
submission_drafts = sa.Table(
    "submission_drafts",
    metadata,
    sa.Column("citizen_id", sa.Integer, sa.ForeignKey("citizens.id"), primary_key=True),
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("step", String(16), nullable=False),
    sa.Column("answers", sa.JSON, nullable=False),
    # Editing one field from the preview: after it, back to the preview.
    sa.Column("from_preview", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Every serving process (worker) while it runs: its id (as in the claims and turns it takes)
# and when it last said it was alive (each scheduler tick). A claim or turn of a worker not
# seen for a few seconds is a dead worker's: another may take it over at once.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", String(64), primary_key=True),
    sa.Column("seen_at", UTCDateTime, nullable=False),
)

# A chat account's conversation between two updates: what the bot waits for from it (a search
# word, a rejection reason...), kept here so any worker can take its next update; and whose
# turn it is (the worker handling its update now, until when), so its updates run in order.
chat_sessions = sa.Table(
    "chat_sessions",
    metadata,
    sa.Column("channel", String(16), primary_key=True),
    sa.Column("external_id", String(128), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("turn_owner", String(64)),
    sa.Column("turn_until", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The outbound pace every worker shares: per lane (a channel overall, or one chat), the
# earliest instant (Unix seconds) the next message may go out.
outbound_pace = sa.Table(
    "outbound_pace",
    metadata,
    sa.Column("lane", String(160), primary_key=True),
    sa.Column("next_at", sa.Float, nullable=False),
)

# Secrets the instance makes for itself once (e.g. the key of the export pseudonyms): random,
# kept here, never exported.
instance_secrets = sa.Table(
    "instance_secrets",
    metadata,
    sa.Column("name", String(64), primary_key=True),
    sa.Column("value", String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# One-time sign-in links to the web console (the link's token only as its SHA-256 digest):
# short-lived, used once, bound to one staff account, revocable.
web_links = sa.Table(
    "web_links",
    metadata,
    sa.Column("token_hash", String(64), primary_key=True),
    sa.Column("channel", String(16), nullable=False),
    sa.Column("external_id", String(128), nullable=False),
    sa.Column("created_by", String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.Index("ix_web_links_account", "channel", "external_id"),
)

# Web console sessions (the cookie's token only as its digest), with the form token (CSRF).
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", String(64), primary_key=True),
    sa.Column("channel", String(16), nullable=False),
    sa.Column("external_id", String(128), nullable=False),
    sa.Column("csrf", String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime),
    sa.Index("ix_web_sessions_account", "channel", "external_id"),
)

# Staff invitations: an admin makes a code for a role; whoever types it in chat first gets
# that role on their chat account (the code only as its digest; used once, short-lived).
staff_invitations = sa.Table(
    "staff_invitations",
    metadata,
    sa.Column("code_hash", String(64), primary_key=True),
    sa.Column("role", String(16), nullable=False),
    sa.Column("created_by", String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Column("used_by", String(160)),
)
