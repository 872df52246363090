"""Building a small store for the failure-regime tests through the product's own functions: organisations,
published ratings, completed inspections and commissioner assessments."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from carelens.assess.history import record_rating
from carelens.store import schema


def add_org(engine, code: str, kind: str = "care_home", sector: str = "adult_social_care") -> None:
    with engine.begin() as connection:
        connection.execute(
            schema.organisation.insert().values(code=code, name=code, kind=kind, sector=sector)
        )


def publish(engine, code: str, on: dt.date, overall: str, published: bool = True, **key_questions: str):
    """Record ratings dated ``on``: Overall and any key questions (Well_led for Well-led), published or
    a draft."""
    for key_question, rating in {"Overall": overall, **key_questions}.items():
        record_rating(
            engine,
            org_code=code,
            key_question=key_question.replace("_", "-"),
            rating=rating,
            rule_rating=None,
            method="test",
            effective_date=on,
            user="inspector-a",
            published=published,
        )


def reinspect(engine, code: str, start: dt.date, days: int = 2) -> int:
    """A saved inspection of ``code`` starting on ``start``, taken through in progress to completed."""
    from carelens.plan import service as plan_service
    from carelens.plan.schedule import Schedule

    visit = dict(
        org_code=code,
        sector="adult_social_care",
        region="R1",
        inspection_type="care_home",
        unannounced=True,
        start_date=start,
        end_date=start + dt.timedelta(days=days - 1),
        window_start=start,
        window_end=start + dt.timedelta(days=days - 1),
        team=1,
        days=days,
        risk=5.0,
        due_date=start,
        deadline=start,
        reasons="re-inspection in special measures",
        unscheduled_reason=None,
        status="planned",
    )
    assignments = pd.DataFrame([(0, 0, True)], columns=["row", "inspector_index", "lead"])
    schedule = Schedule(pd.DataFrame([visit]), assignments, {"method": "greedy", "weeks": 1})
    plan_service.save_schedule(engine, schedule, pd.DataFrame({"inspector_id": ["insp-1"]}), "planner", start)
    with engine.connect() as connection:
        from carelens.store.schema_plan import plan_inspection as i

        inspection_id = connection.execute(
            i.select().with_only_columns(i.c.id).where(i.c.org_code == code).order_by(i.c.id.desc())
        ).scalar()
    plan_service.record_inspection(engine, inspection_id, "insp-1", status="in_progress")
    plan_service.record_inspection(engine, inspection_id, "insp-1", status="completed", findings="seen")
    return int(inspection_id)


def assess(engine, code: str, year: int, overall: str) -> int:
    """Record a commissioner assessment of ``year`` (carelens.fund) with ``overall``."""
    from carelens.fund.assessment import record_assessments

    card = pd.DataFrame(
        [
            {
                "commissioner_code": code,
                "overall": overall,
                "outcomes_rating": overall,
                "finance_rating": "good",
                "reasons": [f"overall {overall}"],
            }
        ]
    )
    return record_assessments(engine, card, year, "board-1")[0]
