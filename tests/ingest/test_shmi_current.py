"""NHS England's current SHMI trust-level layout (monthly since 2019): read from files written here in that
layout (tests/ingest/shmi_current.py makes them from the packaged HSCIC releases: published values,
limits and bandings, counts rounded to the nearest 5, byte-order mark and CRLF line ends). The published
banding is the public verdict; carelens's recomputation from the rounded counts is reported beside it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carelens.cli import app as cli_app
from carelens.errors import InputError
from carelens.ingest.service import ingest
from carelens.ingest.sources.shmi import read
from carelens.model.access import Actor, Role
from carelens.monitor.service import profile as profile_of
from carelens.monitor.service import run_monitor
from carelens.services import monitoring as monitoring_service
from carelens.store import schema
from tests.ingest.shmi_current import current_layout, write_current
from tests.web.judgement_views import from_api_profile, from_league_api, from_page

RELEASES = (
    "shmi-2011-october.csv",
    "shmi-2012-january.csv",
    "shmi-2012-april.csv",
    "shmi-2012-july.csv",
    "shmi-2012-october.csv",
)
BANDS_RECOMPUTED_DIFFERENTLY = (2, 1, 1, 0, 0)
"""Trusts whose band recomputed from the counts rounded to 5 differs from the published one, per release
(measured on these files; the published banding came from the unrounded counts)."""
ANALYST = Actor(user_name="analyst", role=Role.ANALYST)


def _release(data_dir, name: str):
    return current_layout(data_dir / "shmi" / "archive_raw" / name)


def test_a_file_with_a_byte_order_mark_and_crlf_line_ends_loads_with_the_published_figures(
    data_dir, tmp_path
):
    frame = _release(data_dir, "shmi-2012-october.csv")
    path = write_current(tmp_path / "shmi-2019-06.csv", frame)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == len(frame) + 1
    batch = read(path)
    obs, verdicts = batch.observations, batch.published_verdicts
    assert len(obs) == len(verdicts) == 142
    assert set(obs["period"]) == {dt.date(2019, 6, 1)}  # from the file name
    assert obs["org_code"].tolist() == frame["PROVIDER_CODE"].tolist()
    np.testing.assert_array_equal(obs["value"], frame["SHMI_VALUE"].astype(float))
    assert (obs["numerator"] % 5 == 0).all() and (obs["expected"] % 5 == 0).all()
    np.testing.assert_array_equal(verdicts["band"], frame["SHMI_BANDING"].astype(int))
    np.testing.assert_array_equal(verdicts["lower"], frame["OD_LL"].astype(float))
    np.testing.assert_array_equal(verdicts["poisson_upper"], frame["PO_UL"].astype(float))
    assert set(verdicts["level"]) == {95.0}
    assert batch.organisations["name"].iloc[0] == frame["PROVIDER_NAME"].iloc[0]


@pytest.mark.parametrize(("release", "differ"), zip(RELEASES, BANDS_RECOMPUTED_DIFFERENTLY, strict=True))
def test_limits_recomputed_from_rounded_counts_are_close_to_the_published_ones(
    data_dir, tmp_path, release, differ
):
    """Rounding deaths to 5 moves the limits by at most 0.0004 and the value by at most 0.008 here, enough
    to change a band only for a trust next to a limit."""
    verdicts = read(
        write_current(tmp_path / "shmi-2019-06.csv", _release(data_dir, release))
    ).published_verdicts
    for published, recomputed in (("lower", "recomputed_lower"), ("upper", "recomputed_upper")):
        assert (verdicts[published] - verdicts[recomputed]).abs().max() < 4e-4
    for published, recomputed in (
        ("poisson_lower", "recomputed_poisson_lower"),
        ("poisson_upper", "recomputed_poisson_upper"),
    ):
        assert (verdicts[published] - verdicts[recomputed]).abs().max() < 3e-4
    assert (verdicts["value"] - verdicts["recomputed_value"]).abs().max() < 8e-3
    differing = verdicts[verdicts["band"] != verdicts["recomputed_band"]]
    assert len(differing) == differ
    # each differs because its value lies next to a limit: within the value's rounding of it
    near = np.minimum(
        (differing["value"] - differing["lower"]).abs(), (differing["value"] - differing["upper"]).abs()
    )
    assert (near < 0.01).all()


def test_a_value_on_a_rounded_limit_is_consistent_with_either_band(data_dir, tmp_path):
    frame = _release(data_dir, "shmi-2012-october.csv")
    frame.loc[0, ["SHMI_VALUE", "SHMI_BANDING"]] = [frame.loc[0, "OD_UL"], "1"]
    frame.loc[1, ["SHMI_VALUE", "SHMI_BANDING"]] = [frame.loc[1, "OD_UL"], "2"]
    read(write_current(tmp_path / "shmi-2019-06.csv", frame))


def test_an_inconsistent_banding_is_refused_naming_row_and_field(data_dir, tmp_path):
    frame = _release(data_dir, "shmi-2012-october.csv")
    row = int(np.flatnonzero(frame["SHMI_BANDING"] == "2")[0])
    frame.loc[row, "SHMI_BANDING"] = "1"
    with pytest.raises(InputError) as caught:
        read(write_current(tmp_path / "shmi-2019-06.csv", frame))
    [problem] = caught.value.problems
    assert (problem.row, problem.field) == (row + 1, "SHMI_BANDING")
    assert "needs SHMI_VALUE above OD_UL" in problem.reason


def test_cli_ingest_with_period_reports_the_recomputation_beside_the_published_banding(data_dir, tmp_path):
    path = write_current(tmp_path / "shmi_trust_level.csv", _release(data_dir, "shmi-2011-october.csv"))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(cli_app, ["ingest", "shmi", str(path), "--period", "2019-06-01", "--db", url])
    assert result.exit_code == 0, result.output
    assert "published verdicts: 147, shown as published" in result.output
    assert "differs on 2" in result.output
    assert "largest |published - recomputed| upper: 0.0003" in result.output
    lines = [line.split() for line in result.output.splitlines() if line.strip().startswith("R")]
    assert len(lines) == 2 and all(line[1] == "2019-06-01" and line[2] != line[3] for line in lines)
    engine = sa.create_engine(url)
    with engine.connect() as c:
        stored = c.execute(sa.select(sa.func.count(), sa.func.min(schema.published_verdict.c.period))).one()
    engine.dispose()
    assert tuple(stored) == (147, dt.date(2019, 6, 1))
    again = CliRunner().invoke(cli_app, ["ingest", "shmi", str(path), "--period", "2019-06-01", "--db", url])
    assert again.exit_code == 0 and "no change" in again.output


def test_without_a_month_in_the_name_or_period_it_says_use_period(data_dir, tmp_path):
    path = write_current(tmp_path / "shmi_trust_level.csv", _release(data_dir, "shmi-2012-october.csv"))
    with pytest.raises(InputError) as caught:
        read(path)
    assert "--period" in caught.value.problems[0].reason


def _differing_store(engine, data_dir, tmp_path) -> str:
    """A store holding one release in which one trust's published banding is 'as expected' while its
    rounded counts, as published, put it above carelens's recomputed limits; monitored. Its code."""
    frame = _release(data_dir, "shmi-2012-october.csv")
    row = int(np.flatnonzero(frame["SHMI_BANDING"] == "2")[0])
    expected = int(frame.loc[row, "EXPECTED"])
    frame.loc[row, "OBSERVED"] = str(
        int(round(expected * 1.5 / 5) * 5)
    )  # value and banding left as published
    ingest(engine, "shmi", [write_current(tmp_path / "shmi-2019-06.csv", frame)], user="tester")
    run_monitor(engine)
    return str(frame.loc[row, "PROVIDER_CODE"])


def test_the_published_banding_is_shown_even_where_carelens_recomputes_another(engine, data_dir, tmp_path):
    code = _differing_store(engine, data_dir, tmp_path)
    with engine.connect() as c:
        published = c.execute(
            sa.select(schema.published_verdict).where(schema.published_verdict.c.org_code == code)
        ).one()
    assert (published.band, published.recomputed_band) == (2, 1)

    from carelens.app import create_app

    with TestClient(create_app(engine)) as client:
        profile = client.get(f"/api/v1/organisations/{code}").json()
        [shmi] = [i for i in profile["indicators"] if i["indicator_id"] == "shmi"]
        c = shmi["comparison"]
        assert (c["verdict"], c["direction"], c["verdict_source"]) == ("as expected", "within", "published")
        assert (c["lower"], c["upper"]) == (published.lower, published.upper)
        assert shmi["value"] == published.value
        assert c["recomputed"]["verdict"] == "worse" and c["recomputed"]["direction"] == "higher"
        assert c["recomputed"]["value"] > c["recomputed"]["upper"]
        assert from_league_api(client, "shmi")[(code, "shmi")].verdict == "as expected"
        page = client.get(f"/organisations/{code}").text
        assert from_page(page, code)[(code, "shmi")].verdict == "as expected"
        assert 'data-verdict-source="published"' in page and "recomputation from the published counts" in page
        # a trust without such a disagreement shows the published banding too, with its own recomputation
        other = next(
            k for k, v in from_league_api(client, "shmi").items() if k[0] != code and v.verdict == "worse"
        )
        assert from_api_profile(client, other[0])[other].verdict == "worse"
    flags = monitoring_service.flags(engine, ANALYST, org_code=code, indicator_id="shmi").items
    assert [f["verdict"] for f in flags] == ["as expected"]
    [shown] = [i for i in profile_of(engine, code)["indicators"] if i["indicator_id"] == "shmi"]
    assert (shown["verdict"], shown["direction"]) == ("as expected", "within")


def test_older_layouts_show_carelens_verdict_as_before(engine, data_dir):
    ingest(engine, "shmi", [data_dir / "shmi" / "archive_raw" / "shmi-2012-october.csv"], user="tester")
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(schema.published_verdict)).scalar() == 0
