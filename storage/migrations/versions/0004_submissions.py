"""Cases submitted by chat: drafts that survive restarts, the submitter's type and consent,
and the per-citizen limit of a campaign.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column("cases_per_citizen", sa.Integer, nullable=False, server_default="3")
        )
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("submitter_type", sa.String(16)))
        batch.add_column(sa.Column("consented_at", UTCDateTime))
        batch.create_index("ix_cases_submitter", ["submitter_id"])
    op.create_table(
        "submission_drafts",
        sa.Column("citizen_id", sa.Integer, nullable=False),
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("from_preview", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("citizen_id", name="pk_submission_drafts"),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"],
                                name="fk_submission_drafts_citizen_id_citizens"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE",
                                name="fk_submission_drafts_campaign_id_campaigns"),
    )


def downgrade() -> None:
    op.drop_table("submission_drafts")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_submitter")
        batch.drop_column("consented_at")
        batch.drop_column("submitter_type")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("cases_per_citizen")
