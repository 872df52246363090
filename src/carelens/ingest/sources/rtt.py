"""NHS England's Referral to Treatment (RTT) waiting times "full CSV extract", as published (one a month).

One row per period × provider × commissioner × RTT part × treatment function: ``Period``
(``RTT-April-2026``), the provider's and commissioner's codes and names (and their parents'), ``RTT Part
Type`` (``Part_1A`` / ``Part_1B`` completed admitted / non-admitted pathways, ``Part_2`` incomplete pathways,
``Part_2A`` incomplete pathways with a decision to admit, ``Part_3`` new RTT periods), ``Treatment Function
Code`` (``C_100`` ..., ``X02`` ..., ``C_999`` = all treatment functions), then 105 week bands (``Gt 00 To
01 Weeks SUM 1`` ... ``Gt 104 Weeks SUM 1``), ``Total``, ``Patients with unknown clock start date`` and
``Total All``. The file may be given as published (CSV) or inside a ``.zip`` holding one CSV (macOS
``__MACOSX`` entries are ignored).

Only the waiting list (``Part_2``) is stored, summed over commissioners, per provider and treatment
function: ``rtt_within_18_weeks`` = waiting up to 18 weeks (the first 18 bands) / all incomplete pathways
(``Total All``), and ``rtt_over_52_weeks`` = waiting more than 52 weeks (bands from ``Gt 52 To 53``) /
all incomplete pathways; the total (``C_999``) under those ids, each treatment function under
``<id>_<code>`` (``rtt_within_18_weeks_c_110``, ``rtt_over_52_weeks_x02``), each id declared in
``config/indicators/rtt.yaml``. NHS England publishes no unknown-clock-start count for incomplete pathways
(the column is blank on every ``Part_2`` row), so ``Total All`` is the waiting list, and it must equal the
sum of the week bands.

A blank cell means "not applicable" or "none reported", never a figure: a blank band of a ``Part_2`` row
adds nothing to its sums, and ``Part_3`` rows (blank bands) are checked but not summed.
Checks (every problem named by row and column, all reported together): the header is this layout; counts
are whole numbers ≥ 0; every row states the same month and a known part; no provider × commissioner ×
part × treatment function is on two rows; on every ``Part_2`` row the bands sum to ``Total All``, and each
provider × commissioner's ``C_999`` row is the sum of its treatment functions' rows; a treatment function
has indicators declared. Kinds come from ODS (:mod:`carelens.ingest.reference`), a stored kind first; a
code ODS does not list is an independent-sector organisation (three characters) or one of its sites (five).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.ingest.reference import kind_of
from carelens.ingest.sources.base import MAX_PROBLEMS, MONTHS, Batch, ProblemList, Source, organisations_from
from carelens.model.indicators import load_indicators
from carelens.model.observations import OBSERVATION_COLUMNS
from carelens.model.organisations import DEFAULT_SECTOR, OrgKind
from carelens.tables import Column, iter_text_table, read_header, validate

PERIOD = "Period"
PROVIDER, PROVIDER_NAME = "Provider Org Code", "Provider Org Name"
COMMISSIONER = "Commissioner Org Code"
PART, FUNCTION = "RTT Part Type", "Treatment Function Code"
LABELS = (
    PERIOD,
    "Provider Parent Org Code",
    "Provider Parent Name",
    PROVIDER,
    PROVIDER_NAME,
    "Commissioner Parent Org Code",
    "Commissioner Parent Name",
    COMMISSIONER,
    "Commissioner Org Name",
    PART,
    "RTT Part Description",
    FUNCTION,
    "Treatment Function Name",
)
BANDS = (*(f"Gt {w:02d} To {w + 1:02d} Weeks SUM 1" for w in range(104)), "Gt 104 Weeks SUM 1")
"""The week bands, shortest wait first: band ``k`` (from 0) counts waits of more than k and up to k + 1 weeks."""
TOTAL, UNKNOWN, TOTAL_ALL = "Total", "Patients with unknown clock start date", "Total All"
COUNTS = (*BANDS, TOTAL, UNKNOWN, TOTAL_ALL)
COLUMNS = (*LABELS, *COUNTS)
WITHIN_18 = BANDS[:18]
"""Waiting up to 18 weeks: NHS England's 18-week standard counts the bands ``Gt 00 To 01`` ... ``Gt 17 To 18``."""
OVER_52 = BANDS[52:]
"""Waiting more than 52 weeks: ``Gt 52 To 53`` ... ``Gt 104``."""
PARTS = ("Part_1A", "Part_1B", "Part_2", "Part_2A", "Part_3")
WAITING_LIST = "Part_2"
ALL_FUNCTIONS = "C_999"
INDICATORS = ("rtt_within_18_weeks", "rtt_over_52_weeks")
PERIOD_PATTERN = re.compile(r"RTT-([A-Za-z]+)-(\d{4})")
BATCH_BYTES = 4 << 20
"""CSV bytes checked at a time (about 9,000 rows): as quick as larger batches, in less memory."""
MAX_CSV_BYTES = 2 << 30
"""Largest CSV accepted inside a zip (a month's national file is about 80 MB)."""


def month_of(text: str) -> dt.date | None:
    """The month of a ``Period`` cell (``RTT-April-2026``), or None when it is not one."""
    found = PERIOD_PATTERN.fullmatch(text.strip())
    if found is None or found.group(1).lower() not in MONTHS:
        return None
    return dt.date(int(found.group(2)), MONTHS[found.group(1).lower()], 1)


def indicator_id(measure: str, function: str) -> str:
    """The indicator of a measure for a treatment function: the measure itself for all of them (C_999)."""
    return measure if function == ALL_FUNCTIONS else f"{measure}_{function.lower()}"


def read(path: Path, period: dt.date | None = None) -> Batch:
    """Read and check one month's full extract, CSV or zipped (``period`` is ignored: the rows state it)."""
    if path.suffix.lower() != ".zip":
        return _read_csv(path, str(path))
    with _extracted(path) as (csv_path, source):
        try:
            return _read_csv(csv_path, source)
        except InputError as error:  # the table helpers name the extracted copy: name the zip's member
            inside = str(csv_path)
            raise InputError(
                [replace(p, source=source) if p.source == inside else p for p in error.problems]
            ) from None


@contextmanager
def _extracted(path: Path) -> Iterator[tuple[Path, str]]:
    """The one CSV in a zip, extracted to a temporary folder, and how to name it (``file.zip (member)``)."""
    source = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                m
                for m in archive.infolist()
                if not m.is_dir()
                and not m.filename.startswith("__MACOSX/")
                and not PurePosixPath(m.filename).name.startswith("._")
                and m.filename.lower().endswith(".csv")
            ]
            if len(members) != 1:
                names = ", ".join(m.filename for m in members)
                raise InputError(
                    Problem(
                        source,
                        None,
                        None,
                        "the zip holds no CSV file"
                        if not members
                        else f"the zip holds {len(members)} CSV files ({names}): give one at a time",
                    )
                )
            [member] = members
            if member.file_size > MAX_CSV_BYTES:
                raise InputError(
                    Problem(source, None, None, f"{member.filename} is larger than {MAX_CSV_BYTES:,} bytes")
                )
            with tempfile.TemporaryDirectory(prefix="carelens-rtt-") as folder:
                target = Path(folder) / PurePosixPath(member.filename).name
                with archive.open(member) as packed, target.open("wb") as unpacked:
                    shutil.copyfileobj(packed, unpacked, 1 << 20)
                yield target, f"{path} ({member.filename})"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise InputError(Problem(source, None, None, f"not a whole zip file: {exc}")) from None


def _read_csv(path: Path, source: str) -> Batch:
    """Read the CSV at ``path`` a batch at a time, naming it ``source`` in problems; then check across
    batches (repeated keys, totals against treatment functions) and sum the waiting list."""
    header = [h.strip() for h in read_header(path)]
    unknown = [h or f"column {i + 1}" for i, h in enumerate(header) if h not in COLUMNS]
    missing = [c for c in COLUMNS if c not in header]
    if unknown or missing:
        raise InputError(
            [Problem(source, None, c, "not a column of the RTT full extract") for c in unknown]
            + [Problem(source, None, c, "required column is missing") for c in missing]
        )
    problems = ProblemList()
    months: dict[dt.date, int] = {}
    keys: list[pd.DataFrame] = []
    waiting: list[pd.DataFrame] = []
    rows = 0
    for frame in iter_text_table(path, batch_bytes=BATCH_BYTES):
        frame.columns = header
        rows += len(frame)
        checked = problems.attempt(_checked_batch, frame, source, months)
        if checked is not None:
            keys.append(checked[0])
            waiting.append(checked[1])
    problems.raise_if_any()
    keys_frame = pd.concat(keys, ignore_index=True)
    lists = pd.concat(waiting, ignore_index=True)
    repeated = _repeated_keys(source, keys_frame)
    problems += repeated or _functions_add_up(source, lists)  # a repeated row would unbalance the totals
    problems += _undeclared_functions(source, lists)
    problems.raise_if_any()
    [month] = months
    return Batch(
        source,
        rows,
        organisations=_organisations(keys_frame),
        observations=_observations(lists, month),
    )


def _checked_batch(
    frame: pd.DataFrame, source: str, months: dict[dt.date, int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check one batch of rows; return its keys (every row) and its waiting-list sums (``Part_2`` rows)."""
    first = int(frame.attrs["first_row"])
    problems: list[Problem] = []
    try:
        values = validate(
            frame,
            [
                Column(PERIOD, "text"),
                Column(PROVIDER, "code"),
                Column(PROVIDER_NAME, "text"),
                Column(COMMISSIONER, "code"),
                Column(PART, "text", allowed=PARTS),
                Column(FUNCTION, "code"),
            ]
            + [Column(c, "count", allow_missing=True) for c in COUNTS],
            source,
        )
    except InputError as error:
        problems += error.problems
        values = None
    problems += _check_months(source, frame[PERIOD], first, months)
    if values is None or problems:
        raise InputError(problems)
    part2 = frame[PART].to_numpy(dtype=object) == WAITING_LIST
    bands = np.column_stack([values[b][part2] for b in BANDS])
    summed = np.nansum(bands, axis=1)
    total_all = values[TOTAL_ALL][part2]
    within = np.nansum(bands[:, : len(WITHIN_18)], axis=1)
    over = np.nansum(bands[:, -len(OVER_52) :], axis=1)
    rows = np.flatnonzero(part2) + first
    for i in np.flatnonzero(np.isnan(total_all)):
        problems.append(Problem(source, int(rows[i]), TOTAL_ALL, "missing on an incomplete-pathway row"))
    for i in np.flatnonzero(~np.isnan(total_all) & (summed != total_all)):
        unknown = values[UNKNOWN][part2][i]
        why = "" if np.isnan(unknown) else f" (unknown clock start {unknown:,.0f} is not counted in a band)"
        problems.append(
            Problem(
                source,
                int(rows[i]),
                TOTAL_ALL,
                f"says {total_all[i]:,.0f} but the week bands sum to {summed[i]:,.0f}{why}",
            )
        )
    stated = values[TOTAL][part2]
    for i in np.flatnonzero(~np.isnan(stated) & (stated != summed)):
        problems.append(
            Problem(
                source,
                int(rows[i]),
                TOTAL,
                f"says {stated[i]:,.0f} but the week bands sum to {summed[i]:,.0f}",
            )
        )
    if problems:
        raise InputError(problems)
    keys = pd.DataFrame(
        {
            "provider": frame[PROVIDER],
            "name": frame[PROVIDER_NAME],
            "commissioner": frame[COMMISSIONER],
            "part": frame[PART],
            "function": frame[FUNCTION],
            "row": np.arange(len(frame)) + first,
        }
    )
    lists = pd.DataFrame(
        {
            "provider": frame[PROVIDER][part2].to_numpy(dtype=object),
            "commissioner": frame[COMMISSIONER][part2].to_numpy(dtype=object),
            "function": frame[FUNCTION][part2].to_numpy(dtype=object),
            "row": rows,
            "within": within,
            "over": over,
            "waiting": total_all,
        }
    )
    return keys, lists


def _check_months(source: str, periods: pd.Series, first: int, months: dict[dt.date, int]) -> list[Problem]:
    """Every row states the month the file's first row does (``months``: that month and its row). Each
    distinct cell is parsed once (a file states one month on every row)."""
    problems: list[Problem] = []
    codes, cells = pd.factorize(periods.astype(object))  # missing cells: reported by the column check
    for number, text in enumerate(cells):
        rows = np.flatnonzero(codes == number)[:MAX_PROBLEMS] + first
        month = month_of(text)
        if month is None:
            why = f"not a period like RTT-April-2026: {text!r}"
        elif months and month not in months:
            earlier = next(iter(months))
            why = f"{text} is not the file's month ({earlier:%B %Y}, row {months[earlier]})"
        else:
            months.setdefault(month, int(rows[0]))
            continue
        problems += [Problem(source, int(row), PERIOD, why) for row in rows]
    return problems


def _repeated_keys(source: str, keys: pd.DataFrame) -> list[Problem]:
    """A problem for each row repeating an earlier row's provider × commissioner × part × treatment function."""
    key = ["provider", "commissioner", "part", "function"]
    repeated = keys.duplicated(key, keep=False).to_numpy()
    if not repeated.any():
        return []
    seen = keys[repeated]
    earliest = seen.groupby(key, sort=False)["row"].transform("min")
    later = seen[seen["row"] != earliest]
    return [
        Problem(
            source,
            int(r.row),
            FUNCTION,
            f"{r.provider} × {r.commissioner} × {r.part} × {r.function} is also on row {int(first)}",
        )
        for r, first in zip(later.itertuples(index=False), earliest[later.index], strict=True)
    ]


def _functions_add_up(source: str, lists: pd.DataFrame) -> list[Problem]:
    """Each provider × commissioner's ``C_999`` waiting-list row is the sum of its treatment functions'."""
    total = lists["function"] == ALL_FUNCTIONS
    pair = ["provider", "commissioner"]
    parts = lists[~total].groupby(pair)[["waiting", "within", "over"]].sum()
    stated = lists[total].set_index(pair)
    summed = parts.reindex(stated.index, fill_value=0.0)
    problems = []
    for column, name in (("waiting", TOTAL_ALL), ("within", WITHIN_18[-1]), ("over", OVER_52[0])):
        what = {"waiting": "", "within": " (up to 18 weeks)", "over": " (over 52 weeks)"}[column]
        wrong = stated[column].to_numpy() != summed[column].to_numpy()
        problems += [
            Problem(
                source,
                int(stated["row"].iloc[i]),
                name,
                f"the {ALL_FUNCTIONS} row{what} says {stated[column].iloc[i]:,.0f} but its treatment "
                f"functions sum to {summed[column].iloc[i]:,.0f}",
            )
            for i in np.flatnonzero(wrong)
        ]
    orphans = parts.index.difference(stated.index)
    first_rows = lists[~total].groupby(pair)["row"].min()
    problems += [
        Problem(
            source,
            int(first_rows[p]),
            FUNCTION,
            f"{p[0]} × {p[1]} has treatment functions but no {ALL_FUNCTIONS} row",
        )
        for p in orphans
    ]
    return problems


def _undeclared_functions(source: str, lists: pd.DataFrame) -> list[Problem]:
    """A problem for each treatment function whose indicators are not declared, on its first row."""
    declared = load_indicators()
    first_rows = lists.groupby("function")["row"].min()
    return [
        Problem(
            source,
            int(row),
            FUNCTION,
            f"no indicators are declared for treatment function {function} "
            f"({', '.join(indicator_id(m, function) for m in INDICATORS)})",
        )
        for function, row in first_rows.items()
        if any(indicator_id(m, function) not in declared for m in INDICATORS)
    ]


def _unlisted_kind(code: str) -> OrgKind:
    """A code ODS's trust files do not list: an independent-sector organisation (three characters, e.g. NV1
    InHealth) or one of the sites it reports by (five, e.g. NT313 Spire Wellesley Hospital)."""
    return OrgKind.INDEPENDENT_PROVIDER if len(code) == 3 else OrgKind.LOCATION


def _organisations(keys: pd.DataFrame) -> pd.DataFrame:
    providers = organisations_from(keys, "provider", "name", OrgKind.LOCATION)
    kinds = [kind_of(c, _unlisted_kind) for c in providers["code"]]
    providers["kind"] = [k.value for k in kinds]
    providers["sector"] = [DEFAULT_SECTOR[k].value for k in kinds]
    return providers


def _observations(lists: pd.DataFrame, month: dt.date) -> pd.DataFrame:
    """Per provider and treatment function with anyone waiting: both indicators, summed over commissioners."""
    sums = (
        lists.groupby(["provider", "function"], sort=True)[["within", "over", "waiting"]].sum().reset_index()
    )
    sums = sums[sums["waiting"] > 0]
    frames = []
    for measure, numerator in zip(INDICATORS, ("within", "over"), strict=True):
        frames.append(
            pd.DataFrame(
                {
                    "indicator_id": [indicator_id(measure, f) for f in sums["function"]],
                    "org_code": sums["provider"].to_numpy(dtype=object),
                    "period": month,
                    "numerator": sums[numerator].to_numpy(),
                    "denominator": sums["waiting"].to_numpy(),
                    "expected": np.nan,
                    "value": (sums[numerator] / sums["waiting"]).to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[list(OBSERVATION_COLUMNS)]


SOURCE = Source(
    "rtt",
    "NHS England's referral to treatment full CSV extract (or its zip) as published: the waiting list per "
    "provider and treatment function, within 18 weeks and over 52 weeks",
    read,
    stored_kinds=True,
)
