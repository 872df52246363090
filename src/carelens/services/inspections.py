"""An inspection's life after it is planned, each step a role-checked, audited change (docs/inspections.md):

plan approved (a chief inspector, not its author) -> inspection started (its team) -> findings per key
question (its team) -> ratings proposed, the overall computed by carelens's rules from the findings, a
departure only with a rationale (its team) -> approved (a chief inspector of the sector, not the
proposer) -> draft report sent to the provider (its team or the chief inspector) -> factual-accuracy
challenges (the provider, within ``inspections.accuracy_challenge_days`` of planning.yaml), each
accepted or rejected with reasons (an accepted one reopens the findings) -> published (a chief inspector
of the sector): the ratings and the report become public at once.

Until publication the inspection is as secret as its plan: 404 for anyone the ``inspection_plans`` rule
does not reach, except that the provider sees the draft report once it is sent. The ratings stay drafts
(``assessed_rating.published`` false) until publication appends the published rows, each naming its
proposer and its approver.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from carelens.model.access import Actor, Role
from carelens.services import Forbidden, Invalid, NotFound
from carelens.services._db import Db, author, plain, reading, writing
from carelens.services.approvals import require_second_person
from carelens.services.assessment import may_approve_ratings
from carelens.services.reach import inspections as inspections_clause
from carelens.services.reach import reach
from carelens.store import repository
from carelens.store.schema_assess import assessed_rating
from carelens.store.schema_plan import (
    plan_accuracy_challenge,
    plan_assignment,
    plan_finding,
    plan_inspection,
    plan_report,
    plan_schedule,
)

KEY_QUESTIONS = ("Safe", "Effective", "Caring", "Responsive", "Well-led")
STAGES = ("open", "proposed", "approved", "sent", "published")
"""Where an inspection's report stands (``plan_report.stage``)."""
DECISIONS = ("accepted", "rejected")
REPORT_TABLE_COLUMNS = {
    "ratings": list(assessed_rating.columns.keys()),
    "findings": list(plan_finding.columns.keys()),
    "challenges": list(plan_accuracy_challenge.columns.keys()),
}
"""Columns of a report's ratings, findings and challenges (:func:`report`), even when there are none."""


def rating_scale() -> tuple[str, ...]:
    """The ratings a finding or an overall rating may give, best first (``assess.scale.RATINGS``)."""
    from carelens.assess.scale import RATINGS

    return tuple(RATINGS)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    """A stored time as UTC (SQLite gives it back without its zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _today() -> dt.date:
    return dt.date.today()


def _inspection(connection: sa.Connection, actor: Actor, inspection_id: int) -> dict[str, Any]:
    """The inspection if the actor's ``inspection_plans`` rule reaches it; NotFound otherwise."""
    clause = inspections_clause(actor, actor.rules.inspection_plans)
    i = plan_inspection
    row = None
    if clause is not None:
        row = connection.execute(sa.select(i).where(i.c.id == inspection_id, clause)).mappings().first()
    if row is None:
        raise NotFound(f"no inspection {inspection_id}")
    return dict(row)


def _report(connection: sa.Connection, inspection_id: int) -> dict[str, Any] | None:
    r = plan_report
    row = connection.execute(sa.select(r).where(r.c.inspection_id == inspection_id)).mappings().first()
    return dict(row) if row else None


def _on_team(connection: sa.Connection, actor: Actor, inspection_id: int) -> bool:
    if actor.role is not Role.INSPECTOR or not actor.inspector_id:
        return False
    a = plan_assignment
    query = sa.select(a.c.inspector_id).where(
        a.c.inspection_id == inspection_id, a.c.inspector_id == actor.inspector_id
    )
    return connection.execute(query).first() is not None


def _team_only(connection: sa.Connection, actor: Actor, inspection: dict) -> None:
    if not _on_team(connection, actor, inspection["id"]):
        raise Forbidden("only the inspection's team does this")


def _team_or_chief(connection: sa.Connection, actor: Actor, inspection: dict) -> None:
    if not (
        _on_team(connection, actor, inspection["id"]) or may_approve_ratings(actor, inspection["sector"])
    ):
        raise Forbidden("only the inspection's team or a chief inspector of its sector does this")


def _chief(actor: Actor, inspection: dict) -> None:
    if not may_approve_ratings(actor, inspection["sector"]):
        raise Forbidden(f"only a chief inspector of the {inspection['sector']} sector does this")


def _stage(report: dict | None, *wanted: str) -> None:
    stage = report["stage"] if report else "not started"
    if stage not in wanted:
        raise Invalid(f"the inspection's report is {stage}; this needs it {' or '.join(wanted)}")


def _move(
    connection: sa.Connection, who: str, inspection_id: int, action: str, detail: dict, **values
) -> None:
    """Update the report row and audit the step in the same transaction."""
    if values:
        connection.execute(
            plan_report.update().where(plan_report.c.inspection_id == inspection_id).values(**values)
        )
    repository.audit(connection, who, action, "plan_inspection", str(inspection_id), detail)


def approve_plan(db: Db, actor: Actor, schedule_id: int) -> dict[str, Any]:
    """Approve a draft schedule: a chief inspector who did not make it."""
    from carelens.plan.service import approve_schedule

    who = author(actor)
    if actor.role is not Role.CHIEF_INSPECTOR:
        raise Forbidden("inspection plans are approved by a chief inspector")
    with writing(db) as connection:
        if (
            connection.execute(sa.select(plan_schedule.c.id).where(plan_schedule.c.id == schedule_id)).first()
            is None
        ):
            raise NotFound(f"no schedule {schedule_id}")
        approve_schedule(connection, schedule_id, who)
        row = (
            connection.execute(sa.select(plan_schedule).where(plan_schedule.c.id == schedule_id))
            .mappings()
            .one()
        )
    return plain(row)


def start(db: Db, actor: Actor, inspection_id: int) -> dict[str, Any]:
    """Start a planned inspection of an approved schedule (its team): it is in progress, still secret."""
    from carelens.plan.service import record_inspection

    who = author(actor)
    with writing(db) as connection:
        inspection = _inspection(connection, actor, inspection_id)
        _team_only(connection, actor, inspection)
        status = connection.execute(
            sa.select(plan_schedule.c.status).where(plan_schedule.c.id == inspection["schedule_id"])
        ).scalar_one()
        if status != "approved":
            raise Invalid("the inspection's plan has not been approved by a chief inspector")
        if inspection["status"] != "planned":
            raise Invalid(f"the inspection is {inspection['status']}, not planned")
        record_inspection(connection, inspection_id, who, status="in_progress")
        connection.execute(plan_report.insert().values(inspection_id=inspection_id, stage="open"))
    return report(db, actor, inspection_id)


def record_finding(
    db: Db,
    actor: Actor,
    inspection_id: int,
    key_question: str,
    rating: str,
    finding: str,
    evidence: list[str] | None = None,
) -> dict[str, Any]:
    """Record the team's finding and judgement on one key question (a correction replaces the previous
    finding on it, which is kept)."""
    from carelens.assess.scale import RATINGS

    who = author(actor)
    if key_question not in KEY_QUESTIONS:
        raise Invalid(f"key question must be one of {', '.join(KEY_QUESTIONS)}")
    if rating not in RATINGS:
        raise Invalid(f"rating must be one of {', '.join(RATINGS)}")
    if not finding.strip():
        raise Invalid("a finding needs its text")
    with writing(db) as connection:
        inspection = _inspection(connection, actor, inspection_id)
        _team_only(connection, actor, inspection)
        _stage(_report(connection, inspection_id), "open")
        previous = _findings(connection, inspection_id).get(key_question)
        new_id = connection.execute(
            plan_finding.insert().values(
                inspection_id=inspection_id,
                key_question=key_question,
                rating=rating,
                finding=finding.strip(),
                evidence=[e.strip() for e in evidence or [] if e.strip()],
                recorded_by=who,
                recorded_at=_now(),
                supersedes_id=previous["id"] if previous else None,
            )
        ).inserted_primary_key[0]
        repository.audit(
            connection,
            who,
            "inspection.finding",
            "plan_inspection",
            str(inspection_id),
            {"finding_id": int(new_id), "key_question": key_question, "rating": rating},
        )
    return report(db, actor, inspection_id)


def _findings(connection: sa.Connection, inspection_id: int) -> dict[str, dict[str, Any]]:
    """The latest finding per key question."""
    f = plan_finding
    rows = connection.execute(
        sa.select(f).where(f.c.inspection_id == inspection_id).order_by(f.c.id)
    ).mappings()
    return {row["key_question"]: dict(row) for row in rows}


def propose(
    db: Db,
    actor: Actor,
    inspection_id: int,
    overall: str | None = None,
    rationale: str | None = None,
    summary: str | None = None,
) -> dict[str, Any]:
    """Propose the ratings (its team): each key question as its finding judged it, the overall as
    carelens's rules give it from them, or another with a rationale (a departure). They are drafts."""
    from carelens.assess.history import record_rating
    from carelens.assess.rules import overall_from_key_questions

    who = author(actor)
    with writing(db) as connection:
        inspection = _inspection(connection, actor, inspection_id)
        _team_only(connection, actor, inspection)
        _stage(_report(connection, inspection_id), "open")
        findings = _findings(connection, inspection_id)
        missing = [q for q in KEY_QUESTIONS if q not in findings]
        if missing:
            raise Invalid(
                f"ratings are proposed once every key question has a finding; missing: {', '.join(missing)}"
            )
        ratings = {q: findings[q]["rating"] for q in KEY_QUESTIONS}
        rule, why = overall_from_key_questions(ratings, inspection["sector"])
        overall = overall or rule
        if overall != rule and not (rationale or "").strip():
            raise Invalid(f"the rules give {rule} overall ({why}); a different rating needs a rationale")
        on = _today()
        ids = []
        for question, rating in [*ratings.items(), ("Overall", overall)]:
            ids.append(
                record_rating(
                    connection,
                    org_code=inspection["org_code"],
                    key_question=question,
                    rating=rating,
                    rule_rating=rule if question == "Overall" else None,
                    method="inspection",
                    effective_date=on,
                    rationale=rationale if question == "Overall" else None,
                    user=who,
                    detail={
                        "inspection_id": inspection_id,
                        "explanation": why if question == "Overall" else None,
                    },
                )
            )
        _move(
            connection,
            who,
            inspection_id,
            "inspection.proposed",
            {"ratings": {**ratings, "Overall": overall}, "rule_overall": rule, "rating_ids": ids},
            stage="proposed",
            summary=(summary or "").strip() or None,
            proposed_by=who,
            proposed_at=_now(),
            approved_by=None,
            approved_at=None,
        )
    return report(db, actor, inspection_id)


def approve(db: Db, actor: Actor, inspection_id: int) -> dict[str, Any]:
    """Approve the proposed ratings and report: a chief inspector of the inspection's sector who did not
    propose them, checked as every approval is (:func:`carelens.services.approvals.require_second_person`:
    Forbidden, saying why)."""
    who = author(actor)
    with writing(db) as connection:
        inspection = _inspection(connection, actor, inspection_id)
        _chief(actor, inspection)
        current = _report(connection, inspection_id)
        _stage(current, "proposed")
        require_second_person(
            connection,
            actor,
            current["proposed_by"],
            roles=[Role.CHIEF_INSPECTOR],
            org_code=inspection["org_code"],
            what="an inspection's ratings",
        )
        _move(
            connection,
            who,
            inspection_id,
            "inspection.approved",
            {"proposed_by": current["proposed_by"]},
            stage="approved",
            approved_by=who,
            approved_at=_now(),
        )
    return report(db, actor, inspection_id)


def send_draft(db: Db, actor: Actor, inspection_id: int) -> dict[str, Any]:
    """Send the approved draft report to the provider, opening its factual-accuracy window."""
    from carelens.plan.config import load_settings

    who = author(actor)
    days = load_settings().accuracy_challenge_days
    with writing(db) as connection:
        inspection = _inspection(connection, actor, inspection_id)
        _team_or_chief(connection, actor, inspection)
        _stage(_report(connection, inspection_id), "approved")
        until = _today() + dt.timedelta(days=days)
        _move(
            connection,
            who,
            inspection_id,
            "inspection.draft_sent",
            {"challenge_until": until.isoformat()},
            stage="sent",
            sent_by=who,
            sent_at=_now(),
            challenge_until=until,
        )
    return report(db, actor, inspection_id)


def _provider_report(connection: sa.Connection, actor: Actor, inspection_id: int) -> tuple[dict, dict]:
    """(inspection, report) of a draft sent to one of the actor's own organisations; NotFound otherwise."""
    i = plan_inspection
    inspection = connection.execute(sa.select(i).where(i.c.id == inspection_id)).mappings().first()
    current = _report(connection, inspection_id) if inspection else None
    within = reach(connection, actor, actor.rules.confidential_data)
    if (
        actor.role is not Role.PROVIDER
        or current is None
        or current["stage"] not in ("sent", "published")
        or not within.includes(inspection["org_code"], inspection["sector"])
    ):
        raise NotFound(f"no inspection {inspection_id}")
    return dict(inspection), current


def challenge(
    db: Db, actor: Actor, inspection_id: int, text: str, key_question: str | None = None
) -> dict[str, Any]:
    """The provider challenges the draft report's factual accuracy, within the window."""
    who = author(actor)
    if not text.strip():
        raise Invalid("say what is inaccurate")
    if key_question is not None and key_question not in KEY_QUESTIONS:
        raise Invalid(f"key question must be one of {', '.join(KEY_QUESTIONS)}")
    with writing(db) as connection:
        _, current = _provider_report(connection, actor, inspection_id)
        _stage(current, "sent")
        if _today() > current["challenge_until"]:
            raise Invalid(f"the factual-accuracy window closed on {current['challenge_until']}")
        new_id = connection.execute(
            plan_accuracy_challenge.insert().values(
                inspection_id=inspection_id,
                key_question=key_question,
                text=text.strip(),
                raised_by=who,
                raised_at=_now(),
            )
        ).inserted_primary_key[0]
        repository.audit(
            connection,
            who,
            "inspection.challenged",
            "plan_inspection",
            str(inspection_id),
            {"challenge_id": int(new_id), "key_question": key_question},
        )
    return report(db, actor, inspection_id)


def decide_challenge(
    db: Db, actor: Actor, inspection_id: int, challenge_id: int, decision: str, reasons: str
) -> dict[str, Any]:
    """Accept or reject a challenge with reasons (the team or a chief inspector of the sector). An
    accepted challenge reopens the findings: they are corrected, proposed and approved again."""
    who = author(actor)
    if decision not in DECISIONS:
        raise Invalid("decision must be accepted or rejected")
    if not reasons.strip():
        raise Invalid("a decision on a challenge needs its reasons")
    c = plan_accuracy_challenge
    with writing(db) as connection:
        inspection = _inspection(connection, actor, inspection_id)
        _team_or_chief(connection, actor, inspection)
        _stage(_report(connection, inspection_id), "sent")
        found = (
            connection.execute(sa.select(c).where(c.c.id == challenge_id, c.c.inspection_id == inspection_id))
            .mappings()
            .first()
        )
        if found is None:
            raise NotFound(f"no challenge {challenge_id}")
        if found["decision"] is not None:
            raise Invalid(f"challenge {challenge_id} was already {found['decision']}")
        connection.execute(
            c.update()
            .where(c.c.id == challenge_id)
            .values(decision=decision, reasons=reasons.strip(), decided_by=who, decided_at=_now())
        )
        values = {"stage": "open"} if decision == "accepted" else {}
        _move(
            connection,
            who,
            inspection_id,
            f"inspection.challenge_{decision}",
            {"challenge_id": challenge_id, "reasons": reasons.strip()},
            **values,
        )
    return report(db, actor, inspection_id)


def publish(db: Db, actor: Actor, inspection_id: int) -> dict[str, Any]:
    """Publish (a chief inspector of the sector): once the accuracy window has closed, or earlier when
    every challenge raised on the draft as last sent is decided. The proposed ratings are published (each naming its proposer and
    approver) and the report and inspection become public in the same transaction."""
    from carelens.assess.history import pending_draft, record_rating

    who = author(actor)
    with writing(db) as connection:
        inspection = _inspection(connection, actor, inspection_id)
        _chief(actor, inspection)
        current = _report(connection, inspection_id)
        _stage(current, "sent")
        everything = _challenges(connection, inspection_id)
        if any(c["decision"] is None for c in everything):
            raise Invalid("a factual-accuracy challenge is still to be decided")
        raised = [c for c in everything if _aware(c["raised_at"]) >= _aware(current["sent_at"])]
        if any(c["decision"] is None for c in raised):
            raise Invalid("a factual-accuracy challenge is still to be decided")
        if not raised and _today() <= current["challenge_until"]:
            raise Invalid(f"the provider may challenge the draft until {current['challenge_until']}")
        on = _today()
        published = []
        for question in (*KEY_QUESTIONS, "Overall"):
            draft = pending_draft(connection, inspection["org_code"], "location", "Overall", question)
            if draft is None or (draft["detail"] or {}).get("inspection_id") != inspection_id:
                raise Invalid(
                    f"the proposed {question} rating of this inspection was replaced; propose again"
                )
            published.append(
                record_rating(
                    connection,
                    **{k: draft[k] for k in ("org_code", "level", "service", "key_question", "rating")},
                    **{k: draft[k] for k in ("rule_rating", "method", "rationale", "detail")},
                    effective_date=on,
                    user=who,
                    proposed_by=current["proposed_by"],
                    approved_by=current["approved_by"],
                    published=True,
                    supersedes_id=draft["id"],
                )
            )
        connection.execute(
            plan_inspection.update()
            .where(plan_inspection.c.id == inspection_id)
            .values(
                status="completed", end_date=inspection["end_date"] or on, updated_by=who, updated_at=_now()
            )
        )
        _move(
            connection,
            who,
            inspection_id,
            "inspection.published",
            {"rating_ids": published},
            stage="published",
            published_by=who,
            published_at=_now(),
            effective_date=on,
        )
    return report(db, actor, inspection_id)


def _challenges(connection: sa.Connection, inspection_id: int) -> list[dict[str, Any]]:
    c = plan_accuracy_challenge
    rows = connection.execute(sa.select(c).where(c.c.inspection_id == inspection_id).order_by(c.c.id))
    return [dict(r) for r in rows.mappings()]


def _ratings(connection: sa.Connection, inspection_id: int, published: bool) -> dict[str, dict[str, Any]]:
    """The inspection's ratings by key question: the latest proposed (drafts) or published rows."""
    from carelens.store.schema_assess import assessed_rating as t

    rows = connection.execute(
        sa.select(t).where(t.c.published.is_(published), t.c.method == "inspection").order_by(t.c.id)
    ).mappings()
    return {
        r["key_question"]: plain(r) for r in rows if (r["detail"] or {}).get("inspection_id") == inspection_id
    }


def report(db: Db, actor: Actor, inspection_id: int) -> dict[str, Any]:
    """An inspection's report as the actor may see it: everything to roles the plan reaches; the draft
    (findings, proposed ratings, its own challenges) to the provider once sent; the published report to
    anyone once published. NotFound (404, never 403) otherwise."""
    with reading(db) as connection:
        try:
            inspection = _inspection(connection, actor, inspection_id)
            current, view = _report(connection, inspection_id), "plan"
        except NotFound:
            i = plan_inspection
            found = connection.execute(sa.select(i).where(i.c.id == inspection_id)).mappings().first()
            current = _report(connection, inspection_id) if found else None
            if current is not None and current["stage"] == "published":
                inspection, view = dict(found), "public"
            else:
                inspection, current = _provider_report(connection, actor, inspection_id)
                view = "provider"
        stage = current["stage"] if current else "not started"
        published = stage == "published"
        findings = (
            _findings(connection, inspection_id) if (view == "plan" or stage in ("sent", "published")) else {}
        )
        ratings = _ratings(connection, inspection_id, published=published)
        challenges = _challenges(connection, inspection_id) if view != "public" else []
        out = {
            "id": inspection_id,
            "org_code": inspection["org_code"],
            "sector": inspection["sector"],
            "inspection_type": inspection["inspection_type"],
            "status": inspection["status"],
            "stage": stage,
            "report": plain(current) if current else None,
            "findings": [plain(findings[q]) for q in KEY_QUESTIONS if q in findings],
            "ratings": [ratings[q] for q in ("Overall", *KEY_QUESTIONS) if q in ratings],
            "challenges": [plain(c) for c in challenges],
            "on_team": _on_team(connection, actor, inspection_id),
        }
        if view == "plan":
            out["unannounced"] = bool(inspection["unannounced"])
            out["window_start"] = plain(inspection)["window_start"]
            out["window_end"] = plain(inspection)["window_end"]
    return out


STEPS = ("approve_plan", "start", "finding", "propose", "approve", "send", "challenge", "decide", "publish")
"""The steps of an inspection's life, as :func:`steps` names them (one service function each)."""


def steps(db: Db, actor: Actor, inspection_id: int) -> dict[str, Any]:
    """The steps ``actor`` may take on the inspection now, for the pages to offer only those: by the
    same role, team and stage checks as the steps themselves (which still check everything when taken),
    with the id of the schedule whose approval is a step. NotFound as :func:`report`."""
    shown = report(db, actor, inspection_id)  # the same 404 to anyone who may not see it
    if not actor.signed_in or shown["stage"] == "published":
        return {"steps": [], "schedule_id": None}
    with reading(db) as connection:
        try:
            inspection = _inspection(connection, actor, inspection_id)
        except NotFound:
            _, current = _provider_report(connection, actor, inspection_id)
            open_window = current["stage"] == "sent" and _today() <= current["challenge_until"]
            return {"steps": ["challenge"] if open_window else [], "schedule_id": None}
        schedule = (
            connection.execute(
                sa.select(plan_schedule).where(plan_schedule.c.id == inspection["schedule_id"])
            )
            .mappings()
            .one()
        )
        current = _report(connection, inspection_id)
        stage = current["stage"] if current else "not started"
        on_team = _on_team(connection, actor, inspection_id)
        chief = may_approve_ratings(actor, inspection["sector"])
        undecided = any(c["decision"] is None for c in _challenges(connection, inspection_id))
    who = actor.user_name
    allowed = {
        "approve_plan": schedule["status"] == "draft"
        and actor.role is Role.CHIEF_INSPECTOR
        and schedule["created_by"] != who,
        "start": stage == "not started"
        and on_team
        and schedule["status"] == "approved"
        and inspection["status"] == "planned",
        "finding": stage == "open" and on_team,
        "propose": stage == "open" and on_team,
        "approve": stage == "proposed" and chief and current["proposed_by"] != who,
        "send": stage == "approved" and (on_team or chief),
        "decide": stage == "sent" and (on_team or chief) and undecided,
        "publish": stage == "sent" and chief,
    }
    return {"steps": [s for s in STEPS if allowed.get(s)], "schedule_id": inspection["schedule_id"]}
