"""SHMI (Summary Hospital-level Mortality Indicator) releases, one row per trust per release.

Reads three layouts, told apart by their header (docs/publishers-files.md):

- the consolidated file with a ``DATE`` column (release month);
- the raw HSCIC release files with ``INDICATOR_CODE`` (must be I00699) and no date;
- the current NHS England trust-level file (published monthly since 2019: ``SHMI_VALUE``,
  ``SHMI_BANDING``, counts rounded to the nearest 5, published Poisson and overdispersion limits).

Files without a date take their release month from the file name (``shmi-2012-april.csv``) or the
``--period`` option. Raw files from 2013 on end with a blank line and a copyright footer: lines after
the data whose first field is empty are dropped. A byte-order mark and CRLF line ends are read as
plain UTF-8 lines. Header spellings ``PROVIDER NAME`` / ``PROVIDER_NAME`` are both accepted; a blank
name is allowed (the consolidated file lacks names in some releases).

Observation ``shmi``: numerator = observed deaths, expected = expected deaths, denominator =
finished provider spells, value = the published ratio (observed / expected, 4 dp).

The current layout's banding is the public verdict: it is kept as a published verdict (band, the
overdispersion limits that set it, the Poisson limits) beside carelens's recomputation from the
rounded counts by the same SHMI method (:func:`recompute`), which cannot reproduce it exactly.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.ingest.sources.base import (
    PUBLISHED_VERDICT_COLUMNS,
    Batch,
    ProblemList,
    Source,
    month_from_name,
    organisations_from,
    to_dates,
)
from carelens.model.observations import OBSERVATION_COLUMNS
from carelens.model.organisations import kind_from_ods_code
from carelens.stats.funnel import funnel
from carelens.tables import NAME_MAX_LENGTH, Column, check_text_file, check_unique, validate

INDICATOR_CODE = "I00699"
"""HSCIC Indicator Portal code of the SHMI."""

COLUMNS = [
    Column("PROVIDER", "code"),
    Column("PROVIDER_NAME", "text", allow_missing=True, max_length=NAME_MAX_LENGTH),
    Column("DENOMINATOR", "count", positive=True),
    Column("OBSERVED", "count"),
    Column("EXPECTED", "number", positive=True),
    Column("VALUE", "number", min_value=0),
]


CURRENT_COLUMNS = [
    Column("INDICATOR_CODE", "text", allowed=(INDICATOR_CODE,)),
    Column("PROVIDER_CODE", "code"),
    Column("PROVIDER_NAME", "text", allow_missing=True, max_length=NAME_MAX_LENGTH),
    Column("SHMI_VALUE", "number", positive=True),
    Column("SHMI_BANDING", "text", allowed=("1", "2", "3")),
    Column("SPELLS", "count"),
    Column("OBSERVED", "count"),
    Column("EXPECTED", "number", positive=True),
    Column("PO_LL", "number", positive=True),
    Column("PO_UL", "number", positive=True),
    Column("OD_LL", "number", positive=True),
    Column("OD_UL", "number", positive=True),
]
"""The current trust-level layout (NHS England, monthly since 2019): counts rounded to the nearest 5,
``SHMI_VALUE`` from the unrounded counts, 95% Poisson (``PO_``) and overdispersion-adjusted (``OD_``)
limits, ``SHMI_BANDING`` 1 higher than expected, 2 as expected, 3 lower than expected."""
CURRENT_MARKERS = ("SHMI_VALUE", "SHMI_BANDING")
"""Header names only the current layout has: either one says the file is in it."""
BANDING_LEVEL = 95.0
"""% level of the limits that set the published banding (and of the Poisson limits published)."""
BAND_TEXT = {1: "higher than expected", 2: "as expected", 3: "lower than expected"}


def _read_without_footer(path: Path) -> pd.DataFrame:
    source = str(path)
    check_text_file(path)  # a release is small: read whole, after checking it is UTF-8 text
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(Problem(source, None, None, f"cannot read file: {exc}")) from None
    lines = text.splitlines()
    while lines and (not lines[-1].strip() or not lines[-1].split(",")[0].strip()):
        lines.pop()
    if not lines:
        raise InputError(Problem(source, None, None, "file is empty (no header row)"))
    if len(lines) == 1:
        raise InputError(Problem(source, None, None, "the file has a header but no data rows"))
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False, na_values=[""], engine="python"
        )
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise InputError(Problem(source, None, None, f"cannot read file: {exc}")) from None
    frame.columns = [str(c).strip().upper().replace(" ", "_") for c in frame.columns]
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if repeated:
        raise InputError([Problem(source, None, c, "the header names this column twice") for c in repeated])
    return frame


def _missing(source: str, frame: pd.DataFrame, required: list[str]) -> None:
    """Refuse a file without every required column, naming each missing one."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        present = ", ".join(frame.columns)
        raise InputError(
            [
                Problem(source, None, c, f"required column is missing (columns present: {present})")
                for c in missing
            ]
        )


def _release_month(
    path: Path, period: dt.date | None, frame: pd.DataFrame, problems: ProblemList
) -> pd.Series:
    """The release month of every row of a file without dates: ``--period``, else the file name's."""
    release_month = period or month_from_name(path)
    if release_month is None:
        problems.append(
            Problem(
                str(path), None, "DATE", "no DATE column and no release month in the file name: use --period"
            )
        )
    return pd.Series([release_month] * len(frame), index=frame.index, dtype=object)


def _more_deaths_than_spells(
    source: str, observed: np.ndarray, spells: np.ndarray, column: str
) -> list[Problem]:
    return [
        Problem(source, int(i) + 1, "OBSERVED", f"more deaths than spells ({column})")
        for i in np.flatnonzero(observed > spells)
    ]


def _batch(
    source: str, frame: pd.DataFrame, code_column: str, observations: pd.DataFrame, **frames: pd.DataFrame
) -> Batch:
    """The batch of a validated release: its observations, the trusts it names and any other frames."""
    codes = frame[code_column].str.strip()
    organisations = []
    for kind in sorted({kind_from_ods_code(c) for c in codes}):
        chosen = frame[codes.map(kind_from_ods_code) == kind]
        organisations.append(organisations_from(chosen, code_column, "PROVIDER_NAME", kind))
    return Batch(
        source,
        len(frame),
        organisations=pd.concat(organisations, ignore_index=True),
        observations=observations[list(OBSERVATION_COLUMNS)],
        **frames,
    )


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and validate one SHMI file (consolidated, raw release or current trust-level file)."""
    source = str(path)
    frame = _read_without_footer(path)
    if any(c in frame.columns for c in CURRENT_MARKERS):
        return _read_current(path, frame, period)
    problems = ProblemList()
    required = [c.name for c in COLUMNS]
    if "DATE" not in frame.columns and "INDICATOR_CODE" not in frame.columns:
        required.insert(0, "DATE or INDICATOR_CODE")
    _missing(source, frame, required)
    if "INDICATOR_CODE" in frame.columns:
        problems.attempt(
            validate, frame, [Column("INDICATOR_CODE", "text", allowed=(INDICATOR_CODE,))], source
        )
    if "DATE" in frame.columns:
        dates = problems.attempt(validate, frame, [Column("DATE", "date")], source)
        release = to_dates(dates["DATE"]) if dates is not None else None
    else:
        release = _release_month(path, period, frame, problems)
    values = problems.attempt(validate, frame, COLUMNS, source)
    if values is not None:
        problems += _more_deaths_than_spells(source, values["OBSERVED"], values["DENOMINATOR"], "DENOMINATOR")
    if release is not None:
        keyed = frame.assign(_release=release)
        problems.attempt(check_unique, keyed, ["PROVIDER", "_release"], source)
    problems.raise_if_any()

    observations = pd.DataFrame(
        {
            "indicator_id": "shmi",
            "org_code": frame["PROVIDER"].str.strip().astype(object),
            "period": release,
            "numerator": values["OBSERVED"],
            "denominator": values["DENOMINATOR"],
            "expected": values["EXPECTED"],
            "value": values["VALUE"],
        }
    )
    return _batch(source, frame, "PROVIDER", observations)


def _read_current(path: Path, frame: pd.DataFrame, period: dt.date | None) -> Batch:
    """Read the current trust-level layout: the observations, and the published banding as the verdict
    with carelens's recomputation beside it."""
    source = str(path)
    _missing(source, frame, [c.name for c in CURRENT_COLUMNS])
    problems = ProblemList()
    release = _release_month(path, period, frame, problems)
    values = problems.attempt(validate, frame, CURRENT_COLUMNS, source)
    if values is not None:
        problems += _more_deaths_than_spells(source, values["OBSERVED"], values["SPELLS"], "SPELLS")
        problems += _limit_problems(source, values)
    problems.attempt(check_unique, frame, ["PROVIDER_CODE"], source)
    problems.raise_if_any()

    codes = frame["PROVIDER_CODE"].str.strip().astype(object)
    observations = pd.DataFrame(
        {
            "indicator_id": "shmi",
            "org_code": codes,
            "period": release,
            "numerator": values["OBSERVED"],
            "denominator": values["SPELLS"],
            "expected": values["EXPECTED"],
            "value": values["SHMI_VALUE"],
        }
    )
    again = recompute(values["OBSERVED"], values["EXPECTED"])
    verdicts = pd.DataFrame(
        {
            "indicator_id": "shmi",
            "org_code": codes,
            "period": release,
            "value": values["SHMI_VALUE"],
            "band": values["SHMI_BANDING"].astype(np.int64),
            "level": BANDING_LEVEL,
            "lower": values["OD_LL"],
            "upper": values["OD_UL"],
            "poisson_lower": values["PO_LL"],
            "poisson_upper": values["PO_UL"],
            **again,
        }
    )[list(PUBLISHED_VERDICT_COLUMNS)]
    return _batch(source, frame, "PROVIDER_CODE", observations, published_verdicts=verdicts)


def _limit_problems(source: str, values: dict[str, np.ndarray]) -> list[Problem]:
    """Each pair of limits in order (lower not above upper), and each banding agreeing with the value
    and the overdispersion limits. Published values and limits are rounded (4 dp), so a value equal to
    a limit is consistent with the bands on either side of it."""
    problems = [
        Problem(source, int(i) + 1, low, f"{low} {values[low][i]:g} is above {high} {values[high][i]:g}")
        for low, high in (("PO_LL", "PO_UL"), ("OD_LL", "OD_UL"))
        for i in np.flatnonzero(values[low] > values[high])
    ]
    value, lower, upper = values["SHMI_VALUE"], values["OD_LL"], values["OD_UL"]
    band = values["SHMI_BANDING"].astype(np.int64)
    wrong = ((band == 1) & (value < upper)) | ((band == 3) & (value > lower))
    wrong |= (band == 2) & ((value > upper) | (value < lower))
    for i in np.flatnonzero(wrong):
        where = (
            "above OD_UL" if band[i] == 1 else "below OD_LL" if band[i] == 3 else "between OD_LL and OD_UL"
        )
        problems.append(
            Problem(
                source,
                int(i) + 1,
                "SHMI_BANDING",
                f"banding {band[i]} ({BAND_TEXT[band[i]]}) needs SHMI_VALUE {where}, but SHMI_VALUE is "
                f"{value[i]:g} with OD_LL {lower[i]:g} and OD_UL {upper[i]:g}",
            )
        )
    return problems


def recompute(observed, expected) -> dict[str, np.ndarray]:
    """carelens's own banding of one release from its published counts, by the SHMI method
    (docs/methods/shmi.md): the value O/E, the 95% overdispersion-adjusted limits and band, and the
    95% exact Poisson limits. From counts rounded to the nearest 5 these differ a little from the
    published figures, which were computed from the unrounded counts."""
    adjusted = funnel(observed, expected, kind="sr", method="shmi", levels=(BANDING_LEVEL,))
    poisson = funnel(
        observed, expected, kind="sr", method="shmi", levels=(BANDING_LEVEL,), overdispersion=None
    )
    lower, upper = adjusted.limits(BANDING_LEVEL)
    poisson_lower, poisson_upper = poisson.limits(BANDING_LEVEL)
    return {
        "recomputed_value": adjusted.value,
        "recomputed_band": adjusted.band.astype(np.int64),
        "recomputed_lower": lower,
        "recomputed_upper": upper,
        "recomputed_poisson_lower": poisson_lower,
        "recomputed_poisson_upper": poisson_upper,
    }


SOURCE = Source(
    "shmi",
    "SHMI releases: observed and expected deaths per trust per release (and the published banding)",
    read,
)
