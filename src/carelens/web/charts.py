"""Funnel plots, control charts, spine charts, compare-organisations charts and bar charts drawn as SVG
on the server, from figures the services give, each with the table of figures it draws.

Charts are plain SVG built here (no browser, no charting runtime): a funnel of a whole national peer
group renders in milliseconds, and its peers, limits and axes are drawn once per monitoring run and
funnel (:func:`cached_funnel`); each organisation's page only adds its own marker. A funnel draws what
the monitoring run stored: each peer's value and the limits the run gave the peers (joined in order of
their size), never a new fit; a spine chart colours each indicator by its stored verdict. The PDF
report prints the same SVG (:mod:`carelens.web.report`).

Readable at any width: an SVG has a ``viewBox`` and the stylesheet makes it as wide as its column (up
to a limit), so its text scales with it. Text is sized from the chart's width so that it is at least
:data:`MIN_TEXT_PX` pixels tall on the narrowest column charts are drawn for (:data:`NARROW_COLUMN_PX`,
a 375-pixel phone), and every label's width is estimated generously (:func:`text_width`) so tick labels
are thinned before they could touch and long titles wrap instead of being cut.

Colours are NHS ones with one meaning each (Making Data Count): orange is concern and only concern, blue
improvement (or "better"), purple a neutral special cause, greys common cause and other organisations.
Never colour alone: this organisation is an outlined diamond, organisations outside the limits are
triangles pointing the way they lie, special causes are outlined triangles pointing up or down, worse
and better differ in shape on a spine chart. Every mark has a fill or an outline of at least 3:1
contrast against the white background. Every chart has a legend, axis titles with units, ``role="img"``
and a sentence describing it, and its figures as a table (:class:`ChartData`: the page shows it under
"Show the data", with a CSV download). Confidence intervals (a compare-organisations chart's whiskers,
a control chart's band) are the services' (:func:`carelens.stats.intervals.figure_interval`), never
computed here. The methods are described in docs/charts.md.
"""

from __future__ import annotations

import csv
import html
import io
import math
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from carelens.model.dates import MONTHS, date_in_words
from carelens.services._db import Kept
from carelens.services.inspections import KEY_QUESTIONS

NHS_BLUE = "#005eb8"
NHS_DARK_BLUE = "#003087"
NHS_DARK_GREY = "#425563"
NHS_MID_GREY = "#768692"
NHS_PALE_GREY = "#d8dde0"
NHS_LIGHT_GREY = "#e8edee"
NHS_ORANGE = "#ed8b00"
NHS_PURPLE = "#330072"
NHS_BLACK = "#212b32"
NHS_WHITE = "#ffffff"
FONT = "Arial, Liberation Sans, Helvetica, DejaVu Sans, sans-serif"
"""Charts use Arial: the NHS font (Frutiger) is served from a remote host that charts must not need."""

MIN_TEXT_PX = 11.5
"""The smallest chart text, in CSS pixels, as rendered on the narrowest column (:data:`NARROW_COLUMN_PX`)."""
NARROW_COLUMN_PX = 343
"""The narrowest content column charts are drawn for: a 375-pixel phone less the page's 16-pixel margins."""

POINT_COLOURS = {
    "common_cause": NHS_MID_GREY,
    "special_cause_improvement": NHS_BLUE,
    "special_cause_concern": NHS_ORANGE,
    "special_cause_neutral_high": NHS_PURPLE,
    "special_cause_neutral_low": NHS_PURPLE,
}
POINT_LABELS = {
    "common_cause": "Common cause",
    "special_cause_improvement": "Special cause: improvement",
    "special_cause_concern": "Special cause: concern",
    "special_cause_neutral_high": "Special cause: high",
    "special_cause_neutral_low": "Special cause: low",
}
FORMATS = ("number", "percent", "ratio")
"""How values are written: plain numbers, percentages of a proportion, or ratios (2 decimals)."""
BOUNDS = {"percent": (0.0, 1.0), "ratio": (0.0, None), "number": (0.0, None)}
"""The range a value of each format can take (a proportion lies in [0, 1]; ratios and rates are never
negative): limits are clipped to it, so a chart never shows an impossible value."""


@dataclass(frozen=True)
class ChartData:
    """The figures a chart draws, as a table: ``columns`` with ``formats`` (one of :data:`FORMATS`,
    ``"text"`` or ``"date"``) and ``rows`` of raw values (the CSV keeps them unrounded)."""

    caption: str
    columns: tuple[str, ...]
    formats: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""
    """What the table holds beyond the caption (e.g. which organisations a funnel draws)."""
    row_formats: tuple[tuple[str, ...], ...] | None = None
    """Formats of each row, where rows differ (a spine chart's indicators are in different units)."""

    def cells(self, limit: int | None = None) -> list[list[str]]:
        """The first ``limit`` rows (all: None) as the page writes them (2.7%, 1,234, March 2024)."""
        rows = self.rows if limit is None else self.rows[:limit]
        formats = self.row_formats or (self.formats,) * len(self.rows)
        return [
            [_cell(v, f) for v, f in zip(row, row_format, strict=True)]
            for row, row_format in zip(rows, formats, strict=False)
        ]

    @property
    def numeric(self) -> tuple[int, ...]:
        """The columns holding numbers (right-aligned in the table)."""
        formats = self.row_formats[0] if self.row_formats else self.formats
        return tuple(i for i, f in enumerate(formats) if f in FORMATS)

    def table_html(self, limit: int | None = None) -> str:
        """The first ``limit`` rows as an NHS.UK table (caption, column headings, the first column as
        each row's heading, numbers right-aligned), in a region that scrolls sideways on a narrow
        screen and can be reached and scrolled with the keyboard. Plain cells, not the responsive
        table's repeated headings: a page has one of these per chart."""
        numeric = set(self.numeric)

        def cell(k: int, text: str, tag: str = "td") -> str:
            align = " nhsuk-table__cell--numeric" if k in numeric else ""
            scope = ' scope="row"' if tag == "th" else ""
            return f'<{tag} class="nhsuk-table__cell{align}"{scope}>{_esc(text)}</{tag}>'

        head = "".join(
            f'<th class="nhsuk-table__header{" nhsuk-table__header--numeric" if k in numeric else ""}" '
            f'scope="col">{_esc(c)}</th>'
            for k, c in enumerate(self.columns)
        )
        body = "".join(
            '<tr class="nhsuk-table__row">'
            + "".join(cell(k, text, "th" if k == 0 else "td") for k, text in enumerate(row))
            + "</tr>"
            for row in self.cells(limit)
        )
        return (
            f'<div class="carelens-table-scroll" role="region" tabindex="0" aria-label="{_esc(self.caption)}">'
            f'<table class="nhsuk-table"><caption class="nhsuk-table__caption nhsuk-table__caption--s">'
            f'{_esc(self.caption)}</caption><thead class="nhsuk-table__head"><tr class="nhsuk-table__row">'
            f'{head}</tr></thead><tbody class="nhsuk-table__body">{body}</tbody></table></div>'
        )

    def csv(self) -> str:
        """Every row as CSV: numbers unrounded (a proportion as a proportion), dates as ISO dates."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if _missing(v) else _plain(v) for v in row])
        return out.getvalue()


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _plain(value):
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[D]"))
    if isinstance(value, np.generic):
        return value.item()
    return value


def _cell(value, style: str) -> str:
    if _missing(value):
        return "–"
    if style == "date":
        return _month_label(np.datetime64(value, "D"), long=True)
    if style in FORMATS:
        return format_value(float(value), style, 0.001 if style == "percent" else None)
    return str(value)


@dataclass(frozen=True)
class Chart:
    """A rendered chart: SVG markup (with its accessible name), the one-sentence text alternative and
    the figures it draws."""

    markup: str
    description: str
    data: ChartData | None = None

    def svg(self) -> str:
        return self.markup


# --- formatting, text and scales ----------------------------------------------------------------------


def format_value(value: float, style: str = "number", step: float | None = None) -> str:
    """A value as a reader expects it: 0.0267 as "2.7%", 11314562 as "11,314,562", a ratio as "1.13"; with
    a tick ``step``, as many decimals as the ticks need to be told apart."""
    if value is None or not math.isfinite(value):
        return "–"
    if style == "percent":
        percent = value * 100
        if step:
            decimals = _decimals(step * 100)
        else:  # one decimal as people write a percentage; more only for those under 1%
            decimals = 1 if abs(percent) >= 1 or percent == 0 else 2 if abs(percent) >= 0.1 else 3
        return f"{percent:,.{decimals}f}%"
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


_NARROW_CHARACTERS = frozenset(" .,:;'|!()[]-/ijlftrI1")
_WIDE_CHARACTERS = frozenset("mwMW@%&")


def text_width(text: str, size: float, bold: bool = False) -> float:
    """A generous estimate of the width of ``text`` at font ``size`` (pixels): wide enough for Arial,
    Liberation Sans and the wider DejaVu Sans that machines without them fall back to."""
    em = 0.0
    for character in str(text):
        if character in _NARROW_CHARACTERS:
            em += 0.36
        elif character in _WIDE_CHARACTERS:
            em += 0.95
        elif character.isupper():
            em += 0.74
        elif character.isdigit():
            em += 0.64
        else:
            em += 0.62
    return em * size * (1.08 if bold else 1.0)


@dataclass(frozen=True)
class _Type:
    """Font sizes for a chart drawn ``width`` units wide: its text renders at least
    :data:`MIN_TEXT_PX` pixels tall when the chart is squeezed into :data:`NARROW_COLUMN_PX`."""

    small: int
    title: int

    @classmethod
    def for_width(cls, width: float) -> _Type:
        small = max(12, math.ceil(MIN_TEXT_PX * width / NARROW_COLUMN_PX))
        return cls(small, small + 2)

    @property
    def line(self) -> float:
        return self.small * 1.35


def axis_ticks(
    low: float, high: float, length: float, style: str, size: float, most: int = 6
) -> tuple[np.ndarray, float, list[str]]:
    """Round ticks over [low, high] for an axis ``length`` pixels long whose labels (in ``style`` at font
    ``size``) never touch: as many as fit (at most ``most``), and if even two do not fit, every other
    label left blank. Gives the ticks, their step and their labels ("" where none is written)."""
    gap = size * 0.8
    for count in range(most, 1, -1):
        ticks, step = nice_ticks(low, high, count)
        labels = [format_value(v, style, step) for v in ticks]
        spacing = length / max(len(ticks) - 1, 1)
        if max(text_width(s, size) for s in labels) + gap <= spacing:
            return ticks, step, labels
    widest = max(text_width(s, size) for s in labels) + gap
    every = max(1, math.ceil(widest / max(spacing, 1)))
    return ticks, step, [s if k % every == 0 else "" for k, s in enumerate(labels)]


def wrap_text(text: str, width: float, size: float, bold: bool = False) -> list[str]:
    """``text`` in lines no wider than ``width`` pixels at font ``size`` (nothing is cut; a single word
    longer than a line gets a line of its own)."""
    lines, line = [], ""
    for word in str(text).split():
        candidate = f"{line} {word}".strip()
        if line and text_width(candidate, size, bold) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line] if line else lines


def contrast_ratio(colour: str, background: str = NHS_WHITE) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""

    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(colour), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


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
    css: str = "",
) -> str:
    klass = f' class="{css}"' if css else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
        f'fill="{fill}"{klass}>{_esc(text)}</text>'
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


def _triangle(x: float, y: float, r: float, fill: str, up: bool = True, stroke: str | None = None) -> str:
    tip = y - r if up else y + r
    base = y + r * 0.7 if up else y - r * 0.7
    outline = f' stroke="{stroke}" stroke-width="1.2"' if stroke else ""
    return f'<path d="M{x:.1f},{tip:.1f} L{x + r:.1f},{base:.1f} L{x - r:.1f},{base:.1f} Z" fill="{fill}"{outline}/>'


def _circle(x: float, y: float, r: float, fill: str, stroke: str | None = None) -> str:
    outline = f' stroke="{stroke}" stroke-width="1.5"' if stroke else ""
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}"{outline}/>'


def _line_symbol(colour: str, dash: str | None = None, width: float = 1.5) -> str:
    style = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<line x1="-9" x2="9" y1="0" y2="0" stroke="{colour}" stroke-width="{width}"{style}/>'


def _y_axis(frame: _Frame, ticks, labels, title_lines: list[str], kind: _Type) -> str:
    """Grid lines, y tick labels and the y axis title (turned, in as many lines as it needs)."""
    out = []
    for value, label in zip(ticks, labels, strict=True):
        y = float(frame.y(value))
        out.append(
            f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{NHS_PALE_GREY}"/>'
        )
        out.append(_text(frame.left - 6, y + kind.small * 0.35, label, anchor="end", size=kind.small))
    cy = (frame.top + frame.bottom) / 2
    for k, line in enumerate(title_lines):
        cx = kind.small + k * kind.line
        out.append(
            f'<text x="{cx:.1f}" y="{cy:.1f}" transform="rotate(-90 {cx:.1f} {cy:.1f})" text-anchor="middle" '
            f'font-size="{kind.small}" font-weight="bold" fill="{NHS_BLACK}">{_esc(line)}</text>'
        )
    return "".join(out)


def _left_margin(
    y_title: str, y_labels: list[str], plot_height: float, kind: _Type
) -> tuple[float, list[str]]:
    """Room left of the plot for the y axis title (wrapped to the plot's height) and tick labels."""
    lines = wrap_text(y_title, plot_height, kind.small, bold=True)
    return kind.line * len(lines) + 8 + max(text_width(s, kind.small) for s in y_labels), lines


def _x_axis(frame: _Frame, positions, labels, title_lines: list[str], kind: _Type) -> str:
    """The x axis line, its ticks, the labels that are written (``""``: a tick without one) and its title."""
    out = [
        f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{frame.bottom:.1f}" y2="{frame.bottom:.1f}" stroke="{NHS_DARK_GREY}"/>'
    ]
    for x, label in zip(positions, labels, strict=True):
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.bottom:.1f}" y2="{frame.bottom + 5:.1f}" stroke="{NHS_DARK_GREY}"/>'
        )
        if label:
            out.append(
                _text(
                    x,
                    frame.bottom + 6 + kind.small,
                    label,
                    anchor="middle",
                    size=kind.small,
                    css="carelens-tick",
                )
            )
    middle = (frame.left + frame.right) / 2
    for k, line in enumerate(title_lines):
        y = frame.bottom + 12 + kind.small + kind.line * (k + 1)
        out.append(_text(middle, y, line, anchor="middle", size=kind.small, weight="bold"))
    return "".join(out)


def _x_title_height(lines: list[str], kind: _Type) -> float:
    return 12 + kind.small + kind.line * len(lines) + 6


def _legend(
    items: Sequence[tuple[str, str]], x: float, y: float, width: float, kind: _Type
) -> tuple[str, float]:
    """Legend entries (symbol markup at 0,0; label) laid out in rows from (x, y), top of the first row;
    gives the markup and the height used. A label too long for a row wraps."""
    out, cx, cy = [], x, y + kind.line / 2
    row = kind.line + 4
    for symbol, label in items:
        room = width - 26
        lines = wrap_text(label, room, kind.small)
        size = 26 + max(text_width(line, kind.small) for line in lines)
        if cx + size > x + width and cx > x:
            cx, cy = x, cy + row
        out.append(
            f'<g class="carelens-legend-symbol" transform="translate({cx + 10:.1f},{cy:.1f})">{symbol}</g>'
        )
        for k, line in enumerate(lines):
            out.append(_text(cx + 24, cy + kind.small * 0.35 + k * kind.line, line, size=kind.small))
        cy += kind.line * (len(lines) - 1)
        cx += size + kind.small
    return '<g class="carelens-legend">' + "".join(out) + "</g>", cy - y + kind.line / 2 + 4


def _title(title: str, width: float, kind: _Type) -> tuple[str, float]:
    """The chart's title wrapped to its width; gives the markup and the y below it."""
    lines = wrap_text(title, width - 16, kind.title, bold=True)
    markup = "".join(
        _text(
            8,
            kind.title + 4 + k * kind.title * 1.3,
            line,
            size=kind.title,
            weight="bold",
            css="carelens-title",
        )
        for k, line in enumerate(lines)
    )
    return markup, kind.title + 4 + (len(lines) - 1) * kind.title * 1.3 + kind.small


def _svg(width: int, height: int, body: str, description: str) -> str:
    label = _esc(description)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {math.ceil(height)}" role="img" '
        f'aria-label="{label}" focusable="false" class="carelens-chart" font-family="{FONT}">'
        f"<title>{label}</title>{body}</svg>"
    )


def _clip(values: np.ndarray, style: str) -> np.ndarray:
    low, high = BOUNDS.get(style, (None, None))
    values = np.asarray(values, dtype=float)
    if low is not None:
        values = np.where(np.isfinite(values), np.maximum(values, low), values)
    if high is not None:
        values = np.where(np.isfinite(values), np.minimum(values, high), values)
    return values


def _value_ticks(values: np.ndarray, style: str, length: float, kind: _Type):
    """y ticks over the finite ``values`` within what the format allows (a proportion's axis never
    leaves [0, 100%])."""
    values = values[np.isfinite(values)]
    low = float(values.min()) if len(values) else 0.0
    high = float(values.max()) if len(values) else 1.0
    ticks, step = nice_ticks(low, high, min(6, max(2, int(length / (kind.line * 2.2)))))
    labels = [format_value(v, style, step) for v in ticks]
    bottom, top = BOUNDS.get(style, (None, None))
    keep = np.ones(len(ticks), dtype=bool)
    if bottom is not None:
        keep &= ticks >= bottom - 1e-12
    if top is not None:
        keep &= ticks <= top + 1e-12
    if keep.sum() >= 2:
        ticks, labels = ticks[keep], [s for s, k in zip(labels, keep, strict=True) if k]
    return ticks, step, labels


# --- funnel plots -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelFigure:
    """One funnel's peers and limits, as a monitoring run stored them.

    ``peers``: columns ``x`` (denominator or expected count), ``y`` (value) and ``direction``
    (higher/lower/within) of every organisation shown, and optionally ``code``; ``limits``: columns
    ``x``, ``lower``, ``upper``, ``elevated_lower``, ``elevated_upper`` (each peer's own limits: they
    depend only on its size).
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
    width: int = 400
    height: int = 260
    """Height of the plot area's share: the plot is ``height`` less room for titles, in proportion."""
    max_points: int = 1000
    """Most peers drawn: all those outside the limits, and an even spread of the rest by size (a
    national funnel of 50,000 dots is no clearer than 1,000, and a page would carry megabytes)."""


@dataclass(frozen=True)
class _FunnelBase:
    """A funnel drawn without any organisation marked: its SVG body, scales, description and the
    peers it draws (for the table)."""

    figure: FunnelFigure
    frame: _Frame
    body: str
    height: float
    shown: int
    description: str
    drawn: pd.DataFrame


def _spread(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most ``limit`` rows, evenly spread over the rows in order of x (the smallest and the largest
    always among them)."""
    if len(frame) <= limit:
        return frame
    ordered = frame.sort_values("x", kind="stable").reset_index(drop=True)
    if limit <= 0:
        return ordered.iloc[0:0]
    return ordered.iloc[np.unique(np.linspace(0, len(ordered) - 1, limit).round().astype(int))]


LIMIT_COLUMNS = ("lower", "upper", "elevated_lower", "elevated_upper")


def _funnel_base(figure: FunnelFigure) -> _FunnelBase:
    kind = _Type.for_width(figure.width)
    peers = figure.peers.dropna(subset=["x", "y"])
    peers = peers[peers["x"] > 0]
    limits = figure.limits.dropna(subset=["x"]).sort_values("x", kind="stable")
    limits = limits[limits["x"] > 0]
    limits = limits.assign(
        **{c: _clip(limits[c].to_numpy(float), figure.value_format) for c in LIMIT_COLUMNS}
    )
    if len(peers) > figure.max_points:  # outside the limits first (up to half), then an even spread
        outside = peers["direction"].isin(["higher", "lower"]).to_numpy()
        keep_outside = _spread(peers[outside], min(int(outside.sum()), figure.max_points // 2))
        peers = pd.concat([keep_outside, _spread(peers[~outside], figure.max_points - len(keep_outside))])
    limits = _spread(limits, 400)
    x_values = np.concatenate([peers["x"].to_numpy(float), limits["x"].to_numpy(float)])
    y_columns = [limits[c].to_numpy(float) for c in LIMIT_COLUMNS]
    y_values = _clip(
        np.concatenate([peers["y"].to_numpy(float), *y_columns, [figure.target]]), figure.value_format
    )
    title, top = _title(figure.title, figure.width, kind)
    plot_height = max(figure.height - 60, 140)
    y_ticks, _y_step, y_labels = _value_ticks(y_values, figure.value_format, plot_height, kind)
    left, y_title = _left_margin(figure.y_title, y_labels, plot_height, kind)
    x_high = float(np.nanmax(x_values)) if len(x_values) else 1.0
    # the right margin holds half the last x label: estimate it from a first guess of the ticks
    _, _, guess = axis_ticks(0.0, x_high, figure.width - left - 12, "number", kind.small)
    right = figure.width - max(12.0, text_width(guess[-1], kind.small) / 2 + 4)
    x_ticks, _x_step, x_labels = axis_ticks(0.0, x_high, right - left, "number", kind.small)
    x_title = wrap_text(figure.x_title, right - left, kind.small, bold=True)
    frame = _Frame(
        width=figure.width,
        height=figure.height,
        left=left,
        top=top,
        right=right,
        bottom=top + plot_height,
        x_domain=(float(x_ticks[0]), float(x_ticks[-1])),
        y_domain=(float(y_ticks[0]), float(y_ticks[-1])),
    )
    clip_id = f"carelens-plot-{uuid.uuid4().hex[:12]}"  # ids are page-wide: one per drawn funnel
    clip = f'<clipPath id="{clip_id}"><rect x="{frame.left:.1f}" y="{frame.top:.1f}" width="{frame.right - frame.left:.1f}" height="{frame.bottom - frame.top:.1f}"/></clipPath>'
    parts = [clip, title, _y_axis(frame, y_ticks, y_labels, y_title, kind)]
    parts.append(_x_axis(frame, frame.x(x_ticks), x_labels, x_title, kind))
    plot = []
    lx = frame.x(limits["x"])
    for column, dash in (
        ("elevated_lower", None),
        ("elevated_upper", None),
        ("lower", "6 4"),
        ("upper", "6 4"),
    ):
        plot.append(_polyline(lx, frame.y(limits[column]), NHS_DARK_GREY, 1.5, dash))
    ty = float(frame.y(figure.target))
    plot.append(
        f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{NHS_DARK_BLUE}" stroke-width="2"/>'
    )
    px, py = frame.x(peers["x"]), frame.y(_clip(peers["y"].to_numpy(float), figure.value_format))
    marks = []
    for x, y, where in zip(px, py, peers["direction"], strict=True):
        if where in ("higher", "lower"):
            marks.append(_triangle(x, y, 5.5, NHS_DARK_GREY, up=where == "higher"))
        else:
            marks.append(_circle(x, y, 3, NHS_MID_GREY))
    plot.append("".join(marks))
    parts.append(f'<g clip-path="url(#{clip_id})">{"".join(plot)}</g>')
    legend_top = frame.bottom + _x_title_height(x_title, kind)
    legend, used = _legend(
        [
            (_diamond(0, 0, 7, NHS_BLUE), "This organisation"),
            (_circle(0, 0, 3, NHS_MID_GREY), "Other organisations"),
            (_triangle(0, 0, 5.5, NHS_DARK_GREY), "Outside the limits (pointing the way they lie)"),
            (_line_symbol(NHS_DARK_BLUE, width=2), "Centre line: similar organisations' value"),
            (_line_symbol(NHS_DARK_GREY, "6 4"), f"{figure.levels[0]} limits"),
            (_line_symbol(NHS_DARK_GREY), f"{figure.levels[1]} limits"),
        ],
        8,
        legend_top,
        figure.width - 16,
        kind,
    )
    parts.append(legend)
    shown = len(peers)
    total = figure.peer_count or shown
    description = f"Funnel plot: {figure.title}. {total:,} organisations compared"
    description += f" ({shown:,} drawn)." if shown < total else "."
    drawn = peers.assign(y=peers["y"].astype(float))
    return _FunnelBase(figure, frame, "".join(parts), legend_top + used, shown, description, drawn)


FUNNEL_CACHE_ENTRIES = 256
"""Funnels kept drawn (per run, indicator, period, peer group and audience): a few hundred KB each."""
_FUNNELS = Kept(FUNNEL_CACHE_ENTRIES, keep_none=False)  # None: nothing to draw, asked again next time
_DISTRIBUTIONS = Kept(4 * FUNNEL_CACHE_ENTRIES, keep_none=False)


def cached_funnel(key: Hashable, build: Callable[[], FunnelFigure | None]) -> _FunnelBase | None:
    """The funnel drawn for ``key`` (``build`` gives its figure the first time; None: nothing to draw).
    Keys must name everything the figure depends on (a monitoring run never changes)."""

    def draw():
        figure = build()
        return _funnel_base(figure) if figure is not None and len(figure.peers) else None

    return _FUNNELS.get(key, draw)


def cached_distribution(key: Hashable, build: Callable[[], tuple[float, ...] | None]):
    """The similar organisations' values of one comparison (for a spine chart), kept per ``key`` as
    funnels are (``build`` gives them the first time; None: there are none)."""
    return _DISTRIBUTIONS.get(key, build)


def funnel_chart(
    base: _FunnelBase, highlight: tuple[float, float] | None, label: str = "", code: str = ""
) -> Chart:
    """The drawn funnel with this organisation's point (``highlight``: its x, y; None when it has no
    figure to show) marked and described, with the figures drawn as a table: this organisation
    (``code``) first, then those outside the limits, then the rest by size."""
    frame, figure = base.frame, base.figure
    body, description = base.body, base.description
    shown = highlight is not None and all(v is not None and math.isfinite(v) for v in highlight)
    if shown:
        x, y = (
            float(frame.x(highlight[0])),
            float(frame.y(_clip(np.array([highlight[1]]), figure.value_format)[0])),
        )
        x = min(max(x, frame.left), frame.right)
        y = min(max(y, frame.top), frame.bottom)
        body += f'<g class="carelens-this-organisation">{_diamond(x, y, 7, NHS_BLUE)}</g>'
        description += f" This organisation's value is {format_value(highlight[1], figure.value_format)}"
        description += f" ({label})." if label else "."
    else:
        description += " This organisation's figure is not shown."
    return Chart(_svg(figure.width, base.height, body, description), description, _funnel_data(base, code))


FUNNEL_VERDICTS = {"higher": "above the limits", "lower": "below the limits", "within": "within the limits"}


def _funnel_data(base: _FunnelBase, code: str) -> ChartData:
    figure, drawn = base.figure, base.drawn
    codes = drawn["code"] if "code" in drawn.columns else pd.Series([""] * len(drawn), index=drawn.index)
    order = pd.DataFrame(
        {
            "code": codes.astype(str),
            "x": drawn["x"].astype(float),
            "y": drawn["y"].astype(float),
            "direction": drawn["direction"].astype(str),
        }
    )
    order["rank"] = np.where(order["code"] == code, 0, np.where(order["direction"] == "within", 2, 1))
    order = order.sort_values(["rank", "x", "code"], kind="stable")
    rows = tuple(
        (
            c + (" (this organisation)" if c == code and code else ""),
            x,
            y,
            FUNNEL_VERDICTS.get(d, d),
        )
        for c, x, y, d in zip(order["code"], order["x"], order["y"], order["direction"], strict=True)
    )
    note = f"Centre line (similar organisations' value): {format_value(figure.target, figure.value_format)}."
    if base.shown < (figure.peer_count or base.shown):
        note += f" The {base.shown:,} organisations drawn of {figure.peer_count:,}."
    return ChartData(
        caption=f"Organisations in the funnel plot: {figure.title}",
        columns=(
            "Organisation code",
            figure.x_title,
            figure.y_title,
            f"Against the {figure.levels[0]} limits",
        ),
        formats=("text", "number", figure.value_format, "text"),
        rows=rows,
        note=note,
    )


# --- control charts ----------------------------------------------------------------------------------


def spc_chart(
    points: dict[str, np.ndarray],
    *,
    title: str,
    y_title: str,
    value_format: str = "number",
    target: float | None = None,
    floor: float | None = None,
    width: int = 400,
    height: int = 260,
) -> Chart:
    """An XmR control chart of one series (``points``: arrays ``period``, ``value``, ``mean``, ``upper``,
    ``lower``, ``point_type`` as :func:`carelens.monitor.control_charts.series_chart` gives them):
    values, mean, process limits (within what the format allows, and not below ``floor``), optional
    target, special causes. Optional ``interval_lower`` and ``interval_upper`` (each value's confidence
    interval at ``interval_level`` per cent, as :func:`carelens.services.series.series_chart` gives them)
    are drawn as a pale band behind the series and listed in the table. Optional ``not_assessed`` (per
    point, the reason of a failed data-quality check) marks those months with a cross on the axis
    (their values are not drawn); optional ``joins`` (period and label) draws each as a labelled
    vertical line (a merger the series continues across)."""
    kind = _Type.for_width(width)
    dates = np.asarray(points["period"], dtype="datetime64[D]")
    values = np.asarray(points["value"], dtype=float)
    mean = np.asarray(points["mean"], dtype=float)
    upper = _clip(np.asarray(points["upper"], dtype=float), value_format)
    lower = _clip(np.asarray(points["lower"], dtype=float), value_format)
    if floor is not None:
        lower = np.maximum(lower, floor)
    kinds = [str(k) if k else "common_cause" for k in points["point_type"]]
    not_assessed = np.asarray(points.get("not_assessed", np.full(len(dates), "", dtype=object)), dtype=object)
    values = np.where(not_assessed != "", np.nan, values)
    missing = np.full(len(dates), np.nan)
    ci_lower = _clip(np.asarray(points.get("interval_lower", missing), dtype=float), value_format)
    ci_upper = _clip(np.asarray(points.get("interval_upper", missing), dtype=float), value_format)
    ci_lower, ci_upper = (np.where(np.isfinite(values), c, np.nan) for c in (ci_lower, ci_upper))
    has_intervals = bool(np.isfinite(ci_lower).any())
    level = _level_words(points.get("interval_level", 95))
    joins = list(points.get("joins", []))
    days = (dates - dates.min()).astype(float) if len(dates) else np.zeros(0)
    y_all = np.concatenate(
        [values, mean, upper, lower, ci_lower, ci_upper, [] if target is None else [target]]
    )
    title_markup, top = _title(title, width, kind)
    plot_height = max(height - 60, 140)
    y_ticks, _y_step, y_labels = _value_ticks(y_all, value_format, plot_height, kind)
    left, y_title_lines = _left_margin(y_title, y_labels, plot_height, kind)
    labels = [_month_label(d) for d in dates]
    right = width - max(12.0, text_width(labels[-1] if labels else "", kind.small) / 2 + 4)
    span = max(float(days.max()) if len(days) else 1.0, 1.0)
    plot = _Frame(
        width,
        height,
        left,
        top,
        right,
        top + plot_height,
        (0.0, span),
        (float(y_ticks[0]), float(y_ticks[-1])),
    )
    xs = plot.x(days)
    widest = max((text_width(s, kind.small) for s in labels), default=1) + kind.small
    spacing = (plot.right - plot.left) / max(len(labels) - 1, 1)
    every = max(1, math.ceil(widest / max(spacing, 1)))
    last = len(labels) - 1
    written = [s if (last - k) % every == 0 else "" for k, s in enumerate(labels)]  # the latest always
    x_title = wrap_text("Month", plot.right - plot.left, kind.small, bold=True)
    parts = [
        title_markup,
        _y_axis(plot, y_ticks, y_labels, y_title_lines, kind),
        _x_axis(plot, xs, written, x_title, kind),
    ]
    if has_intervals:
        parts.append(_band(xs, plot.y(ci_lower), plot.y(ci_upper)))
    parts.append(_polyline(xs, plot.y(upper), NHS_DARK_GREY, 1.5, "6 4"))
    parts.append(_polyline(xs, plot.y(lower), NHS_DARK_GREY, 1.5, "6 4"))
    parts.append(_polyline(xs, plot.y(mean), NHS_BLACK, 1.5))
    if target is not None:
        ty = float(plot.y(target))
        parts.append(
            f'<line x1="{plot.left:.1f}" x2="{plot.right:.1f}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{NHS_DARK_BLUE}" stroke-width="2" stroke-dasharray="2 3"/>'
        )
    for join in joins:
        jx = float(plot.x((np.datetime64(join["period"], "D") - dates.min()).astype(float)))
        right_half = jx > (plot.left + plot.right) / 2
        room = (jx - plot.left if right_half else plot.right - jx) - 8
        lines = wrap_text(join["label"], room, kind.small)
        parts.append(
            f'<g class="carelens-join"><line x1="{jx:.1f}" x2="{jx:.1f}" y1="{plot.top:.1f}" y2="{plot.bottom:.1f}" '
            f'stroke="{NHS_DARK_BLUE}" stroke-width="1.5" stroke-dasharray="4 3"/>'
            + "".join(
                _text(
                    jx - 4 if right_half else jx + 4,
                    plot.top + kind.small + k * kind.line,
                    line,
                    anchor="end" if right_half else "start",
                    size=kind.small,
                )
                for k, line in enumerate(lines)
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
    for x, y, point, value, centre in zip(xs, ys, kinds, values, mean, strict=True):
        if math.isfinite(y):
            parts.append(_spc_mark(x, y, point, bool(value >= centre) if math.isfinite(centre) else True))
    present = [k for k in POINT_LABELS if k in set(kinds)] or ["common_cause"]
    items = [(_spc_mark(0, 0, k, k != "special_cause_neutral_low"), POINT_LABELS[k]) for k in present]
    items += [
        (_line_symbol(NHS_BLACK), "Centre line: mean"),
        (_line_symbol(NHS_DARK_GREY, "6 4"), "Process limits"),
    ]
    if has_intervals:
        items.append(
            (
                f'<rect x="-9" y="-6" width="18" height="12" fill="{NHS_PALE_GREY}"/>',
                f"{level} confidence interval of each month's value",
            )
        )
    if target is not None:
        items.append((_line_symbol(NHS_DARK_BLUE, "2 3", 2), "Target"))
    if (not_assessed != "").any():
        cross = f'<path d="M-4,-4L4,4M-4,4L4,-4" stroke="{NHS_DARK_GREY}" stroke-width="1.5"/>'
        items.append((cross, "Not assessed: failed a data-quality check (not plotted)"))
    if joins:
        items.append(
            (_line_symbol(NHS_DARK_BLUE, "4 3"), "Merger: earlier figures are the merged organisations'")
        )
    legend_top = plot.bottom + _x_title_height(x_title, kind)
    legend, used = _legend(items, 8, legend_top, width - 16, kind)
    parts.append(legend)
    description = _spc_description(dates, values, kinds, title, value_format)
    if (not_assessed != "").any():
        description += (
            f" {int((not_assessed != '').sum())} months not assessed (failed a data-quality check)."
        )
    description += "".join(f" {join['label']}." for join in joins)
    data = ChartData(
        caption=f"Figures in the control chart: {title}",
        columns=(
            "Month",
            y_title,
            "Mean",
            "Lower process limit",
            "Upper process limit",
            f"{level} confidence interval: lower",
            f"{level} confidence interval: upper",
            "Point",
        ),
        formats=("date", *(value_format,) * 6, "text"),
        rows=tuple(
            (d, v, m, lo, up, cl, cu, "not assessed: " + reason if reason else POINT_LABELS.get(k, k))
            for d, v, cl, cu, m, lo, up, k, reason in zip(
                dates, values, ci_lower, ci_upper, mean, lower, upper, kinds, not_assessed, strict=True
            )
        ),
    )
    return Chart(_svg(width, legend_top + used, "".join(parts), description), description, data)


def _level_words(level: float) -> str:
    """95.0 → "95%", 99.8 → "99.8%"."""
    return f"{float(level):g}%"


def _band(xs: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> str:
    """A pale band between ``lows`` and ``highs`` over each run of points that have both (a lone point
    gets a short bar of its own), under the chart's lines and marks."""
    finite = np.isfinite(xs) & np.isfinite(lows) & np.isfinite(highs)
    shapes, run = [], []
    for k in [*range(len(xs)), None]:
        if k is not None and finite[k]:
            run.append(k)
            continue
        if len(run) == 1:
            i = run[0]
            shapes.append(
                f'<rect x="{xs[i] - 3:.1f}" y="{highs[i]:.1f}" width="6" height="{max(lows[i] - highs[i], 1):.1f}" fill="{NHS_PALE_GREY}"/>'
            )
        elif run:
            top = " ".join(f"{xs[i]:.1f},{highs[i]:.1f}" for i in run)
            bottom = " ".join(f"{xs[i]:.1f},{lows[i]:.1f}" for i in reversed(run))
            shapes.append(f'<polygon points="{top} {bottom}" fill="{NHS_PALE_GREY}"/>')
        run = []
    return '<g class="carelens-interval-band">' + "".join(shapes) + "</g>"


def _spc_mark(x: float, y: float, point: str, above: bool) -> str:
    """A control chart's point: a small grey dot for common cause; a special cause is an outlined
    triangle pointing the way it lies from the mean, coloured by what it means."""
    if not point.startswith("special_cause"):
        return _circle(x, y, 3.5, NHS_MID_GREY)
    return _triangle(x, y, 7, POINT_COLOURS.get(point, NHS_PURPLE), up=above, stroke=NHS_BLACK)


_LONG_MONTHS = MONTHS
_MONTHS = tuple(name[:3] for name in MONTHS)


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
        f"{format_value(values[-1], style)} ({POINT_LABELS.get(kinds[-1], 'common cause').lower()})."
    )


# --- Making Data Count icons ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Icon:
    """A Making Data Count icon: its SVG (decorative: ``aria-hidden``) and the sentence that says the
    same, shown beside it."""

    markup: str
    text: str


VARIATION_TEXT = {
    "common_cause": "Common cause variation: no significant change",
    "special_cause_improvement": "Special cause variation: improvement",
    "special_cause_concern": "Special cause variation: concern",
    "special_cause_neutral_high": "Special cause variation: higher, neither better nor worse",
    "special_cause_neutral_low": "Special cause variation: lower, neither better nor worse",
}
ASSURANCE_TEXT = {
    "consistent_pass": "The process will consistently meet the target",
    "consistent_fail": "The process will consistently fail the target",
    "inconsistent": "The process may meet or fail the target: it is inside the process limits",
}
NO_ASSURANCE = "No assurance icon: no target is set for this indicator"


def _icon(colour: str, letter: str, body: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40" width="40" height="40" aria-hidden="true" '
        f'focusable="false" class="carelens-icon" font-family="{FONT}">'
        f'<circle cx="20" cy="20" r="17" fill="{NHS_WHITE}" stroke="{colour}" stroke-width="3"/>{body}'
        + (_text(20, 15, letter, anchor="middle", size=11, weight="bold", fill=colour) if letter else "")
        + "</svg>"
    )


def variation_icon(point_type: str, improvement: str = "neutral", high: bool | None = None) -> Icon:
    """The variation icon of a series whose latest point is ``point_type`` (as the SPC kernel names it,
    :data:`carelens.stats.spc.POINT_TYPES`): grey for common cause, blue improvement, orange concern,
    purple a neutral special cause, with H or L for a high or low special cause. ``improvement`` is the
    direction that is better (increase, decrease or neutral); ``high`` says which side of the mean a
    special cause lies when the type does not."""
    point_type = point_type or "common_cause"
    colour = POINT_COLOURS.get(point_type, NHS_MID_GREY)
    if point_type == "common_cause":
        wave = f'<polyline points="9,24 14,20 19,26 24,19 29,24 32,21" fill="none" stroke="{colour}" stroke-width="2.5"/>'
        return Icon(_icon(colour, "", wave), VARIATION_TEXT[point_type])
    if point_type in ("special_cause_neutral_high", "special_cause_neutral_low"):
        high = point_type.endswith("high")
    elif high is None:
        better_high = improvement == "increase"
        high = better_high if point_type == "special_cause_improvement" else not better_high
    last = 22 if high else 30
    dots = "".join(_circle(x, y, 2.6, colour) for x, y in ((11, 26), (16, 26), (21, 26), (27, last)))
    text = VARIATION_TEXT.get(point_type, point_type.replace("_", " "))
    if point_type in ("special_cause_improvement", "special_cause_concern"):
        text += f" ({'higher' if high else 'lower'} values)"
    return Icon(_icon(colour, "H" if high else "L", dots), text)


def assurance_icon(assurance: str) -> Icon:
    """The assurance icon (:data:`carelens.stats.spc.ASSURANCE_TYPES`): blue P for a process that will
    consistently meet its target, orange F for one that will consistently fail it, grey ? when it may do
    either; with no target (``""``) no icon, only the sentence saying so."""
    if not assurance:
        return Icon("", NO_ASSURANCE)
    colour, letter = {
        "consistent_pass": (NHS_BLUE, "P"),
        "consistent_fail": (NHS_ORANGE, "F"),
        "inconsistent": (NHS_DARK_GREY, "?"),
    }[assurance]
    line = f'<line x1="9" x2="31" y1="27" y2="27" stroke="{colour}" stroke-width="2.5"/>'
    big = _text(20, 24, letter, anchor="middle", size=16, weight="bold", fill=colour)
    return Icon(_icon(colour, "", big + line), ASSURANCE_TEXT[assurance])


# --- spine charts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpineRow:
    """One indicator on a spine chart: this organisation's value and stored verdict, the centre (the
    similar organisations' value the comparison used) and the spread of the similar organisations'
    values (worst, 25th percentile, median, 75th, best; worst and best by the indicator's polarity)."""

    title: str
    period: str
    value: float | None
    verdict: str
    centre: float
    worst: float
    q25: float
    median: float
    q75: float
    best: float
    value_format: str = "number"
    polarity: str = "neutral"
    peers: int = 0


SPINE_MARKS = {
    "better": ("Better than expected", NHS_BLUE, "circle"),
    "higher": ("Higher than expected (neither better nor worse)", NHS_PURPLE, "up"),
    "lower": ("Lower than expected (neither better nor worse)", NHS_PURPLE, "down"),
    "worse": ("Worse than expected", NHS_ORANGE, "diamond"),
    "as expected": ("Similar: within the range expected", NHS_WHITE, "circle"),
}
"""How a spine chart marks each stored verdict: its legend text, colour and shape."""
NOT_JUDGED = ("Not compared", NHS_WHITE, "square")


def spine_quantiles(values: Sequence[float], polarity: str) -> tuple[float, float, float, float, float]:
    """Worst, 25th percentile, median, 75th percentile and best of the similar organisations' values
    (NumPy's linear percentiles). Lower is better for ``lower_is_better``; otherwise the lowest value
    comes first (for a neutral indicator "worst" and "best" are the lowest and highest)."""
    ordered = np.sort(np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float))
    if not len(ordered):
        raise ValueError("no values to summarise")
    low, q25, median, q75, high = np.percentile(ordered, [0, 25, 50, 75, 100])
    if polarity == "lower_is_better":
        return float(high), float(q75), float(median), float(q25), float(low)
    return float(low), float(q25), float(median), float(q75), float(high)


def spine_chart(rows: Sequence[SpineRow], *, title: str, width: int = 400) -> Chart:
    """A Fingertips-style spine chart: per indicator a bar from the worst to the best of the similar
    organisations (darker between the 25th and 75th percentiles), the centre line at their value, and
    this organisation's mark coloured and shaped by its stored verdict. Each bar is scaled about its
    centre so the further of worst and best reaches the end; worst is always on the left."""
    kind = _Type.for_width(width)
    title_markup, y = _title(title, width, kind)
    parts = [title_markup]
    left, right = 12.0, width - 12.0
    half_width = (right - left) / 2
    middle = left + half_width
    header = y + kind.small * 0.4
    parts.append(_text(left, header, "Worst", size=kind.small, fill=NHS_DARK_GREY))
    parts.append(
        _text(
            middle,
            header,
            "Similar organisations' value",
            anchor="middle",
            size=kind.small,
            fill=NHS_DARK_GREY,
        )
    )
    parts.append(_text(right, header, "Best", anchor="end", size=kind.small, fill=NHS_DARK_GREY))
    y = header + kind.line * 0.6
    data_rows = []
    for row in rows:
        sign = -1.0 if row.polarity == "lower_is_better" else 1.0
        spread = [
            abs(v - row.centre)
            for v in (row.worst, row.best, row.value)
            if v is not None and math.isfinite(v)
        ]
        scale = half_width / (max(spread) or 1.0)

        def at(v: float) -> float:
            return middle + sign * (v - row.centre) * scale  # noqa: B023 (used inside the loop only)

        value_text = (
            format_value(row.value, row.value_format, 0.001 if row.value_format == "percent" else None)
            if row.value is not None
            else "not shown"
        )
        lines = wrap_text(f"{row.title}: {value_text} ({row.period})", width - 16, kind.small)
        for line in lines:
            y += kind.line
            parts.append(_text(left, y, line, size=kind.small))
        bar_top, bar_height = y + 8, kind.small * 1.1
        centre_y = bar_top + bar_height / 2
        x_worst, x_best = sorted((at(row.worst), at(row.best)))
        x_q25, x_q75 = sorted((at(row.q25), at(row.q75)))
        parts.append(
            f'<g class="carelens-spine"><rect x="{x_worst:.1f}" y="{bar_top:.1f}" width="{x_best - x_worst:.1f}" '
            f'height="{bar_height:.1f}" fill="{NHS_PALE_GREY}" stroke="{NHS_DARK_GREY}" stroke-width="1"/>'
            f'<rect x="{x_q25:.1f}" y="{bar_top:.1f}" width="{x_q75 - x_q25:.1f}" height="{bar_height:.1f}" '
            f'fill="{NHS_MID_GREY}"/>'
            f'<line x1="{middle:.1f}" x2="{middle:.1f}" y1="{bar_top - 4:.1f}" y2="{bar_top + bar_height + 4:.1f}" '
            f'stroke="{NHS_DARK_BLUE}" stroke-width="2.5"/></g>'
        )
        if row.value is not None and math.isfinite(row.value):
            parts.append(
                f'<g class="carelens-spine-mark" data-verdict="{_esc(row.verdict)}">'
                f"{_spine_mark(at(row.value), centre_y, row.verdict)}</g>"
            )
        y = bar_top + bar_height + 6
        label = SPINE_MARKS.get(row.verdict, NOT_JUDGED)[0]
        data_rows.append(
            (
                row.title,
                row.period,
                row.value,
                label,
                row.centre,
                row.worst,
                row.q25,
                row.median,
                row.q75,
                row.best,
                row.peers,
            )
        )
    shown = [v for v in SPINE_MARKS if any(r.verdict == v for r in rows)]
    items = [(_spine_mark(0, 0, v), SPINE_MARKS[v][0]) for v in shown]
    if any(r.verdict not in SPINE_MARKS for r in rows):
        items.append((_spine_mark(0, 0, ""), NOT_JUDGED[0]))
    items += [
        (
            f'<rect x="-9" y="-6" width="18" height="12" fill="{NHS_PALE_GREY}" stroke="{NHS_DARK_GREY}"/>',
            "Worst to best",
        ),
        (f'<rect x="-9" y="-6" width="18" height="12" fill="{NHS_MID_GREY}"/>', "25th to 75th percentile"),
        (
            f'<line x1="0" x2="0" y1="-8" y2="8" stroke="{NHS_DARK_BLUE}" stroke-width="2.5"/>',
            "Similar organisations' value",
        ),
    ]
    legend, used = _legend(items, 8, y + kind.small, width - 16, kind)
    parts.append(legend)
    counts = {v: sum(r.verdict == v for r in rows) for v in SPINE_MARKS}
    said = ", ".join(
        f"{n} {SPINE_MARKS[v][0].split(':')[0].split(' (')[0].lower()}" for v, n in counts.items() if n
    )
    description = f"Spine chart: {title}. {len(rows)} indicators" + (f": {said}." if said else ".")
    data = ChartData(
        caption=f"Figures in the spine chart: {title}",
        columns=(
            "Indicator",
            "Period",
            "This organisation",
            "Compared with similar organisations",
            "Similar organisations' value",
            "Worst",
            "25th percentile",
            "Median",
            "75th percentile",
            "Best",
            "Organisations compared",
            "Unit",
        ),
        formats=("text",) * 12,
        rows=tuple((*d, UNITS.get(r.value_format, "")) for r, d in zip(rows, data_rows, strict=True)),
        row_formats=tuple(
            ("text", "text", r.value_format, "text", *(r.value_format,) * 6, "number", "text") for r in rows
        ),
    )
    return Chart(_svg(width, y + kind.small + used, "".join(parts), description), description, data)


UNITS = {
    "percent": "proportion (0 to 1; shown as a percentage)",
    "ratio": "ratio",
    "number": "number",
}
"""What a raw figure in a CSV is, by how the page writes it."""


def _spine_mark(x: float, y: float, verdict: str) -> str:
    _, colour, shape = SPINE_MARKS.get(verdict, NOT_JUDGED)
    if shape == "diamond":
        return _diamond(x, y, 8, colour)
    if shape in ("up", "down"):
        return _triangle(x, y, 8, colour, up=shape == "up", stroke=NHS_BLACK)
    if shape == "square":
        return f'<rect x="{x - 5.5:.1f}" y="{y - 5.5:.1f}" width="11" height="11" fill="{colour}" stroke="{NHS_BLACK}" stroke-width="1.5"/>'
    return _circle(x, y, 6.5, colour, stroke=NHS_BLACK)


# --- bar charts ----------------------------------------------------------------------------------------


def bar_chart(
    rows: Sequence[tuple[str, float]],
    *,
    title: str,
    value_title: str,
    label_title: str,
    value_format: str = "number",
    unit: str = "",
    step: float | None = None,
    width: int = 400,
) -> Chart:
    """Horizontal bars from zero (``rows``: label, value), each label written above its bar so long
    names never crowd the axis; gains and losses differ by the side of zero they lie and by their
    written value, not colour (all bars are NHS blue: no bar means concern). ``unit`` follows each
    written value (e.g. "%"), written to the decimals of ``step`` (e.g. 0.01)."""
    kind = _Type.for_width(width)
    title_markup, y = _title(title, width, kind)
    values = np.array([v for _, v in rows], dtype=float)
    finite = values[np.isfinite(values)]
    low, high = (
        min(0.0, float(finite.min()) if len(finite) else 0.0),
        max(0.0, float(finite.max()) if len(finite) else 1.0),
    )
    written = [f"{format_value(v, value_format, step)}{unit}" if math.isfinite(v) else "–" for v in values]
    room = max((text_width(s, kind.small) for s in written), default=0) + 6
    left, right = 8 + (room if low < 0 else 0), width - 8 - (room if high > 0 else 0)
    ticks, _step, labels = axis_ticks(low, high, right - left, value_format, kind.small, most=5)
    frame = _Frame(width, 0, left, y, right, 0, (float(ticks[0]), float(ticks[-1])), (0.0, 1.0))
    zero = float(frame.x(0.0))
    parts = [title_markup]
    bar_height = kind.small * 1.2
    y += kind.small * 0.5
    for (label, value), text in zip(rows, written, strict=True):
        for line in wrap_text(label, width - 16, kind.small):
            y += kind.line
            parts.append(_text(8, y, line, size=kind.small))
        top = y + 6
        if math.isfinite(value):
            end = float(frame.x(value))
            x0, x1 = sorted((zero, end))
            parts.append(
                f'<rect class="carelens-bar" x="{x0:.1f}" y="{top:.1f}" width="{max(x1 - x0, 1):.1f}" height="{bar_height:.1f}" fill="{NHS_BLUE}"/>'
            )
            anchor, tx = ("start", x1 + 4) if value >= 0 else ("end", x0 - 4)
            parts.append(_text(tx, top + bar_height * 0.8, text, anchor=anchor, size=kind.small))
        y = top + bar_height + 4
    parts.append(
        f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{frame.top:.1f}" y2="{y:.1f}" stroke="{NHS_BLACK}" stroke-width="1.5"/>'
    )
    axis_frame = _Frame(width, 0, left, frame.top, right, y, frame.x_domain, (0.0, 1.0))
    x_title = wrap_text(value_title, right - left, kind.small, bold=True)
    parts.append(_x_axis(axis_frame, axis_frame.x(ticks), labels, x_title, kind))
    height = y + _x_title_height(x_title, kind)
    ordered = sorted((v, label) for label, v in rows if math.isfinite(v))
    description = f"Bar chart: {title}."
    if ordered:
        description += (
            f" Lowest {ordered[0][1]} {format_value(ordered[0][0], value_format)}{unit}, highest"
            f" {ordered[-1][1]} {format_value(ordered[-1][0], value_format)}{unit}."
        )
    data = ChartData(
        caption=f"Figures in the bar chart: {title}",
        columns=(label_title, value_title),
        formats=("text", value_format),
        rows=tuple((label, value) for label, value in rows),
    )
    return Chart(_svg(width, height, "".join(parts), description), description, data)


@dataclass(frozen=True)
class CompareBar:
    """One organisation on a compare-organisations chart: its value, the confidence interval of the
    value, the stored verdict of its comparison and its rank among those compared (1: highest)."""

    code: str
    name: str
    value: float
    lower: float | None
    upper: float | None
    verdict: str
    rank: int
    numerator: float | None = None
    size: float | None = None


COMPARE_BARS = {
    "better": (NHS_BLUE, NHS_DARK_BLUE),
    "worse": (NHS_ORANGE, NHS_BLACK),
    "higher": (NHS_PURPLE, NHS_BLACK),
    "lower": (NHS_PURPLE, NHS_BLACK),
    "as expected": (NHS_PALE_GREY, NHS_DARK_GREY),
}
"""A compare-organisations bar's fill and outline by stored verdict (the spine chart's colours; a
similar organisation's bar is pale grey, outlined, where the spine chart's mark is white)."""
NOT_JUDGED_BAR = (NHS_WHITE, NHS_DARK_GREY)


def compare_chart(
    bars: Sequence[CompareBar],
    *,
    code: str,
    title: str,
    value_title: str,
    value_format: str = "number",
    benchmark: float | None = None,
    level: str = "95%",
    total: int | None = None,
    width: int = 400,
) -> Chart:
    """OHID Fingertips' "compare areas" chart: one horizontal bar per organisation from zero to its
    value, in the order given (highest first), each with its ``level`` confidence interval as whiskers
    and coloured by its stored verdict (:data:`COMPARE_BARS`); before each name the spine chart's mark of
    that verdict, so colour is never the only cue. This organisation (``code``) is on a pale band, its
    name in bold with "(this organisation)" and its bar outlined in black; the similar organisations'
    value (``benchmark``) is a line across all bars. ``total``: how many were compared when ``bars``
    are only those nearest in rank (the description says so). Names are written above their bars, so
    long ones wrap."""
    kind = _Type.for_width(width)
    title_markup, y = _title(title, width, kind)
    values = [b.value for b in bars] + [v for b in bars for v in (b.lower, b.upper) if v is not None]
    finite = _clip(
        np.array([*values, benchmark if benchmark is not None else np.nan], dtype=float), value_format
    )
    finite = finite[np.isfinite(finite)]
    high = max(float(finite.max()) if len(finite) else 1.0, 0.0)
    ticks, _step, labels = axis_ticks(0.0, high, width - 40, value_format, kind.small, most=5)
    right = width - max(12.0, text_width(labels[-1], kind.small) / 2 + 4)
    left = max(12.0, text_width(labels[0], kind.small) / 2 + 4)  # room for half of each end's tick label
    ticks, _step, labels = axis_ticks(0.0, high, right - left, value_format, kind.small, most=5)
    frame = _Frame(width, 0, left, y, right, 0, (float(ticks[0]), float(ticks[-1])), (0.0, 1.0))
    zero = float(frame.x(0.0))
    bar_height = kind.small * 1.1
    rows, spans, y = [], [], y + kind.small * 0.25
    for bar in bars:
        this = bar.code == code
        written = format_value(bar.value, value_format, 0.001 if value_format == "percent" else None)
        name = f"{bar.rank}. {bar.name or bar.code}" + (" (this organisation)" if this else "")
        lines = wrap_text(f"{name}: {written}", width - 40, kind.small, bold=this)
        top = y
        label = []
        for line in lines:
            y += kind.line
            label.append(_text(32, y, line, size=kind.small, weight="bold" if this else "normal"))
        mark = _spine_mark(20, top + kind.line * 0.65, bar.verdict)
        bar_top = y + 5
        fill, stroke = COMPARE_BARS.get(bar.verdict, NOT_JUDGED_BAR)
        end = float(frame.x(_clip(np.array([bar.value]), value_format)[0]))
        outline = f'stroke="{NHS_BLACK}" stroke-width="3"' if this else f'stroke="{stroke}" stroke-width="1"'
        shapes = [
            f'<rect class="carelens-bar" x="{zero:.1f}" y="{bar_top:.1f}" width="{max(end - zero, 1):.1f}" '
            f'height="{bar_height:.1f}" fill="{fill}" {outline}/>'
        ]
        if (
            bar.lower is not None
            and bar.upper is not None
            and math.isfinite(bar.lower)
            and math.isfinite(bar.upper)
        ):
            x0, x1 = frame.x(_clip(np.array([bar.lower, bar.upper]), value_format))
            shapes.append(_whisker(float(x0), float(x1), bar_top + bar_height / 2, bar_height * 0.8))
        spans.append((bar_top - 3, bar_top + bar_height + 3))
        y = bar_top + bar_height + 7
        band = (
            f'<rect x="4" y="{top + 2:.1f}" width="{width - 8}" height="{y - top - 2:.1f}" fill="{NHS_LIGHT_GREY}"/>'
            if this
            else ""
        )
        rows.append(
            f'<g class="carelens-compare-bar{" carelens-this-organisation" if this else ""}" '
            f'data-code="{_esc(bar.code)}" data-verdict="{_esc(bar.verdict)}">{band}{"".join(label)}{mark}'
            f"{''.join(shapes)}</g>"
        )
    bottom = y

    def across_bars(x: float, colour: str, stroke_width: float, css: str = "") -> str:
        """A vertical line at ``x`` through the bars only (never through the names above them)."""
        path = "".join(f"M{x:.1f},{y0:.1f}V{y1:.1f}" for y0, y1 in spans)
        klass = f' class="{css}"' if css else ""
        return f'<path{klass} d="{path}" fill="none" stroke="{colour}" stroke-width="{stroke_width}"/>'

    grid = "".join(across_bars(float(x), NHS_PALE_GREY, 1) for x in frame.x(ticks))
    parts = [title_markup, grid, *rows]
    parts.append(across_bars(zero, NHS_BLACK, 1.5))
    if benchmark is not None and math.isfinite(benchmark):
        bx = float(frame.x(_clip(np.array([benchmark]), value_format)[0]))
        parts.append(across_bars(bx, NHS_DARK_BLUE, 2.5, "carelens-benchmark"))
    axis_frame = _Frame(width, 0, left, frame.top, right, bottom, frame.x_domain, (0.0, 1.0))
    x_title = wrap_text(value_title, right - left, kind.small, bold=True)
    parts.append(_x_axis(axis_frame, axis_frame.x(ticks), labels, x_title, kind))
    legend_top = bottom + _x_title_height(x_title, kind)
    shown = [v for v in COMPARE_BARS if any(b.verdict == v for b in bars)]
    items = [(_compare_symbol(v), SPINE_MARKS[v][0]) for v in shown]
    if any(b.verdict not in COMPARE_BARS for b in bars):
        items.append((_compare_symbol(""), NOT_JUDGED[0]))
    items += [
        (_whisker(-9, 9, 0, 10), f"{level} confidence interval"),
        (
            f'<line x1="0" x2="0" y1="-8" y2="8" stroke="{NHS_DARK_BLUE}" stroke-width="2.5"/>',
            "Similar organisations' value",
        ),
        (
            f'<rect x="-9" y="-6" width="18" height="12" fill="{NHS_WHITE}" stroke="{NHS_BLACK}" stroke-width="3"/>',
            "This organisation (in bold, on a shaded band)",
        ),
    ]
    legend, used = _legend(items, 8, legend_top, width - 16, kind)
    parts.append(legend)
    description = _compare_description(bars, code, title, value_format, total)
    compared = total if total is not None else len(bars)
    note = f"Highest value first. {compared:,} organisations compared"
    if len(bars) < compared:
        note += f"; the {len(bars)} nearest in rank to this organisation are drawn"
    note += f". Intervals at {level} from each organisation's own counts." + (
        f" Similar organisations' value: {format_value(benchmark, value_format)}."
        if benchmark is not None
        else ""
    )
    data = ChartData(
        caption=f"Figures in the compare-organisations chart: {title}",
        columns=(
            "Rank",
            "Organisation",
            "Organisation code",
            value_title,
            f"{level} confidence interval: lower",
            f"{level} confidence interval: upper",
            "Compared with similar organisations",
            "Count (numerator)",
            "Size (denominator or expected)",
        ),
        formats=(
            "number",
            "text",
            "text",
            value_format,
            value_format,
            value_format,
            "text",
            "number",
            "number",
        ),
        rows=tuple(
            (
                b.rank,
                (b.name or b.code) + (" (this organisation)" if b.code == code else ""),
                b.code,
                b.value,
                b.lower,
                b.upper,
                SPINE_MARKS.get(b.verdict, NOT_JUDGED)[0],
                b.numerator,
                b.size,
            )
            for b in bars
        ),
        note=note,
    )
    return Chart(_svg(width, legend_top + used, "".join(parts), description), description, data)


def _whisker(x0: float, x1: float, y: float, cap: float) -> str:
    """A confidence interval from ``x0`` to ``x1`` at height ``y``: a black line with end caps on a white
    halo, so it shows on every bar colour."""
    path = f"M{x0:.1f},{y:.1f}H{x1:.1f}M{x0:.1f},{y - cap / 2:.1f}V{y + cap / 2:.1f}M{x1:.1f},{y - cap / 2:.1f}V{y + cap / 2:.1f}"
    return (
        f'<g class="carelens-interval"><path d="{path}" fill="none" stroke="{NHS_WHITE}" stroke-width="4"/>'
        f'<path d="{path}" fill="none" stroke="{NHS_BLACK}" stroke-width="1.5"/></g>'
    )


def _compare_symbol(verdict: str) -> str:
    """The legend's symbol of a verdict: a swatch of its bar's colour under the mark written before
    each name."""
    fill, stroke = COMPARE_BARS.get(verdict, NOT_JUDGED_BAR)
    swatch = f'<rect x="-10" y="-4" width="20" height="8" fill="{fill}" stroke="{stroke}"/>'
    return swatch + _spine_mark(0, 0, verdict)


def _compare_description(
    bars: Sequence[CompareBar], code: str, title: str, style: str, total: int | None
) -> str:
    compared = total if total is not None else len(bars)
    text = f"Compare-organisations chart: {title}. {compared:,} organisations compared"
    text += f", {len(bars)} nearest in rank drawn." if len(bars) < compared else "."
    this = next((b for b in bars if b.code == code), None)
    if this is None:
        return text + " This organisation's figure is not shown."
    return text + (
        f" This organisation is ranked {this.rank} of {compared:,}, value {format_value(this.value, style)}"
        f" ({SPINE_MARKS.get(this.verdict, NOT_JUDGED)[0].lower()})."
    )


def whatif_charts(comparison: dict, width: int = 400) -> list[Chart]:
    """The formula what-if (from :func:`carelens.services.funding.whatif`) as two bar charts: the change
    in target by deprivation decile of practices and by region, in per cent."""
    change = f"Change in target (%), {comparison['name_a']} to {comparison['name_b']}"
    deciles = [
        (_decile_name(d["decile"], len(comparison["deciles"])), d["change_pct"])
        for d in comparison["deciles"]
    ]
    regions = sorted(
        ((r["region_name"] or "Unknown region", r["change_pct"]) for r in comparison["regions"]),
        key=lambda r: r[1],
    )
    charts = []
    if deciles:
        charts.append(
            bar_chart(
                deciles,
                title="Change in target by deprivation decile of practices",
                value_title=change,
                label_title="Deprivation decile",
                unit="%",
                step=0.01,
                width=width,
            )
        )
    if regions:
        charts.append(
            bar_chart(
                regions,
                title="Change in target by region (biggest loss first)",
                value_title=change,
                label_title="Region",
                unit="%",
                step=0.01,
                width=width,
            )
        )
    return charts


def _decile_name(decile: int, count: int) -> str:
    if decile == 1:
        return "Decile 1 (most deprived)"
    if decile == count:
        return f"Decile {decile} (least deprived)"
    return f"Decile {decile}"


@dataclass
class RatingPanel:
    """A CQC-style picture of an organisation's current ratings: overall, the five key questions in
    order, and the service × key question grid (``grid``: per service, its rating of each question)."""

    overall: dict[str, Any] | None
    questions: list[tuple[str, dict[str, Any] | None]]
    grid: list[tuple[str, list[dict[str, Any] | None]]] = field(default_factory=list)
    last_inspected: str = "–"
    report_href: str | None = None


def rating_panel(
    overall: Sequence[dict[str, Any]],
    services: Sequence[dict[str, Any]],
    report_href: str | None = None,
) -> RatingPanel | None:
    """The rating panel of an organisation from its current ratings: ``overall`` (rows with
    ``key_question`` and ``rating``: the location's overall ratings, or a provider's aggregated ones)
    and ``services`` (rows with ``service`` too). Key questions in the order inspectors ask them; the
    date last inspected is the latest report date. None when there is no rating."""
    if not overall and not services:
        return None
    by_question = {r["key_question"]: r for r in overall}
    grid: dict[str, dict[str, dict[str, Any]]] = {}
    for r in services:
        grid.setdefault(r["service"], {})[r["key_question"]] = r
    dates = [str(r.get("report_date") or r.get("effective_date") or "")[:10] for r in [*overall, *services]]
    dates = [d for d in dates if d]
    return RatingPanel(
        overall=by_question.get("Overall"),
        questions=[(q, by_question.get(q)) for q in KEY_QUESTIONS],
        grid=[(name, [row.get(q) for q in ("Overall", *KEY_QUESTIONS)]) for name, row in grid.items()],
        last_inspected=date_in_words(max(dates)) if dates else "–",
        report_href=report_href,
    )
