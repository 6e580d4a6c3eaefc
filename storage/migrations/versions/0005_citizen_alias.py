"""A second key a channel gives the same account (KakaoTalk's plusfriendUserKey, next to the
botUserKey that identifies a Kakao citizen).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("citizens") as batch:
        batch.add_column(sa.Column("alias", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("citizens") as batch:
        batch.drop_column("alias")
