"""The allocation engine on the real NHS England practice weighted populations, and pace of change."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from carelens.errors import InputError
from carelens.fund import engine, practices
from carelens.fund.engine import Unaffordable, allocate, pace_of_change
from carelens.fund.scenario import load_scenario
from carelens.fund.service import practice_loader, run_allocation
from carelens.ingest.service import ingest

# (population, core weighted population, need index = sum Final WP / sum population, target share),
# 2024/25, summed from the packaged practice file: people to the whole person, indices to 4 dp.
ICB_2024 = {
    "QHM": (3_160_954, 3_531_342, 1.1172, 0.056587),  # North East and North Cumbria
    "QUE": (1_022_472, 904_224, 0.8844, 0.014630),  # Cambridgeshire and Peterborough
    "QYG": (2_738_503, 3_063_453, 1.1187, 0.049094),  # Cheshire and Merseyside
    "QRV": (2_774_346, 2_511_713, 0.9053, 0.040678),  # North West London
    "QT6": (608_092, 669_320, 1.1007, 0.010693),  # Cornwall and the Isles of Scilly
}


def test_commissioner_weighted_populations_and_need_indices(practices_2024, published_targets_only):
    result = allocate(practices_2024, published_targets_only)
    c = result.commissioners.set_index("commissioner_code")
    assert len(c) == 42 and len(practices_2024) == 6553
    for code, (population, wp, index, share) in ICB_2024.items():
        assert round(c.loc[code, "population"]) == population
        assert round(c.loc[code, "wp_core"]) == wp
        assert round(c.loc[code, "need_index_core"], 4) == index
        assert round(c.loc[code, "target_share"], 6) == share
    assert c["target_share"].sum() == pytest.approx(1.0, abs=1e-12)
    # The weighted populations sum to the national projected population (62,154,630 in 2024/25).
    assert round(c["population"].sum()) == round(c["wp_core"].sum()) == 62_154_630
    assert c["need_index_core"].min() == pytest.approx(0.8844, abs=5e-5)
    assert c["need_index_core"].max() == pytest.approx(1.1187, abs=5e-5)
    # No market forces adjustment: target £ = stream quantum x weighted population share.
    expected = (
        100e9 * c["wp_core"] / c["wp_core"].sum()
        + 10e9 * c["wp_primary_medical_care"] / c["wp_primary_medical_care"].sum()
    )
    np.testing.assert_allclose(c["target_gbp"], expected, rtol=1e-12)
    assert c["allocation_gbp"].sum() == pytest.approx(110e9, rel=1e-12)


def test_place_targets_split_the_commissioner_target(practices_2024, published_targets_only):
    result = allocate(practices_2024, published_targets_only)
    places = result.places
    by_icb = places.groupby("commissioner_code")["target_gbp"].sum()
    c = result.commissioners.set_index("commissioner_code")
    np.testing.assert_allclose(by_icb.reindex(c.index), c["target_gbp"], rtol=1e-12)
    scilly = places[places["place_name"] == "Isles of Scilly"].iloc[0]
    # NHS England's place tool: (WP_p / pop_p) / (WP_i / pop_i).
    assert round(scilly["need_index_core"], 4) == 0.8768
    assert round(scilly["relative_need_index_core"], 4) == 0.7966
    assert scilly["practices"] == 1


def test_market_forces_factor_raises_a_commissioners_share(practices_2024, published_targets_only):
    london = dataclasses.replace(published_targets_only, market_forces={"QRV": 1.10})
    base = allocate(practices_2024, published_targets_only).commissioners.set_index("commissioner_code")
    mff = allocate(practices_2024, london).commissioners.set_index("commissioner_code")
    # share_i = 1.1 WP_i / (sum WP + 0.1 WP_i), per stream.
    wp, total = base.loc["QRV", "wp_core"], base["wp_core"].sum()
    assert mff.loc["QRV", "target_core_gbp"] == pytest.approx(
        100e9 * 1.1 * wp / (total + 0.1 * wp), rel=1e-12
    )
    assert mff["target_gbp"].sum() == pytest.approx(110e9, rel=1e-12)


def test_pace_of_change_worked_example():
    """Hand-made example (docs/allocations.md). Baselines 100 each, quantum 420 (average growth 5%),
    targets 90/100/108/122, floor 2%, under-target cap 8%, convergence 0.5.

    A and B are over target at 5% growth (105 > 90, 105 > 100): A: max(102, 105 - 0.5 x 15) = 102
    (floor); B: max(102, 105 - 0.5 x 5) = 102.5. That leaves 215.5 for C and D, whose lower bounds are
    C max(102, 108 x 0.92 = 99.36) = 102 and D max(102, 122 x 0.92 = 112.24) = 112.24. A common distance
    from target delta with C on its bound: 122 (1 + delta) = 215.5 - 102 = 113.5, delta = -6.967%,
    above D's bound and below C's break-even (102/108 - 1 = -5.56%), so C = 102 and D = 113.5.
    """
    allocation = pace_of_change(
        [90.0, 100.0, 108.0, 122.0],
        [100.0, 100.0, 100.0, 100.0],
        minimum_growth=0.02,
        under_target_cap=0.08,
        convergence_rate=0.5,
    )
    np.testing.assert_allclose(allocation, [102.0, 102.5, 102.0, 113.5], rtol=0, atol=1e-12)
    dft = engine.distance_from_target(allocation, [90.0, 100.0, 108.0, 122.0])
    np.testing.assert_allclose(dft, [12 / 90, 0.025, 102 / 108 - 1, 113.5 / 122 - 1], atol=1e-15)
    assert round(dft[3], 5) == -0.06967


def test_pace_of_change_refuses_an_unaffordable_cap():
    with pytest.raises(Unaffordable, match="more than the quantum"):
        pace_of_change([90.0, 100.0, 108.0, 122.0], [100.0] * 4, minimum_growth=0.02, under_target_cap=0.05)


def test_unaffordable_scenario_is_bad_input_naming_the_field(practices_2024, published_targets_only):
    greedy = dataclasses.replace(
        published_targets_only, pace=dataclasses.replace(published_targets_only.pace, minimum_growth=0.5)
    )
    baseline = pd.Series(100e9 / 42, index=sorted(practices_2024["commissioner_code"].unique()))
    with pytest.raises(InputError) as caught:
        allocate(practices_2024, greedy, baseline)
    assert caught.value.problems[0].field == "pace_of_change"


@st.composite
def bodies(draw):
    n = draw(st.integers(1, 40))
    baseline = np.array(draw(st.lists(st.floats(1.0, 1e4), min_size=n, max_size=n)))
    raw = np.array(draw(st.lists(st.floats(1.0, 1e4), min_size=n, max_size=n)))
    growth = draw(st.floats(-0.02, 0.2))
    target = raw / raw.sum() * baseline.sum() * (1 + growth)
    return target, baseline, growth


@settings(max_examples=300, deadline=None)
@given(bodies(), st.floats(-0.05, 0.1), st.one_of(st.none(), st.floats(0.0, 0.5)), st.floats(0.0, 1.0))
# Two bodies on target to within rounding (grown 1.125, target 1.1249999999999998) are under target:
# they share the squeeze with the other under-target body and end below target, floor permitting.
@example(
    (
        np.array([1.1249999999999998, 1.1249999999999998, 2.2499999999999996, 262.125]),
        np.array([1.0, 1.0, 1.0, 234.0]),
        0,
    ),
    0.0,
    None,
    0.0,
)
def test_pace_of_change_conserves_the_quantum(case, floor, cap, rate):
    target, baseline, _ = case
    try:
        allocation = pace_of_change(
            target, baseline, minimum_growth=floor, under_target_cap=cap, convergence_rate=rate
        )
    except Unaffordable:
        # Without a cap, a floor no higher than average growth is always affordable.
        assert cap is not None or floor > target.sum() / baseline.sum() - 1 - 1e-12
        return
    quantum = target.sum()
    assert allocation.sum() == pytest.approx(quantum, rel=1e-9)
    tol = 1e-9 * quantum
    assert np.all(allocation >= baseline * (1 + floor) - tol)  # the floor holds
    if cap is not None:  # nobody further under target than the cap
        assert np.all(allocation >= target * (1 - cap) - tol)
    # nobody is pushed past target from below, nor below target from above (floor aside)
    grown = baseline * target.sum() / baseline.sum()
    under = grown <= target * (1 + 1e-12)  # on target (to rounding) is under, as pace_of_change documents
    assert np.all(allocation[under] <= target[under] + tol)
    over = ~under
    assert np.all(allocation[over] >= np.minimum(target[over], grown[over]) - tol)


def test_packaged_scenario_runs_with_its_baseline_year():
    result = run_allocation(load_scenario("2024_25"))
    c = result.commissioners
    assert c["allocation_gbp"].sum() == pytest.approx(110e9, rel=1e-12)
    assert c["baseline_gbp"].sum() == pytest.approx(104.76e9, rel=1e-12)
    assert (c["growth"] >= 0.02 - 1e-12).all()
    assert (c["distance_from_target"] >= -0.025 - 1e-12).all()
    # Under-target ICBs converge to one distance from target; QHL (Birmingham and Solihull) is furthest over.
    under = c[c["distance_from_target"] < 0]["distance_from_target"]
    assert under.round(6).nunique() == 1 and round(under.iloc[0], 6) == -0.001212
    assert c.set_index("commissioner_code")["distance_from_target"].idxmax() == "QHL"


def test_store_and_files_give_the_same_allocation(engine, published_targets_only, practices_2024):
    ingest(engine, "gp-weighted-population", [practices.packaged_file(2024)], user="test")
    from_store = practice_loader(engine)(2024)
    pd.testing.assert_frame_equal(
        from_store.drop(columns=["place_name"]),
        practices_2024.drop(columns=["place_name"]),
        check_exact=False,
        rtol=1e-12,
    )
    a = allocate(from_store, published_targets_only).commissioners
    b = allocate(practices_2024, published_targets_only).commissioners
    np.testing.assert_allclose(a["target_gbp"], b["target_gbp"], rtol=1e-12)
    assert list(a["commissioner_code"]) == list(b["commissioner_code"])
