"""Funnel plots and control charts drawn as SVG on the server, from figures the services give.

Charts are plain SVG built here (no browser, no charting runtime): a funnel of a whole national peer
group renders in milliseconds, and its peers, limits and axes are drawn once per monitoring run and
funnel (:func:`cached_funnel`); each organisation's page only adds its own marker. A funnel draws what
the monitoring run stored: each peer's value and the limits the run gave the peers (joined in order of
their size), never a new fit. PNG for the PDF report comes from the same SVG (vl-convert's resvg).

Conventions: NHS colours and the Making Data Count ones (orange = concern, blue = improvement, purple =
neutral special cause, grey = common cause), and never colour alone: this organisation is a larger
outlined diamond, peers outside the limits are triangles, special-cause points are larger with an
outline. Every chart has a legend, axis titles, ``role="img"`` and a text alternative; the pages also
give the figures as text.
"""

from __future__ import annotations

import html
import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

NHS_BLUE = "#005eb8"
NHS_DARK_BLUE = "#003087"
NHS_DARK_GREY = "#425563"
NHS_MID_GREY = "#768692"
NHS_PALE_GREY = "#d8dde0"
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
}
POINT_LABELS = {
    "common_cause": "common cause",
    "special_cause_improvement": "special cause: improvement",
    "special_cause_concern": "special cause: concern",
    "special_cause_neutral_high": "special cause: high",
    "special_cause_neutral_low": "special cause: low",
}
FORMATS = ("number", "percent", "ratio")
"""How values are written: plain numbers, percentages of a proportion, or ratios (2 decimals)."""


@dataclass(frozen=True)
class Chart:
    """A rendered chart: SVG markup (with its accessible name) and the one-sentence text alternative."""

    markup: str
    description: str

    def svg(self) -> str:
        return self.markup

    def png(self, scale: float = 2.0) -> bytes:
        """The chart as PNG (for the PDF report)."""
        import vl_convert

        return vl_convert.svg_to_png(self.markup, scale=scale)


# --- formatting and scales ------------------------------------------------------------------------


def format_value(value: float, style: str = "number", step: float | None = None) -> str:
    """A value as a reader expects it: 0.0267 as "2.7%", 11314562 as "11,314,562", a ratio as "1.13"."""
    if value is None or not math.isfinite(value):
        return "–"
    if style == "percent":
        decimals = _decimals((step or abs(value) or 0.01) * 100)
        return f"{value * 100:,.{decimals}f}%"
    if style == "ratio":
        return f"{value:,.{max(2, _decimals(step or 0.01))}f}"
    decimals = _decimals(step) if step else (0 if abs(value) >= 100 else 2 if abs(value) >= 1 else 3)
    return f"{value:,.{decimals}f}"


def _decimals(step: float) -> int:
    """Decimals needed to tell ticks ``step`` apart (1 → 0, 0.25 → 2, 0.005 → 3)."""
    if step <= 0 or not math.isfinite(step):
        return 0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    while decimals < 8 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return decimals


def nice_ticks(low: float, high: float, count: int = 5) -> tuple[np.ndarray, float]:
    """About ``count`` round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step + 1e-9) * step
    stop = math.ceil(high / step - 1e-9) * step
    ticks = np.arange(start, stop + step / 2, step)
    return np.round(ticks, 12), step


@dataclass(frozen=True)
class _Frame:
    """The plot area inside the SVG and the linear scales onto it."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    x_domain: tuple[float, float]
    y_domain: tuple[float, float]

    def x(self, values) -> np.ndarray:
        lo, hi = self.x_domain
        return self.left + (np.asarray(values, dtype=float) - lo) / (hi - lo) * (self.right - self.left)

    def y(self, values) -> np.ndarray:
        lo, hi = self.y_domain
        return self.bottom - (np.asarray(values, dtype=float) - lo) / (hi - lo) * (self.bottom - self.top)


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _text(
    x: float,
    y: float,
    text: str,
    anchor: str = "start",
    size: int = 12,
    weight: str = "normal",
    fill: str = NHS_BLACK,
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
        f'fill="{fill}">{_esc(text)}</text>'
    )


def _polyline(
    xs: np.ndarray, ys: np.ndarray, colour: str, width: float = 1.5, dash: str | None = None
) -> str:
    finite = np.isfinite(xs) & np.isfinite(ys)
    parts, run = [], []
    for x, y, ok in zip(xs, ys, finite, strict=True):
        if ok:
            run.append(f"{x:.1f},{y:.1f}")
        elif run:
            parts.append(run)
            run = []
    if run:
        parts.append(run)
    style = f' stroke-dasharray="{dash}"' if dash else ""
    return "".join(
        f'<polyline points="{" ".join(p)}" fill="none" stroke="{colour}" stroke-width="{width}"{style}/>'
        for p in parts
        if len(p) > 1
    )


def _diamond(x: float, y: float, r: float, fill: str, stroke: str = NHS_BLACK) -> str:
    return (
        f'<path d="M{x:.1f},{y - r:.1f} L{x + r:.1f},{y:.1f} L{x:.1f},{y + r:.1f} L{x - r:.1f},{y:.1f} Z" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
    )


def _triangle(x: float, y: float, r: float, fill: str, up: bool = True) -> str:
    tip = y - r if up else y + r
    base = y + r * 0.7 if up else y - r * 0.7
    return f'<path d="M{x:.1f},{tip:.1f} L{x + r:.1f},{base:.1f} L{x - r:.1f},{base:.1f} Z" fill="{fill}"/>'


def _axes(
    frame: _Frame, x_ticks, x_step, y_ticks, y_step, x_style: str, y_style: str, x_title: str, y_title: str
) -> str:
    """Grid lines, tick labels and axis titles. x labels are thinned so none overlap."""
    out = []
    for value in y_ticks:
        y = float(frame.y(value))
        out.append(
            f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{NHS_PALE_GREY}"/>'
        )
        out.append(_text(frame.left - 6, y + 4, format_value(value, y_style, y_step), anchor="end"))
    labels = [format_value(v, x_style, x_step) for v in x_ticks]
    widest = max((len(s) for s in labels), default=1) * 7 + 8
    spacing = (frame.right - frame.left) / max(len(x_ticks) - 1, 1)
    every = max(1, math.ceil(widest / max(spacing, 1)))
    for k, (value, label) in enumerate(zip(x_ticks, labels, strict=True)):
        x = float(frame.x(value))
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.bottom:.1f}" y2="{frame.bottom + 4:.1f}" stroke="{NHS_DARK_GREY}"/>'
        )
        if k % every == 0:
            out.append(_text(x, frame.bottom + 17, label, anchor="middle"))
    out.append(
        f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{frame.bottom:.1f}" y2="{frame.bottom:.1f}" stroke="{NHS_DARK_GREY}"/>'
    )
    out.append(
        _text((frame.left + frame.right) / 2, frame.bottom + 36, x_title, anchor="middle", weight="bold")
    )
    cx, cy = 14, (frame.top + frame.bottom) / 2
    out.append(
        f'<text x="{cx}" y="{cy:.1f}" transform="rotate(-90 {cx} {cy:.1f})" text-anchor="middle" '
        f'font-size="12" font-weight="bold" fill="{NHS_BLACK}">{_esc(y_title)}</text>'
    )
    return "".join(out)


def _legend(items: Sequence[tuple[str, str]], x: float, y: float, width: float) -> tuple[str, float]:
    """Legend entries (symbol markup at 0,0; label) laid out in rows from (x, y); returns markup and the
    height used."""
    out, cx, cy = [], x, y
    for symbol, label in items:
        size = 22 + len(label) * 6.6
        if cx + size > x + width and cx > x:
            cx, cy = x, cy + 18
        out.append(f'<g transform="translate({cx + 8:.1f},{cy:.1f})">{symbol}</g>')
        out.append(_text(cx + 20, cy + 4, label, size=12))
        cx += size + 10
    return "".join(out), cy - y + 18


def _line_symbol(colour: str, dash: str | None = None, width: float = 1.5) -> str:
    style = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<line x1="-8" x2="8" y1="0" y2="0" stroke="{colour}" stroke-width="{width}"{style}/>'


def _wrap_title(title: str, width: int) -> list[str]:
    """The title in lines that fit the chart (no title is cut)."""
    limit = max(20, int(width / 7.2))
    words, lines, line = title.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > limit:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def _svg(width: int, height: int, body: str, description: str) -> str:
    label = _esc(description)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{label}" focusable="false" class="carelens-chart" font-family="{FONT}">'
        f"<title>{label}</title>{body}</svg>"
    )


# --- funnel plots -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelFigure:
    """One funnel's peers and limits, as a monitoring run stored them.

    ``peers``: columns ``x`` (denominator or expected count), ``y`` (value) and ``direction``
    (higher/lower/within) of every organisation shown; ``limits``: columns ``x``, ``lower``, ``upper``,
    ``elevated_lower``, ``elevated_upper`` (each peer's own limits: they depend only on its size).
    """

    peers: pd.DataFrame
    limits: pd.DataFrame
    target: float
    title: str
    x_title: str
    y_title: str
    value_format: str = "number"
    levels: tuple[str, str] = ("95%", "99.8%")
    peer_count: int = 0
    """Organisations in the funnel (those left out for suppression included)."""
    width: int = 640
    height: int = 340
    max_points: int = 1000
    """Most peers drawn: all those outside the limits, and an even spread of the rest by size (a
    national funnel of 50,000 dots is no clearer than 1,000, and a page would carry megabytes)."""


@dataclass(frozen=True)
class _FunnelBase:
    """A funnel drawn without any organisation marked: its SVG body, scales and description."""

    figure: FunnelFigure
    frame: _Frame
    body: str
    height: int
    shown: int
    description: str


def _spread(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most ``limit`` rows, evenly spread over the rows in order of x (the smallest and the largest
    always among them)."""
    if len(frame) <= limit:
        return frame
    ordered = frame.sort_values("x", kind="stable").reset_index(drop=True)
    if limit <= 0:
        return ordered.iloc[0:0]
    return ordered.iloc[np.unique(np.linspace(0, len(ordered) - 1, limit).round().astype(int))]


def _funnel_base(figure: FunnelFigure) -> _FunnelBase:
    peers = figure.peers.dropna(subset=["x", "y"])
    peers = peers[peers["x"] > 0]
    limits = figure.limits.dropna(subset=["x"]).sort_values("x", kind="stable")
    limits = limits[limits["x"] > 0]
    if len(peers) > figure.max_points:  # outside the limits first (up to half), then an even spread
        outside = peers["direction"].isin(["higher", "lower"]).to_numpy()
        keep_outside = _spread(peers[outside], min(int(outside.sum()), figure.max_points // 2))
        peers = pd.concat([keep_outside, _spread(peers[~outside], figure.max_points - len(keep_outside))])
    limits = _spread(limits, 400)
    x_values = np.concatenate([peers["x"].to_numpy(float), limits["x"].to_numpy(float)])
    y_columns = [limits[c].to_numpy(float) for c in ("lower", "upper", "elevated_lower", "elevated_upper")]
    y_values = np.concatenate([peers["y"].to_numpy(float), *y_columns, [figure.target]])
    y_values = y_values[np.isfinite(y_values)]
    if figure.value_format == "percent":
        y_values = np.clip(y_values, 0.0, 1.0)
    x_ticks, x_step = nice_ticks(0.0, float(np.nanmax(x_values)) if len(x_values) else 1.0)
    y_low = float(y_values.min()) if len(y_values) else 0.0
    y_high = float(y_values.max()) if len(y_values) else 1.0
    y_ticks, y_step = nice_ticks(y_low, y_high)
    if figure.value_format in ("percent", "ratio"):  # a proportion or ratio never goes below 0
        y_ticks = y_ticks[y_ticks >= 0] if (y_ticks >= 0).sum() >= 2 else y_ticks
    title_lines = _wrap_title(figure.title, figure.width)
    top = 20 + 17 * len(title_lines)
    y_labels = max(len(format_value(v, figure.value_format, y_step)) for v in y_ticks)
    frame = _Frame(
        width=figure.width,
        height=figure.height,
        left=34 + 7 * y_labels,
        top=top,
        right=figure.width - 30,
        bottom=top + figure.height - 150,
        x_domain=(float(x_ticks[0]), float(x_ticks[-1])),
        y_domain=(float(y_ticks[0]), float(y_ticks[-1])),
    )
    clip_id = f"carelens-plot-{uuid.uuid4().hex[:12]}"  # ids are page-wide: one per drawn funnel
    clip = f'<clipPath id="{clip_id}"><rect x="{frame.left}" y="{frame.top}" width="{frame.right - frame.left}" height="{frame.bottom - frame.top}"/></clipPath>'
    parts = [clip]
    parts += [_text(16, 20 + 17 * k, line, size=14, weight="bold") for k, line in enumerate(title_lines)]
    parts.append(
        _axes(
            frame,
            x_ticks,
            x_step,
            y_ticks,
            y_step,
            "number",
            figure.value_format,
            figure.x_title,
            figure.y_title,
        )
    )
    plot = []
    lx = frame.x(limits["x"])
    for column, dash, width in (
        ("elevated_lower", None, 1.5),
        ("elevated_upper", None, 1.5),
        ("lower", "6 4", 1.5),
        ("upper", "6 4", 1.5),
    ):
        plot.append(_polyline(lx, frame.y(limits[column]), NHS_DARK_GREY, width, dash))
    ty = float(frame.y(figure.target))
    plot.append(
        f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{NHS_DARK_BLUE}" stroke-width="1.5"/>'
    )
    px, py = frame.x(peers["x"]), frame.y(peers["y"])
    marks = []
    for x, y, where in zip(px, py, peers["direction"], strict=True):
        if where in ("higher", "lower"):
            marks.append(_triangle(x, y, 5, NHS_DARK_GREY, up=where == "higher"))
        else:
            marks.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{NHS_MID_GREY}" fill-opacity="0.6"/>'
            )
    plot.append("".join(marks))
    parts.append(f'<g clip-path="url(#{clip_id})">{"".join(plot)}</g>')
    legend, used = _legend(
        [
            (_diamond(0, 0, 6, NHS_BLUE), "This organisation"),
            (f'<circle r="3" fill="{NHS_MID_GREY}"/>', "Other organisations"),
            (_triangle(0, 0, 5, NHS_DARK_GREY), "Outside the limits"),
            (_line_symbol(NHS_DARK_BLUE), "Peers' value (target)"),
            (_line_symbol(NHS_DARK_GREY, "6 4"), f"{figure.levels[0]} limits"),
            (_line_symbol(NHS_DARK_GREY), f"{figure.levels[1]} limits"),
        ],
        frame.left,
        frame.bottom + 58,
        frame.right - frame.left,
    )
    parts.append(legend)
    height = int(frame.bottom + 58 + used + 6)
    shown = len(peers)
    total = figure.peer_count or shown
    description = f"Funnel plot: {figure.title}. {total:,} organisations compared"
    description += f" ({shown:,} drawn)." if shown < total else "."
    return _FunnelBase(figure, frame, "".join(parts), height, shown, description)


_FUNNELS: OrderedDict[Hashable, _FunnelBase] = OrderedDict()
_FUNNELS_LOCK = threading.Lock()
FUNNEL_CACHE_ENTRIES = 256
"""Funnels kept drawn (per run, indicator, period, peer group and audience): a few hundred KB each."""


def cached_funnel(key: Hashable, build: Callable[[], FunnelFigure | None]) -> _FunnelBase | None:
    """The funnel drawn for ``key`` (``build`` gives its figure the first time; None: nothing to draw).
    Keys must name everything the figure depends on (a monitoring run never changes)."""
    with _FUNNELS_LOCK:
        if key in _FUNNELS:
            _FUNNELS.move_to_end(key)
            return _FUNNELS[key]
    figure = build()
    base = _funnel_base(figure) if figure is not None and len(figure.peers) else None
    if base is None:
        return None
    with _FUNNELS_LOCK:
        _FUNNELS[key] = base
        while len(_FUNNELS) > FUNNEL_CACHE_ENTRIES:
            _FUNNELS.popitem(last=False)
    return base


def funnel_chart(base: _FunnelBase, highlight: tuple[float, float] | None, label: str = "") -> Chart:
    """The drawn funnel with this organisation's point (``highlight``: its x, y; None when it has no
    figure to show) marked and described."""
    frame, figure = base.frame, base.figure
    body, description = base.body, base.description
    if highlight is not None and all(v is not None and math.isfinite(v) for v in highlight):
        x, y = (float(frame.x(highlight[0])), float(frame.y(highlight[1])))
        x = min(max(x, frame.left), frame.right)
        y = min(max(y, frame.top), frame.bottom)
        body += _diamond(x, y, 7, NHS_BLUE)
        description += f" This organisation's value is {format_value(highlight[1], figure.value_format)}"
        description += f" ({label})." if label else "."
    else:
        description += " This organisation's figure is not shown."
    return Chart(_svg(figure.width, base.height, body, description), description)


# --- control charts ----------------------------------------------------------------------------------


def spc_chart(
    points: dict[str, np.ndarray],
    *,
    title: str,
    y_title: str,
    value_format: str = "number",
    target: float | None = None,
    floor: float | None = None,
    width: int = 640,
    height: int = 320,
) -> Chart:
    """An XmR control chart of one series (``points``: arrays ``period``, ``value``, ``mean``, ``upper``,
    ``lower``, ``point_type`` as :func:`carelens.monitor.control_charts.series_chart` gives them):
    values, mean, process limits (not below ``floor``), optional target, special causes. Optional
    ``not_assessed`` (per point, the reason of a failed data-quality check) marks those months with a
    cross on the axis (their values are not drawn); optional ``joins`` (period and label) draws each as
    a labelled vertical line (a merger the series continues across)."""
    dates = np.asarray(points["period"], dtype="datetime64[D]")
    values = np.asarray(points["value"], dtype=float)
    mean, upper = np.asarray(points["mean"], dtype=float), np.asarray(points["upper"], dtype=float)
    lower = np.asarray(points["lower"], dtype=float)
    if floor is not None:
        lower = np.maximum(lower, floor)
    kinds = [str(k) if k else "common_cause" for k in points["point_type"]]
    not_assessed = np.asarray(points.get("not_assessed", np.full(len(dates), "", dtype=object)), dtype=object)
    values = np.where(not_assessed != "", np.nan, values)
    joins = list(points.get("joins", []))
    days = (dates - dates.min()).astype(float) if len(dates) else np.zeros(0)
    y_all = np.concatenate([values, mean, upper, lower, [] if target is None else [target]])
    y_all = y_all[np.isfinite(y_all)]
    y_ticks, y_step = nice_ticks(
        float(y_all.min()) if len(y_all) else 0, float(y_all.max()) if len(y_all) else 1
    )
    title_lines = _wrap_title(title, width)
    top = 20 + 17 * len(title_lines)
    y_labels = max(len(format_value(v, value_format, y_step)) for v in y_ticks)
    span = max(float(days.max()) if len(days) else 1.0, 1.0)
    plot = _Frame(
        width,
        height,
        34 + 7 * y_labels,
        top,
        width - 30,
        top + height - 130,
        (0.0, span),
        (float(y_ticks[0]), float(y_ticks[-1])),
    )
    parts = [_text(16, 20 + 17 * k, line, size=14, weight="bold") for k, line in enumerate(title_lines)]
    for tick in y_ticks:
        y = float(plot.y(tick))
        parts.append(
            f'<line x1="{plot.left:.1f}" x2="{plot.right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{NHS_PALE_GREY}"/>'
        )
        parts.append(_text(plot.left - 6, y + 4, format_value(tick, value_format, y_step), anchor="end"))
    parts.append(
        f'<line x1="{plot.left:.1f}" x2="{plot.right:.1f}" y1="{plot.bottom:.1f}" y2="{plot.bottom:.1f}" stroke="{NHS_DARK_GREY}"/>'
    )
    labels = [_month_label(d) for d in dates]
    every = max(1, math.ceil(len(labels) * 64 / max(plot.right - plot.left, 1)))
    xs = plot.x(days)
    for k, (x, label) in enumerate(zip(xs, labels, strict=True)):
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{plot.bottom:.1f}" y2="{plot.bottom + 4:.1f}" stroke="{NHS_DARK_GREY}"/>'
        )
        if k % every == 0:
            parts.append(_text(x, plot.bottom + 17, label, anchor="middle"))
    cy = (plot.top + plot.bottom) / 2
    parts.append(
        f'<text x="14" y="{cy:.1f}" transform="rotate(-90 14 {cy:.1f})" text-anchor="middle" font-size="12" '
        f'font-weight="bold" fill="{NHS_BLACK}">{_esc(y_title)}</text>'
    )
    parts.append(_polyline(xs, plot.y(upper), NHS_DARK_GREY, 1.2, "6 4"))
    parts.append(_polyline(xs, plot.y(lower), NHS_DARK_GREY, 1.2, "6 4"))
    parts.append(_polyline(xs, plot.y(mean), NHS_BLACK, 1.2))
    if target is not None:
        ty = float(plot.y(target))
        parts.append(
            f'<line x1="{plot.left:.1f}" x2="{plot.right:.1f}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{NHS_DARK_BLUE}" stroke-width="1.5" stroke-dasharray="2 3"/>'
        )
    for join in joins:
        jx = float(plot.x((np.datetime64(join["period"], "D") - dates.min()).astype(float)))
        parts.append(
            f'<g class="carelens-join"><line x1="{jx:.1f}" x2="{jx:.1f}" y1="{plot.top:.1f}" y2="{plot.bottom:.1f}" '
            f'stroke="{NHS_DARK_BLUE}" stroke-width="1.5" stroke-dasharray="4 3"/>'
            + (
                _text(jx - 4, plot.top + 12, join["label"], anchor="end", size=11)
                if jx > (plot.left + plot.right) / 2
                else _text(jx + 4, plot.top + 12, join["label"], size=11)
            )
            + "</g>"
        )
    for x, reason in zip(xs, not_assessed, strict=True):
        if reason:
            y = plot.bottom - 6
            parts.append(
                f'<g class="carelens-not-assessed"><title>{_esc(reason)}</title>'
                f'<path d="M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}M{x - 4:.1f},{y + 4:.1f}L{x + 4:.1f},{y - 4:.1f}" '
                f'stroke="{NHS_DARK_GREY}" stroke-width="1.5"/></g>'
            )
    ys = plot.y(values)
    parts.append(_polyline(xs, ys, NHS_MID_GREY, 1.5))
    for x, y, kind in zip(xs, ys, kinds, strict=True):
        if not math.isfinite(y):
            continue
        colour = POINT_COLOURS.get(kind, NHS_MID_GREY)
        special = kind.startswith("special_cause")
        radius, stroke = (5.5, f' stroke="{NHS_BLACK}" stroke-width="1"') if special else (3.5, "")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}"{stroke}/>')
    present = [k for k in POINT_LABELS if k in set(kinds)] or ["common_cause"]
    items = [
        (
            f'<circle r="{5.5 if k.startswith("special") else 3.5}" fill="{POINT_COLOURS[k]}"'
            + (f' stroke="{NHS_BLACK}"' if k.startswith("special") else "")
            + "/>",
            POINT_LABELS[k],
        )
        for k in present
    ]
    items += [
        (_line_symbol(NHS_BLACK, width=1.2), "Mean"),
        (_line_symbol(NHS_DARK_GREY, "6 4", 1.2), "Process limits"),
    ]
    if target is not None:
        items.append((_line_symbol(NHS_DARK_BLUE, "2 3"), "Target"))
    if (not_assessed != "").any():
        cross = f'<path d="M-4,-4L4,4M-4,4L4,-4" stroke="{NHS_DARK_GREY}" stroke-width="1.5"/>'
        items.append((cross, "Not assessed: failed a data-quality check (not plotted)"))
    if joins:
        items.append(
            (_line_symbol(NHS_DARK_BLUE, "4 3"), "Merger: earlier figures are the merged organisations'")
        )
    legend, used = _legend(items, plot.left, plot.bottom + 40, plot.right - plot.left)
    parts.append(legend)
    description = _spc_description(dates, values, kinds, title, value_format)
    if (not_assessed != "").any():
        description += (
            f" {int((not_assessed != '').sum())} months not assessed (failed a data-quality check)."
        )
    description += "".join(f" {join['label']}." for join in joins)
    return Chart(_svg(width, int(plot.bottom + 40 + used + 6), "".join(parts), description), description)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LONG_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _month_label(day: np.datetime64, long: bool = False) -> str:
    month = day.astype("datetime64[M]").astype(int)
    names = _LONG_MONTHS if long else _MONTHS
    return f"{names[month % 12]} {1970 + month // 12}"


def _spc_description(dates: np.ndarray, values: np.ndarray, kinds: list[str], title: str, style: str) -> str:
    if not len(dates):
        return f"Control chart: {title}. No data."
    special = sum(k.startswith("special_cause") for k in kinds)
    return (
        f"Control chart: {title}, {len(dates)} points from {_month_label(dates.min(), True)} to "
        f"{_month_label(dates.max(), True)}; {special} special-cause points; latest value "
        f"{format_value(values[-1], style)} ({POINT_LABELS.get(kinds[-1], 'common cause')})."
    )


def whatif_svg(comparison: dict) -> str | None:
    """The formula what-if chart (from :func:`carelens.services.funding.whatif`) as an accessible SVG,
    described in words: the biggest gain and loss, and the change for the most and least deprived."""
    import re

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
    description = " ".join(parts)
    svg = re.sub(r"<\?xml[^>]*>\s*", "", svg)
    match = re.search(r"<svg\b([^>]*)>", svg)
    if match is None:
        raise ValueError("not an SVG document")
    attrs = re.sub(r'\s(?:width|height|class)="[^"]*"', "", match.group(1))
    label = _esc(description)
    root = f'<svg{attrs} role="img" aria-label="{label}" focusable="false" class="carelens-chart">'
    rest = re.sub(r'\s(?:role|aria-roledescription|aria-label)="[^"]*"', "", svg[match.end() :])
    return svg[: match.start()] + root + rest
