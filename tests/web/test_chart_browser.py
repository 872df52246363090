"""Charts as people see them on a phone: chromium at 390 pixels wide (and 1280) on a trust's page, its
indicator pages (compare-organisations and control charts with intervals) and the allocation what-if,
measuring what it renders.

Each chart's smallest text must render at 11 CSS pixels or more (its font size times the scale the
column gives its viewBox, and the height of its box), no text may stick out of its chart (a cut title
or label), no two x axis labels may overlap, every chart must be followed by "Show the data" with a
table of its figures, and axe-core must find no serious or critical violation. Screenshots are kept.
"""

from __future__ import annotations

import pytest

from .conftest import check_accessibility, shot
from .test_browser import sign_in

pytest.importorskip("playwright.sync_api")

TRUST = "RK9"
"""University Hospitals Plymouth NHS Trust: a long name, funnels of proportions and ratios, a merger."""
MIN_TEXT_PX = 11.0

MEASURE = """() => [...document.querySelectorAll('svg.carelens-chart')].map((svg) => {
  const box = svg.getBoundingClientRect();
  const scale = box.width / svg.viewBox.baseVal.width;
  const texts = [...svg.querySelectorAll('text')].filter((t) => t.textContent.trim());
  const sizes = texts.map((t) => parseFloat(getComputedStyle(t).fontSize) * scale);
  const outside = texts.filter((t) => {
    const r = t.getBoundingClientRect();
    return r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5;
  }).map((t) => t.textContent);
  const ticks = [...svg.querySelectorAll('text.carelens-tick')].map((t) => t.getBoundingClientRect())
    .sort((a, b) => a.left - b.left);
  const overlaps = ticks.slice(1).filter((r, k) => r.left < ticks[k].right).length;
  const block = svg.closest('.carelens-chart-block');
  const details = block && block.querySelector('details');
  return {
    name: svg.getAttribute('aria-label').slice(0, 80),
    width: box.width,
    smallest: Math.min(...sizes),
    smallestBox: Math.min(...texts.map((t) => t.getBoundingClientRect().height)),
    outside, overlaps,
    data: details ? details.querySelector('summary').textContent.trim() : null,
    tableRows: details ? details.querySelectorAll('table tbody tr').length : 0,
  };
})"""


def _charts(page) -> list[dict]:
    charts = page.evaluate(MEASURE)
    assert charts, "no chart on the page"
    return charts


def _check(charts: list[dict]) -> None:
    for chart in charts:
        name = chart["name"]
        assert chart["smallest"] >= MIN_TEXT_PX, (name, chart["smallest"])
        assert chart["smallestBox"] >= MIN_TEXT_PX, (name, chart["smallestBox"])
        assert chart["outside"] == [], (name, chart["outside"])
        assert chart["overlaps"] == 0, name
        assert chart["data"] == "Show the data" and chart["tableRows"] > 0, name


@pytest.mark.parametrize("width", [390, 1280])
def test_trust_charts_are_readable_and_give_their_data(page, live_server, tmp_path, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server}/organisations/{TRUST}", timeout=120_000)
    charts = _charts(page)
    _check(charts)
    kinds = {c["name"].split(":")[0] for c in charts}
    assert {"Funnel plot", "Control chart", "Spine chart"} <= kinds
    if width == 390:
        assert (
            max(c["width"] for c in charts) <= 390 - 32 + 0.5
        )  # within the column: nothing scrolls sideways
        print(f"smallest chart text at 390 px: {min(c['smallest'] for c in charts):.1f} px")
    page.locator("svg.carelens-chart").first.scroll_into_view_if_needed()
    shot(page, tmp_path, f"trust-charts-{width}")
    check_accessibility(page)


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("indicator", ["ae_4hr_breach_type1", "shmi"])
def test_indicator_page_compare_and_interval_charts_are_readable(
    page, live_server, tmp_path, width, indicator
):
    """An indicator's own page: its compare-organisations chart (sixty trusts' long names, wrapped, with
    their intervals) and its control chart with each month's interval band, measured as the trust's."""
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server}/organisations/{TRUST}/indicators/{indicator}", timeout=120_000)
    charts = _charts(page)
    _check(charts)
    kinds = [c["name"].split(":")[0] for c in charts]
    assert kinds == ["Funnel plot", "Compare-organisations chart", "Control chart"]
    band = page.locator("svg.carelens-chart g.carelens-interval-band")
    assert band.count() == 1 and band.first.bounding_box()["height"] > 0
    bars = page.locator("svg.carelens-chart g.carelens-compare-bar")
    assert bars.count() == 60
    if width == 390:
        assert max(c["width"] for c in charts) <= 390 - 32 + 0.5
        print(f"smallest text at 390 px on {indicator}: {min(c['smallest'] for c in charts):.1f} px")
    page.locator("svg.carelens-chart g.carelens-this-organisation").first.scroll_into_view_if_needed()
    shot(page, tmp_path, f"indicator-charts-{indicator}-{width}")
    check_accessibility(page)


def test_whatif_charts_are_readable_at_390(page, live_server, accounts, tmp_path):
    page.set_viewport_size({"width": 390, "height": 900})
    sign_in(page, live_server, accounts["policy_maker"])
    page.goto(f"{live_server}/allocations?a=2024_25&b=deprivation_weighted", timeout=120_000)
    charts = _charts(page)
    _check(charts)
    assert [c["name"].split(":")[0] for c in charts] == ["Bar chart", "Bar chart"]
    page.locator("svg.carelens-chart").first.scroll_into_view_if_needed()
    shot(page, tmp_path, "whatif-charts-390")
    check_accessibility(page)
