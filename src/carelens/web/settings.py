"""Web dashboard settings: page sizes, chart sizes and the names shown for codes.

The defaults, with their reasons, are in ``settings.yaml`` beside this module; another file may be
passed to :func:`load_web_settings` (e.g. a publisher who lists more rows a page).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEFAULT_SETTINGS_FILE = Path(__file__).resolve().parent / "settings.yaml"


@dataclass(frozen=True)
class WebSettings:
    """Every setting of the web pages (values and meanings in ``settings.yaml``: no defaults here)."""

    search_results: int
    league_table_rows: int
    rating_history_rows: int
    plan_rows: int
    regime_case_rows: int
    spc_points: int
    chart_width: int
    chart_height: int
    chart_points: int
    compare_bars: int
    service_names: dict[str, str]
    """The CQC's names of its core services and population groups, by the code its API uses."""


SCHEMA_VERSION = 1
FIELDS = {
    "search_results": "pages.search_results",
    "league_table_rows": "pages.league_table_rows",
    "rating_history_rows": "pages.rating_history_rows",
    "plan_rows": "pages.plan_rows",
    "regime_case_rows": "pages.regime_case_rows",
    "spc_points": "pages.spc_points",
    "chart_width": "charts.width",
    "chart_height": "charts.height",
    "chart_points": "charts.points",
    "compare_bars": "charts.compare_bars",
}
"""Where each :class:`WebSettings` field is in the file (every one a whole number >= 1)."""


def load_web_settings(path: str | Path | None = None) -> WebSettings:
    """Read the settings file (the packaged one by default). Every problem (a missing or unknown field,
    a value that is not a whole number >= 1) is reported at once, naming the file and the field."""
    from carelens.config import read_settings

    reader = read_settings(path, DEFAULT_SETTINGS_FILE, SCHEMA_VERSION)
    values = {name: reader.get(dotted, int, minimum=1) for name, dotted in FIELDS.items()}
    values["service_names"] = reader.numbers("service_names", str, optional=True)
    reader.raise_if_any()  # unknown fields too
    return WebSettings(**values)


@cache
def web_settings() -> WebSettings:
    """The packaged settings (read once)."""
    return load_web_settings()
