"""Intelligence from people: experiences of care and concerns (whistleblowing), with their triage.

Revision ID: intel_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "intel_0001"
down_revision = "0001"
branch_labels = ("intel",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intel_submission",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False, comment="'experience' or 'concern'"),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column(
            "submitter", sa.String(length=20), nullable=False, comment="'public' or 'staff' (whistleblowing)"
        ),
        sa.Column(
            "sentiment",
            sa.String(length=20),
            nullable=True,
            comment="an experience's: positive, neutral, negative",
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=100), nullable=False, comment="user name, or 'anonymous'"),
        sa.Column(
            "status", sa.String(length=20), nullable=False, comment="new, validated, not_validated, closed"
        ),
        sa.Column("triaged_by", sa.String(length=100), nullable=True),
        sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("triage_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["org_code"], ["organisation.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_intel_submission_org", "intel_submission", ["org_code", "kind"])
    op.create_index("ix_intel_submission_status", "intel_submission", ["kind", "status"])


def downgrade() -> None:
    op.drop_index("ix_intel_submission_status", table_name="intel_submission")
    op.drop_index("ix_intel_submission_org", table_name="intel_submission")
    op.drop_table("intel_submission")
