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
from carelens.plan.inspectorate import PACKAGED_INSPECTORATE, monday, read_inspectorate
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
    one with its leave).

    Regions: the store's (trusts from the ODS trust file, practices through their commissioners), then
    the packaged regions of the demo's CQC locations, then ``regions``: each adds to and overrides the
    one before it, organisation by organisation (:func:`region_table`)."""
    plan_settings = load_settings(settings)
    if inspectors is None:
        inspectors, leave = (
            PACKAGED_INSPECTORATE / "inspectors.csv",
            leave or PACKAGED_INSPECTORATE / "leave.csv",
        )
    staff, away = read_inspectorate(inspectors, leave)
    region_table = region_overrides(regions)
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


PACKAGED_REGIONS = PACKAGED_INSPECTORATE / "location_regions.csv"
"""The NHS England region of each CQC location in the packaged ratings file (see the folder's README)."""


def region_overrides(regions: Path | None = None) -> pd.DataFrame:
    """org_code -> region on top of the store's regions: the packaged location regions, then ``regions``
    (a file's row wins over the packaged one for the same organisation; the rest are kept)."""
    tables = [read_codes_table(PACKAGED_REGIONS, ["org_code", "region"])]
    if regions is not None:
        tables.append(read_codes_table(regions, ["org_code", "region"]))
    both = pd.concat(tables, ignore_index=True)
    return both.drop_duplicates("org_code", keep="last").reset_index(drop=True)


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
