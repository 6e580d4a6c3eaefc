"""A contact for staff on a case sent in by chat (optional phone or e-mail). The "withdrawn"
status needs no schema change (statuses are text).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("contact", sa.String(100)))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("contact")
