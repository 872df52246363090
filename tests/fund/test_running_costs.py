"""Running-cost allowances per head, the fixed-cost floor for small commissioners, actuals."""

from __future__ import annotations

import pytest

from carelens.errors import InputError
from carelens.fund import practices
from carelens.fund.running_costs import floor_summary, load_rules, read_actuals, running_costs
from carelens.tables import read_table


def test_allowance_rates_are_configured():
    rules = load_rules()
    assert rules.allowance_per_head_gbp == {2013: 25.00, 2014: 24.73, 2015: 22.07}
    with pytest.raises(InputError, match="no rate for 2024-25"):
        rules.rate(2024)


def test_fixed_cost_floor_for_the_former_ccgs():
    """The 106 former CCGs in the 2024/25 file: 19 are under 200,000 people."""
    frame = read_table(practices.packaged_file(2024), ["CCG21", "pop 2022/23"])
    ccgs = frame.groupby("CCG21", as_index=False)["pop 2022/23"].sum()
    ccgs.columns = ["commissioner_code", "population"]
    rules = load_rules()
    table = running_costs(ccgs, 2015, rules)
    s = floor_summary(table, 2015, rules)
    assert (s.commissioners, s.small) == (106, 19)
    # Break-even: 1.5m / (22.07 - 14.00) = 185,874 people; 15 CCGs are below it.
    assert round(s.break_even_population) == 185_874
    assert s.short == 15
    assert round(s.floor_cost_gbp) == 3_677_245
    smallest = table.sort_values("population").iloc[0]
    assert smallest["commissioner_code"] == "02G"
    assert round(smallest["allowance_gbp"]) == round(22.07 * smallest["population"]) == 2_555_974
    assert s.floor_cost_gbp == pytest.approx(-table.loc[table["headroom_gbp"] < 0, "headroom_gbp"].sum())


def test_actuals_within_allowance(tmp_path):
    path = tmp_path / "actuals.csv"
    path.write_text("commissioner_code,running_costs_gbp,population\nA,2400000,100000\nB,2600000,100000\n")
    actuals = read_actuals(path)
    table = running_costs(actuals[["commissioner_code", "population"]], 2013, load_rules(), actuals)
    assert table["allowance_gbp"].tolist() == [2_500_000, 2_500_000]
    assert table["within_allowance"].tolist() == [True, False]
    assert table["variance_gbp"].tolist() == [-100_000, 100_000]


def test_bad_actuals_name_the_row_and_column(tmp_path):
    path = tmp_path / "actuals.csv"
    path.write_text("commissioner_code,running_costs_gbp\nA,lots\n,5\n")
    with pytest.raises(InputError) as caught:
        read_actuals(path)
    found = {(p.row, p.field) for p in caught.value.problems}
    assert (1, "running_costs_gbp") in found and (2, "commissioner_code") in found
