"""One vote per person: who a campaign counts as one voter (account, verified phone, voting
code), the order citizens see cases in, how long personal data is kept. Every existing vote
keeps counting, as its account's ("a:<citizen id>").

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("identity", sa.String(16), nullable=False,
                                   server_default="account"))
        batch.add_column(sa.Column("case_order", sa.String(16), nullable=False,
                                   server_default="random"))
        batch.add_column(sa.Column("retention_days", sa.Integer, nullable=False,
                                   server_default="90"))
    with op.batch_alter_table("votes") as batch:
        batch.add_column(sa.Column("voter", sa.String(80)))
    op.execute("UPDATE votes SET voter = 'a:' || CAST(citizen_id AS VARCHAR(20))")
    with op.batch_alter_table("votes") as batch:
        batch.alter_column("voter", existing_type=sa.String(80), nullable=False)
        batch.drop_constraint("uq_votes_campaign_id_citizen_id_slot", type_="unique")
        batch.drop_constraint("uq_votes_campaign_id_citizen_id_case_id", type_="unique")
        batch.create_unique_constraint("uq_votes_campaign_id_voter_slot",
                                       ["campaign_id", "voter", "slot"])
        batch.create_unique_constraint("uq_votes_campaign_id_voter_case_id",
                                       ["campaign_id", "voter", "case_id"])
        batch.create_index("ix_votes_citizen", ["citizen_id"])
    op.create_table(
        "citizen_phones",
        sa.Column("citizen_id", sa.Integer, nullable=False),
        sa.Column("phone_key", sa.String(64), nullable=False),
        sa.Column("verified_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("citizen_id", name="pk_citizen_phones"),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"],
                                name="fk_citizen_phones_citizen_id_citizens"),
    )
    op.create_index("ix_citizen_phones_phone_key", "citizen_phones", ["phone_key"])
    op.create_table(
        "voting_codes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("batch", sa.String(32), nullable=False),
        sa.Column("citizen_id", sa.Integer),
        sa.Column("bound_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_voting_codes"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE",
                                name="fk_voting_codes_campaign_id_campaigns"),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"],
                                name="fk_voting_codes_citizen_id_citizens"),
        sa.UniqueConstraint("campaign_id", "code_hash",
                            name="uq_voting_codes_campaign_id_code_hash"),
        sa.UniqueConstraint("campaign_id", "citizen_id",
                            name="uq_voting_codes_campaign_id_citizen_id"),
    )
    op.create_table(
        "identity_tries",
        sa.Column("campaign_id", sa.Integer, nullable=False),
        sa.Column("citizen_id", sa.Integer, nullable=False),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "citizen_id", name="pk_identity_tries"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE",
                                name="fk_identity_tries_campaign_id_campaigns"),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"],
                                name="fk_identity_tries_citizen_id_citizens"),
    )


def downgrade() -> None:
    op.drop_table("identity_tries")
    op.drop_table("voting_codes")
    op.drop_index("ix_citizen_phones_phone_key", "citizen_phones")
    op.drop_table("citizen_phones")
    with op.batch_alter_table("votes") as batch:
        batch.drop_index("ix_votes_citizen")
        batch.drop_constraint("uq_votes_campaign_id_voter_case_id", type_="unique")
        batch.drop_constraint("uq_votes_campaign_id_voter_slot", type_="unique")
        batch.create_unique_constraint("uq_votes_campaign_id_citizen_id_slot",
                                       ["campaign_id", "citizen_id", "slot"])
        batch.create_unique_constraint("uq_votes_campaign_id_citizen_id_case_id",
                                       ["campaign_id", "citizen_id", "case_id"])
        batch.drop_column("voter")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("retention_days")
        batch.drop_column("case_order")
        batch.drop_column("identity")
