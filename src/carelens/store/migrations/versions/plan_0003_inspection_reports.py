"""Plan: an inspection's findings per key question, its report (proposal, approval, draft sent,
publication) and the provider's factual-accuracy challenges.

Revision ID: plan_0003
Revises: plan_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "plan_0003"
down_revision = "plan_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_finding",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("inspection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key_question", sa.String(20), nullable=False),
        sa.Column(
            "rating", sa.String(40), nullable=False, comment="the team's judgement of the key question"
        ),
        sa.Column("finding", sa.Text(), nullable=False, comment="what the team found"),
        sa.Column("evidence", sa.JSON(), nullable=False, comment="list of evidence items"),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("supersedes_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["plan_inspection.id"],
            name=op.f("fk_plan_finding_inspection_id_plan_inspection"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"], ["plan_finding.id"], name=op.f("fk_plan_finding_supersedes_id_plan_finding")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_finding")),
    )
    op.create_index("ix_plan_finding_inspection", "plan_finding", ["inspection_id", "key_question"])
    op.create_table(
        "plan_report",
        sa.Column("inspection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "stage", sa.String(20), nullable=False, comment="open, proposed, approved, sent or published"
        ),
        sa.Column("summary", sa.Text(), nullable=True, comment="the report's summary, from the proposal"),
        sa.Column("proposed_by", sa.String(100), nullable=True),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(100), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_by", sa.String(100), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("challenge_until", sa.Date(), nullable=True, comment="last day of the accuracy window"),
        sa.Column("published_by", sa.String(100), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=True, comment="date the ratings take effect"),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["plan_inspection.id"],
            name=op.f("fk_plan_report_inspection_id_plan_inspection"),
        ),
        sa.PrimaryKeyConstraint("inspection_id", name=op.f("pk_plan_report")),
    )
    op.create_table(
        "plan_accuracy_challenge",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("inspection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key_question", sa.String(20), nullable=True, comment="the finding challenged, if one"),
        sa.Column("text", sa.Text(), nullable=False, comment="what the provider says is inaccurate"),
        sa.Column("raised_by", sa.String(100), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(20), nullable=True, comment="accepted or rejected; null: undecided"),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["plan_inspection.id"],
            name=op.f("fk_plan_accuracy_challenge_inspection_id_plan_inspection"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_accuracy_challenge")),
    )
    op.create_index("ix_plan_accuracy_challenge_inspection", "plan_accuracy_challenge", ["inspection_id"])


def downgrade() -> None:
    op.drop_index("ix_plan_accuracy_challenge_inspection", table_name="plan_accuracy_challenge")
    op.drop_table("plan_accuracy_challenge")
    op.drop_table("plan_report")
    op.drop_index("ix_plan_finding_inspection", table_name="plan_finding")
    op.drop_table("plan_finding")
