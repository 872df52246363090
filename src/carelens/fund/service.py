"""Allocation services shared by the CLI, API and web: run a scenario, compare two, save a run.

Practice data comes from the store (``engine`` given) or straight from the packaged NHS England files.
A scenario with a pace-of-change baseline is run on the baseline year's practices too (same rules,
the baseline quantum) to give each commissioner's baseline.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pandas as pd
import sqlalchemy as sa

from carelens.fund import practices as practice_data
from carelens.fund.engine import AllocationResult, allocate
from carelens.fund.scenario import Scenario
from carelens.store import repository
from carelens.store.schema_fund import fund_allocation, fund_allocation_run

PracticeLoader = Callable[[int], pd.DataFrame]
"""Year (2024 = 2024/25) -> practice table."""


def practice_loader(engine: sa.Engine | None = None) -> PracticeLoader:
    """Load practices from the store when ``engine`` is given, else from the packaged files."""
    if engine is None:
        return lambda year: practice_data.from_file(practice_data.packaged_file(year), year)

    def from_store(year: int) -> pd.DataFrame:
        with engine.connect() as connection:
            return practice_data.from_store(connection, year)

    return from_store


def run_allocation(scenario: Scenario, load: PracticeLoader | None = None) -> AllocationResult:
    """Targets and allocations for the scenario's year (baseline from the scenario's baseline year)."""
    load = load or practice_loader()
    practices = load(scenario.year)
    baseline = None
    pace = scenario.pace
    if pace.baseline_year is not None:
        scale = pace.baseline_quantum_gbp / scenario.total_quantum_gbp
        earlier = dataclasses.replace(
            scenario, quantum_gbp={s: q * scale for s, q in scenario.quantum_gbp.items()}
        )
        previous = allocate(load(pace.baseline_year), earlier)
        baseline = previous.commissioners.set_index("commissioner_code")["target_gbp"]
    return allocate(practices, scenario, baseline)


def save_run(engine: sa.Engine, result: AllocationResult, inputs: str, user: str) -> int:
    """Store an allocation run and its per-commissioner results, audited, in one transaction."""
    scenario = result.scenario
    columns = [c.name for c in fund_allocation.columns if c.name != "run_id"]
    with engine.begin() as connection:
        run_id = connection.execute(
            fund_allocation_run.insert().values(
                year=scenario.year,
                scenario_name=scenario.name,
                scenario_version=scenario.version,
                scenario_sha256=scenario.sha256,
                scenario=scenario_as_json(scenario),
                inputs=inputs,
                quantum_gbp=scenario.total_quantum_gbp,
                user_name=user,
                created_at=dt.datetime.now(dt.UTC),
            )
        ).inserted_primary_key[0]
        rows = result.commissioners[columns].assign(run_id=run_id)
        repository.insert_rows(connection, fund_allocation, rows)
        repository.audit(
            connection,
            user,
            "allocation.saved",
            "fund_allocation_run",
            str(run_id),
            {
                "year": scenario.year_label,
                "scenario": scenario.name,
                "scenario_version": scenario.version,
                "scenario_sha256": scenario.sha256,
                "commissioners": len(rows),
                "quantum_gbp": scenario.total_quantum_gbp,
            },
        )
    return int(run_id)


def scenario_as_json(scenario: Scenario) -> dict:
    """The scenario as plain JSON-able data (stored with each run so it can be explained later)."""
    return dataclasses.asdict(scenario)


@dataclasses.dataclass(frozen=True)
class YearAssessment:
    """A commissioner assessment for one financial year, and where its commissioners came from."""

    year: int
    assessment: object
    """The :class:`carelens.fund.assessment.Assessment`."""
    practices_from: str
    """``store`` when the store holds the year's practices, else ``packaged NHS England files``."""


def assess_year(
    store: sa.Engine | None,
    year: int,
    observations: pd.DataFrame | None = None,
    finance: pd.DataFrame | None = None,
    leadership: pd.DataFrame | None = None,
    rules=None,
    settings=None,
) -> YearAssessment:
    """Assess every commissioner of ``year`` (:func:`carelens.fund.assessment.assess`): its
    commissioners and populations from the store's practices of that year, or, when the store has none
    (or there is no store), from the packaged NHS England files, which the result says; outcome
    observations given, else the commissioners' observations in the store."""
    from carelens.errors import InputError
    from carelens.fund import assessment
    from carelens.model.indicators import load_indicators
    from carelens.monitor.settings import load_settings

    if observations is None:
        if store is None:
            raise ValueError("observations are needed when there is no store")
        with store.connect() as connection:
            observations = assessment.observations_from_store(connection)
    practices_from = "store"
    try:
        practices = practice_loader(store)(year) if store is not None else None
    except InputError:
        practices = None
    if practices is None or practices.empty:
        practices, practices_from = practice_loader(None)(year), "packaged NHS England files"
    commissioners = practices.groupby("commissioner_code", as_index=False)["population"].sum()
    result = assessment.assess(
        commissioners,
        observations,
        load_indicators(),
        rules or assessment.load_rules(),
        finance,
        leadership,
        settings=settings or load_settings(),
        year=year,
    )
    return YearAssessment(year, result, practices_from)


def intervene(
    store: sa.Engine, assessed: YearAssessment, codes: list[str], decision: str, user: str
) -> list[int]:
    """Record an intervention (``decision``) in each commissioner of ``codes``, with the assessment's
    reasons, audited: all or none. A commissioner not assessed, or without evidence, is refused with
    every problem named (:class:`carelens.errors.InputError`), before anything is written."""
    from carelens.errors import InputError, Problem
    from carelens.fund.assessment import NOT_ASSESSED, record_intervention

    card = assessed.assessment.scorecard
    chosen, problems = [], []
    for code in codes:
        rows = card[card["commissioner_code"] == code]
        if rows.empty:
            problems.append(Problem("--intervene", None, None, f"commissioner {code!r} was not assessed"))
        elif rows.iloc[0]["overall"] == NOT_ASSESSED:
            problems.append(
                Problem(
                    "--intervene",
                    None,
                    None,
                    f"commissioner {code!r} is not assessed (no evidence on {rows.iloc[0]['not_assessed']}): "
                    "an intervention needs an assessment with evidence",
                )
            )
        else:
            chosen.append(rows.iloc[0])
    if problems:
        raise InputError(problems)
    return [
        record_intervention(
            store,
            row["commissioner_code"],
            assessed.year,
            decision,
            list(row["reasons"]),
            user,
            {"overall": row["overall"], "outcomes": row["outcomes_rating"], "finance": row["finance_rating"]},
        )
        for row in chosen
    ]
