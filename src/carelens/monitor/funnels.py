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
from carelens.ingest.tables import MAX_PROBLEMS_PER_CHECK, Column, check_unique, validate
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
) -> pd.DataFrame:
    """One row per unit (per ``by`` group) with its value, target, z-scores, limits per level and flag.

    ``type``: ``sr`` (numerator observed count, denominator the expected count: a positive real number),
    ``pr`` (numerator a count of events, denominator the count at risk) or ``rc`` (numerator a count,
    denominator a positive count or exposure). Each combination of the ``by`` columns is its own funnel.
    Raises :class:`InputError` listing every problem with its file (``source``), row and column.
    Options are those of :func:`carelens.stats.funnel.funnel`. Columns: :func:`funnel_columns`; rows keep
    the input order.
    """
    source = source or frame.attrs.get("source", "input")
    by = list(by)
    numbers = _validate(frame, type, numerator, denominator, unit, by, source)
    o, d = numbers[numerator], numbers[denominator]
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


def _validate(
    frame: pd.DataFrame, kind: str, numerator: str, denominator: str, unit: str, by: list[str], source: str
) -> dict[str, np.ndarray]:
    """Check every input rule, collect every problem, then raise them together (or return the numbers)."""
    declared = [
        Column(numerator, kind="count"),
        # SHMI's expected deaths are real numbers; a proportion's denominator is a count; a ratio of
        # counts may sit on a count or on an exposure (e.g. person-years): positive either way.
        Column(denominator, kind="count" if kind == "pr" else "number", positive=True),
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
    if all(k in frame.columns for k in keys):
        try:
            check_unique(frame, keys, source=source)
        except InputError as exc:
            problems += exc.problems
    if kind == "pr" and numerator in frame.columns and denominator in frame.columns:
        # checked on whatever parses as a number, so this is reported alongside the other problems
        o = pd.to_numeric(frame[numerator], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        n = pd.to_numeric(frame[denominator], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        over = np.flatnonzero(o > n)[:MAX_PROBLEMS_PER_CHECK]
        problems += [
            Problem(
                source,
                int(i) + 1,
                numerator,
                f"numerator {o[i]:g} exceeds denominator {denominator!r} = {n[i]:g} "
                "(a proportion cannot exceed 1)",
            )
            for i in over
        ]
    if problems:
        raise InputError(problems)
    assert numbers is not None
    return numbers
