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
