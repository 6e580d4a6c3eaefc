"""Campaigns, phases, cases, citizens, votes, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("title_ko", sa.Text, nullable=False),
        sa.Column("title_en", sa.Text),
        sa.Column("description_ko", sa.Text, nullable=False),
        sa.Column("description_en", sa.Text),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("votes_per_citizen", sa.Integer, nullable=False, server_default="1"),
        sa.Column("allow_change", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("show_running_tally", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("districts", sa.JSON, nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("sample_data", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
        sa.UniqueConstraint("slug", name="uq_campaigns_slug"),
    )
    op.create_table(
        "phases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_phases"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_phases_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("campaign_id", "name", name="uq_phases_campaign_id_name"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("district", sa.String(64), nullable=False),
        sa.Column("neighbourhood", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("image", sa.Text),
        sa.Column("title_ko", sa.Text, nullable=False),
        sa.Column("summary_ko", sa.Text, nullable=False),
        sa.Column("body_ko", sa.Text, nullable=False),
        sa.Column("organization_ko", sa.Text, nullable=False),
        sa.Column("title_en", sa.Text),
        sa.Column("summary_en", sa.Text),
        sa.Column("body_en", sa.Text),
        sa.Column("organization_en", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_cases_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("campaign_id", "key", name="uq_cases_campaign_id_key"),
    )
    op.create_index("ix_cases_campaign_status", "cases", ["campaign_id", "status"])
    op.create_table(
        "citizens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_citizens"),
        sa.UniqueConstraint("channel", "external_id", name="uq_citizens_channel_external_id"),
    )
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("citizen_id", sa.Integer, nullable=False),
        sa.Column("case_id", sa.Integer, nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("cast_at", UTCDateTime, nullable=False),
        sa.Column("receipt", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_votes"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_votes_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["citizens.id"], name="fk_votes_citizen_id_citizens"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_votes_case_id_cases"),
        sa.UniqueConstraint(
            "campaign_id", "citizen_id", "slot", name="uq_votes_campaign_id_citizen_id_slot"
        ),
        sa.UniqueConstraint(
            "campaign_id", "citizen_id", "case_id", name="uq_votes_campaign_id_citizen_id_case_id"
        ),
        sa.CheckConstraint("slot >= 1", name="ck_votes_slot_positive"),
    )
    op.create_index("ix_votes_case", "votes", ["case_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.Integer),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_audit_log_campaign_id_campaigns",
            ondelete="SET NULL",
        ),
    )


def downgrade() -> None:
    for table in ("audit_log", "votes", "citizens", "cases", "phases", "campaigns"):
        op.drop_table(table)
