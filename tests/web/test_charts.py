"""The charts' own rules (carelens.web.charts): tick labels that never touch, titles that wrap instead of
being cut, limits kept within what a value can be, legends, marks of at least 3:1 contrast, Making Data
Count icons from the SPC kernel, and every chart's figures as a table and CSV, on the demo store's real
pages (the trust RK9, the location RK950, the what-if); compare-organisations charts and control charts
draw the confidence intervals of the stats kernels."""

from __future__ import annotations

import csv
import html
import io
import itertools
import re

import numpy as np
import pytest
import sqlalchemy as sa

from carelens.model.access import ANONYMOUS, Actor, Role
from carelens.monitor.control_charts import series_chart
from carelens.services.judgements import compared_organisations, resolve_run
from carelens.services.reach import reach
from carelens.services.series import organisation_series
from carelens.services.settings import get_settings
from carelens.stats import intervals, spc
from carelens.store import schema
from carelens.store.schema_monitor import monitor_judgement
from carelens.web.charts import (
    ASSURANCE_TEXT,
    NO_ASSURANCE,
    NOT_JUDGED,
    SPINE_MARKS,
    VARIATION_TEXT,
    assurance_icon,
    axis_ticks,
    contrast_ratio,
    spc_chart,
    text_width,
    variation_icon,
    wrap_text,
)
from carelens.web.pages.organisation import AXIS_TITLES

from .conftest import sign_in

TRUST = "RK9"
LOCATION = "RK950"


@pytest.mark.parametrize("size", [12, 14, 16])
@pytest.mark.parametrize("length", [160, 250, 330, 480])
def test_axis_labels_never_touch(size, length):
    """The funnel's x labels once read "18,00020,000": labels are now as many as fit, each apart from the
    next by at least half a character."""
    for high in (7.0, 95.0, 1_234.0, 18_500.0, 20_000.0, 23_456.0, 99_999.0, 1_234_567.0, 52_000_000.0):
        ticks, _, labels = axis_ticks(0.0, high, length, "number", size)
        assert ticks[0] <= 0 and ticks[-1] >= high
        xs = length * (ticks - ticks[0]) / (ticks[-1] - ticks[0])
        written = [(x, s) for x, s in zip(xs, labels, strict=True) if s]
        assert len(written) >= 2, (high, length)
        for (x1, a), (x2, b) in itertools.pairwise(written):
            assert x1 + text_width(a, size) / 2 + size / 2 <= x2 - text_width(b, size) / 2, (high, a, b)


def test_long_titles_wrap_within_the_chart():
    title = (
        "Summary Hospital-level Mortality Indicator (SHMI): UNIVERSITY HOSPITALS PLYMOUTH NHS TRUST over time"
    )
    lines = wrap_text(title, 384, 16, bold=True)
    assert " ".join(lines) == title  # nothing cut
    assert len(lines) >= 2 and all(text_width(line, 16, bold=True) <= 384 for line in lines)


def test_proportion_limits_stay_within_0_and_100_percent():
    """An XmR chart of a proportion near 0% and 100% has process limits beyond both; drawn, they are
    clipped to [0, 1] and no tick is written outside 0%-100%."""
    values = np.array([0.02, 0.9, 0.05, 0.97, 0.01, 0.95, 0.03, 0.99, 0.02, 0.93, 0.04, 0.96])
    dates = np.arange("2023-01", "2024-01", dtype="datetime64[M]").astype("datetime64[D]")
    points = series_chart(dates, values, "decrease")
    assert points["lower"].min() < 0 and points["upper"].max() > 1  # the kernel's limits leave [0, 1]
    chart = spc_chart(points, title="Proportion", y_title="Percentage (%)", value_format="percent")
    lower = [row[3] for row in chart.data.rows]
    upper = [row[4] for row in chart.data.rows]
    assert min(lower) == 0.0 and max(upper) == 1.0
    ticks = [float(t) for t in re.findall(r">(-?[\d.]+)%</text>", chart.svg())]
    assert ticks and min(ticks) >= 0 and max(ticks) <= 100
    assert "Centre line: mean" in chart.svg() and "Process limits" in chart.svg()


def test_variation_and_assurance_icons_come_from_the_spc_kernel():
    """A shift upwards on an indicator where lower is better is a special cause of concern, high; a
    process whose limits all lie above a target it must stay under consistently fails it."""
    values = np.r_[np.full(12, 0.10) + np.tile([0.004, -0.004], 6), np.full(8, 0.2)]
    result = spc.xmr(values, np.zeros(len(values), dtype=np.int64), improvement="decrease", target=0.05)
    variation = variation_icon(str(result.variation_icon[0]), "decrease")
    assert variation.text == VARIATION_TEXT["special_cause_concern"] + " (higher values)"
    assert ">H</text>" in variation.markup and 'aria-hidden="true"' in variation.markup
    assurance = assurance_icon(str(result.assurance_icon[0]))
    assert assurance.text == ASSURANCE_TEXT["consistent_fail"]
    assert assurance_icon("").text == NO_ASSURANCE and assurance_icon("").markup == ""


def _charts(text: str) -> list[str]:
    return re.findall(r'<svg[^>]*class="carelens-chart".*?</svg>', text, flags=re.S)


def _csv(client, href: str) -> list[dict]:
    response = client.get(href.replace("&amp;", "&"))
    assert response.status_code == 200, href
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_every_chart_on_a_trust_page_has_its_table_and_csv(client):
    text = client.get(f"/organisations/{TRUST}").text
    charts = _charts(text)
    assert len(charts) >= 5
    assert text.count('<div class="carelens-chart-block">') == len(charts)
    assert text.count("Show the data</span>") == len(charts)
    links = re.findall(r'href="(/organisations/RK9/charts/[^"]+\.csv)"', text)
    assert len(links) == len(charts)
    checked = set()
    for svg, href in zip(charts, links, strict=True):
        kind = href.rsplit("/", 1)[-1]
        if kind in checked:
            continue  # one of each kind: a CSV costs a profile's worth of queries
        checked.add(kind)
        rows = _csv(client, href)
        if svg.count("Funnel plot:") and "/funnel.csv" in href:
            # one row per organisation drawn: grey dots and triangles in the plot, the marked one besides
            plot = re.search(r'<g clip-path="url\(#carelens-plot-[^"]+\)">(.*?)</g>', svg, re.S).group(1)
            drawn = plot.count("<circle") + plot.count("<path")
            assert len(rows) == drawn, href
            assert sum("(this organisation)" in r["Organisation code"] for r in rows) <= 1
        elif "/spc.csv" in href:
            assert "Control chart:" in svg
            points = int(re.search(r"Control chart: .*?, (\d+) points", svg, re.S).group(1))
            assert len(rows) == points
        else:
            assert "Spine chart:" in svg and href.endswith("/spine.csv")
            assert len(rows) == svg.count('class="carelens-spine"')
    assert checked == {"funnel.csv", "spc.csv", "spine.csv"}
    assert client.get(f"/organisations/{TRUST}/charts/no-such-indicator/funnel.csv").status_code == 404


def test_charts_have_legends_units_and_no_cut_titles(client):
    text = client.get(f"/organisations/{TRUST}").text
    for svg in _charts(text):
        if "Funnel plot:" in svg[:400]:
            for entry in ("This organisation", "Centre line: similar organisations&#x27;"):
                assert entry in svg, entry
            assert len(re.findall(r">[\d.]+% limits<", svg)) == 2  # both levels, as the run stored them
            words = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
            assert any(html.escape(y, quote=True) in words for _, y in AXIS_TITLES.values())  # with units
            assert any(html.escape(x, quote=True) in words for x, _ in AXIS_TITLES.values())
            assert ">Value<" not in svg
    spine = next(svg for svg in _charts(text) if "Spine chart:" in svg[:400])
    title = " ".join(re.findall(r'class="carelens-title">([^<]*)</text>', spine))
    assert "UNIVERSITY HOSPITALS PLYMOUTH NHS TRUST compared with similar organisations" in title


def test_chart_marks_have_three_to_one_contrast(client):
    """Every filled mark (dots, triangles, diamonds, bars, spine marks) has its fill or its outline at
    3:1 or more against the white page (WCAG 1.4.11)."""
    text = client.get(f"/organisations/{TRUST}").text
    marks = 0
    for svg in _charts(text):
        for element in re.findall(r"<(?:circle|path|rect)\b[^>]*>", svg):
            fill = re.search(r'fill="(#[0-9a-f]{6})"', element)
            if fill is None:
                continue  # a clip path's rectangle, a cross drawn as a line
            stroke = re.search(r'stroke="(#[0-9a-f]{6})"', element)
            best = max(contrast_ratio(fill.group(1)), contrast_ratio(stroke.group(1)) if stroke else 1.0)
            if 'fill="#d8dde0"' in element and stroke is None:
                continue
            assert best >= 3.0, element
            marks += 1
    assert marks > 100


def test_spine_chart_colours_each_indicator_by_its_stored_verdict(client):
    """The spine chart reads the verdict the monitoring run stored for each indicator (the one its panel,
    or its row of the table of figures compared but not scored, shows); it judges nothing again. Its bars' spread runs worst, 25th, median, 75th, best."""
    text = client.get(f"/organisations/{TRUST}").text
    spine = next(svg for svg in _charts(text) if "Spine chart:" in svg[:400])
    panels = re.findall(
        r'<section class="carelens-indicator"[^>]*data-verdict="([^"]*)".*?<h3 id="indicator-[^"]+">([^<]*)</h3>',
        text,
        re.S,
    )
    in_table = re.findall(
        r'<a href="/organisations/[^/]+/indicators/[^"]+">([^<]*)</a>.*?'
        r'class="carelens-verdict" data-indicator="[^"]*" data-verdict="([^"]*)"',
        text,
        re.S,
    )
    verdict_of = {html.unescape(title): verdict for verdict, title in panels}
    verdict_of |= {html.unescape(title): verdict for title, verdict in in_table}
    rows = _csv(client, f"/organisations/{TRUST}/charts/spine.csv")
    assert len(rows) == spine.count('class="carelens-spine"') > 10
    marked = re.findall(r'class="carelens-spine-mark" data-verdict="([^"]*)"', spine)
    assert marked == [verdict_of[r["Indicator"]] for r in rows if r["This organisation"]]
    for row in rows:
        assert (
            row["Compared with similar organisations"]
            == SPINE_MARKS.get(verdict_of[row["Indicator"]], NOT_JUDGED)[0]
        )
        spread = [float(row[c]) for c in ("Worst", "25th percentile", "Median", "75th percentile", "Best")]
        assert spread == sorted(spread) or spread == sorted(spread, reverse=True)
    assert {"worse", "as expected"} <= set(marked)


def test_control_chart_shows_its_variation_icon_in_words(client):
    text = client.get(f"/organisations/{TRUST}").text
    said = re.findall(r'<div class="carelens-icon-row">.*?<p class="nhsuk-body-s">([^<]*)</p>', text, re.S)
    assert any(s.startswith(("Common cause variation", "Special cause variation")) for s in said)
    assert NO_ASSURANCE in said


def test_location_page_shows_the_rating_panel(client):
    """RK950 (Derriford Hospital): overall Requires improvement, the five key questions in order,
    last inspected 18 December 2019 (its latest report), its services' grid and the reports link."""
    text = client.get(f"/organisations/{LOCATION}").text
    panel = re.search(r'<div class="carelens-rating-panel" id="rating-panel">(.*?)</div>\s*\n', text, re.S)
    assert panel, "no rating panel"
    body = panel.group(1)
    assert re.search(r"Overall rating</span> <strong[^>]*>Requires improvement</strong>", body)
    questions = re.findall(r'<li><span class="carelens-rating-panel__label">([^<]+)</span>', body)
    assert questions == ["Safe", "Effective", "Caring", "Responsive", "Well-led"]
    assert "Last inspected 18 December 2019" in body
    assert 'href="https://www.cqc.org.uk/location/RK950/reports"' in body
    grid = re.search(r'<table[^>]*id="rating-grid".*?</table>', text, re.S).group(0)
    assert grid.count("<tr") >= 2


def test_whatif_charts_for_every_role_that_sees_the_explorer(client, accounts):
    """The what-if is drawn as bar charts of national figures (deciles and regions, which the tables
    under them show to everyone who may open the page): no bar names a commissioner."""
    sign_in(client, accounts["commissioner"])
    text = client.get("/allocations", params={"a": "2024_25", "b": "deprivation_weighted"}).text
    charts = _charts(text)
    assert [re.search(r'aria-label="([^:]+):', c).group(1) for c in charts] == ["Bar chart", "Bar chart"]
    assert text.count("Show the data</span>") == 2
    assert "commissioner" not in " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", " ".join(charts))).lower()


# --- compare-organisations charts and the intervals of control charts ----------------------------------


def _compare(client, indicator: str) -> tuple[str, list[dict]]:
    """The compare-organisations chart of RK9's indicator page (its SVG) and its CSV."""
    text = client.get(f"/organisations/{TRUST}/indicators/{indicator}").text
    svg = next(c for c in _charts(text) if "Compare-organisations chart:" in c[:600])
    assert f'href="/organisations/{TRUST}/charts/{indicator}/compare.csv"' in text
    return svg, _csv(client, f"/organisations/{TRUST}/charts/{indicator}/compare.csv")


def _number(text: str) -> float:
    return float(text) if text else float("nan")


@pytest.mark.parametrize(
    ("indicator", "value_type"),
    [("ae_4hr_breach_type2", "proportion"), ("shmi", "indirectly_standardised_ratio")],
)
def test_compare_chart_draws_every_peer_sorted_with_the_kernels_intervals(client, indicator, value_type):
    """The peers the stored comparison compared (those the funnel draws for the public; all of type 2
    A&E's 35, the sixty nearest in rank of SHMI's 142), highest first; each interval is the kernel's
    from the row's own counts (Wilson for a proportion, the count's Poisson limits over the expected
    count for SHMI), to 1e-12 relative; this organisation is marked once, in the table and the drawing;
    the bars' verdicts are the stored ones."""
    svg, rows = _compare(client, indicator)
    funnel = _csv(client, f"/organisations/{TRUST}/charts/{indicator}/funnel.csv")
    compared = {r["Organisation code"].removesuffix(" (this organisation)") for r in funnel}
    assert {r["Organisation code"] for r in rows} <= compared
    assert 2 <= len(rows) == min(60, len(compared))
    values = [float(r[AXIS_TITLES[value_type][1]]) for r in rows]
    assert values == sorted(values, reverse=True)
    ranks = [int(r["Rank"]) for r in rows]
    assert ranks == list(range(ranks[0], ranks[0] + len(rows)))
    numerator = np.array([float(r["Count (numerator)"]) for r in rows])
    size = np.array([float(r["Size (denominator or expected)"]) for r in rows])
    if value_type == "proportion":
        lower, upper = intervals.wilson(numerator, size, 95)
    else:
        low_count, high_count = intervals.poisson_limits(numerator, 95)
        lower, upper = low_count / size, high_count / size
    got_lower = np.array([_number(r["95% confidence interval: lower"]) for r in rows])
    got_upper = np.array([_number(r["95% confidence interval: upper"]) for r in rows])
    np.testing.assert_allclose(got_lower, lower, rtol=1e-12)
    np.testing.assert_allclose(got_upper, upper, rtol=1e-12)
    assert (got_lower <= np.array(values)).all() and (np.array(values) <= got_upper).all()
    if value_type == "proportion":
        assert got_lower.min() >= 0 and got_upper.max() <= 1
    marked = [r for r in rows if r["Organisation"].endswith("(this organisation)")]
    assert [r["Organisation code"] for r in marked] == [TRUST]
    assert svg.count('class="carelens-compare-bar') == len(rows)
    assert re.findall(
        r'class="carelens-compare-bar carelens-this-organisation" data-code="([^"]+)"', svg
    ) == [TRUST]
    plot = svg.split('<g class="carelens-legend">')[0]
    assert plot.count('class="carelens-interval"') == len(rows)
    drawn = re.findall(r'class="carelens-compare-bar[^"]*" data-code="([^"]+)" data-verdict="([^"]*)"', svg)
    assert [code for code, _ in drawn] == [r["Organisation code"] for r in rows]
    stored = {r["Organisation code"].removesuffix(" (this organisation)"): r for r in funnel}
    for (code, verdict), row in zip(drawn, rows, strict=True):
        assert row["Compared with similar organisations"] == SPINE_MARKS.get(verdict, NOT_JUDGED)[0]
        against = stored[code]["Against the 95% limits"]
        assert (verdict == "as expected") == (against == "within the limits"), (code, verdict, against)
        if verdict in ("higher", "lower"):
            assert against == f"{'above' if verdict == 'higher' else 'below'} the limits"
    assert 'class="carelens-benchmark"' in svg and "Similar organisations&#x27; value" in svg


def test_compare_chart_of_many_peers_draws_the_nearest_in_rank_and_says_so(client):
    """RK9 is 67th of 109 trusts on other A&E breaches: the sixty nearest in rank are drawn (37th to
    96th), it among them, and the chart and the page say how many were compared."""
    svg, rows = _compare(client, "ae_4hr_breach_other")
    ranks = [int(r["Rank"]) for r in rows]
    assert len(rows) == 60 and ranks == list(range(ranks[0], ranks[0] + 60))
    mine = next(int(r["Rank"]) for r in rows if r["Organisation code"] == TRUST)
    assert ranks[0] < mine < ranks[-1] and abs((mine - ranks[0]) - (ranks[-1] - mine)) <= 1
    total = int(
        re.search(
            r"Compare-organisations chart: .*?\. ([\d,]+) organisations compared, 60 nearest", svg, re.S
        ).group(1)
    )
    assert total > 60
    page = client.get(f"/organisations/{TRUST}/indicators/ae_4hr_breach_other").text
    assert f"the 60 nearest in rank of the {total:,} organisations it was compared with" in page


def test_profile_links_each_scored_indicator_to_its_compare_chart(client):
    """The trust page keeps its size: each scored indicator's panel links to the indicator's own page,
    where the compare-organisations chart is drawn."""
    text = client.get(f"/organisations/{TRUST}").text
    assert not any("Compare-organisations chart:" in c[:600] for c in _charts(text))
    panels = re.findall(r'<section class="carelens-indicator" aria-labelledby="indicator-([a-z0-9_]+)"', text)
    links = re.findall(
        rf'<p class="carelens-compare-link"><a href="/organisations/{TRUST}/indicators/([^"]+)">', text
    )
    assert links == panels and len(links) >= 4


def test_control_chart_intervals_are_the_kernels_from_each_months_counts(client, web_engine):
    """Each month's interval in the control chart's table is the Wilson interval of that month's summed
    counts (the series the chart draws), to 1e-12 relative; the band and its legend entry are drawn."""
    indicator = "ae_4hr_breach_type1"
    rows = _csv(client, f"/organisations/{TRUST}/charts/{indicator}/spc.csv")
    with web_engine.connect() as connection:
        sector = connection.execute(
            sa.select(schema.organisation.c.sector).where(schema.organisation.c.code == TRUST)
        ).scalar()
        within = reach(connection, ANONYMOUS, ANONYMOUS.rules.confidential_data)
        series = organisation_series(connection, within, TRUST, sector, indicator, False)["rows"]
    series = series.tail(len(rows))
    assert [str(p)[:10] for p in series["period"]] == [r["Month"] for r in rows]
    lower, upper = intervals.wilson(
        series["numerator"].to_numpy(float), series["denominator"].to_numpy(float)
    )
    shown = np.isfinite(series["value"].to_numpy(float))
    got_lower = np.array([_number(r["95% confidence interval: lower"]) for r in rows])
    got_upper = np.array([_number(r["95% confidence interval: upper"]) for r in rows])
    np.testing.assert_allclose(got_lower[shown], lower[shown], rtol=1e-12)
    np.testing.assert_allclose(got_upper[shown], upper[shown], rtol=1e-12)
    assert np.isnan(got_lower[~shown]).all()
    assert shown.sum() >= 12 and got_lower[shown].min() >= 0 and got_upper[shown].max() <= 1
    text = client.get(f"/organisations/{TRUST}/indicators/{indicator}").text
    spc_svg = next(c for c in _charts(text) if "Control chart:" in c[:600])
    assert 'class="carelens-interval-band"' in spc_svg
    assert "95% confidence interval of each month&#x27;s value" in spc_svg


def test_compare_chart_peers_follow_the_funnels_audience_and_own_figures(web_engine):
    """A figure with small numbers is left out of the public's compare chart (with every other
    small-number peer), as from the funnel; an analyst sees it, and so does a provider tied to that
    organisation (its own figure), while the provider still sees no other peer's small numbers."""
    threshold = get_settings().small_number_threshold
    j = monitor_judgement
    with web_engine.connect() as connection:
        run = resolve_run(connection)["id"]
        small = sa.and_(j.c.numerator > 0, j.c.numerator < threshold)
        row = connection.execute(
            sa.select(j.c.org_code, j.c.indicator_id, j.c.period, j.c.peer_group)
            .where(j.c.run_id == run, small, j.c.direction != "", j.c.peer_group.is_not(None))
            .order_by(j.c.indicator_id, j.c.period, j.c.org_code)
        ).first()
        assert row is not None, "the demo run judges small counts"
        smalls = {
            code
            for (code,) in connection.execute(
                sa.select(j.c.org_code).where(
                    j.c.run_id == run,
                    j.c.indicator_id == row.indicator_id,
                    j.c.period == row.period,
                    j.c.peer_group == row.peer_group,
                    sa.or_(small, sa.and_(j.c.denominator > 0, j.c.denominator < threshold)),
                )
            )
        }

    def peers(actor):
        found = compared_organisations(
            web_engine,
            actor,
            run,
            row.indicator_id,
            row.period,
            row.peer_group,
            row.org_code,
            "proportion",
            10_000,
        )
        return {r["org_code"] for r in found["rows"]}, found["rank"]

    public, public_rank = peers(ANONYMOUS)
    assert row.org_code not in public and public_rank is None and not public & smalls
    analyst, analyst_rank = peers(Actor(user_name="analyst", role=Role.ANALYST))
    assert row.org_code in analyst and analyst_rank is not None and smalls <= analyst
    provider, _ = peers(Actor(user_name="p", role=Role.PROVIDER, organisations=frozenset({row.org_code})))
    assert provider == public | {row.org_code}


def test_a_percentage_without_a_tick_step_is_written_as_people_write_one():
    """The funnel table's centre line read "1.468874%": a value with no tick step had every decimal
    it holds."""
    from carelens.web.charts import format_value

    assert format_value(0.01468874, "percent") == "1.5%"
    assert format_value(0.0267, "percent") == "2.7%"
    assert format_value(0.00123, "percent") == "0.12%"
    assert format_value(0.0, "percent") == "0.0%"
    assert format_value(0.01468874, "percent", step=0.0025) == "1.47%"  # ticks 0.25% apart need two
