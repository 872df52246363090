"""Age-weighted vs deprivation-weighted formula on the real 2024/25 practice data
(docs/methods/allocations.md)."""

from __future__ import annotations

import pytest

from carelens.fund.engine import allocate
from carelens.fund.scenario import load_scenario
from carelens.fund.whatif import chart_svg, compare, deprivation_deciles


@pytest.fixture(scope="module")
def age_minus_deprivation(practices_2024):
    age = allocate(practices_2024, load_scenario("age_weighted"))
    deprivation = allocate(practices_2024, load_scenario("deprivation_weighted"))
    return compare(deprivation, age)  # change = age-weighted minus deprivation-weighted


def test_older_less_deprived_areas_gain_under_age_weighting(age_minus_deprivation):
    c = age_minus_deprivation
    regions = c.regions.set_index("region_name")["change_pct"].round(2)
    assert regions["South West"] == 3.30
    assert regions["East of England"] == 2.43
    assert regions["North West"] == -4.27
    assert regions["North East and Yorkshire"] == -2.16
    deciles = c.deciles.set_index("decile")["change_pct"].round(2)
    assert deciles[1] == -11.05  # most deprived tenth of the population loses 11%
    assert deciles[10] == 6.19  # least deprived tenth gains 6%
    assert deciles.is_monotonic_increasing
    icb = c.commissioners.set_index("commissioner_code")["change_pct"].round(2)
    assert icb["QSL"] == 5.23  # Somerset, the biggest gainer
    assert icb["QT6"] == 4.32  # Cornwall and the Isles of Scilly (oldest: community index 1.50)
    assert icb["QOP"] == -6.56  # Greater Manchester, the biggest loser (most deprived: HI index 1.50)
    ranks = c.commissioners[["age_index", "deprivation_index", "change_pct"]].corr(method="spearman")
    assert round(ranks.loc["age_index", "change_pct"], 2) == 0.33
    assert round(ranks.loc["deprivation_index", "change_pct"], 2) == -0.86
    # A what-if moves money; it does not create it.
    assert c.commissioners["change_gbp"].sum() == pytest.approx(0, abs=1e-3)


def test_deciles_split_the_population_in_tenths(practices_2024):
    deciles = deprivation_deciles(practices_2024)
    shares = practices_2024.groupby(deciles)["population"].sum() / practices_2024["population"].sum()
    assert list(shares.index) == list(range(1, 11))
    assert shares.between(0.099, 0.101).all()


def test_chart_is_an_svg(age_minus_deprivation):
    svg = chart_svg(age_minus_deprivation)
    assert svg.startswith("<svg") and "deprivation decile" in svg
