"""The packaged synthetic inspectorate (``carelens/data/inspectorate``) and how it is made.

No public file lists the regulator's inspectors, so the demo ships a synthetic inspectorate sized from the
demo data's own demand (see the folder's README). ``python -m carelens.demo.inspectorate`` regenerates it;
a test checks the packaged files are what this generator makes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from carelens.packaged import DATA_DIR
from carelens.plan.inspectorate import PACKAGED_INSPECTORATE, counts_for, synthetic_inspectorate

DEMO_WEEKS = 26
"""The horizon the demo plans over, in weeks."""
DEMO_COVERAGE = 0.85
"""Share of the demand's inspector-days the synthetic inspectorate can cover, so capacity binds."""
DEMO_SEED = 20210125


def demo_regions(data_dir: Path | None = None) -> pd.DataFrame:
    """Regions of the demo CQC locations: the ratings file's ``region`` name mapped to its NHS England
    region code (the importer does not store it)."""
    from carelens.model.organisations import NHS_ENGLAND_REGIONS

    data_dir = data_dir or DATA_DIR
    cqc = pd.read_csv(data_dir / "cqc_ratings" / "cqc_ratings_long_devon_plymouth_2021-04.csv", dtype=str)
    names = {name: code for code, name in NHS_ENGLAND_REGIONS.items()}
    pairs = cqc[["location_id", "region"]].drop_duplicates("location_id")
    return pd.DataFrame({"org_code": pairs["location_id"], "region": pairs["region"].map(names)}).dropna()


def write_demo_inspectorate(out: Path = PACKAGED_INSPECTORATE) -> dict[str, int]:
    """Regenerate the packaged synthetic inspectorate from the demo data (see the folder's README)."""
    import sqlalchemy as sa

    from carelens.demo.store import load_demo_store
    from carelens.plan.demand import compute_demand, default_as_of, due_within, organisations_from_store
    from carelens.store.migrate import ensure_schema

    engine = sa.create_engine("sqlite://")
    ensure_schema(engine)
    load_demo_store(engine)
    regions = demo_regions()
    as_of = default_as_of(engine)
    demand = due_within(
        compute_demand(organisations_from_store(engine, as_of, regions=regions), as_of), as_of, DEMO_WEEKS
    )
    inspectors, leave = synthetic_inspectorate(
        counts_for(demand, DEMO_WEEKS, DEMO_COVERAGE), as_of, DEMO_WEEKS, DEMO_SEED
    )
    out.mkdir(parents=True, exist_ok=True)
    regions.to_csv(out / "location_regions.csv", index=False)
    inspectors.to_csv(out / "inspectors.csv", index=False)
    leave.to_csv(out / "leave.csv", index=False)
    return {"regions": len(regions), "inspectors": len(inspectors), "leave": len(leave)}


if __name__ == "__main__":
    print(write_demo_inspectorate())
