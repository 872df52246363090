"""Loading every packaged real data set gives the stated row counts and totals on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from carelens.demo.store import demo_loads
from carelens.ingest.service import ingest
from carelens.packaged import DATA_DIR

LOADS = demo_loads(include_synthetic=False)  # the real public data sets only


BY_TREATMENT_FUNCTION = "indicator_id LIKE 'rtt_within_18_weeks_%' OR indicator_id LIKE 'rtt_over_52_weeks_%'"
"""The referral-to-treatment indicators of one treatment function (``rtt_within_18_weeks_c_110``)."""
MEASURE = "CASE WHEN indicator_id LIKE 'rtt_within%' THEN 'within 18 weeks' ELSE 'over 52 weeks' END"


def summary(engine: sa.Engine) -> dict:
    """Row counts and totals that a correct load must reproduce exactly."""
    queries = {
        "organisations by kind": "SELECT kind, COUNT(*) FROM organisation GROUP BY kind",
        "current links by kind": "SELECT kind, COUNT(*) FROM org_relationship WHERE valid_to IS NULL GROUP BY kind",
        "closed links": "SELECT COUNT(*) FROM org_relationship WHERE valid_to IS NOT NULL",
        "current observations by indicator": (
            "SELECT indicator_id, COUNT(*), ROUND(SUM(numerator)), ROUND(SUM(denominator)), "
            "ROUND(CAST(SUM(expected) AS NUMERIC), 2) FROM observation WHERE superseded_by IS NULL "
            f"AND NOT ({BY_TREATMENT_FUNCTION}) GROUP BY indicator_id"
        ),
        "waiting list by treatment function": (
            f"SELECT {MEASURE}, COUNT(DISTINCT indicator_id), ROUND(SUM(numerator)), "
            f"ROUND(SUM(denominator)) FROM observation WHERE {BY_TREATMENT_FUNCTION} GROUP BY {MEASURE}"
        ),
        "superseded observations": "SELECT COUNT(*) FROM observation WHERE superseded_by IS NOT NULL",
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
        ("commissioner", 368),  # 106 former CCGs + 42 ICBs (allocation files) + ODS sub-ICB locations
        ("country", 7),
        ("gp_practice", 6564),  # 6,554 in the weighted-population files + A&E sites ODS lists as practices
        ("independent_provider", 368),  # 9 in the A&E files, 44 in the RTT extract, CQC providers
        ("local_authority", 309),
        ("location", 436),  # A&E urgent care centres, 337 independent-sector RTT sites, CQC locations
        ("nhs_trust", 278),  # the ODS trust file's 274, TAD (a care trust, in RTT), 3 in the SHMI/CQC files
        ("pcn", 1256),
        ("region", 7),
    ],
    "current links by kind": [
        ("commissioner_parent", 324),
        ("commissioner_region", 362),
        ("local_authority_area", 6560),
        ("organisation_icb", 271),  # every trust in the ODS trust file but 3 Welsh ones
        ("organisation_region", 271),  # every trust in the ODS trust file but 3 Welsh ones
        ("practice_commissioner", 6560),
        ("practice_pcn", 6554),
        ("provider_location", 445),
        ("succeeded_by", 245),  # ODS successions between organisations the store holds (RAP -> RAL ...)
    ],
    "closed links": [(4,)],  # practices that changed ICB or local authority between years
    # A&E: the 84 months' current values sum to the files' TOTAL rows by type, booked included (all types:
    # 173,835,176 attendances, 38,661,638 over 4 hours); the 3 first publications of April - June 2025
    # are kept as history, superseded by the revisions.
    "current observations by indicator": [
        ("ae_4hr_breach_other", 14307, 1809727.0, 59375767.0, None),
        ("ae_4hr_breach_type1", 10494, 36742345.0, 110849103.0, None),
        ("ae_4hr_breach_type2", 2780, 109566.0, 3610306.0, None),
        ("ae_admissions_other", 14307, 410116.0, 59375767.0, None),
        ("ae_admissions_type1", 10494, 31988261.0, 110849103.0, None),
        ("ae_admissions_type2", 2780, 115566.0, 3610306.0, None),
        ("ae_booked_other", 11394, 2883330.0, 49419459.0, None),
        ("ae_booked_type1", 8392, 1964581.0, 91287926.0, None),
        ("ae_booked_type2", 2247, 29176.0, 2933375.0, None),
        # RTT April 2026: England's 7,123,980 incomplete pathways, 4,623,405 (64.9%) within 18 weeks and
        # 100,665 over 52 weeks (NHS England's published figures), over 528 providers
        ("rtt_over_52_weeks", 528, 100665.0, 7123980.0, None),
        ("rtt_within_18_weeks", 528, 4623405.0, 7123980.0, None),
        ("shmi", 726, 1357437.0, 42784624.0, 1358057.51),
    ],
    # the 23 treatment functions partition the waiting list
    "waiting list by treatment function": [
        ("over 52 weeks", 23, 100665.0, 7123980.0),
        ("within 18 weeks", 23, 4623405.0, 7123980.0),
    ],
    "superseded observations": [(27,)],
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
        ("ae-monthly", 87, 18197),  # 84 months + 3 first publications, 197-235 providers and a TOTAL row each
        ("cqc-ratings", 1, 2920),
        ("gp-weighted-population", 3, 19660),
        ("ods-eccg", 1, 320),
        ("ods-etr", 1, 274),
        ("ods-succ", 1, 11537),
        ("ons-population", 1, 1274),
        ("rtt", 1, 180781),
        ("shmi", 5, 726),
    ],
}


def test_every_data_set_loads_with_the_stated_counts_and_totals(loaded):
    """A&E: every count sums to the monthly files' TOTAL rows; ODS, SHMI, CQC, allocation files as loaded."""
    assert summary(loaded) == EXPECTED


def test_consolidated_shmi_file_matches_the_raw_releases(loaded):
    """The packager's consolidated SHMI file holds the same 726 values: importing it changes nothing."""
    [result] = ingest(loaded, "shmi", [DATA_DIR / "shmi" / "shmi_trust_2011-2012_hscic.csv"], user="tester")
    assert (result.status, result.inserted, result.superseded) == ("loaded", 0, 0)
    assert result.unchanged == 726 + 148  # observations + organisations


def test_every_trust_reporting_ae_has_its_name_region_and_icb(loaded):
    """Identity from ODS: every NHS trust in the monthly A&E files is named, in a region and in an ICB."""
    query = sa.text(
        "SELECT o.code, o.name, "
        "(SELECT COUNT(*) FROM org_relationship r WHERE r.subject_code = o.code "
        " AND r.kind = 'organisation_region' AND r.valid_to IS NULL), "
        "(SELECT COUNT(*) FROM org_relationship r WHERE r.subject_code = o.code "
        " AND r.kind = 'organisation_icb' AND r.valid_to IS NULL) "
        "FROM organisation o WHERE o.kind = 'nhs_trust' AND o.code IN "
        "(SELECT DISTINCT org_code FROM observation WHERE indicator_id LIKE 'ae_%')"
    )
    with loaded.connect() as connection:
        trusts = connection.execute(query).all()
    assert len(trusts) == 160  # of the 170 A&E codes ODS lists as trusts, those with attendances
    assert [t for t in trusts if not t[1] or t[2:] != (1, 1)] == []
