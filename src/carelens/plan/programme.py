"""The inspection programme end to end, as the command line and other callers use it: read the
inspectorate, compute demand from the store, schedule it (optimiser or greedy), and the what-if."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.plan.config import PlanSettings, load_settings
from carelens.plan.demand import (
    compute_demand,
    default_as_of,
    due_within,
    organisations_from_store,
    read_codes_table,
)
from carelens.plan.inspectorate import DEMO_DIR, monday, read_inspectorate
from carelens.plan.schedule import Schedule, make_schedule


@dataclass
class Inputs:
    """Everything a plan is made from."""

    as_of: dt.date
    weeks: int
    demand: pd.DataFrame
    inspectors: pd.DataFrame
    leave: pd.DataFrame
    settings: PlanSettings


def load_inputs(
    engine: sa.Engine,
    weeks: int,
    as_of: dt.date | None = None,
    inspectors: Path | None = None,
    leave: Path | None = None,
    regions: Path | None = None,
    concerns: Path | None = None,
    settings: Path | None = None,
) -> Inputs:
    """Demand due within ``weeks`` from the store, and the inspectorate (default: the packaged synthetic
    one with its leave and the demo locations' regions)."""
    plan_settings = load_settings(settings)
    if inspectors is None:
        inspectors, leave = DEMO_DIR / "inspectors.csv", leave or DEMO_DIR / "leave.csv"
        regions = regions or DEMO_DIR / "location_regions.csv"
    staff, away = read_inspectorate(inspectors, leave)
    region_table = read_codes_table(regions, ["org_code", "region"]) if regions else None
    concern_table = read_codes_table(concerns, ["org_code"]) if concerns else None
    as_of = monday(as_of or default_as_of(engine))
    orgs = organisations_from_store(engine, as_of, plan_settings, region_table, concern_table)
    if orgs.empty:
        raise InputError(
            Problem(
                str(engine.url),
                None,
                None,
                "the store holds no organisations to inspect: load data first (carelens ingest, or carelens demo)",
            )
        )
    demand = due_within(compute_demand(orgs, as_of, plan_settings), as_of, weeks)
    return Inputs(as_of, weeks, demand, staff, away, plan_settings)


def schedule(inputs: Inputs, method: str = "milp") -> Schedule:
    """Schedule the inputs' demand with the optimiser ('milp') or the baseline ('greedy')."""
    return make_schedule(
        inputs.demand, inputs.inspectors, inputs.leave, inputs.as_of, inputs.weeks, inputs.settings, method
    )


def capacity(inputs: Inputs, extra: list[int]) -> pd.DataFrame:
    """The what-if curve for adding ``extra`` inspectors."""
    from carelens.plan.whatif import capacity_curve

    return capacity_curve(
        inputs.demand, inputs.inspectors, inputs.leave, inputs.as_of, inputs.weeks, extra, inputs.settings
    )
