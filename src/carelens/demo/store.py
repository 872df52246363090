"""The packaged demo data set, and loading it into a store.

Every file is real public NHS data shipped in ``carelens/data`` (each folder's README gives the
publisher, licence and provenance), except the place-level data for local system reviews and ACOs
(``systems/``), which no public file provides: it is synthetic, documented, and its places, councils,
trusts and ACOs are fictional codes (``PL…``, ``LA…``, ``RX…``, ``ACO…``) that collide with no real one. Loading goes through the same importers and guarantees as
``carelens ingest``: validated, transactional and idempotent, so loading twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from carelens.packaged import DATA_DIR

DEMO_USER = "carelens-demo"
"""The user name recorded on the demo imports."""


ODS = DATA_DIR / "nhs_ods"
AE_MONTHLY = DATA_DIR / "ae_monthly" / "csv"


def ae_monthly_files() -> list[Path]:
    """The 84 monthly A&E files in month order, each first publication just before the revision of its
    month (so the store keeps both vintages, the revision superseding the first)."""
    from carelens.ingest.sources.ae_monthly import folder, month_of_file

    months, _skipped = folder(AE_MONTHLY)
    first = {month_of_file(p): p for p in sorted((AE_MONTHLY / "vintages_first_publication").glob("*.csv"))}
    files: list[Path] = []
    for path in months:
        month = month_of_file(path)
        if month in first and first[month] != path:
            files.append(first[month])
        files.append(path)
    return files


def demo_loads(include_synthetic: bool = True) -> list[tuple[str, list[Path]]]:
    """(importer, files) pairs in load order: the real data sets, then (optionally) the synthetic ones.

    ODS trusts and sub-ICB locations come first, so later files' organisations take their kind, name,
    region and ICB from the reference data; successions last, once every organisation they link is stored.
    The ODS practice file is not loaded: the A&E sites take their kinds from it through the packaged
    reference (:mod:`carelens.ingest.reference`), and the allocation's practices link to ICBs through the
    weighted-population files, where ``epraccur`` would link them to sub-ICB locations instead."""
    real = [
        ("ods-etr", [ODS / "2026-07" / "etr.csv"]),
        ("ods-eccg", [ODS / "2025-12" / "eccg.csv"]),
        (
            "gp-weighted-population",
            sorted((DATA_DIR / "allocations").glob("gp_practice_weighted_population_*.csv.gz")),
        ),
        ("ae-monthly", ae_monthly_files()),
        ("rtt", sorted((DATA_DIR / "rtt").glob("*.zip"))),
        ("shmi", sorted((DATA_DIR / "shmi" / "archive_raw").glob("shmi-*.csv"))),
        ("cqc-ratings", [DATA_DIR / "cqc_ratings" / "cqc_ratings_long_devon_plymouth_2021-04.csv"]),
        ("ons-population", [DATA_DIR / "nhsrdatasets" / "ons_uk_population_2023.csv"]),
        ("ods-succ", [ODS / "2026-05" / "succ.csv"]),
    ]
    synthetic = [
        ("organisations", [DATA_DIR / "systems" / "organisations.csv"]),
        ("relationships", [DATA_DIR / "systems" / "relationships.csv"]),
        ("place-transitions", [DATA_DIR / "systems" / "place_transitions.csv"]),
    ]
    return real + synthetic if include_synthetic else real


def load_demo_store(
    engine: sa.Engine, user: str = DEMO_USER, progress: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Load every packaged demo data set into ``engine``'s store; return rows loaded per importer."""
    from carelens.ingest.service import ingest

    rows: dict[str, int] = {}
    for source, files in demo_loads():
        if progress:
            progress(source)
        results = ingest(engine, source, files, user=user)
        rows[source] = sum(r.rows for r in results if r.status == "loaded")
    return rows
