"""Local system reviews and accountable care organisation settlements (issue 9;
docs/methods/local-system-reviews.md).

Declared on the shared :data:`carelens.store.schema.metadata`; created by the ``systems`` migration
branch. A review programme starts with a *direction* (who directed it, under what power, its scope, date
and budget); the places ranked for it are its *selection*; each selected place gets a *review* with
*findings* by pathway stage (there is deliberately no rating column: system reviews are not rated) and an
*action plan* whose actions have owners and deadlines. ACO settlements are versioned: settling a year
again adds a row and the old row's ``superseded_by`` names it.
"""

from __future__ import annotations

import sqlalchemy as sa

from carelens.store.schema import Code, Number, RowId, metadata

systems_direction = sa.Table(
    "systems_direction",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("reference", sa.String(60), nullable=False, unique=True, comment="e.g. 'LSR-2017'"),
    sa.Column("directed_by", sa.String(300), nullable=False, comment="e.g. the Secretaries of State"),
    sa.Column("power", sa.String(300), nullable=False, comment="e.g. s48 Health and Social Care Act 2008"),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("directed_on", sa.Date, nullable=False),
    sa.Column("budget_gbp", Number, nullable=False),
    sa.Column("cost_per_review_gbp", Number, nullable=False),
    sa.Column("fixed_cost_gbp", Number, nullable=False, comment="programme cost not per review"),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

systems_selection = sa.Table(
    "systems_selection",
    metadata,
    sa.Column("direction_id", RowId, sa.ForeignKey("systems_direction.id"), primary_key=True),
    sa.Column("place_code", Code, sa.ForeignKey("organisation.code"), primary_key=True),
    sa.Column("period", sa.Date, nullable=False, comment="period of the indicators scored"),
    sa.Column(
        "rank",
        sa.Integer,
        nullable=True,
        comment="1 = highest selection score; null: not assessed (no score)",
    ),
    sa.Column("score", Number, nullable=True, comment="null when no indicator could be scored"),
    sa.Column("indicators_scored", sa.Integer, nullable=False),
    sa.Column("selected", sa.Boolean, nullable=False, comment="within the number of reviews the budget buys"),
    sa.Column("detail", sa.JSON, nullable=False, comment="adverse z-score per indicator"),
)

systems_review = sa.Table(
    "systems_review",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("direction_id", RowId, sa.ForeignKey("systems_direction.id"), nullable=False),
    sa.Column("place_code", Code, sa.ForeignKey("organisation.code"), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, comment="'planned' or 'reported'"),
    sa.Column("board", sa.String(300), nullable=True, comment="health and wellbeing board reported to"),
    sa.Column("reported_on", sa.Date, nullable=True),
    sa.Column("summit_on", sa.Date, nullable=True, comment="local summit after the report"),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("direction_id", "place_code"),
)

systems_finding = sa.Table(
    "systems_finding",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("review_id", RowId, sa.ForeignKey("systems_review.id"), nullable=False),
    sa.Column("stage", sa.String(60), nullable=False, comment="pathway stage (config programme.stages)"),
    sa.Column("finding", sa.Text, nullable=False),
    sa.Index("ix_systems_finding_review", "review_id"),
)

systems_action = sa.Table(
    "systems_action",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("review_id", RowId, sa.ForeignKey("systems_review.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False, comment="action number within the review's plan"),
    sa.Column("stage", sa.String(60), nullable=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("owner", sa.String(300), nullable=False),
    sa.Column("deadline", sa.Date, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, comment="'open' or 'done'"),
    sa.Column("completed_on", sa.Date, nullable=True),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("review_id", "number"),
)

systems_aco_settlement = sa.Table(
    "systems_aco_settlement",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("aco_code", Code, sa.ForeignKey("organisation.code"), nullable=False),
    sa.Column("year", sa.Integer, nullable=False, comment="first year of the financial year"),
    sa.Column("population", Number, nullable=False, comment="attributed population"),
    sa.Column(
        "benchmark_gbp", Number, nullable=False, comment="risk-adjusted per-capita benchmark x population"
    ),
    sa.Column("expenditure_gbp", Number, nullable=False),
    sa.Column("pooled_budget_gbp", Number, nullable=True, comment="pooled budget lines recorded for the ACO"),
    sa.Column("savings_gbp", Number, nullable=False, comment="benchmark - expenditure (negative = loss)"),
    sa.Column("savings_rate", Number, nullable=False),
    sa.Column("minimum_rate", Number, nullable=True, comment="MSR (or minimum loss rate) applied"),
    sa.Column("quality_passed", sa.Boolean, nullable=False),
    sa.Column("outcome", sa.String(80), nullable=False),
    sa.Column("payment_gbp", Number, nullable=False, comment="+ paid to the ACO, - repaid by it"),
    sa.Column("detail", sa.JSON, nullable=False, comment="inputs, quality gate, HHI, members"),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("superseded_by", RowId, sa.ForeignKey("systems_aco_settlement.id"), nullable=True),
    sa.Index(
        "uq_systems_aco_settlement_current",
        "aco_code",
        "year",
        unique=True,
        sqlite_where=sa.text("superseded_by IS NULL"),
        postgresql_where=sa.text("superseded_by IS NULL"),
    ),
)
