"""Funding tables: saved allocation runs, delegated and pooled budgets, commissioner assessments and
interventions.

Declared on the shared :data:`carelens.store.schema.metadata`; created by the ``fund`` migration branch.
Commissioner codes are plain codes (not foreign keys): an allocation can be computed from files for
commissioners not (yet) in the store. Budgets are versioned like other facts: a change is a new row and
the old row's ``superseded_by`` names it, so the current budget of a key is the row where it is null.
"""

from __future__ import annotations

import sqlalchemy as sa

from carelens.store.schema import Code, Number, RowId, metadata

fund_allocation_run = sa.Table(
    "fund_allocation_run",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column(
        "year", sa.Integer, nullable=False, comment="first year of the financial year (2024 = 2024/25)"
    ),
    sa.Column("scenario_name", sa.String(100), nullable=False),
    sa.Column("scenario_version", sa.Integer, nullable=False),
    sa.Column("scenario_sha256", sa.String(64), nullable=False, comment="hex SHA-256 of the scenario file"),
    sa.Column("scenario", sa.JSON, nullable=False, comment="the parsed scenario, for explanation"),
    sa.Column("inputs", sa.String(20), nullable=False, comment="'store' or 'files'"),
    sa.Column("quantum_gbp", Number, nullable=False),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

fund_allocation = sa.Table(
    "fund_allocation",
    metadata,
    sa.Column("run_id", RowId, sa.ForeignKey("fund_allocation_run.id"), primary_key=True),
    sa.Column("commissioner_code", Code, primary_key=True),
    sa.Column("population", Number, nullable=False),
    sa.Column("wp_core", Number, nullable=False),
    sa.Column("wp_primary_medical_care", Number, nullable=False),
    sa.Column("need_index_core", Number, nullable=False),
    sa.Column("market_forces_factor", Number, nullable=False),
    sa.Column("target_share", Number, nullable=False),
    sa.Column("target_gbp", Number, nullable=False),
    sa.Column("baseline_gbp", Number, nullable=True),
    sa.Column("allocation_gbp", Number, nullable=False),
    sa.Column("distance_from_target", Number, nullable=False),
)

fund_budget = sa.Table(
    "fund_budget",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("commissioner_code", Code, nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False, comment="'delegated' or 'pooled'"),
    sa.Column(
        "counterparty", sa.String(200), nullable=False, comment="delegating body, or partner local authority"
    ),
    sa.Column("name", sa.String(200), nullable=False, comment="the budget, e.g. 'primary medical care'"),
    sa.Column("amount_gbp", Number, nullable=False, comment="whole budget"),
    sa.Column("contribution_gbp", Number, nullable=True, comment="pooled: the commissioner's own share"),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("superseded_by", RowId, sa.ForeignKey("fund_budget.id"), nullable=True),
    sa.Index(
        "uq_fund_budget_current",
        "commissioner_code",
        "year",
        "kind",
        "counterparty",
        "name",
        unique=True,
        sqlite_where=sa.text("superseded_by IS NULL"),
        postgresql_where=sa.text("superseded_by IS NULL"),
    ),
)

fund_intervention = sa.Table(
    "fund_intervention",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("commissioner_code", Code, nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("decision", sa.String(60), nullable=False, comment="e.g. 'directions', 'legal undertakings'"),
    sa.Column("reasons", sa.JSON, nullable=False, comment="list of reasons, in plain English"),
    sa.Column("assessment", sa.JSON, nullable=True, comment="the assessment the decision rests on"),
    sa.Column("status", sa.String(20), nullable=False, comment="'open' until the failure regime takes over"),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_fund_intervention_commissioner", "commissioner_code", "year"),
)

fund_commissioner_assessment = sa.Table(
    "fund_commissioner_assessment",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("commissioner_code", Code, nullable=False),
    sa.Column("year", sa.Integer, nullable=False, comment="first year of the financial year assessed"),
    sa.Column("overall", sa.String(40), nullable=False, comment="e.g. 'inadequate', 'not assessed'"),
    sa.Column("outcomes", sa.String(40), nullable=True),
    sa.Column("finance", sa.String(40), nullable=True),
    sa.Column("reasons", sa.JSON, nullable=False, comment="list of reasons, in plain English"),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_fund_commissioner_assessment_code", "commissioner_code", "year"),
)
