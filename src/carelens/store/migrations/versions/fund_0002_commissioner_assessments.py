"""Commissioner assessments as recorded by the national board: the evidence a commissioner
intervention is closed on (issue 18).

Revision ID: fund_0002
Revises: fund_0001
Create Date: 2027-01-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "fund_0002"
down_revision = "fund_0001"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fund_commissioner_assessment",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("commissioner_code", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False, comment="first year of the financial year assessed"),
        sa.Column(
            "overall", sa.String(length=40), nullable=False, comment="e.g. 'inadequate', 'not assessed'"
        ),
        sa.Column("outcomes", sa.String(length=40), nullable=True),
        sa.Column("finance", sa.String(length=40), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False, comment="list of reasons, in plain English"),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_commissioner_assessment")),
    )
    op.create_index(
        "ix_fund_commissioner_assessment_code",
        "fund_commissioner_assessment",
        ["commissioner_code", "year"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_fund_commissioner_assessment_code", table_name="fund_commissioner_assessment")
    op.drop_table("fund_commissioner_assessment")
