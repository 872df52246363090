"""The referral to treatment indicators are judged as their definitions say, on the packaged April 2026
extract: the headline figures have a better direction (within 18 weeks higher, over 52 weeks lower) and the
treatment functions' are compared without one (higher or lower than expected, never scored)."""

from __future__ import annotations

import pandas as pd

from carelens.ingest.sources.rtt import read
from carelens.model.indicators import load_indicators
from carelens.monitor.comparison import comparisons_for
from carelens.monitor.kernel import judge
from carelens.monitor.settings import load_settings
from carelens.packaged import DATA_DIR

SETTINGS = load_settings()
JUDGED = ["rtt_within_18_weeks", "rtt_over_52_weeks", "rtt_within_18_weeks_c_110", "rtt_over_52_weeks_c_110"]


def test_rtt_verdicts_follow_each_definitions_direction():
    batch = read(DATA_DIR / "rtt" / "20260430-RTT-April-2026-full-extract.csv.zip")
    kinds = batch.organisations.set_index("code")["kind"]
    rows = batch.observations[batch.observations["indicator_id"].isin(JUDGED)]
    rows = rows.assign(peer_group=rows["org_code"].map(kinds), period=pd.to_datetime(rows["period"]))
    judged = judge(rows, comparisons_for(load_indicators(), SETTINGS), SETTINGS)
    verdicts = judged.groupby("indicator_id")["verdict"].agg(set)
    assert verdicts["rtt_within_18_weeks"] == {"better", "worse", "as expected", "not compared"}
    assert verdicts["rtt_over_52_weeks"] == {"better", "worse", "as expected", "not compared"}
    assert verdicts["rtt_within_18_weeks_c_110"] == {"higher", "lower", "as expected", "not compared"}
    assert verdicts["rtt_over_52_weeks_c_110"] <= {"higher", "lower", "as expected", "not compared"}
    trusts = judged[(judged["peer_group"] == "nhs_trust") & (judged["verdict"] != "not compared")]
    within = trusts[trusts["indicator_id"] == "rtt_within_18_weeks"].set_index("org_code")
    over = trusts[trusts["indicator_id"] == "rtt_over_52_weeks"].set_index("org_code")
    assert within.loc[within["value"].idxmin(), "verdict"] == "worse"
    assert within.loc[within["value"].idxmax(), "verdict"] == "better"
    assert over.loc[over["value"].idxmax(), "verdict"] == "worse"
    assert len(within) == 147  # every trust with a waiting list (one has too few to compare)
