"""What subscribers were last told about each phase (open or closed), so an opening or closing
is announced once however the phase times move, and a phase opened again after its closing
was announced is announced as reopened. Filled from the announcements already sent.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The boundary announcements of 0002's plan and what each told subscribers.
_TOLD = {
    "submission_opens": ("submission", "open"),
    "submission_closes": ("submission", "closed"),
    "voting_opens": ("voting", "open"),
    "voting_closes": ("voting", "closed"),
}


def upgrade() -> None:
    announced_phases = op.create_table(
        "announced_phases",
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("announcement_id", sa.Integer),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE",
                                name="fk_announced_phases_campaign_id_campaigns"),
        sa.ForeignKeyConstraint(["announcement_id"], ["announcements.id"],
                                name="fk_announced_phases_announcement_id_announcements"),
        sa.PrimaryKeyConstraint("campaign_id", "phase", name="pk_announced_phases"),
    )
    announcements = sa.table(
        "announcements", sa.column("id", sa.Integer), sa.column("campaign_id", sa.Integer),
        sa.column("kind", sa.String), sa.column("status", sa.String),
        sa.column("updated_at", UTCDateTime),
    )
    sent = op.get_bind().execute(
        sa.select(announcements.c.id, announcements.c.campaign_id, announcements.c.kind,
                  announcements.c.updated_at)
        .where(announcements.c.status == "sent", announcements.c.kind.in_(list(_TOLD)))
        .order_by(announcements.c.updated_at, announcements.c.id)
    ).all()
    last: dict[tuple[int, str], dict] = {}
    for announcement_id, campaign_id, kind, updated_at in sent:  # the latest wins
        phase, state = _TOLD[kind]
        last[(campaign_id, phase)] = {
            "campaign_id": campaign_id, "phase": phase, "state": state,
            "announcement_id": announcement_id, "updated_at": updated_at,
        }
    if last:
        op.bulk_insert(announced_phases, list(last.values()))


def downgrade() -> None:
    op.drop_table("announced_phases")
