"""An index in the vote log's own order (campaign, time cast, id), so an export reads a
million votes page by page, each page where the last one stopped, with no sort.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_votes_campaign_cast", "votes", ["campaign_id", "cast_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_votes_campaign_cast", "votes")
