"""Loading every packaged real data set gives the stated row counts and totals on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from carelens.demo.store import demo_loads
from carelens.ingest.service import ingest
from carelens.packaged import DATA_DIR

LOADS = demo_loads(include_synthetic=False)  # the real public data sets only


def summary(engine: sa.Engine) -> dict:
    """Row counts and totals that a correct load must reproduce exactly."""
    queries = {
        "organisations by kind": "SELECT kind, COUNT(*) FROM organisation GROUP BY kind",
        "current links by kind": "SELECT kind, COUNT(*) FROM org_relationship WHERE valid_to IS NULL GROUP BY kind",
        "closed links": "SELECT COUNT(*) FROM org_relationship WHERE valid_to IS NOT NULL",
        "observations by indicator": (
            "SELECT indicator_id, COUNT(*), ROUND(SUM(numerator)), ROUND(SUM(denominator)), "
            "ROUND(CAST(SUM(expected) AS NUMERIC), 2) FROM observation GROUP BY indicator_id"
        ),
        "populations by year and measure": (
            "SELECT year, measure, COUNT(*), ROUND(SUM(count)) FROM population GROUP BY year, measure"
        ),
        "ratings by value": "SELECT rating, COUNT(*) FROM rating GROUP BY rating",
        "imports": "SELECT source, COUNT(*), SUM(rows) FROM import_record GROUP BY source",
    }
    with engine.connect() as connection:
        return {
            name: sorted(tuple(_plain(v) for v in row) for row in connection.execute(sa.text(query)))
            for name, query in queries.items()
        }


def _plain(value):
    return float(value) if hasattr(value, "is_integer") or type(value).__name__ == "Decimal" else value


@pytest.fixture(scope="module")
def loaded(stores):
    engine = stores.new()
    for source, files in LOADS:
        ingest(engine, source, files, user="tester")
    yield engine
    engine.dispose()


WP = {  # every weighted-population column sums to the year's projected population
    2022: 61498822.0,
    2023: 61903547.0,
    2024: 62154630.0,
}
WP_MEASURES = [
    "projected",
    "wp_community",
    "wp_core_final",
    "wp_general_acute",
    "wp_health_inequalities",
    "wp_maternity",
    "wp_mental_health",
    "wp_prescribing",
    "wp_primary_medical_care",
    "wp_primary_medical_care_final",
]
EXPECTED = {
    "organisations by kind": [
        ("care_home", 416),
        ("commissioner", 148),  # 106 former CCGs + 42 ICBs
        ("country", 7),
        ("gp_practice", 6571),  # 6,554 in the weighted-population files + A&E codes ODS lists as practices
        ("independent_provider", 372),
        ("local_authority", 309),
        ("location", 51),  # 22 of them A&E walk-in and urgent care centres ODS lists as other settings
        ("nhs_trust", 276),  # 186 named by the SHMI, A&E and CQC files + 90 more in the ODS trust file
        ("pcn", 1256),
        ("region", 7),
    ],
    "current links by kind": [
        ("commissioner_parent", 110),
        ("commissioner_region", 42),
        ("local_authority_area", 6560),
        ("organisation_icb", 270),  # every trust in the ODS trust file but 3 Welsh ones
        ("organisation_region", 270),  # every trust in the ODS trust file but 3 Welsh ones
        ("practice_commissioner", 6560),
        ("practice_pcn", 6554),
        ("provider_location", 445),
    ],
    "closed links": [(4,)],  # practices that changed ICB or local authority between years
    "observations by indicator": [
        ("ae_4hr_breach_other", 6698, 178056.0, 23946223.0, None),
        ("ae_4hr_breach_type1", 4932, 8096641.0, 46315223.0, None),
        ("ae_4hr_breach_type2", 1135, 20540.0, 1757956.0, None),
        ("ae_admissions_other", 6698, 149802.0, 23946223.0, None),
        ("ae_admissions_type1", 4932, 13296761.0, 46315223.0, None),
        ("ae_admissions_type2", 1135, 46717.0, 1757956.0, None),
        ("shmi", 726, 1357437.0, 42784624.0, 1358057.51),
    ],
    "populations by year and measure": sorted(
        [(2022, "registered", 6554, 61194033.0), (2023, "resident", 1274, 263729972.0)]
        + [
            (y, m, 6537 if (y, m) == (2022, "wp_maternity") else 6554 if y == 2022 else 6553, WP[y])
            for y in WP
            for m in WP_MEASURES
        ]
    ),
    "ratings by value": [
        ("Good", 2225),
        ("Inadequate", 40),
        ("Inspected but not rated", 23),
        ("Insufficient evidence to rate", 7),
        ("No published rating", 104),
        ("Outstanding", 245),
        ("Requires improvement", 276),
    ],
    "imports": [
        ("ae", 1, 12765),
        ("cqc-ratings", 1, 2920),
        ("gp-weighted-population", 3, 19660),
        ("ods-trusts", 1, 273),
        ("ons-population", 1, 1274),
        ("shmi", 5, 726),
    ],
}


def test_every_data_set_loads_with_the_stated_counts_and_totals(loaded):
    """A&E type 1: 46,315,223 attendances, 8,096,641 breaches, 13,296,761 admissions (README figures)."""
    assert summary(loaded) == EXPECTED


def test_consolidated_shmi_file_matches_the_raw_releases(loaded):
    """The packager's consolidated SHMI file holds the same 726 values: importing it changes nothing."""
    [result] = ingest(loaded, "shmi", [DATA_DIR / "shmi" / "shmi_trust_2011-2012_hscic.csv"], user="tester")
    assert (result.status, result.inserted, result.superseded) == ("loaded", 0, 0)
    assert result.unchanged == 726 + 148  # observations + organisations
