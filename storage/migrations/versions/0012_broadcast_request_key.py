"""A staff broadcast sent from the web carries the key of the form that sent it, unique, so a
second press of "send" (a double click, a resent form, another tab) finds the broadcast the
first press started instead of sending it again. Older broadcasts have none.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("request_key", sa.String(64)))
    op.create_index("uq_broadcasts_request_key", "broadcasts", ["request_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_broadcasts_request_key", "broadcasts")
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("request_key")
