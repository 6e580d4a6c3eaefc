"""Subscriptions, the announcement plan, broadcasts and their deliveries; reminder hours.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column("reminder_hours", sa.JSON, nullable=False, server_default="[24, 1]")
        )
    op.create_table(
        "subscriptions",
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("citizen_id", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "citizen_id", name="pk_subscriptions"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_subscriptions_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["citizens.id"], name="fk_subscriptions_citizen_id_citizens"
        ),
    )
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_broadcasts"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_broadcasts_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("broadcast_id", sa.Integer),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_announcements"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_announcements_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["broadcast_id"], ["broadcasts.id"], name="fk_announcements_broadcast_id_broadcasts"
        ),
        sa.UniqueConstraint(
            "campaign_id", "kind", "due_at", name="uq_announcements_campaign_id_kind_due_at"
        ),
    )
    op.create_index("ix_announcements_status_due", "announcements", ["status", "due_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("broadcast_id", sa.Integer, nullable=False),
        sa.Column("citizen_id", sa.Integer),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["broadcast_id"], ["broadcasts.id"], name="fk_deliveries_broadcast_id_broadcasts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["citizens.id"], name="fk_deliveries_citizen_id_citizens"
        ),
        sa.UniqueConstraint(
            "broadcast_id", "channel", "address", name="uq_deliveries_broadcast_id_channel_address"
        ),
    )
    op.create_index("ix_deliveries_broadcast_status", "deliveries", ["broadcast_id", "status"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("announcements")
    op.drop_table("broadcasts")
    op.drop_table("subscriptions")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("reminder_hours")
