"""The ODS reference files as published: trusts (etr) with regions and ICBs, sub-ICB locations (eccg), GP
practices and other prescribing settings (epraccur) and successions (succ); kinds come from these files."""

from __future__ import annotations

import csv
import datetime as dt

import sqlalchemy as sa

from carelens.demo.store import DATA_DIR
from carelens.ingest.reference import INDEPENDENT_PROVIDERS, reference_kinds
from carelens.ingest.service import ingest
from carelens.ingest.sources.ods import read_eccg, read_epraccur, read_etr, read_succ
from carelens.store import schema

ODS = DATA_DIR / "nhs_ods"
ETR_2025, ETR_2026 = ODS / "etr.csv", ODS / "2026-07" / "etr.csv"
ECCG, SUCC, EPRACCUR = (
    ODS / "2025-12" / "eccg.csv",
    ODS / "2026-05" / "succ.csv",
    ODS / "2023-12" / "epraccur.csv",
)


def test_every_three_character_ae_code_is_an_ods_trust_or_a_listed_independent_provider():
    codes = set()
    for path in (DATA_DIR / "ae_monthly" / "csv").glob("*/*.csv"):
        with path.open(newline="", encoding="utf-8-sig") as handle:
            codes |= {row[1].strip() for row in csv.reader(handle)}
    short = {c for c in codes if len(c) == 3 and c.upper() != "TOT"}
    trusts = set(read_etr(ETR_2025).organisations.query("kind == 'nhs_trust'")["code"])
    trusts |= set(read_etr(ETR_2026).organisations.query("kind == 'nhs_trust'")["code"])
    assert len(short) == 179
    assert len(short & trusts) == 170
    assert short - trusts == set(INDEPENDENT_PROVIDERS) and len(INDEPENDENT_PROVIDERS) == 9
    assert {c for c in short if reference_kinds()[c] == "nhs_trust"} == short & trusts


def test_trusts_get_region_and_icb_and_sub_icb_locations_their_icb():
    batch = read_etr(ETR_2026)
    links = batch.relationships.set_index(["kind", "subject_code"])["object_code"]
    assert links[("organisation_region", "RAL")] == "Y56"
    assert links[("organisation_icb", "RAL")] == "Z9B2Z"  # the merged London ICB of 2026
    assert batch.organisations.set_index("code").loc["RAP", "valid_to"] == dt.date(2024, 12, 31)
    sub_icbs = read_eccg(ECCG)
    orgs = sub_icbs.organisations.set_index("code")
    assert orgs.loc["00C", "kind"] == "commissioner" and orgs.loc["00C", "subtype"] == "ccg"
    assert orgs.loc["QHM", "subtype"] == "icb"
    parents = sub_icbs.relationships.query("kind == 'commissioner_parent'")
    assert dict(zip(parents["subject_code"], parents["object_code"], strict=True))["00C"] == "QHM"


def test_practices_and_other_prescribing_settings_take_their_kind_from_the_file():
    batch = read_epraccur(EPRACCUR)
    orgs = batch.organisations.set_index("code")
    assert orgs.loc["A81001", "kind"] == "gp_practice"
    assert (orgs.loc["Y02615", "kind"], orgs.loc["Y02615", "subtype"]) == ("location", "walk_in_centre")
    assert (orgs["kind"] == "gp_practice").sum() == 8647
    links = batch.relationships
    assert set(links["kind"]) == {"practice_commissioner"} and len(links) == 8647


def test_successions_join_stored_organisations_and_leave_out_the_rest(engine):
    assert len(read_succ(SUCC).relationships) == 11537
    ingest(engine, "ods-etr", [ETR_2025, ETR_2026], user="tester")
    [result] = ingest(engine, "ods-succ", [SUCC], user="tester")
    assert result.status == "loaded" and result.left_out > 11000
    rel = schema.org_relationship
    with engine.connect() as c:
        successors = c.execute(
            sa.select(rel.c.object_code, rel.c.valid_from).where(
                rel.c.kind == "succeeded_by", rel.c.subject_code == "RAP"
            )
        ).all()
    assert [tuple(r) for r in successors] == [("RAL", dt.date(2025, 1, 1))]


def test_monthly_ae_keeps_the_kinds_ods_gave(engine):
    ingest(engine, "ods-epraccur", [EPRACCUR], user="tester")
    with engine.begin() as c:  # as an earlier import guessed from the code's shape
        c.execute(
            schema.organisation.update()
            .where(schema.organisation.c.code == "Y02615")
            .values(kind="gp_practice")
        )
    [result] = ingest(
        engine,
        "ae-monthly",
        [DATA_DIR / "ae_monthly" / "csv" / "2022-23" / "April-2022-revised-130624-F4scP.csv"],
        user="t",
    )
    assert result.status == "loaded"
    org = schema.organisation
    with engine.connect() as c:
        kinds = dict(
            c.execute(
                sa.select(org.c.code, org.c.kind).where(org.c.code.in_(["Y02615", "RJ6", "NLX", "C82009"]))
            ).all()
        )
    assert kinds == {
        "Y02615": "gp_practice",
        "RJ6": "nhs_trust",
        "NLX": "independent_provider",
        "C82009": "gp_practice",
    }
