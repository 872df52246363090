"""The main job end to end on the packaged real data, through the command line."""

import pandas as pd
from typer.testing import CliRunner

from carelens.cli import app


def test_demo_reproduces_published_shmi_bands_and_writes_every_result(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--no-serve"])
    assert result.exit_code == 0, result.output

    shmi = pd.read_csv(tmp_path / "shmi_funnel.csv")
    assert len(shmi) == 726  # 5 HSCIC releases, 142-147 trusts each
    assert (shmi["band"] == shmi["published_band"]).all()
    assert shmi.groupby("DATE")["band"].apply(lambda b: (b == 1).sum()).tolist() == [14, 11, 9, 10, 10]

    funnel = pd.read_csv(tmp_path / "ae_4hr_breach_funnel.csv")
    assert funnel["period"].nunique() == 36
    march = funnel[funnel["period"] == "2019-03-01"]
    outside_95 = march[(march["value"] > march["upper_95"]) | (march["value"] < march["lower_95"])]
    # The same 18 trusts as the funnel kernel's own A&E reference test (3 higher, 15 lower).
    assert sorted(outside_95["unit"]) == sorted(
        [
            "RAS",
            "RHU",
            "RXN",
            "RA4",
            "RBS",
            "RC9",
            "RCD",
            "RCU",
            "RDD",
            "RDZ",
            "RFF",
            "RJC",
            "RQM",
            "RQX",
            "RTR",
            "RWF",
            "RWY",
            "RYR",
        ]
    )

    spc = pd.read_csv(tmp_path / "ae_4hr_performance_spc.csv")
    assert spc["org_code"].nunique() == funnel["unit"].nunique()
    assert "A&E type 1 four-hour breaches" in result.output


def test_demo_store_loads_every_packaged_data_set_once(tmp_path):
    from carelens.demo.store import load_demo_store
    from carelens.store.engine import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    first = load_demo_store(engine)
    assert first == {
        "ae": 12_765,
        "shmi": 726,
        "cqc-ratings": 2_920,
        "gp-weighted-population": 19_660,
        "ons-population": 1_274,
    }
    assert set(load_demo_store(engine).values()) == {0}  # idempotent: the same files change nothing
