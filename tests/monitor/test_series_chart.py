"""The lean control chart of one stored series (pages) equals the checked table (`carelens spc`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from carelens.monitor.control_charts import series_chart, spc_table


@settings(max_examples=60, deadline=None)
@given(
    months=st.lists(st.integers(0, 60), min_size=2, max_size=40, unique=True),
    day=st.sampled_from([1, 15]),
    seed=st.integers(0, 2**16),
    improvement=st.sampled_from(["increase", "decrease", "neutral"]),
)
def test_series_chart_equals_spc_table(months, day, seed, improvement):
    months = sorted(months)
    dates = np.array([np.datetime64(f"{2015 + m // 12}-{m % 12 + 1:02d}-{day:02d}") for m in months])
    values = np.random.default_rng(seed).normal(10, 2, len(months))
    values[np.random.default_rng(seed + 1).random(len(months)) < 0.1] = np.nan
    lean = series_chart(dates, values, improvement)
    table = spc_table(
        pd.DataFrame({"period": dates.astype("datetime64[ns]"), "value": values}),
        value="value",
        date="period",
        improvement=improvement,
    )
    for name in ("mean", "upper", "lower"):
        np.testing.assert_array_equal(lean[name], table[name].to_numpy(float))
    assert list(lean["point_type"]) == list(table["point_type"].astype(str))
    assert lean["variation_icon"][0] == table["variation_icon"].astype(str).iloc[-1]
