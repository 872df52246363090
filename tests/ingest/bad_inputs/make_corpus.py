"""Write the bad-input corpus: one small file per case, and ``expected.csv`` saying what each must name.

    python tests/ingest/bad_inputs/make_corpus.py

Each case is a valid file (``BASE`` for an importer, the packaged file for a settings file) with one thing
wrong. ``expected.csv`` gives, per case, the data row and the field (column, or dotted setting) that the
error must name, blank where the problem is with the whole file (empty, not UTF-8, not gzip...).
``tests/ingest/test_bad_inputs.py`` runs every case through the command line on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import gzip
import io
from importlib import resources
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent

# --- importers: a valid base file each (codes the seeded store knows, see test_bad_inputs.SEED) -------

BASE = {
    "ae": (
        "ae_2024.csv",
        [
            ["period", "org_code", "type", "attendances", "breaches", "admissions"],
            ["2024-01-01", "ZZA", "1", "1000", "100", "200"],
            ["2024-01-01", "ZZB", "1", "900", "50", "100"],
            ["2024-01-01", "ZZA", "2", "100", "5", "0"],
        ],
    ),
    "observations": (
        "observations.csv",
        [
            ["indicator_id", "org_code", "period", "numerator", "denominator", "expected"],
            ["ae_4hr_breach_type1", "ZZA", "2024-01-01", "100", "1000", ""],
            ["ae_4hr_breach_type1", "ZZB", "2024-01-01", "50", "900", ""],
            ["shmi", "ZZA", "2024-01-01", "300", "10000", "280.5"],
        ],
    ),
    "shmi": (
        "shmi_2024.csv",
        [
            ["DATE", "PROVIDER", "PROVIDER NAME", "DENOMINATOR", "OBSERVED", "EXPECTED", "VALUE"],
            ["2024-01-01", "ZZA", "Trust A", "10000", "300", "280.5", "1.0695"],
            ["2024-01-01", "ZZB", "Trust B", "8000", "200", "210.0", "0.9524"],
            ["2024-01-01", "ZZC", "Trust C", "6000", "150", "160.0", "0.9375"],
        ],
    ),
    "cqc-ratings": (
        "cqc_ratings_2024-01.csv",
        [
            [
                "source",
                "location_id",
                "provider_id",
                "location_name",
                "location_type",
                "care_home",
                "level",
                "service",
                "key_question",
                "rating",
                "report_date",
                "report_link_id",
            ],
            [
                "hospitals",
                "1-100001",
                "1-200001",
                "Site one",
                "Independent Healthcare Org",
                "N",
                "location",
                "Overall",
                "Overall",
                "Good",
                "2023-05-01",
                "abc-1",
            ],
            [
                "hospitals",
                "1-100001",
                "1-200001",
                "Site one",
                "Independent Healthcare Org",
                "N",
                "location",
                "Overall",
                "Safe",
                "Requires improvement",
                "2023-05-01",
                "abc-1",
            ],
            [
                "care_homes",
                "1-100002",
                "1-200002",
                "Home two",
                "Social Care Org",
                "Y",
                "location",
                "Overall",
                "Overall",
                "Outstanding",
                "",
                "",
            ],
        ],
    ),
    "gp-weighted-population": (
        "gp_weighted_population_2024_25.csv",
        [
            [
                "Practice_Code",
                "GP_Practice_Name",
                "CCG21",
                "Former CCG",
                "PCN_Code",
                "PCN_Name",
                "ICS22",
                "ICS22name",
                "R22",
                "Region22",
                "LAD21",
                "LTLA21",
                "Patients",
                "pop 2024/25",
                "G&A WP",
                "CS WP",
                "MH WP",
                "Mat WP",
                "Health Ineq WP",
                "Prescr WP",
                "Final WP",
                "Primary Medical Care WP",
                "Final PMC WP",
            ],
            [
                "ZP001",
                "Practice one",
                "ZC1",
                "CCG one",
                "ZN1",
                "PCN one",
                "ZI1",
                "ICB one",
                "ZR1",
                "Region one",
                "ZL1",
                "LA one",
                "",
                "4000",
                "4100",
                "4200",
                "4300",
                "4400",
                "4500",
                "4600",
                "4700",
                "4800",
                "4900",
            ],
            [
                "ZP002",
                "Practice two",
                "ZC1",
                "CCG one",
                "",
                "",
                "ZI1",
                "ICB one",
                "ZR1",
                "Region one",
                "ZL1",
                "LA one",
                "",
                "3000",
                "3100",
                "3200",
                "3300",
                "3400",
                "3500",
                "3600",
                "3700",
                "3800",
                "3900",
            ],
        ],
    ),
    "ons-population": (
        "ons_population_2023.csv",
        [
            ["sex", "Code", "Name", "Geography", "age", "count"],
            ["females", "ZE1", "Region one", "Region", "0", "1000"],
            ["males", "ZE1", "Region one", "Region", "0", "1100"],
            ["females", "ZE1", "Region one", "Region", "90+", "300"],
        ],
    ),
    "organisations": (
        "organisations.csv",
        [
            ["code", "name", "kind", "subtype", "sector", "valid_from", "valid_to"],
            ["ZQ1", "New place one", "place", "", "", "2024-04-01", ""],
            ["ZQ2", "New place two", "place", "", "", "2024-04-01", ""],
        ],
    ),
    "relationships": (
        "relationships.csv",
        [
            ["kind", "subject_code", "object_code", "valid_from"],
            ["place_member", "ZT1", "ZP1", "2024-04-01"],
            ["succeeded_by", "ZT1", "ZT2", "2024-10-01"],
        ],
    ),
    "place-transitions": (
        "place_transitions.csv",
        [
            [
                "org_code",
                "org_kind",
                "period",
                "population_18plus",
                "population_65plus",
                "dtoc_days_nhs",
                "dtoc_days_social_care",
                "dtoc_days_both",
                "emergency_admissions_65plus",
                "discharges_65plus",
                "readmissions_30d_65plus",
                "discharges_usual_residence_65plus",
                "reablement_discharges_65plus",
                "reablement_at_home_91d",
            ],
            [
                "ZP1",
                "place",
                "2024-04-01",
                "100000",
                "20000",
                "500",
                "300",
                "100",
                "4000",
                "4000",
                "600",
                "3500",
                "200",
                "150",
            ],
            [
                "ZP2",
                "place",
                "2024-04-01",
                "90000",
                "18000",
                "400",
                "200",
                "50",
                "3500",
                "3600",
                "500",
                "3100",
                "150",
                "120",
            ],
        ],
    ),
}
NAME_COLUMN = {
    "shmi": "PROVIDER NAME",
    "cqc-ratings": "location_name",
    "gp-weighted-population": "GP_Practice_Name",
    "ons-population": "Name",
    "organisations": "name",
    "rtt": "Provider Org Name",
}
CODE_COLUMN = {
    "ae": "org_code",
    "shmi": "PROVIDER",
    "cqc-ratings": "location_id",
    "gp-weighted-population": "Practice_Code",
    "ons-population": "Code",
    "organisations": "code",
    "relationships": "subject_code",
    "place-transitions": "org_code",
    "observations": "org_code",
    "rtt": "Provider Org Code",
}
FIELD_NAME = {"shmi": lambda c: c.upper().replace(" ", "_")}
"""How an importer names a column in its problems (SHMI names them as it reads them, upper case)."""


RTT_LABELS = [
    "Period",
    "Provider Parent Org Code",
    "Provider Parent Name",
    "Provider Org Code",
    "Provider Org Name",
    "Commissioner Parent Org Code",
    "Commissioner Parent Name",
    "Commissioner Org Code",
    "Commissioner Org Name",
    "RTT Part Type",
    "RTT Part Description",
    "Treatment Function Code",
    "Treatment Function Name",
]
RTT_BANDS = [f"Gt {w:02d} To {w + 1:02d} Weeks SUM 1" for w in range(104)] + ["Gt 104 Weeks SUM 1"]
RTT_HEADER = [*RTT_LABELS, *RTT_BANDS, "Total", "Patients with unknown clock start date", "Total All"]
"""NHS England's referral to treatment full extract, as published for April 2026 (written out here, not
taken from the reader, so the corpus checks the reader against the publisher's layout)."""


def _rtt_row(part: str, function: str, bands: dict[int, int], total_all: int | None = None) -> list[str]:
    """A row of provider ZZA for commissioner 07L: week band (0 = up to 1 week) -> count, others blank;
    ``Total All`` is the bands' sum unless given (blank bands, ``Total`` and unknown clock start, as
    published for incomplete pathways)."""
    labels = ["RTT-April-2026", "QXX", "AN ICB", "ZZA", "TRUST A", "QXX", "AN ICB", "07L", "A SUB-ICB"]
    labels += [part, part.replace("_", " "), function, function]
    counts = [str(bands[b]) if b in bands else "" for b in range(len(RTT_BANDS))]
    total = sum(bands.values()) if total_all is None else total_all
    return [*labels, *counts, "", "", str(total)]


RTT_ROWS = [
    RTT_HEADER,
    _rtt_row("Part_2", "C_110", {0: 10, 17: 5, 52: 2}),
    _rtt_row("Part_2", "C_330", {3: 7, 60: 3}),
    _rtt_row("Part_2", "C_999", {0: 10, 3: 7, 17: 5, 52: 2, 60: 3}),
    _rtt_row("Part_3", "C_999", {}, total_all=40),
]
"""A small valid RTT file: a provider's waiting list in two treatment functions and their total, and its new
RTT periods (``Total All`` only)."""
BASE["rtt"] = ("rtt_april_2026.csv", RTT_ROWS)


def rtt_cases() -> dict[str, tuple[bytes, int | None, str | None]]:
    """The valid RTT file with one thing wrong in each case; zips with no CSV or two."""
    cases: dict[str, tuple[bytes, int | None, str | None]] = {}

    def add(case: str, data: bytes, row: int | None, field: str | None, ext: str = "csv") -> None:
        cases[f"rtt/{case}__rtt_april_2026.{ext}"] = (data, row, field)

    def changed(*edits: tuple[int, str, str]) -> bytes:
        rows = [list(r) for r in RTT_ROWS]
        for row, column, value in edits:
            rows[row][RTT_HEADER.index(column)] = value
        return _csv(rows)

    band = "Gt 03 To 04 Weeks SUM 1"
    add("count_negative", changed((2, band, "-7")), 2, band)
    add("count_not_a_number", changed((2, band, "seven")), 2, band)
    add("bands_do_not_sum_to_total_all", changed((1, "Total All", "18")), 1, "Total All")
    add(
        "unknown_clock_start_not_in_a_band",
        changed((3, "Patients with unknown clock start date", "4"), (3, "Total All", "31")),
        3,
        "Total All",
    )
    add("total_all_blank", changed((2, "Total All", "")), 2, "Total All")
    add("functions_do_not_sum_to_c_999", changed((2, band, "6"), (2, "Total All", "9")), 3, "Total All")
    add("key_repeated", _csv([*RTT_ROWS, RTT_ROWS[1]]), 5, "Treatment Function Code")
    add("another_month", changed((2, "Period", "RTT-May-2026")), 2, "Period")
    add("period_not_a_period", changed((1, "Period", "April 2026")), 1, "Period")
    add("part_unknown", changed((4, "RTT Part Type", "Part_4")), 4, "RTT Part Type")
    add("function_undeclared", changed((2, "Treatment Function Code", "C_200")), 2, "Treatment Function Code")
    gone = RTT_HEADER.index("Gt 104 Weeks SUM 1")
    add("band_column_missing", _csv([r[:gone] + r[gone + 1 :] for r in RTT_ROWS]), None, "Gt 104 Weeks SUM 1")
    add(
        "column_unknown",
        _csv([[*r, v] for r, v in zip(RTT_ROWS, ["Median wait", "1", "2", "3", "4"], strict=True)]),
        None,
        "Median wait",
    )
    add("zip_without_csv", _zip({"notes.txt": b"no data here\n"}), None, None, ext="zip")
    add("zip_two_csvs", _zip({"a.csv": _csv(RTT_ROWS), "b.csv": _csv(RTT_ROWS)}), None, None, ext="zip")
    add("zip_broken", _zip({"rtt.csv": _csv(RTT_ROWS)})[:60], None, None, ext="zip")
    return cases


def _zip(members: dict[str, bytes]) -> bytes:
    """A zip of ``members`` (fixed timestamps, so the same bytes every time)."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 6, 3, 0, 0, 0)), data)
    return out.getvalue()


BINARY = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
"""A binary file (a PNG's signature first, as a picture saved under the wrong name would have)."""


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def _with(rows: list[list[str]], row: int, column: str, value: str) -> list[list[str]]:
    rows = [list(r) for r in rows]
    rows[row][rows[0].index(column)] = value
    return rows


def importer_cases() -> dict[str, tuple[bytes, int | None, str | None]]:
    """path (under this folder) -> (file bytes, data row named, field named)."""
    cases: dict[str, tuple[bytes, int | None, str | None]] = {}
    for source, (name, rows) in BASE.items():
        stem, suffix = name.rsplit(".", 1)
        field = FIELD_NAME.get(source, lambda c: c)

        def add(
            case: str,
            data: bytes,
            row: int | None,
            column: str | None,
            ext: str = suffix,
            prefix: str = f"{source}/",
            stem: str = stem,
            field=field,
        ) -> None:
            cases[f"{prefix}{case}__{stem}.{ext}"] = (data, row, field(column) if column else None)

        good = _csv(rows)
        add("empty", b"", None, None)
        add("header_only", _csv(rows[:1]), None, None)
        add("utf16", good.decode().encode("utf-16"), None, None)
        add("binary", BINARY, None, None)
        add("corrupt_gzip", gzip.compress(good, mtime=0)[:-12], None, None, ext=f"{suffix}.gz")
        add("not_gzip", good, None, None, ext=f"{suffix}.gz")
        code = CODE_COLUMN[source]
        missing = [[c for i, c in enumerate(r) if rows[0][i] != code] for r in rows]
        add("missing_column", _csv(missing), None, code)
        add("ragged_row", good + b"2024-01-01,ZZA\n", len(rows), None)
        add("code_nul", _csv(_with(rows, 2, code, "ZZ\x009")), 2, code)
        add("code_crlf", _csv(_with(rows, 2, code, "ZZ\r\n9")), 2, code)
        add("code_quote", _csv(_with(rows, 2, code, 'ZZ"9')), 2, code)
        add("code_300_chars", _csv(_with(rows, 2, code, "Z" * 300)), 2, code)
        add("code_41_chars", _csv(_with(rows, 2, code, "Z" * 41)), 2, code)
        add("code_space_inside", _csv(_with(rows, 2, code, "ZZ 9")), 2, code)
        add("code_blank", _csv(_with(rows, 2, code, "   ")), 2, code)
        if source in NAME_COLUMN:
            column = NAME_COLUMN[source]
            add("name_5000_chars", _csv(_with(rows, 1, column, "N" * 5000)), 1, column)
            add("name_301_chars", _csv(_with(rows, 1, column, "N" * 301)), 1, column)
            add("name_crlf", _csv(_with(rows, 1, column, "Name\r\nInjected")), 1, column)
    # keys differing only by spaces: the second is a duplicate of the first
    ae = BASE["ae"][1]
    cases["ae/key_spaces__ae_2024.csv"] = (_csv([*ae, _with(ae, 1, "org_code", " ZZA ")[1]]), 4, "org_code")
    orgs = BASE["organisations"][1]
    cases["organisations/key_spaces__organisations.csv"] = (
        _csv([*orgs, _with(orgs, 1, "code", "ZQ1 ")[1]]),
        3,
        "code",
    )
    ons = BASE["ons-population"][1]
    cases["ons-population/key_spaces__ons_population_2023.csv"] = (
        _csv([*ons, _with(ons, 1, "Code", " ZE1")[1]]),
        4,
        "Code",
    )
    specific = [
        ("ae", "negative_breaches", 1, "breaches", "-1"),
        ("ae", "breaches_over_attendances", 1, "breaches", "5000"),
        ("ae", "period_not_month_start", 2, "period", "2024-01-15"),
        ("ae", "period_not_a_date", 2, "period", "January"),
        ("ae", "unknown_type", 3, "type", "3"),
        ("ae", "attendances_zero", 2, "attendances", "0"),
        ("ae", "attendances_not_a_number", 2, "attendances", "lots"),
        ("ae", "admissions_fraction", 2, "admissions", "1.5"),
        ("ae", "breaches_infinite", 2, "breaches", "inf"),
        ("observations", "unknown_indicator", 2, "indicator_id", "ae_nope"),
        ("observations", "unknown_organisation", 2, "org_code", "ZNOPE"),
        ("observations", "ratio_without_expected", 3, "expected", ""),
        ("observations", "proportion_without_denominator", 1, "denominator", ""),
        ("observations", "numerator_over_denominator", 2, "numerator", "901"),
        ("observations", "negative_numerator", 1, "numerator", "-1"),
        ("observations", "period_not_month_start", 2, "period", "2024-01-15"),
        ("observations", "expected_zero", 3, "expected", "0"),
        ("shmi", "deaths_above_spells", 2, "OBSERVED", "9000"),
        ("shmi", "expected_zero", 1, "EXPECTED", "0"),
        ("shmi", "value_negative", 3, "VALUE", "-1"),
        ("shmi", "date_not_a_date", 1, "DATE", "soon"),
        ("cqc-ratings", "unknown_rating", 2, "rating", "Brilliant"),
        ("cqc-ratings", "care_home_maybe", 3, "care_home", "maybe"),
        ("cqc-ratings", "service_61_chars", 1, "service", "S" * 61),
        ("cqc-ratings", "report_link_61_chars", 1, "report_link_id", "L" * 61),
        ("cqc-ratings", "report_date_not_a_date", 1, "report_date", "last year"),
        ("cqc-ratings", "unknown_key_question", 2, "key_question", "Kind"),
        ("gp-weighted-population", "negative_weighted_population", 1, "Final WP", "-5"),
        ("gp-weighted-population", "icb_code_quote", 2, "ICS22", 'Z"I1'),
        ("gp-weighted-population", "pcn_code_300_chars", 1, "PCN_Code", "P" * 300),
        ("gp-weighted-population", "region_name_crlf", 1, "Region22", "Region\r\none"),
        ("gp-weighted-population", "projected_not_a_number", 2, "pop 2024/25", "many"),
        ("ons-population", "unknown_sex", 2, "sex", "other"),
        ("ons-population", "age_91", 3, "age", "91"),
        ("ons-population", "unknown_geography", 1, "Geography", "Ward"),
        ("ons-population", "negative_count", 2, "count", "-3"),
        ("organisations", "unknown_kind", 1, "kind", "castle"),
        ("organisations", "unknown_sector", 2, "sector", "space"),
        ("organisations", "ends_before_it_starts", 1, "valid_to", "2020-01-01"),
        ("organisations", "subtype_41_chars", 2, "subtype", "s" * 41),
        ("organisations", "valid_from_not_a_date", 2, "valid_from", "2024-13-01"),
        ("relationships", "succeeded_by_itself", 2, "object_code", "ZT1"),
        ("relationships", "member_of_itself", 1, "object_code", "ZT1"),
        ("relationships", "unknown_kind", 1, "kind", "friend_of"),
        ("relationships", "unknown_object", 1, "object_code", "ZNOPE"),
        ("relationships", "object_code_nul", 2, "object_code", "Z\x00T2"),
        ("relationships", "valid_from_not_a_date", 2, "valid_from", "2024-02-30"),
        ("place-transitions", "readmissions_over_discharges", 1, "readmissions_30d_65plus", "5000"),
        ("place-transitions", "unknown_kind", 2, "org_kind", "castle"),
        ("place-transitions", "population_zero", 1, "population_18plus", "0"),
        ("place-transitions", "period_not_a_date", 2, "period", "2024-04-31"),
        ("place-transitions", "negative_days", 2, "dtoc_days_nhs", "-10"),
    ]
    for source, case, row, column, value in specific:
        name, rows = BASE[source]
        stem, suffix = name.rsplit(".", 1)
        field = FIELD_NAME.get(source, lambda c: c)
        cases[f"{source}/{case}__{stem}.{suffix}"] = (
            _csv(_with(rows, row, column, value)),
            row,
            field(column),
        )
    # ODS trust file: no header, 27 quoted fields a row
    ods = [
        ["ZT1", "TRUST ONE NHS TRUST", "Y56", *[""] * 7, "20200101", "", *[""] * 15],
        ["ZT2", "TRUST TWO NHS TRUST", "Y58", *[""] * 7, "20200101", "", *[""] * 15],
    ]

    def ods_bytes(rows: list[list[str]]) -> bytes:
        out = io.StringIO()
        csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
        return out.getvalue().encode()

    def ods_with(row: int, field: int, value: str) -> list[list[str]]:
        rows = [list(r) for r in ods]
        rows[row - 1][field] = value
        return rows

    code, name, region, opened, closed = (
        "1 (organisation code)",
        "2 (name)",
        "3 (national grouping: NHS England region)",
        "11 (open date)",
        "12 (close date)",
    )
    good = ods_bytes(ods)
    ods_cases = {
        "empty": (b"", None, None),
        "utf16": (good.decode().encode("utf-16"), None, None),
        "binary": (BINARY, 1, None),
        "latin1": (ods_bytes(ods_with(2, 1, "CAF\u00c9 NHS TRUST")).decode().encode("latin-1"), 2, None),
        "code_nul": (ods_bytes(ods_with(2, 0, "Z\x00T2")), 2, code),
        "code_crlf": (ods_bytes(ods_with(2, 0, "ZT\r\n2")), 2, code),
        "code_quote": (ods_bytes(ods_with(2, 0, 'ZT"2')), 2, code),
        "code_300_chars": (ods_bytes(ods_with(2, 0, "Z" * 300)), 2, code),
        "code_spaces_repeat": (ods_bytes(ods_with(2, 0, " ZT1 ")), 2, code),
        "name_5000_chars": (ods_bytes(ods_with(1, 1, "N" * 5000)), 1, name),
        "name_crlf": (ods_bytes(ods_with(1, 1, "TRUST\r\nONE")), 1, name),
        "name_missing": (ods_bytes(ods_with(2, 1, "")), 2, name),
        "unknown_region": (ods_bytes(ods_with(2, 2, "Y99")), 2, region),
        "open_date_not_a_date": (ods_bytes(ods_with(1, 10, "2020-01-01")), 1, opened),
        "closes_before_opening": (ods_bytes(ods_with(2, 11, "19990101")), 2, closed),
        "26_fields": (ods_bytes([ods[0], ods[1][:26]]), 2, None),
    }
    icb = "4 (high-level health geography: ICB)"
    ods_cases["icb_code_quote"] = (ods_bytes(ods_with(2, 3, 'Q"H')), 2, icb)
    for case, (data, row, field) in ods_cases.items():
        cases[f"ods-trusts/{case}__etr.csv"] = (data, row, field)
        cases[f"ods-etr/{case}__etr.csv"] = (data, row, field)
    sub_icbs = [["ZC1", "NHS ONE ICB - 00A", *r[2:]] for r in ods]
    sub_icbs[1][0] = "ZC2"
    for case, (data, row, field) in {
        "empty": (b"", None, None),
        "binary": (BINARY, 1, None),
        "26_fields": (ods_bytes([sub_icbs[0], sub_icbs[1][:26]]), 2, None),
        "code_quote": (ods_bytes([sub_icbs[0], ['Z"C2', *sub_icbs[1][1:]]]), 2, code),
        "unknown_region": (ods_bytes([sub_icbs[0], [*sub_icbs[1][:2], "Y99", *sub_icbs[1][3:]]]), 2, region),
        "icb_code_quote": (ods_bytes([sub_icbs[0], [*sub_icbs[1][:3], "Q H", *sub_icbs[1][4:]]]), 2, icb),
        "close_date_not_a_date": (
            ods_bytes([[*sub_icbs[0][:11], "2021-03-31", *sub_icbs[0][12:]], sub_icbs[1]]),
            1,
            closed,
        ),
    }.items():
        cases[f"ods-eccg/{case}__eccg.csv"] = (data, row, field)
    practice = ["ZG1", "THE SURGERY", "Y56", "QMF", *[""] * 6, "19740401", "", "A", "B", "ZC1", "20200401"]
    practices = [practice + [""] * 9 + ["4", ""], ["ZG2", *practice[1:]] + [""] * 9 + ["1", ""]]
    setting, commissioner = "26 (prescribing setting)", "15 (commissioner)"

    def practice_with(row: int, field: int, value: str) -> bytes:
        rows = [list(r) for r in practices]
        rows[row - 1][field] = value
        return ods_bytes(rows)

    for case, (data, row, field) in {
        "empty": (b"", None, None),
        "binary": (BINARY, 1, None),
        "28_fields": (ods_bytes([practices[0], [*practices[1], ""]]), 2, None),
        "unknown_setting": (practice_with(2, 25, "99"), 2, setting),
        "commissioner_quote": (practice_with(1, 14, 'Z"C1'), 1, commissioner),
        "code_nul": (practice_with(2, 0, "Z\x00G2"), 2, code),
        "name_missing": (practice_with(1, 1, ""), 1, name),
        "open_date_not_a_date": (practice_with(2, 10, "1974"), 2, opened),
        "code_repeated": (practice_with(2, 0, "ZG1"), 2, code),
    }.items():
        cases[f"ods-epraccur/{case}__epraccur.csv"] = (data, row, field)
    successions = [["ZT1", "ZT2", "", "20240101", "0"], ["ZP1", "ZP2", "", "20240401", "1"]]

    def succession_with(row: int, field: int, value: str) -> bytes:
        rows = [list(r) for r in successions]
        rows[row - 1][field] = value
        return ods_bytes(rows)

    for case, (data, row, field) in {
        "empty": (b"", None, None),
        "binary": (BINARY, 1, None),
        "utf16": (ods_bytes(successions).decode().encode("utf-16"), None, None),
        "4_fields": (ods_bytes([successions[0], successions[1][:4]]), 2, None),
        "predecessor_quote": (succession_with(1, 0, 'Z"T1'), 1, "1 (predecessor)"),
        "successor_blank": (succession_with(2, 1, " "), 2, "2 (successor)"),
        "succeeds_itself": (succession_with(2, 1, "ZP1"), 2, "2 (successor)"),
        "date_not_a_date": (succession_with(2, 3, "2024-04-01"), 2, "4 (effective date)"),
    }.items():
        cases[f"ods-succ/{case}__succ.csv"] = (data, row, field)
    cases.update(ae_monthly_cases())
    cases.update(ae_workbook_cases())
    cases.update(rtt_cases())
    return cases


AE_MONTHLY = [
    ["Period", "Org Code", "Parent Org", "Org name", "A&E attendances Type 1", "A&E attendances Type 2"],
    ["MSitAE-APRIL-2024", "ZZA", "NHS ENGLAND LONDON ", "TRUST A", "1000", "10"],
    ["MSitAE-APRIL-2024", "ZZB", "NHS ENGLAND LONDON ", "TRUST B", "900", "0"],
    ["MSitAE-APRIL-2024", "TOTAL", "TOTAL", "TOTAL", "1900", "10"],
]
"""The start of a monthly A&E file (August 2020 layout); :func:`ae_monthly_cases` adds the other counts."""
AE_MONTHLY_COUNTS = [
    ("A&E attendances Other A&E Department", "50", "40"),
    ("A&E attendances Booked Appointments Type 1", "20", "0"),
    ("A&E attendances Booked Appointments Type 2", "0", "0"),
    ("A&E attendances Booked Appointments Other Department", "0", "5"),
    ("Attendances over 4hrs Type 1", "300", "200"),
    ("Attendances over 4hrs Type 2", "1", "0"),
    ("Attendances over 4hrs Other Department", "2", "1"),
    ("Attendances over 4hrs Booked Appointments Type 1", "3", "0"),
    ("Attendances over 4hrs Booked Appointments Type 2", "0", "0"),
    ("Attendances over 4hrs Booked Appointments Other Department", "0", "1"),
    ("Patients who have waited 4-12 hs from DTA to admission", "40", "30"),
    ("Patients who have waited 12+ hrs from DTA to admission", "5", "2"),
    ("Emergency admissions via A&E - Type 1", "250", "220"),
    ("Emergency admissions via A&E - Type 2", "1", "0"),
    ("Emergency admissions via A&E - Other A&E department", "0", "0"),
    ("Other emergency admissions", "90", "80"),
]


SHMI_CURRENT = [
    "INDICATOR_CODE,PROVIDER_CODE,PROVIDER_NAME,SHMI_VALUE,SHMI_BANDING,SPELLS,OBSERVED,EXPECTED,PO_LL,PO_UL,OD_LL,OD_UL".split(
        ","
    ),
    "I00699,ZZA,Trust A,1.0714,2,10000,300,280,0.8899,1.1230,0.8500,1.1600".split(","),
    "I00699,ZZB,Trust B,1.2500,1,8000,250,200,0.8680,1.1440,0.8300,1.1800".split(","),
    "I00699,ZZC,Trust C,0.7500,3,6000,120,160,0.8510,1.1660,0.8200,1.1900".split(","),
]
"""A valid file in NHS England's current SHMI trust-level layout: one trust in each band."""


def shmi_current_cases() -> dict[str, tuple[bytes, int | None, str | None]]:
    """The current SHMI layout (byte-order mark, CRLF line ends) with one thing wrong in each case."""

    def publish(rows: list[list[str]]) -> bytes:
        return b"\xef\xbb\xbf" + _csv(rows).replace(b"\n", b"\r\n")

    def add(case: str, rows: list[list[str]], row: int | None, field: str | None) -> None:
        cases[f"shmi/current_{case}__shmi_trust_level-2024-06.csv"] = (publish(rows), row, field)

    cases: dict[str, tuple[bytes, int | None, str | None]] = {}
    rows = SHMI_CURRENT
    gone = rows[0].index("OD_UL")
    add("missing_column", [r[:gone] + r[gone + 1 :] for r in rows], None, "OD_UL")
    add("banding_4", _with(rows, 2, "SHMI_BANDING", "4"), 2, "SHMI_BANDING")
    add("banding_inconsistent", _with(rows, 1, "SHMI_BANDING", "1"), 1, "SHMI_BANDING")
    add("lower_limit_above_upper", _with(rows, 2, "PO_LL", "1.2000"), 2, "PO_LL")
    add("negative_spells", _with(rows, 3, "SPELLS", "-5"), 3, "SPELLS")
    add("provider_repeated", _with(rows, 3, "PROVIDER_CODE", "ZZA"), 3, "PROVIDER_CODE")
    return cases


def ae_monthly_cases() -> dict[str, tuple[bytes, int | None, str | None]]:
    """A valid monthly A&E file (two providers and their TOTAL row) with one thing wrong in each case."""
    rows = [list(r) for r in AE_MONTHLY]
    for header, a, b in AE_MONTHLY_COUNTS:
        for row, value in zip(rows, [header, a, b, str(int(a) + int(b))], strict=True):
            row.append(value)
    total = "Attendances over 4hrs Type 1"

    def add(case: str, data: bytes, row: int | None, field: str | None) -> None:
        cases[f"ae-monthly/{case}__Monthly-AE-April-2024.csv"] = (data, row, field)

    def changed(*edits: tuple[int, str, str]) -> bytes:
        edited = [list(r) for r in rows]
        for row, column, value in edits:
            edited[row][edited[0].index(column)] = value
        return _csv(edited)

    cases: dict[str, tuple[bytes, int | None, str | None]] = {}
    good = _csv(rows)
    add("empty", b"", None, None)
    add("utf16", good.decode().encode("utf-16"), None, None)
    add("binary", BINARY, None, None)
    add("header_only", _csv(rows[:1]), None, None)
    add("no_total_row", _csv(rows[:3]), None, None)
    add("total_does_not_add_up", changed((3, total, "499")), 3, total)
    add("over_4_hours_above_attendances", changed((1, total, "1300"), (3, total, "1500")), 1, total)
    add("count_not_a_number", changed((2, "A&E attendances Type 2", "none")), 2, "A&E attendances Type 2")
    add("count_negative", changed((1, "Other emergency admissions", "-90")), 1, "Other emergency admissions")
    add("another_month", changed((2, "Period", "MSitAE-MAY-2024")), 2, "Period")
    add("period_not_a_period", changed((1, "Period", "April 2024")), 1, "Period")
    add("code_repeated", changed((2, "Org Code", "ZZA")), 2, "Org Code")
    add("code_quote", changed((2, "Org Code", 'ZZ"B')), 2, "Org Code")
    add("code_blank", changed((1, "Org Code", " ")), 1, "Org Code")
    add("name_crlf", changed((1, "Org name", "TRUST\r\nA")), 1, "Org name")
    add("ragged_row", _csv([*rows[:2], rows[2][:10], rows[3]]), 2, None)
    missing = rows[0].index(total)
    add("missing_column", _csv([r[:missing] + r[missing + 1 :] for r in rows]), None, total)
    add(
        "unknown_column",
        _csv([[*r, v] for r, v in zip(rows, ["Ambulance handovers", "1", "2", "3"], strict=True)]),
        None,
        "Ambulance handovers",
    )
    booked = rows[0].index("A&E attendances Booked Appointments Type 2")
    add(
        "some_booked_columns",
        _csv([r[:booked] + r[booked + 1 :] for r in rows]),
        None,
        "A&E attendances Booked Appointments Type 2",
    )
    return cases


AE_WORKBOOK_HEADER = [
    "",
    "Code",
    "Region",
    "Name",
    *["Type 1 Departments - Major A&E", "Type 2 Departments - Single Specialty"],
    *["Type 3 Departments - Other A&E/Minor Injury Unit", "Total attendances"],
    *["Type 1 Departments - Major A&E", "Type 2 Departments - Single Specialty"],
    *["Type 3 Departments - Other A&E/Minor Injury Unit", "Total Attendances > 4 hours"],
    *["Emergency Admissions via Type 1 A&E", "Emergency Admissions via Type 2 A&E"],
    "Emergency Admissions via Type 3 and 4 A&E",
]
"""The header of an A&E by provider workbook (2016 layout, percentages left out): columns A to O."""
AE_WORKBOOK_PROVIDERS = [
    ["", "ZZA", "NHS England London", "Trust A", 1000, 10, 50, 1060, 300, 1, 2, 303, 250, 1, 0],
    ["", "ZZB", "NHS England London", "Trust B", 900, 0, 40, 940, 200, 0, 1, 201, 220, 0, 0],
]
AE_WORKBOOK_ROWS = {"period": 3, "header": 8, "england": 9, "first provider": 11}
"""Where things are in the base workbook, as the spreadsheet numbers its rows."""


def _xls(rows: list[list[object]], sheet: str = "Provider Level Data") -> bytes:
    """An Excel 97-2003 workbook of one sheet holding ``rows`` (xlwt writes the same bytes every time)."""
    import xlwt

    book = xlwt.Workbook()
    cells = book.add_sheet(sheet)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value != "":
                cells.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ae_workbook_cases() -> dict[str, tuple[bytes, int | None, str | None]]:
    """A valid A&E by provider workbook (two providers under the England row) with one thing wrong in each
    case; rows are the spreadsheet's, columns its letter and header."""
    first, second = (r[4:] for r in AE_WORKBOOK_PROVIDERS)
    england = ["", "-", "-", "England"] + [a + b for a, b in zip(first, second, strict=True)]
    rows: list[list[object]] = [
        [],
        ["", "Title:", "A&E Attendances & Emergency Admission monthly statistics"],
        ["", "Period:", "April 2018"],
        ["", "Published:", "10th May 2018"],
        ["", "Revised:", ""],
        [],
        ["", "", "", "", "A&E attendances", "", "", "", "A&E attendances > 4 hours", "", "", "", "Emergency"],
        AE_WORKBOOK_HEADER,
        england,
        [],
        *AE_WORKBOOK_PROVIDERS,
    ]
    period, header, total, provider = AE_WORKBOOK_ROWS.values()

    def field(column: str) -> str:
        return f"{column}: {AE_WORKBOOK_HEADER[ord(column) - ord('A')]}"

    def add(case: str, data: bytes, row: int | None, named: str | None) -> None:
        cases[f"ae-workbook/{case}__18-apr.xls"] = (data, row, named)

    def changed(*edits: tuple[int, str, object]) -> bytes:
        edited = [list(r) for r in rows]
        for row, column, value in edits:
            edited[row - 1][ord(column) - ord("A")] = value
        return _xls(edited)

    cases: dict[str, tuple[bytes, int | None, str | None]] = {}
    good = _xls(rows)
    add("empty", b"", None, None)
    add("binary", BINARY, None, None)
    add("csv_not_xls", _csv([[str(c) for c in r] for r in rows]), None, None)
    add("truncated", good[: len(good) // 2], None, None)
    add("sheet_missing", _xls(rows, sheet="Sheet1"), None, None)
    add("header_missing", changed((header, "B", "Org")), None, None)
    add("no_rows", _xls(rows[:header]), None, None)
    add("period_missing", _xls([*rows[:2], [], *rows[3:]]), None, "Period")
    add("period_not_a_month", changed((period, "C", "2018/19 Q1")), period, "Period")
    add("count_negative", changed((provider, "M", -250)), provider, field("M"))
    add("count_not_a_number", changed((provider + 1, "F", "n/a")), provider + 1, field("F"))
    add("count_missing", changed((provider + 1, "O", "")), provider + 1, field("O"))
    add("count_fraction", changed((provider, "N", 0.5)), provider, field("N"))
    add(
        "breaches_above_attendances", changed((provider, "I", 1001), (total, "I", 1201)), provider, field("I")
    )
    add("england_does_not_reconcile", changed((total, "E", 1901)), total, field("E"))
    add("england_row_missing", _xls(rows[: total - 1] + rows[total:]), provider - 1, field("D"))
    add("code_blank", changed((provider, "B", "")), provider, field("B"))
    add("code_repeated", changed((provider + 1, "B", "ZZA")), provider + 1, field("B"))
    add("code_quote", changed((provider, "B", 'ZZ"A')), provider, field("B"))
    add("name_blank", changed((provider + 1, "D", " ")), provider + 1, field("D"))
    add("name_crlf", changed((provider, "D", "Trust\r\nA")), provider, field("D"))
    add(
        "department_missing_in_a_block",
        _xls([r[:9] + r[10:] for r in rows]),
        None,
        "Type 2 Departments - Single Specialty before Total Attendances > 4 hours",
    )
    add(
        "admissions_missing",
        _xls([r[:12] + r[13:] for r in rows]),
        None,
        "Emergency Admissions via Type 1 A&E",
    )
    add("block_total_missing", changed((header, "L", "Over 4 hours")), None, "Total Attendances > 4 hours")
    return cases


# --- settings files read from a user's path ------------------------------------------------------------

SETTINGS = {
    # kind: (packaged file, fields to break: (dotted field, bad value, the field named))
    "monitor-settings": (
        ("config", "monitor", "monitor.yaml"),
        [
            ("flags.risk_z", "high", "flags.risk_z"),
            ("flags.risk_z", -1.0, "flags.risk_z"),
            ("small_numbers.min_units", 2.5, "small_numbers.min_units"),
            ("spc.measure", "sideways", "spc.measure"),
            ("funnel.trim", None, "funnel.trim"),
        ],
    ),
    "planning-settings": (
        ("config", "plan", "planning.yaml"),
        [
            ("demand.new_registration_months", "soon", "demand.new_registration_months"),
            ("demand.stale_rating_months", -6, "demand.stale_rating_months"),
        ],
    ),
    "funding-scenario": (
        ("config", "fund", "scenario_2024_25.yaml"),
        [
            ("quantum_gbp.core", "lots", "quantum_gbp.core"),
            ("pace_of_change.minimum_growth", "fast", "pace_of_change.minimum_growth"),
        ],
    ),
    "funding-assessment": (
        ("config", "fund", "assessment.yaml"),
        [
            ("finance.inadequate_if_deficit_over", "big", "finance.inadequate_if_deficit_over"),
            ("outcomes.inadequate_if_net_worse_at_least", -0.3, "outcomes.inadequate_if_net_worse_at_least"),
        ],
    ),
    "systems-settings": (
        ("config", "systems", "systems.yaml"),
        [
            ("transitions.z_cap", "wide", "transitions.z_cap"),
            ("programme.previous_reviews", "many", "programme.previous_reviews"),
        ],
    ),
    "web-settings": (
        ("web", "settings.yaml"),
        [
            ("pages.search_results", 0, "pages.search_results"),
            ("charts.width", "wide", "charts.width"),
            ("pages.page_size_typo", 20, "pages.page_size_typo"),
        ],
    ),
}


def _set(document: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = document
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return document


def settings_cases() -> dict[str, tuple[bytes, int | None, str | None]]:
    cases: dict[str, tuple[bytes, int | None, str | None]] = {}
    for kind, (packaged, fields) in SETTINGS.items():
        text = Path(str(resources.files("carelens").joinpath(*packaged))).read_text(encoding="utf-8")
        cases[f"{kind}/empty.yaml"] = (b"", None, None)
        cases[f"{kind}/not_yaml.yaml"] = (b"flags: [1, 2\n  risk_z: {\n", None, None)
        cases[f"{kind}/a_list.yaml"] = (b"- 1\n- 2\n", None, None)
        cases[f"{kind}/utf16.yaml"] = (text.encode("utf-16"), None, None)
        cases[f"{kind}/wrong_schema_version.yaml"] = (
            yaml.safe_dump(_set(yaml.safe_load(text), "schema_version", 99)).encode(),
            None,
            "schema_version",
        )
        for dotted, value, named in fields:
            label = dotted.replace(".", "_") + ("_missing" if value is None else f"_{str(value)[:8]}")
            document = _set(yaml.safe_load(text), dotted, value)
            cases[f"{kind}/{label}.yaml"] = (yaml.safe_dump(document, sort_keys=False).encode(), None, named)
    return cases


def corpus() -> dict[str, bytes]:
    """Every file of the corpus by its path under this folder, ``expected.csv`` among them. The same bytes
    every time (gzip without a timestamp), so ``test_bad_inputs`` can check the folder is this output."""
    cases = {**importer_cases(), **shmi_current_cases(), **settings_cases()}
    cases = dict(sorted(cases.items()))
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\n")
    writer.writerow(["case", "row", "field"])
    for path, (_, row, field) in cases.items():
        writer.writerow([path, "" if row is None else row, field or ""])
    return {
        **{path: data for path, (data, _, _) in cases.items()},
        "expected.csv": expected.getvalue().encode(),
    }


def main() -> None:
    files = corpus()
    for old in HERE.glob("*/*"):
        old.unlink()
    for path, data in files.items():
        target = HERE / path
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
    print(f"{len(files) - 1} cases")


if __name__ == "__main__":
    main()
