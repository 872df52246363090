"""Web dashboard settings: page sizes and chart sizes.

The defaults, with their reasons, are in ``settings.yaml`` beside this module; another file may be
passed to :func:`load_web_settings` (e.g. a publisher with a stricter suppression rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEFAULT_SETTINGS_FILE = Path(__file__).resolve().parent / "settings.yaml"


@dataclass(frozen=True)
class WebSettings:
    """Every setting of the web pages (see ``settings.yaml`` for meanings)."""

    search_results: int = 20
    league_table_rows: int = 50
    rating_history_rows: int = 30
    plan_rows: int = 50
    regime_case_rows: int = 50
    spc_points: int = 36
    chart_width: int = 520
    chart_height: int = 260


def load_web_settings(path: str | Path | None = None) -> WebSettings:
    """Read the settings file (the packaged one by default); unknown keys are an error."""
    import yaml

    document = yaml.safe_load(Path(path or DEFAULT_SETTINGS_FILE).read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("schema_version") != 1:
        raise ValueError(f"{path or DEFAULT_SETTINGS_FILE}: schema_version must be 1")
    pages = document.get("pages", {})
    charts = document.get("charts", {})
    values: dict = {
        **pages,
        **{f"chart_{k}": v for k, v in charts.items()},
    }
    known = set(WebSettings.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown web settings: {', '.join(unknown)}")
    settings = WebSettings(**values)
    if min(settings.search_results, settings.league_table_rows, settings.spc_points, settings.plan_rows) < 1:
        raise ValueError("page sizes must be at least 1")
    return settings


@cache
def web_settings() -> WebSettings:
    """The packaged settings (read once)."""
    return load_web_settings()
