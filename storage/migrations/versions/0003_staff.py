"""Staff roles, judges' scores, moderation fields, results publication, judging and ranking
rules, award tiers; usernames of chat accounts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("judging", sa.JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("ranking", sa.JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("awards", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("results_published_at", UTCDateTime))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("status_reason", sa.Text))
        batch.add_column(sa.Column("submitter_id", sa.Integer))
        batch.create_foreign_key(
            "fk_cases_submitter_id_citizens", "citizens", ["submitter_id"], ["id"]
        )
    with op.batch_alter_table("citizens") as batch:
        batch.add_column(sa.Column("username", sa.String(64)))
        batch.create_index("ix_citizens_username", ["username"])
    op.create_table(
        "staff_roles",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("granted_by", sa.String(64), nullable=False),
        sa.Column("granted_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("channel", "external_id", "role", name="pk_staff_roles"),
    )
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("case_id", sa.Integer, nullable=False),
        sa.Column("judge_id", sa.Integer, nullable=False),
        sa.Column("criterion", sa.Integer, nullable=False, server_default="0"),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_scores_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_scores_case_id_cases"),
        sa.ForeignKeyConstraint(["judge_id"], ["citizens.id"], name="fk_scores_judge_id_citizens"),
        sa.UniqueConstraint(
            "case_id", "judge_id", "criterion", name="uq_scores_case_id_judge_id_criterion"
        ),
    )


def downgrade() -> None:
    op.drop_table("scores")
    op.drop_table("staff_roles")
    with op.batch_alter_table("citizens") as batch:
        batch.drop_index("ix_citizens_username")
        batch.drop_column("username")
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("fk_cases_submitter_id_citizens", type_="foreignkey")
        batch.drop_column("submitter_id")
        batch.drop_column("status_reason")
    with op.batch_alter_table("campaigns") as batch:
        for column in ("results_published_at", "awards", "ranking", "judging"):
            batch.drop_column(column)
