"""Recovery actions of failure-regime cases: what, whose, by when, and when done (issue 18).

Revision ID: plan_0002
Revises: plan_0001
Create Date: 2027-01-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "plan_0002"
down_revision = "plan_0001"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "plan_recovery_action",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("case_id", RowId, nullable=False),
        sa.Column("action", sa.Text(), nullable=False, comment="what must be done"),
        sa.Column("owner", sa.String(length=200), nullable=False, comment="who must do it"),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False, comment="'open' or 'done'"),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("done_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True, comment="the evidence it was done"),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["plan_regime_case.id"],
            name=op.f("fk_plan_recovery_action_case_id_plan_regime_case"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_recovery_action")),
    )
    op.create_index("ix_plan_recovery_action_case", "plan_recovery_action", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_plan_recovery_action_case", table_name="plan_recovery_action")
    op.drop_table("plan_recovery_action")
