"""Intelligence from people: experiences of care shared by the public and staff, and concerns
(whistleblowing) raised about a named organisation; their triage; what they add to monitoring.

Anyone may submit, signed in or not (the public has no account), through the API or the web form,
within the rate limit (:class:`~carelens.services.throttle.SubmissionGuard`). Submissions are never
published: only the roles that handle them see them, each within its reach of confidential data
(:data:`HANDLERS`: analysts and administrators everything, a chief inspector its sector, an inspector
its assigned organisations). Every other role, providers and the public among them, is answered
NotFound (404), as if there were none. An analyst triages a concern: ``new`` to ``validated`` or
``not_validated`` with a reason, and a validated one ``closed`` when it no longer stands; each step is
audited. A validated concern raised by staff counts as elevated risk in every monitoring run while it
stands (:func:`validated_staff_concerns`). Counts of experiences by sentiment are the indicator
``experience_negative_share`` (``config/indicators/experiences.yaml``): negative experiences over all
experiences, per organisation and month (:func:`experience_indicator`), stored as observations when a
monitoring run starts (:func:`store_experience_observations`) and compared like any other indicator, but
confidential: seen only by the roles that handle submissions (:mod:`carelens.services.confidential`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from carelens.model.access import Actor, Role
from carelens.services import Forbidden, Invalid, NotFound
from carelens.services._db import Db, Page, page_query, plain, reading, writing
from carelens.services.reach import Reach, covers_any, reach
from carelens.services.throttle import SubmissionGuard
from carelens.store import schema
from carelens.store.repository import audit
from carelens.store.schema_intel import intel_submission

KINDS = ("experience", "concern")
SUBMITTERS = ("public", "staff")
"""Who is sharing: a member of the public (a patient, a relative), or the organisation's staff (a staff
concern is whistleblowing)."""
SENTIMENTS = ("positive", "neutral", "negative")
TRIAGE = {"new": ("validated", "not_validated"), "validated": ("closed",)}
"""The triage of a concern: from each status, the statuses it may move to."""
HANDLERS = (Role.ANALYST, Role.INSPECTOR, Role.CHIEF_INSPECTOR, Role.ADMIN)
"""The roles that handle submissions (each within its reach of confidential data)."""
TRIAGERS = (Role.ANALYST, Role.ADMIN)
"""The roles that triage concerns."""
MAX_TEXT = 5000
EXPERIENCE_INDICATOR = "experience_negative_share"
"""The indicator counts of experiences by sentiment make (``config/indicators/experiences.yaml``)."""
ANONYMOUS_NAME = "anonymous"
"""Who a submission by someone not signed in is recorded as."""

COLUMNS = [
    "id",
    "kind",
    "org_code",
    "submitter",
    "sentiment",
    "text",
    "received_at",
    "submitted_by",
    "status",
    "triaged_by",
    "triaged_at",
    "triage_reason",
]


def may_handle(actor: Actor) -> bool:
    """Whether ``actor`` sees submissions at all (a handling role that reaches some organisation)."""
    return actor.role in HANDLERS and covers_any(actor, actor.rules.confidential_data)


def triage_moves(actor: Actor, row: dict[str, Any]) -> tuple[str, ...]:
    """The statuses ``actor`` may move a submission it handles (a row of :func:`submissions`) to now,
    for the pages to offer only those: a concern's next steps (:data:`TRIAGE`) to a role that triages;
    nothing otherwise. :func:`triage` still checks everything when taken."""
    if actor.role not in TRIAGERS or row["kind"] != "concern":
        return ()
    return TRIAGE.get(row["status"], ())


def _within(connection: sa.Connection, actor: Actor) -> Reach:
    """The organisations whose submissions ``actor`` sees; NotFound for a role that sees none."""
    if not may_handle(actor):
        raise NotFound("not found")
    return reach(connection, actor, actor.rules.confidential_data)


def _checked(kind: str, org_code: str, text: str, submitter: str, sentiment: str | None) -> str:
    """The text of a submission, each field checked (Invalid saying which)."""
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}")
    if submitter not in SUBMITTERS:
        raise Invalid(f"submitter must be one of {', '.join(SUBMITTERS)}")
    if kind == "experience" and sentiment not in SENTIMENTS:
        raise Invalid(f"an experience's sentiment must be one of {', '.join(SENTIMENTS)}")
    if kind == "concern" and sentiment is not None:
        raise Invalid("a concern has no sentiment: share an experience for that")
    cleaned = (text or "").strip()
    if not cleaned or len(cleaned) > MAX_TEXT:
        raise Invalid(f"say what happened in 1 to {MAX_TEXT:,} characters")
    if not org_code or not org_code.strip():
        raise Invalid("name the organisation (its code)")
    return cleaned


def submit(
    db: Db,
    actor: Actor,
    kind: str,
    org_code: str,
    text: str,
    submitter: str = "public",
    sentiment: str | None = None,
    *,
    address: str | None = None,
    guard: SubmissionGuard | None = None,
) -> dict[str, Any]:
    """Share an experience or raise a concern about ``org_code``; what the sender is told (its reference
    and status, never anyone else's submissions). Anyone may send one; a sender over the rate limit is
    refused (429) before anything is written. Audited as the signed-in user, or as 'anonymous' (the
    text is not copied into the audit log)."""
    cleaned = _checked(kind, org_code, text, submitter, sentiment)
    sender = actor.user_name if actor.signed_in else None
    if guard is not None:
        guard.check(sender, address)
    org = schema.organisation
    with writing(db) as connection:
        known = connection.execute(sa.select(org.c.code).where(org.c.code == org_code.strip())).first()
        if known is None:
            raise NotFound(f"organisation {org_code!r} not found")
        row = {
            "kind": kind,
            "org_code": org_code.strip(),
            "submitter": submitter,
            "sentiment": sentiment if kind == "experience" else None,
            "text": cleaned,
            "received_at": dt.datetime.now(dt.UTC),
            "submitted_by": sender or ANONYMOUS_NAME,
            "status": "new" if kind == "concern" else "recorded",
        }
        new_id = int(connection.execute(intel_submission.insert().values(**row)).inserted_primary_key[0])
        detail = {k: row[k] for k in ("kind", "org_code", "submitter", "sentiment", "status")}
        audit(connection, row["submitted_by"], f"intel.{kind}", "intel_submission", str(new_id), detail)
    if guard is not None:
        guard.sent(sender, address)
    return {"id": new_id, "kind": kind, "org_code": row["org_code"], "status": row["status"]}


def submissions(
    db: Db,
    actor: Actor,
    kind: str | None = None,
    org_code: str | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """Submissions the actor handles, newest first (NotFound for a role that handles none)."""
    s = intel_submission
    with reading(db) as connection:
        within = _within(connection, actor)
        query = sa.select(*(s.c[c] for c in COLUMNS)).where(within.clause(s.c.org_code))
        if kind is not None:
            query = query.where(s.c.kind == kind)
        if org_code is not None:
            query = query.where(s.c.org_code == org_code)
        if status is not None:
            query = query.where(s.c.status == status)
        return page_query(
            connection, query, [s.c.received_at.desc(), s.c.id.desc()], page, page_size, COLUMNS
        )


def _one(connection: sa.Connection, actor: Actor, submission_id: int) -> dict[str, Any]:
    within = _within(connection, actor)
    s = intel_submission
    row = (
        connection.execute(
            sa.select(*(s.c[c] for c in COLUMNS)).where(s.c.id == submission_id, within.clause(s.c.org_code))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"submission {submission_id} not found")
    return plain(row)


def submission(db: Db, actor: Actor, submission_id: int) -> dict[str, Any]:
    """One submission, if the actor handles it (else NotFound)."""
    with reading(db) as connection:
        return _one(connection, actor, submission_id)


def triage(db: Db, actor: Actor, submission_id: int, status: str, reason: str) -> dict[str, Any]:
    """Move a concern on in its triage (:data:`TRIAGE`) with a reason: by an analyst (or an
    administrator); audited with what it was before and after."""
    cleaned = (reason or "").strip()
    with writing(db) as connection:
        before = _one(connection, actor, submission_id)
        if actor.role not in TRIAGERS:
            raise Forbidden("concerns are triaged by an analyst")
        if before["kind"] != "concern":
            raise Invalid(f"submission {submission_id} is an experience: only concerns are triaged")
        allowed = TRIAGE.get(before["status"], ())
        if status not in allowed:
            moves = ", ".join(allowed) or "nothing: its triage is over"
            raise Invalid(f"a concern that is {before['status']} may become {moves}, not {status!r}")
        if not cleaned or len(cleaned) > MAX_TEXT:
            raise Invalid(f"give the reason in 1 to {MAX_TEXT:,} characters")
        change = {"status": status, "triaged_by": actor.user_name, "triaged_at": dt.datetime.now(dt.UTC)}
        change["triage_reason"] = cleaned
        connection.execute(
            intel_submission.update().where(intel_submission.c.id == submission_id).values(**change)
        )
        keys = ("status", "triaged_by", "triage_reason")
        audit(
            connection,
            actor.user_name,
            "intel.triaged",
            "intel_submission",
            str(submission_id),
            {"before": {k: before[k] for k in keys}, "after": {k: change[k] for k in keys}},
        )
        return _one(connection, actor, submission_id)


def validated_staff_concerns(db: Db) -> list[str]:
    """Organisations with a validated concern raised by their staff that still stands (not closed): what
    monitoring scores as elevated risk. An input to a run, not a view: it shows no submission."""
    s = intel_submission
    query = (
        sa.select(s.c.org_code)
        .distinct()
        .where(s.c.kind == "concern", s.c.submitter == "staff", s.c.status == "validated")
        .order_by(s.c.org_code)
    )
    with reading(db) as connection:
        return list(connection.execute(query).scalars())


def _experience_counts(connection: sa.Connection, where: sa.ColumnElement[bool]) -> list[dict[str, Any]]:
    """The experience indicator per organisation and month (first day) of the experiences ``where``
    selects, oldest organisation-month first: the counts by sentiment, and the share negative (numerator
    negative, denominator all, as the indicator's definition says)."""
    s = intel_submission
    query = sa.select(s.c.org_code, s.c.received_at, s.c.sentiment).where(s.c.kind == "experience", where)
    counts: dict[tuple[str, dt.date], dict[str, int]] = {}
    for code, received, sentiment in connection.execute(query):
        month = dt.date(received.year, received.month, 1)
        counts.setdefault((code, month), dict.fromkeys(SENTIMENTS, 0))[sentiment] += 1
    out = []
    for (code, month), by_sentiment in sorted(counts.items()):
        total = sum(by_sentiment.values())
        out.append(
            {
                "indicator_id": EXPERIENCE_INDICATOR,
                "org_code": code,
                "period": month,
                **by_sentiment,
                "numerator": by_sentiment["negative"],
                "denominator": total,
                "value": by_sentiment["negative"] / total,
            }
        )
    return out


def experience_indicator(db: Db, actor: Actor, org_code: str | None = None) -> list[dict[str, Any]]:
    """The experience indicator per organisation and month (first day) the actor handles, as the
    monitoring pass stores it (:func:`store_experience_observations`), with the counts by sentiment.
    NotFound for a role that handles no submissions."""
    s = intel_submission
    with reading(db) as connection:
        within = _within(connection, actor)
        where = within.clause(s.c.org_code)
        if org_code is not None:
            where = sa.and_(where, s.c.org_code == org_code)
        rows = _experience_counts(connection, where)
    return [row | {"period": row["period"].isoformat()} for row in rows]


EXPERIENCE_SOURCE = "intel-experiences"
"""The import source the experience indicator's observations are recorded under."""


def store_experience_observations(db: sa.Engine, user: str) -> Any:
    """Write the experience indicator of every organisation and month as observations (the normal way:
    an import of its own, recorded and audited as ``user``'s, superseding a month whose counts have
    changed since the last time and keeping the old row as history). The monitoring pass calls it as
    it starts (:func:`carelens.services.monitoring.run_pass`), so each run compares the experiences
    shared until then. The import's result, or None when no experience has been shared. An input to a
    run, not a view: it shows nothing to anyone; who sees the figures is the indicator's
    ``confidential`` rule (:mod:`carelens.services.confidential`)."""
    import pandas as pd

    from carelens.ingest.service import load_derived

    with reading(db) as connection:
        rows = _experience_counts(connection, sa.true())
    frame = pd.DataFrame(
        [
            {
                "indicator_id": r["indicator_id"],
                "org_code": r["org_code"],
                "period": r["period"],
                "numerator": float(r["numerator"]),
                "denominator": float(r["denominator"]),
                "expected": None,
                "value": r["value"],
            }
            for r in rows
        ]
    )
    label = f"experiences shared until {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    return load_derived(db, EXPERIENCE_SOURCE, label, frame, user)
