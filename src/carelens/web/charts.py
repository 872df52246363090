"""Funnel plots and control charts drawn on the server with Vega-Altair and vl-convert (no browser).

Each chart takes the table the monitoring services already produce (:func:`carelens.monitor.funnels.
funnel_table` for a funnel, :func:`carelens.monitor.control_charts.spc_table` for a control chart) and
returns SVG for pages or PNG for the PDF report. Colours follow the NHS palette and the NHS "Making
Data Count" conventions (orange = concern, blue = improvement, purple = neutral special cause, grey =
common cause). SVGs carry ``role="img"`` and a text alternative; pages also offer the figures as a
table, since a chart alone is not accessible.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

NHS_BLUE = "#005eb8"
NHS_DARK_GREY = "#425563"
NHS_MID_GREY = "#768692"
NHS_ORANGE = "#ed8b00"
NHS_PURPLE = "#330072"
NHS_BLACK = "#212b32"
FONT = "Arial, Liberation Sans, Helvetica, DejaVu Sans, sans-serif"
"""Charts use Arial: the NHS font (Frutiger) is served from a remote host that charts must not need."""

POINT_COLOURS = {
    "common_cause": NHS_MID_GREY,
    "special_cause_improvement": NHS_BLUE,
    "special_cause_concern": NHS_ORANGE,
    "special_cause_neutral_high": NHS_PURPLE,
    "special_cause_neutral_low": NHS_PURPLE,
    "missing": NHS_MID_GREY,
}
POINT_LABELS = {
    "common_cause": "common cause",
    "special_cause_improvement": "special cause: improvement",
    "special_cause_concern": "special cause: concern",
    "special_cause_neutral_high": "special cause: high",
    "special_cause_neutral_low": "special cause: low",
    "missing": "missing",
}


@dataclass(frozen=True)
class Chart:
    """A rendered chart: its Vega-Lite spec (JSON text) and a one-sentence text alternative."""

    spec: str
    description: str

    def svg(self) -> str:
        """The chart as inline SVG with ``role="img"`` and the description as its accessible name."""
        return _accessible_svg(_svg(self.spec), self.description)

    def png(self, scale: float = 2.0) -> bytes:
        """The chart as PNG (for the PDF report)."""
        import vl_convert

        return vl_convert.vegalite_to_png(self.spec, scale=scale)


def funnel_chart(
    table: pd.DataFrame,
    highlight: str,
    *,
    title: str,
    x_title: str,
    y_title: str,
    levels: tuple[str, ...] = ("95", "99_8"),
    hidden_units: frozenset[str] = frozenset(),
    width: int = 520,
    height: int = 260,
) -> Chart:
    """A funnel plot of one :func:`funnel_table` group: every peer, limits, target, ``highlight`` marked.

    ``table`` has columns unit, denominator, value, target and ``lower_<level>``/``upper_<level>``.
    The limit lines join each unit's own limits in order of denominator (limits depend only on the
    denominator within a funnel). ``hidden_units`` (suppressed figures) are not drawn but still shape
    the limits.
    """
    import altair as alt

    frame = table.sort_values("denominator").reset_index(drop=True)
    lines = []
    for level in levels:
        label = level.replace("_", ".") + "% limits"
        for side in ("lower", "upper"):
            column = f"{side}_{level}"
            if column in frame:
                part = frame[["denominator", column]].rename(columns={column: "limit"})
                lines.append(part.assign(series=f"{label} ({side})", limits=label))
    limit_frame = pd.concat(lines, ignore_index=True) if lines else pd.DataFrame()
    target = float(frame["target"].iloc[0]) if len(frame) else float("nan")
    shown = frame[~frame["unit"].isin(hidden_units)]
    peers = shown.loc[shown["unit"] != highlight, ["denominator", "value"]]
    me = shown.loc[shown["unit"] == highlight, ["denominator", "value"]]

    x = alt.X("denominator:Q", title=x_title, scale=alt.Scale(zero=False, nice=True))
    layers = []
    if not limit_frame.empty:
        layers.append(
            alt.Chart(limit_frame)
            .mark_line(color=NHS_DARK_GREY, strokeWidth=1.2)
            .encode(
                x=x,
                y=alt.Y("limit:Q", title=y_title, scale=alt.Scale(zero=False)),
                detail="series:N",
                strokeDash=alt.StrokeDash(
                    "limits:N",
                    title=None,
                    legend=alt.Legend(orient="bottom"),
                    scale=alt.Scale(range=[[4, 3], [1, 0]]),
                ),
            )
        )
    layers.append(
        alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(color=NHS_BLACK).encode(y="target:Q")
    )
    layers.append(
        alt.Chart(peers)
        .mark_circle(size=28, opacity=0.55, color=NHS_MID_GREY)
        .encode(x=x, y=alt.Y("value:Q", title=y_title))
    )
    if not me.empty:
        layers.append(
            alt.Chart(me)
            .mark_point(size=140, filled=True, shape="diamond", color=NHS_BLUE, stroke=NHS_BLACK)
            .encode(x=x, y="value:Q")
        )
    chart = alt.layer(*layers).properties(width=width, height=height, title=title)
    description = _funnel_description(frame, highlight, title, levels, hidden_units)
    return Chart(_configure(chart).to_json(validate=False), description)


def spc_chart(
    points: pd.DataFrame,
    *,
    title: str,
    y_title: str,
    date: str = "period",
    value: str = "value",
    width: int = 520,
    height: int = 260,
) -> Chart:
    """An XmR control chart of one :func:`spc_table` series: values, mean, process limits, special causes."""
    import altair as alt

    frame = points[[date, value, "mean", "upper", "lower", "point_type"]].copy()
    frame[date] = pd.to_datetime(frame[date])
    frame["point_type"] = frame["point_type"].astype(str).where(frame["point_type"].notna(), "missing")
    frame["point"] = frame["point_type"].map(POINT_LABELS).fillna("common cause")
    present = [k for k in POINT_LABELS if k in set(frame["point_type"]) and k != "missing"] or [
        "common_cause"
    ]
    x = alt.X(f"{date}:T", title=None, axis=alt.Axis(format="%b %Y", labelAngle=-30))
    y_scale = alt.Scale(zero=False)
    base = alt.Chart(frame)
    layers = [
        base.mark_line(color=NHS_MID_GREY, strokeWidth=1.2).encode(
            x=x, y=alt.Y(f"{value}:Q", title=y_title, scale=y_scale)
        ),
        base.mark_line(color=NHS_BLACK, strokeWidth=1).encode(x=x, y="mean:Q"),
        base.mark_line(color=NHS_DARK_GREY, strokeDash=[4, 3], strokeWidth=1).encode(x=x, y="upper:Q"),
        base.mark_line(color=NHS_DARK_GREY, strokeDash=[4, 3], strokeWidth=1).encode(x=x, y="lower:Q"),
        base.mark_circle(size=40, opacity=1).encode(
            x=x,
            y=f"{value}:Q",
            color=alt.Color(
                "point:N",
                title=None,
                legend=alt.Legend(orient="bottom"),
                scale=alt.Scale(
                    domain=[POINT_LABELS[k] for k in present], range=[POINT_COLOURS[k] for k in present]
                ),
            ),
        ),
    ]
    chart = alt.layer(*layers).properties(width=width, height=height, title=title)
    return Chart(_configure(chart).to_json(validate=False), _spc_description(frame, title, date, value))


def _configure(chart):
    return chart.configure(font=FONT).configure_view(stroke=None).configure_title(anchor="start", fontSize=13)


@lru_cache(maxsize=512)
def _svg(spec: str) -> str:
    """SVG of a Vega-Lite spec (cached: the same figures give the same chart)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(spec)


_SVG_OPEN = re.compile(r"<svg\b([^>]*)>")
_PART_ARIA = re.compile(r'\s(?:role|aria-roledescription|aria-label)="[^"]*"')


def _accessible_svg(svg: str, description: str) -> str:
    """Give the root ``<svg>`` an image role, an accessible name and a fluid width; hide its parts."""
    svg = re.sub(r"<\?xml[^>]*>\s*", "", svg)
    match = _SVG_OPEN.search(svg)
    if match is None:
        raise ValueError("not an SVG document")
    attrs = re.sub(r'\s(?:width|height|class)="[^"]*"', "", match.group(1))
    label = html.escape(description, quote=True)
    root = f'<svg{attrs} role="img" aria-label="{label}" focusable="false" class="carelens-chart">'
    # Vega marks carry ARIA roles of their own; inside role="img" they are presentational anyway.
    return svg[: match.start()] + root + _PART_ARIA.sub("", svg[match.end() :])


def _funnel_description(
    frame: pd.DataFrame, highlight: str, title: str, levels: tuple[str, ...], hidden: frozenset[str]
) -> str:
    peers = len(frame)
    mine = frame[frame["unit"] == highlight]
    text = f"Funnel plot: {title}. {peers} organisations compared."
    if mine.empty:
        return text + " This organisation has no value for this period."
    if highlight in hidden:
        return text + " This organisation's figure is suppressed (small numbers)."
    row = mine.iloc[0]
    widest = levels[-1]
    lower, upper = row.get(f"lower_{widest}"), row.get(f"upper_{widest}")
    where = "within"
    if pd.notna(upper) and row["value"] > upper:
        where = "above"
    elif pd.notna(lower) and row["value"] < lower:
        where = "below"
    return (
        text
        + f" This organisation's value {row['value']:.3g} is {where} the {widest.replace('_', '.')}% limits."
    )


def _spc_description(frame: pd.DataFrame, title: str, date: str, value: str) -> str:
    if frame.empty:
        return f"Control chart: {title}. No data."
    first, last = frame[date].min(), frame[date].max()
    special = int(frame["point_type"].astype(str).str.startswith("special_cause").sum())
    latest = frame.iloc[-1]
    return (
        f"Control chart: {title}, {len(frame)} points from {first:%B %Y} to {last:%B %Y}; "
        f"{special} special-cause points; latest value {latest[value]:.3g} "
        f"({POINT_LABELS.get(str(latest['point_type']), 'common cause')})."
    )


def whatif_svg(comparison: dict) -> str | None:
    """The formula what-if chart (from :func:`carelens.services.funding.whatif`) as an accessible SVG,
    described in words: the biggest gain and loss, and the change for the most and least deprived."""
    svg = comparison.get("chart_svg")
    if not svg:
        return None
    people = sorted(comparison["commissioners"], key=lambda c: c["change_pct"] or 0)
    deciles = {d["decile"]: d["change_pct"] for d in comparison["deciles"]}
    parts = [
        f"Bar charts of the change in target moving from {comparison['name_a']} to {comparison['name_b']}."
    ]
    if people:
        lose, gain = people[0], people[-1]
        parts.append(
            f"Biggest loss {lose['commissioner_name']} {lose['change_pct']:+.2f}%, "
            f"biggest gain {gain['commissioner_name']} {gain['change_pct']:+.2f}%."
        )
    if deciles:
        first, last = min(deciles), max(deciles)
        parts.append(
            f"Most deprived decile {deciles[first]:+.2f}%, least deprived decile {deciles[last]:+.2f}%."
        )
    return _accessible_svg(svg, " ".join(parts))
