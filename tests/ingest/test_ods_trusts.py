"""The ODS trust file importer: every NHS trust gets its NHS England region from the publisher's file, bad
rows are named by file, row and field with nothing written, and a trust already stored keeps its name."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from carelens.cli import app
from carelens.errors import InputError
from carelens.ingest.service import ingest
from carelens.ingest.sources.ods_trusts import read
from carelens.packaged import DATA_DIR
from carelens.store import schema
from carelens.store.testing import seed_import, seed_organisations

ETR = DATA_DIR / "nhs_ods" / "etr.csv"
ROW = '"{code}","{name}","{region}","QHM","","","","","","NE1 1AA","{opened}","{closed}",' + ",".join(
    ['""'] * 15
)


def _row(code="RXX", name="A TRUST", region="Y63", opened="20000401", closed="") -> str:
    return ROW.format(code=code, name=name, region=region, opened=opened, closed=closed)


def test_packaged_file_gives_every_english_trust_its_region():
    batch = read(ETR)
    trusts = batch.organisations[batch.organisations["kind"] == "nhs_trust"]
    assert batch.rows == len(trusts) == 273
    assert trusts["valid_to"].notna().sum() == 68  # closed trusts keep their close date
    links = batch.relationships
    assert set(links["kind"]) == {"organisation_region", "organisation_icb"}
    links = links[links["kind"] == "organisation_region"]
    assert len(links) == 270
    assert set(trusts["code"]) - set(links["subject_code"]) == {"RQF", "RT4", "RYT"}  # Welsh: no region
    assert dict(zip(links["subject_code"], links["object_code"], strict=True))["RK9"] == "Y58"
    regions = batch.organisations[batch.organisations["kind"] == "region"]
    assert dict(zip(regions["code"], regions["name"], strict=True))["Y63"] == "North East and Yorkshire"
    assert str(links["valid_from"].iloc[0]) == "2024-12-31"  # the newest date in the file


def test_loading_names_stored_trusts_records_closure_and_is_idempotent(engine, tmp_path):
    with engine.begin() as c:
        import_id = seed_import(c)
        seed_organisations(
            c,
            [
                dict(code="RK9", name="Kept name", kind="nhs_trust", sector="hospitals"),
                dict(code="RJD", name=None, kind="nhs_trust", sector="hospitals"),
            ],
            import_id,
        )
    [result] = ingest(engine, "ods-trusts", [ETR], user="tester")
    assert result.status == "loaded"
    org, rel = schema.organisation, schema.org_relationship
    with engine.connect() as c:
        rows = {r.code: r for r in c.execute(sa.select(org).where(org.c.code.in_(["RK9", "RJD", "G6V2S"])))}
        region = dict(
            c.execute(
                sa.select(rel.c.subject_code, rel.c.object_code).where(rel.c.kind == "organisation_region")
            ).all()
        )
        audited = c.execute(
            sa.select(sa.func.count()).where(schema.audit_event.c.import_id == result.import_id)
        ).scalar()
    assert rows["RK9"].name == "Kept name" and rows["RK9"].valid_to is None
    assert rows["RJD"].name == "MID STAFFORDSHIRE NHS FOUNDATION TRUST"
    assert str(rows["RJD"].valid_to) == "2017-10-31"  # closed: the plan does not inspect it after that
    assert rows["G6V2S"].valid_from is None  # an ODS open date is not a registration with the regulator
    assert (region["RK9"], region["RJD"], region["G6V2S"]) == ("Y58", "Y60", "Y56")
    assert audited >= 1
    [again] = ingest(engine, "ods-trusts", [ETR], user="tester")
    assert again.status == "already imported"


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (_row(region="Y99"), "3 (national grouping: NHS England region)", "not an NHS England region code"),
        (_row(opened="2000-04-01"), "11 (open date)", "not a YYYYMMDD date"),
        (_row(closed="19990101"), "12 (close date)", "closes before it opens"),
        (_row(name=""), "2 (name)", "missing"),
        (_row(code="RAA"), "1 (organisation code)", "RAA is also on row 1"),
        (_row() + ',""', None, "28 fields; an ODS organisation file has 27"),
    ],
)
def test_bad_rows_are_named_by_file_row_and_field_and_nothing_is_written(tmp_path, line, field, message):
    path = tmp_path / "etr.csv"
    path.write_text(_row(code="RAA") + "\r\n" + line + "\r\n")
    with pytest.raises(InputError) as caught:
        read(path)
    [problem] = caught.value.problems
    assert (problem.source, problem.row, problem.field) == (str(path), 2, field)
    assert message in problem.reason


def test_cli_bad_file_is_exit_2_and_leaves_the_store_as_it_was(tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    good = tmp_path / "good.csv"
    shutil.copy(ETR, good)
    bad = tmp_path / "bad.csv"
    bad.write_text(_row(code="RAA") + "\r\n" + _row(code="RBB", region="W1") + "\r\n")
    result = CliRunner().invoke(app, ["ingest", "ods-trusts", str(good), str(bad), "--db", db])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "bad.csv, row 2, column '3 (national grouping: NHS England region)'" in said
    engine = sa.create_engine(db)
    if sa.inspect(engine).has_table("organisation"):
        with engine.connect() as c:
            assert c.execute(sa.select(sa.func.count()).select_from(schema.organisation)).scalar() == 0
    engine.dispose()
    ok = CliRunner().invoke(app, ["ingest", "ods-trusts", str(good), "--db", db])
    assert ok.exit_code == 0 and "273 rows read" in ok.output
