"""Inspection planning and the failure regime (``carelens.plan``): saved schedules, the inspections in
them (with the confidential window of unannounced visits, their status, findings and evidence), the
inspectors assigned, and failure-regime cases with every transition (who, when, why) and their recovery
actions (what, whose, by when, and when done).

Declared on the shared :data:`carelens.store.schema.metadata`; created by the ``plan`` migration branch.
Inspector ids are plain codes (the inspectorate is read from files). Unannounced windows are read only
through the access-checked functions of :mod:`carelens.plan.service`.
"""

from __future__ import annotations

import sqlalchemy as sa

from carelens.store.schema import Code, Number, RowId, metadata

plan_schedule = sa.Table(
    "plan_schedule",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("as_of", sa.Date, nullable=False, comment="planning date; week 0 starts on its Monday"),
    sa.Column("weeks", sa.Integer, nullable=False),
    sa.Column("method", sa.String(20), nullable=False, comment="'milp' or 'greedy'"),
    sa.Column("summary", sa.JSON, nullable=False, comment="objective, bound, gap, counts, settings digest"),
    sa.Column("status", sa.String(20), nullable=False, comment="'draft' or 'approved'"),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("approved_by", sa.String(100), nullable=True),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
)

plan_inspection = sa.Table(
    "plan_inspection",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("schedule_id", RowId, sa.ForeignKey("plan_schedule.id"), nullable=False),
    sa.Column("org_code", Code, nullable=False),
    sa.Column("sector", sa.String(30), nullable=False),
    sa.Column("region", sa.String(40), nullable=True),
    sa.Column("inspection_type", sa.String(40), nullable=False),
    sa.Column("unannounced", sa.Boolean, nullable=False),
    sa.Column("start_date", sa.Date, nullable=True, comment="null = could not be scheduled"),
    sa.Column("end_date", sa.Date, nullable=True),
    sa.Column("window_start", sa.Date, nullable=True, comment="confidential window (unannounced)"),
    sa.Column("window_end", sa.Date, nullable=True),
    sa.Column("team_size", sa.Integer, nullable=False),
    sa.Column("days", sa.Integer, nullable=False),
    sa.Column("risk", Number, nullable=False),
    sa.Column("due_date", sa.Date, nullable=True),
    sa.Column("deadline", sa.Date, nullable=True, comment="statutory latest date"),
    sa.Column("reasons", sa.String(400), nullable=False, comment="why it is due"),
    sa.Column("unscheduled_reason", sa.String(400), nullable=True),
    sa.Column(
        "status",
        sa.String(20),
        nullable=False,
        comment="planned, in_progress, completed, cancelled or unscheduled",
    ),
    sa.Column("findings", sa.Text, nullable=True),
    sa.Column("evidence", sa.JSON, nullable=True),
    sa.Column("proposed_ratings", sa.JSON, nullable=True),
    sa.Column("updated_by", sa.String(100), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_plan_inspection_org", "org_code", "schedule_id"),
)

plan_assignment = sa.Table(
    "plan_assignment",
    metadata,
    sa.Column("inspection_id", RowId, sa.ForeignKey("plan_inspection.id"), primary_key=True),
    sa.Column("inspector_id", sa.String(40), primary_key=True),
    sa.Column("lead", sa.Boolean, nullable=False),
    sa.Index("ix_plan_assignment_inspector", "inspector_id"),
)

plan_regime_case = sa.Table(
    "plan_regime_case",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("regime", sa.String(30), nullable=False, comment="'provider', 'nhs_trust' or 'commissioner'"),
    sa.Column("org_code", Code, nullable=False),
    sa.Column("state", sa.String(40), nullable=False),
    sa.Column("deadline", sa.Date, nullable=True, comment="date the next action is due"),
    sa.Column("deadline_action", sa.String(200), nullable=True),
    sa.Column("closed", sa.Boolean, nullable=False),
    sa.Column("fund_intervention_id", RowId, nullable=True, comment="the carelens.fund decision adopted"),
    sa.Column("opened_by", sa.String(100), nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_plan_regime_case_org", "org_code", "regime"),
    sa.UniqueConstraint("fund_intervention_id"),
)

plan_regime_transition = sa.Table(
    "plan_regime_transition",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("case_id", RowId, sa.ForeignKey("plan_regime_case.id"), nullable=False),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("from_state", sa.String(40), nullable=False),
    sa.Column("to_state", sa.String(40), nullable=False),
    sa.Column("effective_date", sa.Date, nullable=False, comment="when it took effect"),
    sa.Column("deadline", sa.Date, nullable=True),
    sa.Column("reason", sa.Text, nullable=False, comment="why"),
    sa.Column("user_name", sa.String(100), nullable=False, comment="who"),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_plan_regime_transition_case", "case_id"),
)

plan_recovery_action = sa.Table(
    "plan_recovery_action",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("case_id", RowId, sa.ForeignKey("plan_regime_case.id"), nullable=False),
    sa.Column("action", sa.Text, nullable=False, comment="what must be done"),
    sa.Column("owner", sa.String(200), nullable=False, comment="who must do it"),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("status", sa.String(10), nullable=False, comment="'open' or 'done'"),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("done_on", sa.Date, nullable=True),
    sa.Column("done_by", sa.String(100), nullable=True),
    sa.Column("note", sa.Text, nullable=True, comment="the evidence it was done"),
    sa.Index("ix_plan_recovery_action_case", "case_id"),
)

# --- an inspection's life after the visit (migration plan_0003) -----------------------------------

plan_finding = sa.Table(
    "plan_finding",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("inspection_id", RowId, sa.ForeignKey("plan_inspection.id"), nullable=False),
    sa.Column("key_question", sa.String(20), nullable=False),
    sa.Column("rating", sa.String(40), nullable=False, comment="the team's judgement of the key question"),
    sa.Column("finding", sa.Text, nullable=False, comment="what the team found"),
    sa.Column("evidence", sa.JSON, nullable=False, comment="list of evidence items"),
    sa.Column("recorded_by", sa.String(100), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("supersedes_id", RowId, sa.ForeignKey("plan_finding.id"), nullable=True),
    sa.Index("ix_plan_finding_inspection", "inspection_id", "key_question"),
)
"""Findings per key question, append-only: a correction is a new row naming the one it replaces."""

plan_report = sa.Table(
    "plan_report",
    metadata,
    sa.Column("inspection_id", RowId, sa.ForeignKey("plan_inspection.id"), primary_key=True),
    sa.Column(
        "stage",
        sa.String(20),
        nullable=False,
        comment="open, proposed, approved, sent or published",
    ),
    sa.Column("summary", sa.Text, nullable=True, comment="the report's summary, from the proposal"),
    sa.Column("proposed_by", sa.String(100), nullable=True),
    sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("approved_by", sa.String(100), nullable=True),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("sent_by", sa.String(100), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("challenge_until", sa.Date, nullable=True, comment="last day of the accuracy window"),
    sa.Column("published_by", sa.String(100), nullable=True),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("effective_date", sa.Date, nullable=True, comment="date the ratings take effect"),
)
"""The report of an inspection and where it stands; each move is in the audit log."""

plan_accuracy_challenge = sa.Table(
    "plan_accuracy_challenge",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("inspection_id", RowId, sa.ForeignKey("plan_inspection.id"), nullable=False),
    sa.Column("key_question", sa.String(20), nullable=True, comment="the finding challenged, if one"),
    sa.Column("text", sa.Text, nullable=False, comment="what the provider says is inaccurate"),
    sa.Column("raised_by", sa.String(100), nullable=False),
    sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decision", sa.String(20), nullable=True, comment="accepted or rejected; null: undecided"),
    sa.Column("reasons", sa.Text, nullable=True),
    sa.Column("decided_by", sa.String(100), nullable=True),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_plan_accuracy_challenge_inspection", "inspection_id"),
)
"""A provider's factual-accuracy challenges to a draft report, each decided with reasons."""
