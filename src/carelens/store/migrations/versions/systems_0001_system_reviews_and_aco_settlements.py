"""Local system reviews (directions, selections, reviews, findings, action plans) and ACO settlements.

Revision ID: systems_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "systems_0001"
down_revision = "0001"
branch_labels = ("systems",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "systems_direction",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("reference", sa.String(length=60), nullable=False, comment="e.g. 'LSR-2017'"),
        sa.Column(
            "directed_by", sa.String(length=300), nullable=False, comment="e.g. the Secretaries of State"
        ),
        sa.Column(
            "power", sa.String(length=300), nullable=False, comment="e.g. s48 Health and Social Care Act 2008"
        ),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("directed_on", sa.Date(), nullable=False),
        sa.Column("budget_gbp", sa.Double(), nullable=False),
        sa.Column("cost_per_review_gbp", sa.Double(), nullable=False),
        sa.Column("fixed_cost_gbp", sa.Double(), nullable=False, comment="programme cost not per review"),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems_direction")),
        sa.UniqueConstraint("reference", name=op.f("uq_systems_direction_reference")),
    )
    op.create_table(
        "systems_aco_settlement",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("aco_code", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False, comment="first year of the financial year"),
        sa.Column("population", sa.Double(), nullable=False, comment="attributed population"),
        sa.Column(
            "benchmark_gbp",
            sa.Double(),
            nullable=False,
            comment="risk-adjusted per-capita benchmark x population",
        ),
        sa.Column("expenditure_gbp", sa.Double(), nullable=False),
        sa.Column(
            "pooled_budget_gbp",
            sa.Double(),
            nullable=True,
            comment="pooled budget lines recorded for the ACO",
        ),
        sa.Column(
            "savings_gbp", sa.Double(), nullable=False, comment="benchmark - expenditure (negative = loss)"
        ),
        sa.Column("savings_rate", sa.Double(), nullable=False),
        sa.Column("minimum_rate", sa.Double(), nullable=True, comment="MSR (or minimum loss rate) applied"),
        sa.Column("quality_passed", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=80), nullable=False),
        sa.Column("payment_gbp", sa.Double(), nullable=False, comment="+ paid to the ACO, - repaid by it"),
        sa.Column("detail", sa.JSON(), nullable=False, comment="inputs, quality gate, HHI, members"),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["aco_code"], ["organisation.code"], name=op.f("fk_systems_aco_settlement_aco_code_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"],
            ["systems_aco_settlement.id"],
            name=op.f("fk_systems_aco_settlement_superseded_by_systems_aco_settlement"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems_aco_settlement")),
    )
    with op.batch_alter_table("systems_aco_settlement", schema=None) as batch_op:
        batch_op.create_index(
            "uq_systems_aco_settlement_current",
            ["aco_code", "year"],
            unique=True,
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )

    op.create_table(
        "systems_review",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("direction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("place_code", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False, comment="'planned' or 'reported'"),
        sa.Column(
            "board", sa.String(length=300), nullable=True, comment="health and wellbeing board reported to"
        ),
        sa.Column("reported_on", sa.Date(), nullable=True),
        sa.Column("summit_on", sa.Date(), nullable=True, comment="local summit after the report"),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["direction_id"],
            ["systems_direction.id"],
            name=op.f("fk_systems_review_direction_id_systems_direction"),
        ),
        sa.ForeignKeyConstraint(
            ["place_code"], ["organisation.code"], name=op.f("fk_systems_review_place_code_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems_review")),
        sa.UniqueConstraint(
            "direction_id", "place_code", name=op.f("uq_systems_review_direction_id_place_code")
        ),
    )
    op.create_table(
        "systems_selection",
        sa.Column("direction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("place_code", sa.String(length=40), nullable=False),
        sa.Column("period", sa.Date(), nullable=False, comment="period of the indicators scored"),
        sa.Column("rank", sa.Integer(), nullable=False, comment="1 = highest selection score"),
        sa.Column("score", sa.Double(), nullable=True, comment="null when no indicator could be scored"),
        sa.Column("indicators_scored", sa.Integer(), nullable=False),
        sa.Column(
            "selected", sa.Boolean(), nullable=False, comment="within the number of reviews the budget buys"
        ),
        sa.Column("detail", sa.JSON(), nullable=False, comment="adverse z-score per indicator"),
        sa.ForeignKeyConstraint(
            ["direction_id"],
            ["systems_direction.id"],
            name=op.f("fk_systems_selection_direction_id_systems_direction"),
        ),
        sa.ForeignKeyConstraint(
            ["place_code"], ["organisation.code"], name=op.f("fk_systems_selection_place_code_organisation")
        ),
        sa.PrimaryKeyConstraint("direction_id", "place_code", name=op.f("pk_systems_selection")),
    )
    op.create_table(
        "systems_action",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("review_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False, comment="action number within the review's plan"),
        sa.Column("stage", sa.String(length=60), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=300), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False, comment="'open' or 'done'"),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"], ["systems_review.id"], name=op.f("fk_systems_action_review_id_systems_review")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems_action")),
        sa.UniqueConstraint("review_id", "number", name=op.f("uq_systems_action_review_id_number")),
    )
    op.create_table(
        "systems_finding",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("review_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "stage", sa.String(length=60), nullable=False, comment="pathway stage (config programme.stages)"
        ),
        sa.Column("finding", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"], ["systems_review.id"], name=op.f("fk_systems_finding_review_id_systems_review")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems_finding")),
    )
    with op.batch_alter_table("systems_finding", schema=None) as batch_op:
        batch_op.create_index("ix_systems_finding_review", ["review_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("systems_finding", schema=None) as batch_op:
        batch_op.drop_index("ix_systems_finding_review")

    op.drop_table("systems_finding")
    op.drop_table("systems_action")
    op.drop_table("systems_selection")
    op.drop_table("systems_review")
    with op.batch_alter_table("systems_aco_settlement", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_systems_aco_settlement_current",
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )

    op.drop_table("systems_aco_settlement")
    op.drop_table("systems_direction")
