"""Signing in to the web console without passwords: one-time sign-in links sent in chat or
printed by `chamyeo staff link`, and the sessions they open; and staff invitations (a code an
admin gives someone, who types it in chat to get the role on that chat account). Only SHA-256
digests of the links, sessions and codes are stored, so a copy of the database opens nothing.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_links",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
        sa.PrimaryKeyConstraint("token_hash", name="pk_web_links"),
    )
    op.create_index("ix_web_links_account", "web_links", ["channel", "external_id"])
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.PrimaryKeyConstraint("token_hash", name="pk_web_sessions"),
    )
    op.create_index("ix_web_sessions_account", "web_sessions", ["channel", "external_id"])
    op.create_table(
        "staff_invitations",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime),
        sa.Column("used_by", sa.String(160)),
        sa.PrimaryKeyConstraint("code_hash", name="pk_staff_invitations"),
    )


def downgrade() -> None:
    op.drop_table("staff_invitations")
    op.drop_index("ix_web_sessions_account", "web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_web_links_account", "web_links")
    op.drop_table("web_links")
