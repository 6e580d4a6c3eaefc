"""Votes counted as they are cast (`vote_counts`, per campaign, case and ten-minute window),
so the live tally and the dashboard stop grouping every vote; filled from the votes already
recorded.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from storage.repositories.vote_counts import recount_sync

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vote_counts",
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
    recount_sync(op.get_bind())


def downgrade() -> None:
    op.drop_table("vote_counts")
