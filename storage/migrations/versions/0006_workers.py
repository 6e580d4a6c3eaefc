"""Several workers on one database: the workers' heartbeats, leases on claimed deliveries,
per-account chat sessions (what a conversation waits for, and whose turn it is), one outbound
pace shared by every worker, repeated audit entries counted in one row, and the instance's
own secrets.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(64)))
        batch.add_column(sa.Column("lease_until", UTCDateTime))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("repeats", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("dedup_key", sa.String(200)))
        batch.create_unique_constraint("uq_audit_log_dedup_key", ["dedup_key"])
        batch.create_index("ix_audit_log_action", ["action"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
    )
    op.create_table(
        "chat_sessions",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("turn_owner", sa.String(64)),
        sa.Column("turn_until", UTCDateTime),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("channel", "external_id", name="pk_chat_sessions"),
    )
    op.create_table(
        "outbound_pace",
        sa.Column("lane", sa.String(160), nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("lane", name="pk_outbound_pace"),
    )
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_instance_secrets"),
    )


def downgrade() -> None:
    op.drop_table("instance_secrets")
    op.drop_table("outbound_pace")
    op.drop_table("chat_sessions")
    op.drop_table("workers")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_action")
        batch.drop_constraint("uq_audit_log_dedup_key", type_="unique")
        batch.drop_column("dedup_key")
        batch.drop_column("repeats")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
