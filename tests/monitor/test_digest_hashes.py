"""The digests' row hashes by compiled loops (``carelens.monitor.hash_loops``, behind ``engines.row_hashes``)
against pandas' own ``pd.util.hash_pandas_object(frame, index=False)``: generated frames with every kind
of column a pass's flags and judgements have (floats with NaN of any sign and payload, infinities and
-0.0; integers of several widths; booleans; categoricals with and without missing values and unused
categories; dates as datetime64 of several units and as date objects; text), in any order, and empty
frames, must hash to the same numbers, so the pass's digests cannot change."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carelens.monitor.engines import (
    LONG_CATEGORIES,
    frame_digest,
    indicator_digests,
    keys_and_indicator_digests,
    row_hashes,
)

# NaN with other payloads and signs: the same value to pandas, so the same hash.
ODD_NANS = [np.uint64(0xFFF8000000000000), np.uint64(0x7FF0000000000001), np.uint64(0x7FF80000DEADBEEF)]
float_value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0]),
)
LABELS = ["a", "b", "", "c é", "d"]


def _column(draw, kind: str, n: int):
    if kind == "float64":
        values = np.array(draw(st.lists(float_value, min_size=n, max_size=n)), dtype=np.float64)
        odd = draw(st.lists(st.integers(0, len(ODD_NANS)), min_size=n, max_size=n))
        bits = values.view(np.uint64)
        for i, k in enumerate(odd):
            if k < len(ODD_NANS):
                bits[i] = ODD_NANS[k]
        return values
    if kind == "float32":
        single = st.one_of(st.floats(width=32), st.sampled_from([0.0, -0.0, np.inf, np.nan]))
        return np.array(draw(st.lists(single, min_size=n, max_size=n)), dtype=np.float32)
    if kind in ("int64", "int32", "int8", "uint8"):
        info = np.iinfo(kind)
        return np.array(
            draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=n, max_size=n)), dtype=kind
        )
    if kind == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    days = draw(st.lists(st.integers(-20_000, 40_000), min_size=n, max_size=n))
    if kind in ("datetime64[D]", "datetime64[s]", "datetime64[ns]"):
        day = np.array(days, dtype="datetime64[D]").astype(kind)
        missing = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        day[np.array(missing, dtype=bool)] = np.datetime64("NaT")
        return pd.Series(day)  # NaT included
    if kind == "date objects":
        return pd.Series([dt.date(1970, 1, 1) + dt.timedelta(days=d) for d in days], dtype=object)
    codes = draw(st.lists(st.integers(-1 if kind == "category with NA" else 0, 4), min_size=n, max_size=n))
    if kind in ("category", "category with NA"):
        categories = draw(st.permutations(LABELS))  # any order, some unused
        return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))
    text = [LABELS[c] for c in codes]
    return pd.Series(text, dtype="str" if kind == "str" else object)


KINDS = [
    "float64",
    "float32",
    "int64",
    "int32",
    "int8",
    "uint8",
    "bool",
    "datetime64[D]",
    "datetime64[s]",
    "datetime64[ns]",
    "date objects",
    "category",
    "category with NA",
    "str",
    "object",
]


@st.composite
def frames(draw):
    n = draw(st.integers(0, 30))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=0, max_size=12))
    return pd.DataFrame({f"c{i}": _column(draw, kind, n) for i, kind in enumerate(kinds)}, index=range(n))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_row_hashes_are_pandas_hashes(frame):
    expected = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    np.testing.assert_array_equal(row_hashes(frame), expected)


def test_every_kind_in_one_frame_and_empty_frames():
    rng = np.random.default_rng(5)
    n = 50
    frame = pd.DataFrame(
        {
            "value": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "zero": np.array([-0.0, 0.0] * (n // 2)),
            "count": rng.integers(-5, 5, n),
            "small": rng.integers(-128, 127, n).astype(np.int8),
            "alert": rng.random(n) < 0.5,
            "flag": pd.Categorical.from_codes(rng.integers(-1, 3, n), categories=["x", "y", "z"]),
            "day": pd.Series(np.arange(n).astype("datetime64[D]")),
            "period": [dt.date(2020, 1, 1)] * n,
            "name": pd.Series(["p", "q"] * (n // 2), dtype="str"),
        }
    )
    for part in (frame, frame.iloc[:0], frame.iloc[:, :0], frame.iloc[::-1], frame[frame.columns[::-1]]):
        np.testing.assert_array_equal(
            row_hashes(part), pd.util.hash_pandas_object(part, index=False).to_numpy()
        )
    assert frame_digest(frame.iloc[:0]) != frame_digest(frame)


def test_digests_cut_by_categorical_or_text_indicator_alike():
    flags = pd.DataFrame(
        {
            "indicator_id": pd.Categorical(["a", "a", "b", "c", "c", "c"], categories=["c", "b", "a"]),
            "org_code": pd.Categorical(list("xyxyzx")),
            "value": [1.0, np.nan, -0.0, 2.0, 3.0, np.inf],
        }
    )
    as_text = flags.assign(indicator_id=flags["indicator_id"].astype(object))
    keys, digests = keys_and_indicator_digests(flags)
    assert (keys, digests) == keys_and_indicator_digests(as_text)
    assert (
        digests
        == indicator_digests(as_text)
        == [frame_digest(flags.iloc[a:b]) for a, b in [(0, 2), (2, 3), (3, 6)]]
    )


class _LikeText:
    """Equal to the text "C000005" (and hashing alike in Python), yet not text."""

    def __eq__(self, other):
        return other == "C000005"

    def __hash__(self):
        return hash("C000005")

    def __str__(self):
        return "like C000005"


def test_long_categories_found_again_only_when_the_same_text():
    """Long lists of text categories (a pass's organisations) are hashed once and found again by their
    text: an equal list made anew hashes the same, one differing in one value or in a value's type not."""
    codes = np.arange(LONG_CATEGORIES + 50)[::-1] % (LONG_CATEGORIES + 10)
    names = [f"C{k:06d}" for k in range(LONG_CATEGORIES + 10)]

    def frame(categories: list) -> pd.DataFrame:
        text = pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))
        return pd.DataFrame({"org_code": text, "value": np.arange(len(codes), dtype=float)})

    variants = [
        names,
        ["".join(name) for name in names],  # equal text, new objects
        [*names[:-1], "C999999"],
        [*names[:5], 5, *names[6:]],  # an integer among text: pandas hashes all as str then
        [*names[:5], b"C000005", *names[6:]],  # bytes equal to no text
        [*names[:5], _LikeText(), *names[6:]],  # equal to the text, yet not text: hashed anew
        names,
    ]
    for categories in variants:
        part = frame(categories)
        np.testing.assert_array_equal(
            row_hashes(part), pd.util.hash_pandas_object(part, index=False).to_numpy()
        )
