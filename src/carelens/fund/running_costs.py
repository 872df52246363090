"""Running-cost (administration) allowances: per head, the fixed-cost floor, and actuals against allowance.

The allowance is a rate per head of population for the year (``config/fund/running_costs.yaml``:
£25 in 2013/14, £24.73 in 2014/15, £22.07 in 2015/16). A small commissioner (population under
200,000 by default) earns little allowance but still carries the fixed costs of a statutory body, so
the fixed-cost floor analysis compares the allowance with a cost model fixed £ + £ per head: the
*headroom* (allowance − modelled cost), the population at which the allowance just covers the model
(break-even), and what guaranteeing every commissioner its modelled cost would add nationally.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.config import packaged, read_settings
from carelens.errors import InputError, Problem
from carelens.fund.scenario import parse_year, year_label


@dataclass(frozen=True)
class RunningCostRules:
    """Allowance rates by year and the fixed-cost model."""

    allowance_per_head_gbp: dict[int, float]
    small_population: float
    fixed_cost_gbp: float
    cost_per_head_gbp: float
    source: str

    def rate(self, year: int) -> float:
        if year not in self.allowance_per_head_gbp:
            known = ", ".join(year_label(y) for y in sorted(self.allowance_per_head_gbp))
            raise InputError(
                Problem(
                    self.source,
                    None,
                    "allowance_per_head_gbp",
                    f"no rate for {year_label(year)}; known: {known}",
                )
            )
        return self.allowance_per_head_gbp[year]


def default_rules_path() -> Path:
    return packaged("fund", "running_costs.yaml")


def load_rules(path: str | Path | None = None) -> RunningCostRules:
    """Read the running-cost rules (packaged defaults unless ``path`` is given)."""
    reader = read_settings(path, default_rules_path())
    source = reader.source
    # which figures are illustrative: documentation only
    reader.get("illustrative", list, default=[], of=str)
    rates: dict[int, float] = {}
    for key, value in reader.numbers("allowance_per_head_gbp", minimum=0.0, exclusive=True).items():
        try:
            rates[parse_year(key, source, f"allowance_per_head_gbp.{key}")] = value
        except InputError as error:
            reader.problems += error.problems
    rules = RunningCostRules(
        allowance_per_head_gbp=rates,
        small_population=reader.get("small_population", float, minimum=0.0),
        fixed_cost_gbp=reader.get("fixed_cost_model.fixed_cost_gbp", float, minimum=0.0),
        cost_per_head_gbp=reader.get("fixed_cost_model.cost_per_head_gbp", float, minimum=0.0),
        source=source,
    )
    reader.raise_if_any()
    return rules


def running_costs(
    commissioners: pd.DataFrame, year: int, rules: RunningCostRules, actuals: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Allowance, fixed-cost floor analysis and (given actuals) spend against allowance per commissioner.

    ``commissioners``: columns commissioner_code, population. ``actuals``: commissioner_code,
    running_costs_gbp (commissioners without a row get no verdict).
    """
    rate = rules.rate(year)
    out = commissioners[["commissioner_code", "population"]].copy()
    population = out["population"].to_numpy(dtype=float)
    out["allowance_per_head_gbp"] = rate
    out["allowance_gbp"] = rate * population
    out["small"] = population < rules.small_population
    out["modelled_cost_gbp"] = rules.fixed_cost_gbp + rules.cost_per_head_gbp * population
    out["headroom_gbp"] = out["allowance_gbp"] - out["modelled_cost_gbp"]
    out["fixed_cost_share_of_allowance"] = rules.fixed_cost_gbp / out["allowance_gbp"]
    out["floor_allowance_gbp"] = np.maximum(out["allowance_gbp"], out["modelled_cost_gbp"])
    if actuals is not None:
        spent = actuals.set_index("commissioner_code")["running_costs_gbp"]
        out["actual_gbp"] = out["commissioner_code"].map(spent).astype(float)
        out["actual_per_head_gbp"] = out["actual_gbp"] / population
        out["variance_gbp"] = out["actual_gbp"] - out["allowance_gbp"]
        out["within_allowance"] = (out["actual_gbp"] <= out["allowance_gbp"]).where(out["actual_gbp"].notna())
    return out


@dataclass(frozen=True)
class FloorSummary:
    """National view of the fixed-cost floor."""

    rate_gbp: float
    break_even_population: float
    """Population at which the allowance just covers the modelled cost (inf if the rate never does)."""
    commissioners: int
    small: int
    short: int
    """Commissioners whose allowance is below their modelled cost."""
    floor_cost_gbp: float
    """Extra £ nationally if every commissioner got at least its modelled cost."""


def floor_summary(table: pd.DataFrame, year: int, rules: RunningCostRules) -> FloorSummary:
    rate = rules.rate(year)
    margin = rate - rules.cost_per_head_gbp
    return FloorSummary(
        rate_gbp=rate,
        break_even_population=rules.fixed_cost_gbp / margin if margin > 0 else float("inf"),
        commissioners=len(table),
        small=int(table["small"].sum()),
        short=int((table["headroom_gbp"] < 0).sum()),
        floor_cost_gbp=float((table["floor_allowance_gbp"] - table["allowance_gbp"]).sum()),
    )


def read_actuals(path: str | Path) -> pd.DataFrame:
    """Read actual running costs: columns commissioner_code, running_costs_gbp (and optional population)."""
    from carelens.tables import Column, check_unique, read_table, validate

    frame = read_table(path)
    columns = [Column("commissioner_code", "text"), Column("running_costs_gbp", "number", min_value=0)]
    if "population" in frame.columns:
        columns.append(Column("population", "number", positive=True))
    values = validate(frame, columns, str(path))
    check_unique(frame, ["commissioner_code"], str(path))
    out = pd.DataFrame({c.name: values[c.name] for c in columns})
    out["commissioner_code"] = out["commissioner_code"].astype(str).str.strip()
    return out
