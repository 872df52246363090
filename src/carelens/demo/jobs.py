"""The demo jobs ``carelens demo`` runs on a fresh store of the packaged data before serving it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from carelens.demo.inspectorate import DEMO_WEEKS
from carelens.demo.systems import SystemsDemo, run_systems_demo
from carelens.model.dates import date_in_words

DEMO_DB_FILE = "carelens-demo.db"
"""Name of the fresh SQLite store ``carelens demo`` writes into its output folder."""


def prepare_demo_store(out: Path, progress: Callable[[str], None] | None = None) -> sa.Engine:
    """A fresh SQLite store in ``out`` with the packaged demo data loaded.

    The demo accounts are made after :func:`run_demo_jobs` (:func:`carelens.services.auth.create_demo_users`),
    because the demo inspector is tied to assignments in the inspection plan those jobs save. The store
    is created with its local administrator (:mod:`carelens.services.identity`), so the command line
    works on it before anyone signs in.
    """
    import getpass

    from carelens.demo.store import load_demo_store
    from carelens.services.identity import create_with_store
    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema

    out.mkdir(parents=True, exist_ok=True)
    path = out / DEMO_DB_FILE
    path.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    create_with_store(engine, getpass.getuser())
    load_demo_store(engine, progress=progress)
    return engine


DEMO_SCENARIO = "2024_25"
"""The packaged allocation scenario ``carelens demo`` runs and saves (its year's practices are in the demo data)."""
DEMO_EARLIER_RUN_MONTHS = 3
"""``carelens demo`` runs monitoring twice: first on data up to this many months before the latest
period, then on all of it, so the dashboard has a previous run to show the biggest movers against."""
DEMO_RATING_RULES = {"care_homes": "adult-social-care", "hospitals": "nhs-trust"}
"""Which rating rules ``carelens demo`` applies to each ``source`` of the packaged CQC ratings file."""
DEMO_PLAN_METHOD = "milp"
"""``carelens demo`` schedules inspections with the optimiser, as ``carelens plan inspections`` does by
default, over the weeks the packaged synthetic inspectorate (and its leave) covers."""


@dataclass(frozen=True)
class DemoJobs:
    """What :func:`run_demo_jobs` ran, for ``carelens demo`` to print."""

    monitoring_runs: list
    ratings_recorded: int
    ratings_published: int
    ratings_proposed: int
    trust_ratings_recorded: int
    """NHS trust ratings aggregated from their locations' published ratings (:mod:`carelens.assess.providers`)."""
    allocation_run_id: int
    allocation_scenario: str
    commissioners: int
    schedule_id: int
    plan_summary: dict
    """The saved schedule's summary (:attr:`carelens.plan.schedule.Schedule.summary`)."""
    special_measures_cases: list[int]
    """Provider regime cases the demo opened and moved into special measures (see :func:`run_demo_jobs`)."""
    systems: SystemsDemo
    """The demo's review programme and ACO settlement (:func:`carelens.demo.systems.run_systems_demo`)."""


def run_demo_jobs(
    engine: sa.Engine, user: str = "carelens-demo", progress: Callable[[str], None] | None = None
) -> DemoJobs:
    """On a loaded demo store: two monitoring passes, the ratings rules, one saved allocation, an inspection
    schedule and the failure regime's special measures.

    Ratings: the rules (:func:`carelens.assess.compare.compare_published`) are applied to the packaged
    CQC ratings; each outcome is recorded in the rating history (audited). Where the rules agree with the
    regulator's published rating it is recorded as published; where they disagree it is a proposal (the
    regulator departed from the rules, or the file is incomplete), seen only by roles entitled to it.
    Each NHS trust's published location ratings are then aggregated to trust key question and overall
    ratings by the NHS trust rating principles and recorded, with the rule and the ratings they came from
    (:func:`carelens.assess.providers.record_trust_ratings`): the plan reads them as the trusts' ratings.

    Planning: the inspections due within the packaged synthetic inspectorate's weeks are scheduled and
    saved as a draft, as ``carelens plan inspections --save`` does (same functions, default inputs).

    Failure regime: every organisation rated Inadequate overall on the plan date and not in special
    measures (:func:`carelens.plan.regime.inadequate_without_special_measures`) gets a provider case
    opened and moved into special measures on the date of that rating, as the regulator's policy does on
    an Inadequate overall rating; its deadline is the re-inspection within 6 months (``regime.yaml``).

    Local systems: a review programme directed and selected on the synthetic places, and the synthetic
    ACOs' year settled with their market shares (:func:`carelens.demo.systems.run_systems_demo`).
    """
    import datetime as dt

    import pandas as pd

    from carelens.assess.compare import compare_published
    from carelens.assess.history import record_rating
    from carelens.assess.providers import record_trust_ratings
    from carelens.demo.store import demo_loads
    from carelens.fund.scenario import load_scenario
    from carelens.fund.service import practice_loader, run_allocation, save_run
    from carelens.monitor.service import run_monitor
    from carelens.plan.programme import load_inputs, schedule
    from carelens.plan.regime import inadequate_without_special_measures, open_case, transition
    from carelens.plan.service import save_schedule
    from carelens.store import schema
    from carelens.tables import read_table

    say = progress or (lambda _step: None)
    say("monitoring (earlier data)")
    with engine.connect() as connection:
        latest = connection.execute(sa.select(sa.func.max(schema.observation.c.period))).scalar()
    runs = []
    if latest is not None:
        month = latest.year * 12 + latest.month - 1 - DEMO_EARLIER_RUN_MONTHS
        runs.append(run_monitor(engine, period_to=dt.date(month // 12, month % 12 + 1, 1), user=user))
    say("monitoring (all data)")
    runs.append(run_monitor(engine, user=user))

    say("ratings rules")
    ratings_file = next(f for source, files in demo_loads() if source == "cqc-ratings" for f in files)
    published_ratings = read_table(ratings_file)
    report_dates = (
        published_ratings[published_ratings["level"] == "location"]
        .groupby("location_id")["report_date"]
        .max()
    )
    recorded = published = 0
    with engine.begin() as connection:
        known = set(connection.execute(sa.select(schema.organisation.c.code)).scalars())
        for source, rules in DEMO_RATING_RULES.items():
            part = published_ratings[published_ratings["source"] == source].reset_index(drop=True)
            outcome = compare_published(part, rules, source=str(ratings_file))
            for row in outcome.itertuples(index=False):
                if row.location_id not in known or not isinstance(row.computed, str):
                    continue
                agrees = bool(pd.notna(row.agree) and row.agree)
                record_rating(
                    connection,
                    org_code=row.location_id,
                    key_question=row.key_question,
                    rating=row.computed,
                    rule_rating=row.computed,
                    method=f"rules:{rules}",
                    effective_date=dt.date.fromisoformat(str(report_dates.get(row.location_id))[:10]),
                    user=user,
                    published=agrees,
                    detail={"explanation": row.explanation, "published_rating": row.published},
                )
                recorded += 1
                published += agrees

    say("trust ratings from location ratings")
    trust_ratings = record_trust_ratings(engine, dt.date.today(), user)

    say("allocation")
    scenario = load_scenario(DEMO_SCENARIO)
    result = run_allocation(scenario, practice_loader(engine))
    run_id = save_run(engine, result, "store", user)

    say("inspection plan")
    inputs = load_inputs(engine, DEMO_WEEKS)
    plan = schedule(inputs, DEMO_PLAN_METHOD)
    schedule_id = save_schedule(engine, plan, inputs.inspectors, user, inputs.as_of)

    say("failure regime")
    cases = []
    with engine.begin() as connection:
        for row in inadequate_without_special_measures(connection, inputs.as_of).itertuples(index=False):
            why = f"rated {row.rating} overall on {date_in_words(row.date)} ({row.source} rating)"
            case_id = open_case(connection, "provider", row.org_code, user, why, row.date)
            transition(connection, case_id, "enter_special_measures", user, why, row.date)
            cases.append(case_id)

    say("system reviews and ACOs")
    systems = run_systems_demo(engine, user)
    return DemoJobs(
        monitoring_runs=runs,
        ratings_recorded=recorded,
        ratings_published=published,
        ratings_proposed=recorded - published,
        trust_ratings_recorded=trust_ratings,
        allocation_run_id=run_id,
        allocation_scenario=f"{scenario.name} ({scenario.year_label})",
        commissioners=len(result.commissioners),
        schedule_id=schedule_id,
        plan_summary=plan.summary,
        special_measures_cases=cases,
        systems=systems,
    )
