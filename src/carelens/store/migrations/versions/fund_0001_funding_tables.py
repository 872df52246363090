"""Funding tables: allocation runs and results, delegated and pooled budgets, commissioner interventions.

Revision ID: fund_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "fund_0001"
down_revision = "0001"
branch_labels = ("fund",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fund_allocation_run",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column(
            "year", sa.Integer(), nullable=False, comment="first year of the financial year (2024 = 2024/25)"
        ),
        sa.Column("scenario_name", sa.String(length=100), nullable=False),
        sa.Column("scenario_version", sa.Integer(), nullable=False),
        sa.Column(
            "scenario_sha256",
            sa.String(length=64),
            nullable=False,
            comment="hex SHA-256 of the scenario file",
        ),
        sa.Column("scenario", sa.JSON(), nullable=False, comment="the parsed scenario, for explanation"),
        sa.Column("inputs", sa.String(length=20), nullable=False, comment="'store' or 'files'"),
        sa.Column("quantum_gbp", sa.Double(), nullable=False),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_allocation_run")),
    )
    op.create_table(
        "fund_budget",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("commissioner_code", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False, comment="'delegated' or 'pooled'"),
        sa.Column(
            "counterparty",
            sa.String(length=200),
            nullable=False,
            comment="delegating body, or partner local authority",
        ),
        sa.Column(
            "name", sa.String(length=200), nullable=False, comment="the budget, e.g. 'primary medical care'"
        ),
        sa.Column("amount_gbp", sa.Double(), nullable=False, comment="whole budget"),
        sa.Column(
            "contribution_gbp", sa.Double(), nullable=True, comment="pooled: the commissioner's own share"
        ),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["superseded_by"], ["fund_budget.id"], name=op.f("fk_fund_budget_superseded_by_fund_budget")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_budget")),
    )
    with op.batch_alter_table("fund_budget", schema=None) as batch_op:
        batch_op.create_index(
            "uq_fund_budget_current",
            ["commissioner_code", "year", "kind", "counterparty", "name"],
            unique=True,
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )

    op.create_table(
        "fund_intervention",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("commissioner_code", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column(
            "decision",
            sa.String(length=60),
            nullable=False,
            comment="e.g. 'directions', 'legal undertakings'",
        ),
        sa.Column("reasons", sa.JSON(), nullable=False, comment="list of reasons, in plain English"),
        sa.Column("assessment", sa.JSON(), nullable=True, comment="the assessment the decision rests on"),
        sa.Column(
            "status",
            sa.String(length=20),
            nullable=False,
            comment="'open' until the failure regime takes over",
        ),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_intervention")),
    )
    with op.batch_alter_table("fund_intervention", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fund_intervention_commissioner", ["commissioner_code", "year"], unique=False
        )

    op.create_table(
        "fund_allocation",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commissioner_code", sa.String(length=40), nullable=False),
        sa.Column("population", sa.Double(), nullable=False),
        sa.Column("wp_core", sa.Double(), nullable=False),
        sa.Column("wp_primary_medical_care", sa.Double(), nullable=False),
        sa.Column("need_index_core", sa.Double(), nullable=False),
        sa.Column("market_forces_factor", sa.Double(), nullable=False),
        sa.Column("target_share", sa.Double(), nullable=False),
        sa.Column("target_gbp", sa.Double(), nullable=False),
        sa.Column("baseline_gbp", sa.Double(), nullable=True),
        sa.Column("allocation_gbp", sa.Double(), nullable=False),
        sa.Column("distance_from_target", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["fund_allocation_run.id"], name=op.f("fk_fund_allocation_run_id_fund_allocation_run")
        ),
        sa.PrimaryKeyConstraint("run_id", "commissioner_code", name=op.f("pk_fund_allocation")),
    )


def downgrade() -> None:
    op.drop_table("fund_allocation")
    with op.batch_alter_table("fund_intervention", schema=None) as batch_op:
        batch_op.drop_index("ix_fund_intervention_commissioner")

    op.drop_table("fund_intervention")
    with op.batch_alter_table("fund_budget", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_fund_budget_current",
            sqlite_where=sa.text("superseded_by IS NULL"),
            postgresql_where=sa.text("superseded_by IS NULL"),
        )

    op.drop_table("fund_budget")
    op.drop_table("fund_allocation_run")
