"""Intelligence from people: experiences of care and concerns (whistleblowing) about an organisation.

One row per submission, never shown publicly. A concern is triaged by an analyst (``new`` to
``validated`` or ``not_validated``, a validated one later ``closed``), each step with its reason and who
took it; an experience is not triaged. Migration: ``migrations/versions/intel_0001_people.py`` (branch
``intel``).
"""

from __future__ import annotations

import sqlalchemy as sa

from carelens.store.schema import metadata

intel_submission = sa.Table(
    "intel_submission",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False, comment="'experience' or 'concern'"),
    sa.Column("org_code", sa.String(40), sa.ForeignKey("organisation.code"), nullable=False),
    sa.Column("submitter", sa.String(20), nullable=False, comment="'public' or 'staff' (whistleblowing)"),
    sa.Column(
        "sentiment", sa.String(20), nullable=True, comment="an experience's: positive, neutral, negative"
    ),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("submitted_by", sa.String(100), nullable=False, comment="user name, or 'anonymous'"),
    sa.Column("status", sa.String(20), nullable=False, comment="new, validated, not_validated, closed"),
    sa.Column("triaged_by", sa.String(100), nullable=True),
    sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("triage_reason", sa.Text, nullable=True),
    sa.Index("ix_intel_submission_org", "org_code", "kind"),
    sa.Index("ix_intel_submission_status", "kind", "status"),
)
