"""The organisation search on SQLite and PostgreSQL, over the registers' own files: the ODS trust file of
July 2026 and successions of May 2026, and the CQC Devon and Plymouth ratings and locations of April 2021.

The index is built in memory from what the store holds (:mod:`carelens.services.search`); what it reads
from SQL (entries, successions, renames in the audit log, places) is read on both backends.
"""

from __future__ import annotations

import pytest

from carelens.ingest.service import ingest
from carelens.model.access import ANONYMOUS
from carelens.services.organisations import search_organisations
from carelens.services.search import DIRECTORY_COLUMNS, RESULT_COLUMNS, Query


@pytest.fixture(scope="module")
def registers(stores, data_dir, tmp_path_factory):
    """A store holding the trusts, their successions and the CQC locations of Devon and Plymouth; RH8 first
    named by a curated list as it was until April 2022, then renamed by it (the audit log keeps the old
    name)."""
    engine = stores.new()
    folder = tmp_path_factory.mktemp("names")
    old = folder / "organisations_2021.csv"
    old.write_text("code,name,kind\nRH8,Royal Devon and Exeter NHS Foundation Trust,nhs_trust\n")
    ingest(engine, "organisations", [old], user="tester")
    ods, cqc = data_dir / "nhs_ods", data_dir / "cqc_ratings"
    ingest(engine, "ods-etr", [ods / "2026-07" / "etr.csv"], user="tester")
    ingest(engine, "cqc-ratings", [cqc / "cqc_ratings_long_devon_plymouth_2021-04.csv"], user="tester")
    ingest(engine, "cqc-locations", [cqc / "cqc_locations_devon_plymouth_2021-04.csv"], user="tester")
    ingest(engine, "ods-succ", [ods / "2026-05" / "succ.csv"], user="tester")
    new = folder / "organisations_2022.csv"
    new.write_text("code,name,kind\nRH8,Royal Devon University Healthcare NHS Foundation Trust,nhs_trust\n")
    ingest(engine, "organisations", [new], user="tester")
    yield engine
    engine.dispose()


def found(engine, q: str, **options) -> list[tuple[str, str | None]]:
    page = search_organisations(engine, ANONYMOUS, q=q, page_size=500, **options)
    return [(item["code"], item["matched"]) for item in page.items]


def test_a_postcode_finds_the_trust_first_then_the_hospital_there(registers):
    # the trust's registered address is Derriford Hospital (ODS), which CQC registers at the same postcode
    assert found(registers, "PL6 8DH") == [("RK9", "postcode PL6 8DH"), ("RK950", "postcode PL6 8DH")]
    assert found(registers, "pl68dh") == found(registers, "PL6 8DH")
    assert [code for code, _ in found(registers, "PL6")][:2] == ["RK9", "RK950"]  # then the rest of PL6


def test_a_code_comes_first_then_codes_starting_with_it_by_level(registers):
    codes = [code for code, _ in found(registers, "RK9")]
    assert codes == ["RK9", "RK901", "RK906", "RK922", "RK935", "RK950", "RK953"]
    assert found(registers, "rk9")[1] == ("RK901", "code starts with RK9")
    # a CQC location id is its code: not also every entry with a "1" in it
    assert found(registers, "1-115574477") == [("1-115574477", None)]


def test_words_in_any_order_misspelt_and_former_names(registers):
    assert found(registers, "university hospitals plymouth")[0] == ("RK9", None)
    assert found(registers, "plymouth university hospitals")[0] == ("RK9", None)
    assert found(registers, "plymuth")[0] == ("RK9", None)  # one letter missing
    assert found(registers, "univeristy hospitals plymouth")[0] == ("RK9", None)  # two letters swapped
    # a merger: North Middlesex University Hospital (RAP) joined the Royal Free (RAL) in January 2025
    assert found(registers, "north middlesex") == [
        ("RAP", None),
        ("RAL", "formerly NORTH MIDDLESEX UNIVERSITY HOSPITAL NHS TRUST"),
    ]
    # two predecessors: Taunton and Somerset (RBA) in 2020, Yeovil District Hospital (RA4) in 2023
    assert ("RH5", "formerly TAUNTON AND SOMERSET NHS FOUNDATION TRUST") in found(registers, "taunton")
    assert ("RH5", "formerly YEOVIL DISTRICT HOSPITAL NHS FOUNDATION TRUST") in found(registers, "yeovil")


def test_a_renamed_organisation_is_found_by_its_old_name(registers):
    old_name = found(registers, "royal devon and exeter nhs foundation trust")
    assert old_name[0] == ("RH8", "formerly Royal Devon and Exeter NHS Foundation Trust")
    assert found(registers, "royal devon university healthcare")[0] == ("RH8", None)


def test_a_type_and_a_town_find_the_care_homes_there(registers):
    homes = found(registers, "care home exeter")
    assert len(homes) == 46 and {why for _, why in homes} <= {"in Exeter", None}
    with registers.connect() as connection:
        from carelens.store import schema

        table = schema.organisation
        rows = connection.execute(
            table.select().where(table.c.code.in_([code for code, _ in homes]))
        ).mappings()
        assert {(r["kind"], r["town"]) for r in rows} == {("care_home", "Exeter")}
    assert found(registers, "exeter care home") == homes


def test_filters_and_pages(registers):
    everyone = search_organisations(registers, ANONYMOUS, q="plymouth", page_size=5)
    trusts = search_organisations(registers, ANONYMOUS, q="plymouth", kind="nhs_trust")
    assert [i["code"] for i in trusts.items] == ["RK9"]
    assert everyone.total > 5 and len(everyone.items) == 5 and everyone.page == 1
    last = search_organisations(registers, ANONYMOUS, q="plymouth", page=everyone.pages, page_size=5)
    assert 0 < len(last.items) <= 5
    assert search_organisations(registers, ANONYMOUS, q="plymouth", page=0, page_size=5).page == 1
    assert found(registers, "zzzz qqqq") == []
    # every word must match, else the entries matching the most words are listed, after none
    assert [code for code, _ in found(registers, "plymouth zzzz")] == [
        code for code, _ in found(registers, "plymouth")
    ]


def test_results_hold_nothing_but_the_public_directory_entry(registers):
    page = search_organisations(registers, ANONYMOUS, q="derriford")
    assert page.columns == RESULT_COLUMNS and RESULT_COLUMNS == [*DIRECTORY_COLUMNS, "matched"]
    assert all(set(item) == set(RESULT_COLUMNS) for item in page.items)


def test_the_index_follows_new_imports(registers, tmp_path):
    assert found(registers, "ZQ1") == []
    extra = tmp_path / "organisations.csv"
    extra.write_text("code,name,kind\nZQ1,Quayside Surgery,gp_practice\n")
    ingest(registers, "organisations", [extra], user="tester")
    assert found(registers, "quayside")[0] == ("ZQ1", None)


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("PL6 8DH", None, ("pl68dh",)),
        ("pl68dh", "PL68DH", ("pl68dh",)),
        ("care home  Exeter exeter", None, ("care", "home", "exeter")),
        ("St Mary's & the Royal", None, ("st", "marys", "royal")),
        ("St Mary\u2019s", None, ("st", "marys")),
        ("rk9", "RK9", ("rk9",)),
        ("the", "THE", ("the",)),  # only little words: they are looked for
        ("", None, ()),
    ],
)
def test_how_a_query_is_read(text, code, words):
    assert Query.parse(text) == Query(code, words)
