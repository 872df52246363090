"""Funnel-plot tables: validate a user's table, run the funnel kernel per group, return one row per unit.

This is the service behind ``carelens funnel`` (and, later, the API and web pages). The statistics are
in :mod:`carelens.stats.funnel`; this layer only checks the input, names the columns and lays out the
result, so every figure in the output can be traced to its inputs and options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.stats.funnel import (
    ASSESSMENT_LABELS,
    DEFAULT_LEVELS,
    DEFAULT_POLARITY,
    DEFAULT_TRIM,
    FLAG_LABELS,
    OD_NOTES,
    AdjustWhen,
    Kind,
    LimitMethod,
    Method,
    Overdispersion,
    Polarity,
    funnel,
)
from carelens.stats.groups import Groups
from carelens.stats.intervals import level_label
from carelens.tables import MAX_PROBLEMS_PER_CHECK, Column, check_unique, not_above_problems, validate


def funnel_columns(levels: Sequence[float], by: Sequence[str] = ()) -> list[str]:
    """Output column names, in order, for the given levels and ``by`` columns."""
    limits = [
        name for level in levels for name in (f"lower_{level_label(level)}", f"upper_{level_label(level)}")
    ]
    return [
        "unit",
        *by,
        "numerator",
        "denominator",
        "value",
        "target",
        "z",
        "z_adjusted",
        *limits,
        "phi",
        "tau2",
        "units_used",
        "od_adjusted",
        "od_note",
        "flag",
        "band",
        "assessment",
    ]


def funnel_table(
    frame: pd.DataFrame,
    *,
    type: Kind,
    numerator: str,
    denominator: str,
    unit: str,
    by: Sequence[str] = (),
    method: Method = "shmi",
    levels: Sequence[float] = DEFAULT_LEVELS,
    trim: float = DEFAULT_TRIM,
    overdispersion: Overdispersion = "additive",
    polarity: Polarity = DEFAULT_POLARITY,
    source: str | None = None,
    round_expected: bool = False,
    adjust_when: AdjustWhen = "tau2_positive",
    limits: LimitMethod = "stabilised",
    aggregate: bool = False,
) -> pd.DataFrame:
    """One row per unit (per ``by`` group) with its value, target, z-scores, limits per level and flag.

    ``type``: ``sr`` (numerator observed count, denominator the expected count: a positive real number),
    ``pr`` (numerator a count of events, denominator the count at risk) or ``rc`` (numerator a count,
    denominator a positive count or exposure). Each combination of the ``by`` columns is its own funnel.
    Raises :class:`InputError` listing every problem with its file (``source``), row and column.
    Options are those of :func:`carelens.stats.funnel.funnel`. Columns: :func:`funnel_columns`; rows keep
    the input order.

    ``aggregate``: the rows are records (patients, episodes, months...), several per unit and group; their
    numerators and denominators are summed per unit and ``by`` group (one output row each, in order of
    first appearance) instead of refusing duplicates. Each record is checked as above, except that a
    denominator may be 0 as long as the unit's total is not.
    """
    source = source or frame.attrs.get("source", "input")
    by = list(by)
    numbers = _validate(frame, type, numerator, denominator, unit, by, source, aggregate)
    o, d = numbers[numerator], numbers[denominator]
    rows = np.arange(len(frame))  # the input row behind each output row
    if aggregate:
        frame, o, d, rows = _aggregate(frame, o, d, [unit, *by], denominator, source)
    if round_expected:
        zero = np.flatnonzero(np.round(d, 2) == 0)[:MAX_PROBLEMS_PER_CHECK]
        if len(zero):
            raise InputError(
                Problem(source, int(rows[i]) + 1, denominator, f"{d[i]:g} rounds to 0 at 2 decimals")
                for i in zero
            )
    groups = Groups.from_keys(*(frame[c] for c in by), size=len(frame)) if by else Groups.single(len(frame))
    result = funnel(
        o,
        d,
        groups=groups,
        kind=type,
        method=method,
        levels=levels,
        trim=trim,
        overdispersion=overdispersion,
        polarity=polarity,
        round_expected=round_expected,
        adjust_when=adjust_when,
        limits=limits,
    )
    codes = result.group_codes
    # Key columns keep their dtype (e.g. Arrow strings, dates); text results are categoricals, so a table
    # of millions of rows holds a few labels rather than millions of Python strings.
    out: dict[str, object] = {"unit": frame[unit].reset_index(drop=True)}
    for column in by:
        out[column] = frame[column].reset_index(drop=True)
    out |= {
        "numerator": o,
        "denominator": d,
        "value": result.value,
        "target": result.target,
        "z": result.z,
        "z_adjusted": result.z_adjusted,
    }
    for i, level in enumerate(result.levels):
        out[f"lower_{level_label(level)}"] = result.lower[i]
        out[f"upper_{level_label(level)}"] = result.upper[i]
    out |= {
        "phi": result.phi[codes],
        "tau2": result.tau2[codes],
        "units_used": result.units_used[codes],
        "od_adjusted": result.od_adjusted[codes],
        "od_note": pd.Categorical.from_codes(
            pd.Categorical(result.od_note, categories=OD_NOTES).codes[codes], categories=OD_NOTES
        ),
        "flag": pd.Categorical.from_codes(3 - result.band, categories=FLAG_LABELS),
        "band": result.band,
        "assessment": pd.Categorical.from_codes(3 - result.band, categories=ASSESSMENT_LABELS[polarity]),
    }
    table = pd.DataFrame(out)
    table.attrs["source"] = source
    return table


@dataclass(frozen=True)
class FunnelSummary:
    """Counts for a one-line report: units, funnels, outliers at the widest level, unadjusted funnels."""

    units: int
    groups: int
    higher: int
    lower: int
    groups_unadjusted: int


def summarise_funnels(table: pd.DataFrame, by: Sequence[str] = ()) -> FunnelSummary:
    """Summarise a :func:`funnel_table` result (``by`` as given to it)."""
    by = list(by)
    unadjusted = table[~table["od_adjusted"].to_numpy(dtype=bool)]
    if by:
        groups = table.groupby(by, sort=False, dropna=False).ngroups
        groups_unadjusted = unadjusted.groupby(by, sort=False, dropna=False).ngroups
    else:
        groups = int(len(table) > 0)
        groups_unadjusted = int(len(unadjusted) > 0)
    flags = table["flag"].to_numpy()
    return FunnelSummary(
        units=len(table),
        groups=groups,
        higher=int((flags == "higher").sum()),
        lower=int((flags == "lower").sum()),
        groups_unadjusted=groups_unadjusted,
    )


def _aggregate(
    frame: pd.DataFrame, o: np.ndarray, d: np.ndarray, keys: list[str], denominator: str, source: str
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Records summed per key combination: the keys of each combination's first record, its numerator and
    denominator totals, and the index of that first record. A total denominator of 0 is reported on the
    combination's first record."""
    codes = frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    n_units = int(codes.max()) + 1 if len(codes) else 0
    _, first = np.unique(codes, return_index=True)  # groups are numbered by first appearance
    total_o = np.bincount(codes, weights=o, minlength=n_units)
    total_d = np.bincount(codes, weights=d, minlength=n_units)
    empty = np.flatnonzero(total_d <= 0)[:MAX_PROBLEMS_PER_CHECK]
    if len(empty):
        records = np.bincount(codes, minlength=n_units)
        raise InputError(
            [
                Problem(
                    source,
                    int(first[g]) + 1,
                    denominator,
                    "total denominator of "
                    + ", ".join(f"{k}={frame[k].iloc[first[g]]}" for k in keys)
                    + f" over its {records[g]:,} record(s) is 0",
                )
                for g in empty
            ]
        )
    units = frame[keys].iloc[first].reset_index(drop=True)
    units.attrs = frame.attrs
    return units, total_o, total_d, first


def _validate(
    frame: pd.DataFrame,
    kind: str,
    numerator: str,
    denominator: str,
    unit: str,
    by: list[str],
    source: str,
    aggregate: bool = False,
) -> dict[str, np.ndarray]:
    """Check every input rule, collect every problem, then raise them together (or return the numbers)."""
    declared = [
        Column(numerator, kind="count"),
        # SHMI's expected deaths are real numbers; a proportion's denominator is a count; a ratio of
        # counts may sit on a count or on an exposure (e.g. person-years): positive either way (records
        # being summed may be 0, their total may not).
        Column(
            denominator,
            kind="count" if kind == "pr" else "number",
            positive=not aggregate,
            min_value=0 if aggregate else None,
        ),
        Column(unit, kind="text"),
        *(Column(c, kind="text") for c in by),
    ]
    problems: list[Problem] = []
    numbers: dict[str, np.ndarray] | None = None
    try:
        numbers = validate(frame, declared, source=source)
    except InputError as exc:
        problems += exc.problems
    keys = [unit, *by]
    if not aggregate and all(k in frame.columns for k in keys):
        try:
            check_unique(frame, keys, source=source)
        except InputError as exc:
            problems += exc.problems
    if kind == "pr":
        problems += not_above_problems(frame, numerator, denominator, source)
    if problems:
        raise InputError(problems)
    assert numbers is not None
    return numbers
