"""What every source reader returns (a :class:`Batch`) and helpers the readers share.

A reader turns one file into validated frames (organisations, relationships, observations,
populations, ratings) without touching the database, reporting every problem it finds in one
:class:`~carelens.errors.InputError`. The import service then checks the batch against the store
(unknown organisation codes, conflicting kinds) and writes it in one transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carelens.errors import InputError, Problem
from carelens.model.observations import OBSERVATION_COLUMNS
from carelens.model.organisations import DEFAULT_SECTOR, OrgKind

ORGANISATION_COLUMNS = ("code", "name", "kind", "subtype", "sector")
RELATIONSHIP_COLUMNS = ("kind", "subject_code", "object_code", "valid_from", "row")
POPULATION_COLUMNS = ("org_code", "year", "measure", "age_band", "sex", "count")
RATING_COLUMNS = (
    "org_code",
    "level",
    "service",
    "key_question",
    "rating",
    "report_date",
    "report_link_id",
    "method",
)
PUBLISHED_VERDICT_COLUMNS = (
    "indicator_id",
    "org_code",
    "period",
    "value",
    "band",
    "level",
    "lower",
    "upper",
    "poisson_lower",
    "poisson_upper",
    "recomputed_value",
    "recomputed_band",
    "recomputed_lower",
    "recomputed_upper",
    "recomputed_poisson_lower",
    "recomputed_poisson_upper",
)
"""A publisher's verdict on an observation and carelens's recomputation beside it
(:data:`carelens.store.schema.published_verdict`)."""


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass
class Batch:
    """Everything read from one file, validated and in the store's column names.

    Dates (``period``, ``valid_from``, ``report_date``) are :class:`datetime.date` objects.
    ``relationships.row`` is the data row that asserted the link, for error messages.
    """

    source_file: str
    rows: int
    organisations: pd.DataFrame = field(default_factory=lambda: _empty(ORGANISATION_COLUMNS))
    relationships: pd.DataFrame = field(default_factory=lambda: _empty(RELATIONSHIP_COLUMNS))
    observations: pd.DataFrame = field(default_factory=lambda: _empty(OBSERVATION_COLUMNS))
    populations: pd.DataFrame = field(default_factory=lambda: _empty(POPULATION_COLUMNS))
    ratings: pd.DataFrame = field(default_factory=lambda: _empty(RATING_COLUMNS))
    published_verdicts: pd.DataFrame = field(default_factory=lambda: _empty(PUBLISHED_VERDICT_COLUMNS))
    observation_rows: np.ndarray | None = None
    """The data row of each observation, to name in messages (None: a reader that does not say)."""


Reader = Callable[[Path, dt.date | None], Batch]
Folder = Callable[[Path], tuple[list[Path], list[tuple[Path, str]]]]
"""A folder's files to import, in order, and the files skipped with why."""
Streamer = Callable[[Path, dt.date | None, "ProblemList"], Iterator[Batch]]


@dataclass(frozen=True)
class Source:
    """An importer: its name on the command line, what it reads, and its reader.

    The reader gets the file and the ``--period`` option (None when not given); it uses the period
    for files that do not state it (e.g. a release date missing from the rows). A source whose files
    can be national in size also has ``stream``: it yields the file as batches of at most a few hundred
    thousand rows, adding each batch's problems to the list it is given (and yielding nothing for a
    batch that had any), so an import's memory is bounded by the batch, not the file.
    ``authoritative_names``: a name this source gives replaces a stored organisation's name (a curated
    list or the registry's own file corrects names; a data release only names the unnamed).
    ``stored_kinds``: the source names organisations by code only, so the kinds it gives are for codes new
    to the store; a stored organisation keeps its kind (from ODS or a curated list) rather than clashing.
    ``known_only``: a reference file covering every kind of organisation (ODS successions): links naming
    an organisation the store does not hold are left out and counted, not refused.
    ``folder``: for a source published as a series of files, which files of a folder to import and in
    what order (e.g. one a month, oldest first), and which it skips and why.
    """

    name: str
    summary: str
    read: Reader
    stream: Streamer | None = None
    authoritative_names: bool = False
    stored_kinds: bool = False
    known_only: bool = False
    folder: Folder | None = None

    def batches(self, path: Path, period: dt.date | None, problems: ProblemList) -> Iterator[Batch]:
        """The file's batches (one when the source has no ``stream``); problems go to ``problems``."""
        if self.stream is not None:
            yield from self.stream(path, period, problems)
            return
        batch = problems.attempt(self.read, path, period)
        if batch is not None:
            yield batch


class ProblemList(list[Problem]):
    """Problems collected while reading, so that every one is reported, not just the first.

    At most :data:`MAX_PROBLEMS` are kept (a wholly wrong national file would otherwise fill memory);
    the rest are counted and reported as one more problem.
    """

    dropped: int = 0

    def append(self, problem: Problem) -> None:
        if len(self) < MAX_PROBLEMS:
            super().append(problem)
        else:
            self.dropped += 1

    def extend(self, problems) -> None:
        for problem in problems:
            self.append(problem)

    def __iadd__(self, problems):
        self.extend(problems)
        return self

    def attempt(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``function``; on :class:`InputError` keep its problems and return None."""
        try:
            return function(*args, **kwargs)
        except InputError as error:
            self.extend(error.problems)
            return None

    def raise_if_any(self) -> None:
        if self:
            raise InputError(self.all())

    def all(self) -> list[Problem]:
        """The problems kept, and one saying how many more were found when some were not kept."""
        more = [Problem(self[-1].source, None, None, f"{self.dropped:,} more problems not listed")]
        return list(self) + (more if self.dropped else [])


MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}


class SeenKeys:
    """The keys of a file read in batches, to find a key repeated in a later batch and the row it was
    first on. A key is packed exactly into one 64-bit number (no hashing, so no false repeats): a month
    (20 bits), a code's number in this file (32 bits) and a small category (8 bits), so the file costs 12
    bytes a row here (6 MB for a national monthly A&E file) while its rows are held a batch at a time."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.keys = np.empty(0, dtype=np.uint64)
        self.rows = np.empty(0, dtype=np.int64)

    def pack(self, months: np.ndarray, codes: pd.Series, categories: np.ndarray) -> np.ndarray:
        """One number per row for (month, code, category); ``months`` count from year 0."""
        positions, distinct = pd.factorize(codes)  # every code is present (validated)
        known = np.array([self.codes.setdefault(c, len(self.codes)) for c in distinct], dtype=np.uint64)
        numbers = known[positions]
        return (
            (months.astype(np.uint64) << np.uint64(40))
            | (numbers << np.uint64(8))
            | categories.astype(np.uint64)
        )

    def repeats(self, keys: np.ndarray, rows: np.ndarray) -> list[tuple[int, int]]:
        """(row, earlier row) for each of ``keys`` seen in an earlier batch; then remember them all."""
        found: list[tuple[int, int]] = []
        if len(self.keys):
            at = np.searchsorted(self.keys, keys).clip(max=len(self.keys) - 1)
            hit = np.flatnonzero(self.keys[at] == keys)
            found = [(int(rows[i]), int(self.rows[at[i]])) for i in hit]
        keys = np.concatenate([self.keys, keys])
        rows = np.concatenate([self.rows, rows])
        order = np.argsort(keys, kind="stable")
        self.keys, self.rows = keys[order], rows[order]
        return found


MAX_PROBLEMS = 5000
"""Most problems kept for one command (each file's first ones); the rest are counted."""


def monthly_files(
    path: Path, month_of_file: Callable[[Path], dt.date | str | None]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every month's file under ``path`` (searched recursively), oldest month first, and what is skipped.

    ``month_of_file`` gives a file's month, or why the file is not one of the source's (a ``str``), or None
    for a file of the source whose month cannot be read: such files come first, so that their reader names
    what is wrong. A second file for a month already found (in path order) is skipped: which of two
    vintages is the later cannot be told from the files, so a revision is imported on its own, after the
    month it revises.
    """
    found: dict[dt.date, Path] = {}
    unknown: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for candidate in sorted(p for p in path.rglob("*") if p.is_file()):
        month = month_of_file(candidate)
        if isinstance(month, str):
            skipped.append((candidate, month))
        elif month is None:
            unknown.append(candidate)
        elif month in found:
            skipped.append(
                (
                    candidate,
                    f"a second file for {month:%B %Y} (loaded: {found[month].relative_to(path)}); "
                    "import a revision on its own, after the month it revises",
                )
            )
        else:
            found[month] = candidate
    return unknown + [found[m] for m in sorted(found)], skipped


def month_from_name(path: Path) -> dt.date | None:
    """First day of the month named in a file name: ``…2012-april…``, ``…2021-04…`` or ``…2021_04…``."""
    stem = path.name.lower()
    named = re.search(r"(\d{4})[-_ ]([a-z]+)", stem)
    if named and named.group(2) in MONTHS:
        return dt.date(int(named.group(1)), MONTHS[named.group(2)], 1)
    numbered = re.search(r"(?<!\d)(\d{4})[-_](\d{2})(?!\d)", stem)
    if numbered and 1 <= int(numbered.group(2)) <= 12:
        return dt.date(int(numbered.group(1)), int(numbered.group(2)), 1)
    return None


def financial_year_from_name(path: Path) -> int | None:
    """First year of an NHS financial year named like ``…2024_25…`` or ``…2024-25…`` (April start)."""
    found = re.search(r"(?<!\d)(\d{4})[-_/](\d{2})(?!\d)", path.name)
    if found and (int(found.group(1)) + 1) % 100 == int(found.group(2)):
        return int(found.group(1))
    return None


def organisations_from(
    frame: pd.DataFrame,
    code: str,
    name: str | None,
    kind: OrgKind,
    subtype: str | None = None,
) -> pd.DataFrame:
    """Distinct organisations named by ``code`` (and ``name``) columns; blank codes are skipped.

    A code given several names takes its most frequent one (the first seen on a tie): real files
    have stray mislabelled rows (e.g. three local-authority names in the 2023/24 GP file).
    """
    codes = frame[code].astype("string").str.strip()
    present = codes.notna() & (codes != "")
    names = (
        frame[name].astype("string").str.strip()
        if name
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    pairs = pd.DataFrame({"code": codes[present], "name": names[present]})
    pairs["order"] = range(len(pairs))
    counted = (
        pairs.groupby(["code", "name"], dropna=False, sort=False)
        .agg(uses=("order", "size"), first=("order", "min"))
        .reset_index()
    )
    counted["has_name"] = counted["name"].notna()
    best = counted.sort_values(["has_name", "uses", "first"], ascending=[False, False, True]).drop_duplicates(
        "code"
    )
    best = best.sort_values("first")
    out = pd.DataFrame(
        {
            "code": best["code"].astype(object),
            "name": best["name"].astype(object).where(best["name"].notna(), None),
            "kind": kind.value,
            "subtype": subtype,
            "sector": DEFAULT_SECTOR[kind].value,
        }
    )
    return out.reset_index(drop=True)


def links_from(
    frame: pd.DataFrame, kind: str, subject: str, object_: str, valid_from: dt.date | None
) -> pd.DataFrame:
    """Distinct links ``subject -> object`` of one kind, from rows where both codes are present."""
    subjects = frame[subject].astype("string").str.strip()
    objects = frame[object_].astype("string").str.strip()
    present = subjects.notna() & objects.notna() & (subjects != "") & (objects != "")
    links = pd.DataFrame(
        {
            "kind": kind,
            "subject_code": subjects[present].astype(object),
            "object_code": objects[present].astype(object),
            "valid_from": valid_from,
            "row": frame.index[present] + int(frame.attrs.get("first_row", 1)),
        }
    )
    return links.drop_duplicates(["kind", "subject_code", "object_code"]).reset_index(drop=True)


def not_month_starts(
    source: str, months: pd.DatetimeIndex, cells: pd.Series, first_row: int, column: str = "period"
) -> list[Problem]:
    """A problem for each date that is not the first day of its month (monthly data are dated by that
    day), quoting the cell as written; ``first_row`` is the data row of the first date."""
    return [
        Problem(source, int(i) + first_row, column, f"not the first day of a month: {cells.iloc[i]}")
        for i in np.flatnonzero(months.day != 1)
    ]


def to_dates(values: Any) -> pd.Series:
    """Convert datetime-like values to :class:`datetime.date` objects (None where missing)."""
    parsed = pd.Series(pd.to_datetime(values))
    codes, uniques = pd.factorize(parsed)  # few distinct dates: convert each once
    dates = np.array([v.date() for v in uniques] + [None], dtype=object)
    return pd.Series(dates[codes], index=parsed.index, dtype=object)
