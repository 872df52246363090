"""The practice table the allocation engine works from: one row per GP practice for one year.

Built from frames in the store's own column names (organisations, relationships, populations), so the
same function serves the store (:func:`from_store`) and a file read by the ``gp-weighted-population``
importer's reader (:func:`from_batch`). Places (sub-commissioner areas) are the local authority
districts practices lie in: ICB "places" are mostly local-authority footprints.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carelens.errors import InputError, Problem
from carelens.model.organisations import RelationshipKind
from carelens.store import repository, schema

MEASURE_COLUMNS = {
    "projected": "population",
    "wp_general_acute": "general_acute",
    "wp_community": "community",
    "wp_mental_health": "mental_health",
    "wp_maternity": "maternity",
    "wp_health_inequalities": "health_inequalities",
    "wp_prescribing": "prescribing",
    "wp_core_final": "core_final",
    "wp_primary_medical_care": "primary_medical_care",
    "wp_primary_medical_care_final": "primary_medical_care_final",
}
"""Population measure in the store -> column of the practice table (people or weighted people)."""
CODE_COLUMNS = (
    "practice_code",
    "practice_name",
    "commissioner_code",
    "commissioner_name",
    "region_code",
    "region_name",
    "place_code",
    "place_name",
)
PRACTICE_COLUMNS = CODE_COLUMNS + tuple(MEASURE_COLUMNS.values())


def packaged_file(year: int) -> Path:
    """The packaged NHS England practice weighted-population file for a year (2022, 2023 or 2024)."""
    name = f"gp_practice_weighted_population_{year}_{(year + 1) % 100:02d}.csv.gz"
    path = Path(str(resources.files("carelens") / "data" / "allocations" / name))
    if not path.is_file():
        raise InputError(Problem(name, None, None, "no packaged weighted-population file for this year"))
    return path


def practice_table(
    organisations: pd.DataFrame,
    relationships: pd.DataFrame,
    populations: pd.DataFrame,
    year: int,
    source: str = "store",
) -> pd.DataFrame:
    """Join practices' populations for ``year`` to their commissioner, region and place.

    ``populations``: columns org_code, year, measure, count (age band and sex 'all');
    ``relationships``: kind, subject_code, object_code (links holding on 1 April of the year);
    ``organisations``: code, name, kind. Missing component values count as 0 weighted people.
    """
    pops = populations[(populations["year"] == year) & populations["measure"].isin(list(MEASURE_COLUMNS))]
    if pops.empty:
        raise InputError(Problem(source, None, None, f"no practice weighted populations for {year}"))
    wide = pops.pivot_table(index="org_code", columns="measure", values="count", aggfunc="sum")
    wide = wide.reindex(columns=list(MEASURE_COLUMNS)).rename(columns=MEASURE_COLUMNS)
    if wide["population"].isna().any():
        missing = wide.index[wide["population"].isna()][:10].tolist()
        raise InputError(Problem(source, None, "projected", f"practices without a population: {missing}"))
    wide = wide.fillna(0.0)
    names = organisations.drop_duplicates("code").set_index("code")["name"]

    def link(kind: RelationshipKind) -> pd.Series:
        rows = relationships[relationships["kind"] == kind.value]
        return rows.drop_duplicates("subject_code").set_index("subject_code")["object_code"]

    table = pd.DataFrame({"practice_code": wide.index.astype(object)})
    table["practice_name"] = table["practice_code"].map(names)
    table["commissioner_code"] = table["practice_code"].map(link(RelationshipKind.PRACTICE_COMMISSIONER))
    table["commissioner_name"] = table["commissioner_code"].map(names)
    table["region_code"] = table["commissioner_code"].map(link(RelationshipKind.COMMISSIONER_REGION))
    table["region_name"] = table["region_code"].map(names)
    table["place_code"] = table["practice_code"].map(link(RelationshipKind.LOCAL_AUTHORITY_AREA))
    table["place_name"] = table["place_code"].map(names)
    orphans = table["commissioner_code"].isna()
    if orphans.any():
        codes = table.loc[orphans, "practice_code"].head(10).tolist()
        raise InputError(
            Problem(
                source,
                None,
                "practice_commissioner",
                f"{int(orphans.sum())} practices have no commissioner, e.g. {codes}",
            )
        )
    for column in MEASURE_COLUMNS.values():
        table[column] = wide[column].to_numpy(dtype=float)
    table["region_code"] = table["region_code"].fillna("unknown")
    table["place_code"] = table["place_code"].fillna(table["commissioner_code"])
    return table[list(PRACTICE_COLUMNS)].sort_values("practice_code", ignore_index=True)


def from_batch(batch, year: int | None = None) -> pd.DataFrame:
    """The practice table from a ``gp-weighted-population`` reader's batch (any object with
    ``organisations``, ``relationships``, ``populations`` frames and ``source_file``)."""
    pops = batch.populations
    year = year if year is not None else int(pops["year"].iloc[0])
    return practice_table(batch.organisations, batch.relationships, pops, year, batch.source_file)


def from_file(path: str | Path, year: int | None = None) -> pd.DataFrame:
    """The practice table from an NHS England practice weighted-population file.

    Reads it with the ``gp-weighted-population`` importer's own reader (one way to read the file: the
    same validation and error messages as ``carelens ingest``), without touching the store.
    """
    from carelens.ingest.sources.gp_weighted_population import read

    period = dt.date(year, 4, 1) if year is not None else None
    return from_batch(read(Path(path), period), year)


def from_store(connection: sa.Connection, year: int) -> pd.DataFrame:
    """The practice table for ``year`` from the store (current rows; links holding on 1 April)."""
    pop = schema.population
    query = sa.select(pop.c.org_code, pop.c.year, pop.c.measure, pop.c["count"]).where(
        pop.c.year == year,
        pop.c.measure.in_(list(MEASURE_COLUMNS)),
        pop.c.age_band == "all",
        pop.c.sex == "all",
        pop.c.superseded_by.is_(None),
    )
    populations = pd.DataFrame(connection.execute(query).mappings().all())
    if populations.empty:
        raise InputError(
            Problem(
                "store",
                None,
                None,
                f"no practice weighted populations for {year}: import them with "
                "`carelens ingest gp-weighted-population FILE`",
            )
        )
    day = dt.date(year, 4, 1)
    rel = schema.org_relationship
    kinds = [
        RelationshipKind.PRACTICE_COMMISSIONER.value,
        RelationshipKind.COMMISSIONER_REGION.value,
        RelationshipKind.LOCAL_AUTHORITY_AREA.value,
    ]
    links = pd.DataFrame(
        connection.execute(
            sa.select(rel.c.kind, rel.c.subject_code, rel.c.object_code, rel.c.valid_from).where(
                rel.c.kind.in_(kinds),
                sa.or_(rel.c.valid_from.is_(None), rel.c.valid_from <= day),
                sa.or_(rel.c.valid_to.is_(None), rel.c.valid_to >= day),
            )
        )
        .mappings()
        .all(),
        columns=["kind", "subject_code", "object_code", "valid_from"],
    )
    # A practice's own links first; the latest-starting link wins where two overlap.
    links = links.sort_values("valid_from", na_position="first").iloc[::-1]
    codes = set(populations["org_code"]) | set(links["object_code"])
    organisations = repository.existing_organisations(connection, codes)
    return practice_table(organisations, links, populations, year)


def need_index(weighted: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Weighted population per head (1 = national average when columns sum to the population)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(weighted, dtype=float) / np.asarray(population, dtype=float)
