"""Assess: who proposed and when who approved a rating; a draft departure needs a rationale only (its
approver is named when it is published, by someone other than its proposer).

Revision ID: assess_0002
Revises: assess_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "assess_0002"
down_revision = "assess_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assessed_rating", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "proposed_by", sa.String(100), nullable=True, comment="who proposed it (null: recorded_by)"
            )
        )
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column(
            "approved_by",
            existing_type=sa.String(100),
            existing_nullable=True,
            comment="who approved it (published ratings)",
            existing_comment="who approved the departure",
        )
        batch_op.drop_constraint(op.f("ck_assessed_rating_departure_needs_rationale"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_assessed_rating_departure_needs_rationale"), "NOT departure OR rationale IS NOT NULL"
        )
        batch_op.create_check_constraint(
            op.f("ck_assessed_rating_published_departure_needs_approver"),
            "NOT (departure AND published) OR approved_by IS NOT NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("assessed_rating", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_assessed_rating_published_departure_needs_approver"), type_="check")
        batch_op.drop_constraint(op.f("ck_assessed_rating_departure_needs_rationale"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_assessed_rating_departure_needs_rationale"),
            "NOT departure OR (rationale IS NOT NULL AND approved_by IS NOT NULL)",
        )
        batch_op.alter_column(
            "approved_by",
            existing_type=sa.String(100),
            existing_nullable=True,
            comment="who approved the departure",
            existing_comment="who approved it (published ratings)",
        )
        batch_op.drop_column("approved_at")
        batch_op.drop_column("proposed_by")
