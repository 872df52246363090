"""Ratings decided in carelens (``carelens.assess``): append-only history with departures from the rules.

The core ``rating`` table holds ratings *read* from the regulator's publications (one row per import).
``assessed_rating`` holds ratings *decided* here: the rules' default (``rule_rating``), the rating given,
and for a departure from the rules the rationale; who proposed it, who approved it (a published rating
names an approver other than its proposer), who recorded it and when. Rows are
never updated or deleted: a new rating for the same organisation, level, service and key question is a
new row (``supersedes_id`` names the row it replaces), and "the rating of X at date D" is the row with
the latest ``effective_date`` on or before D. A draft (``published`` false) never replaces a published
row for anyone: "current" is the published row with the latest effective date. Every row is written with an audit event in the same
transaction (``carelens.assess.history``).
Migrations: ``migrations/versions/assess_0001_assessed_ratings.py``, ``assess_0002_rating_approval.py``
(branch ``assess``).
"""

from __future__ import annotations

import sqlalchemy as sa

from carelens.store.schema import Code, RowId, metadata

assessed_rating = sa.Table(
    "assessed_rating",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("org_code", Code, sa.ForeignKey("organisation.code"), nullable=False),
    sa.Column("level", sa.String(20), nullable=False, comment="'service', 'location' or 'provider'"),
    sa.Column("service", sa.String(60), nullable=False, comment="'Overall' or a core-service id"),
    sa.Column(
        "key_question",
        sa.String(20),
        nullable=False,
        comment="'Overall', a key question or 'Use of resources'",
    ),
    sa.Column("rating", sa.String(40), nullable=False, comment="the rating given"),
    sa.Column(
        "rule_rating", sa.String(40), nullable=True, comment="the rules' default; null = no rule applies"
    ),
    sa.Column(
        "method",
        sa.String(60),
        nullable=False,
        comment="e.g. 'rules:adult-social-care', 'saf:quality-statements'",
    ),
    sa.Column(
        "effective_date", sa.Date, nullable=False, comment="date the rating takes effect (report date)"
    ),
    sa.Column("departure", sa.Boolean, nullable=False, comment="rating differs from rule_rating"),
    sa.Column("rationale", sa.Text, nullable=True, comment="why the rating departs from the rules"),
    sa.Column("approved_by", sa.String(100), nullable=True, comment="who approved it (published ratings)"),
    sa.Column("proposed_by", sa.String(100), nullable=True, comment="who proposed it (null: recorded_by)"),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("published", sa.Boolean, nullable=False),
    sa.Column("recorded_by", sa.String(100), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column(
        "supersedes_id",
        RowId,
        sa.ForeignKey("assessed_rating.id"),
        nullable=True,
        comment="the row it replaces",
    ),
    sa.Column("detail", sa.JSON, nullable=True, comment="explanation, counts and rules version"),
    sa.CheckConstraint(
        "NOT departure OR rationale IS NOT NULL",
        name="departure_needs_rationale",
    ),
    sa.CheckConstraint(
        "NOT (departure AND published) OR approved_by IS NOT NULL",
        name="published_departure_needs_approver",
    ),
    sa.Index("ix_assessed_rating_key", "org_code", "level", "service", "key_question", "effective_date"),
)
