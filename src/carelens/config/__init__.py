"""Packaged configuration: every threshold, weight, interval and rule set as documented YAML.

Each area keeps its files in a folder here (``monitor/``, ``assess/``, ``fund/``, ``plan/``, ``systems/``,
``indicators/``), each value with its meaning and source. This module is the one way to find and read
them: :func:`packaged` gives a packaged file's path and :func:`read_mapping` reads any settings file
(packaged or the user's own), reporting a missing, unreadable or malformed file as bad input.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from carelens.errors import InputError, Problem


def packaged(area: str, name: str) -> Path:
    """Path of the packaged configuration file ``carelens/config/<area>/<name>``."""
    return Path(str(resources.files("carelens") / "config" / area / name))


def read_mapping(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read a YAML file whose top level is a mapping; return it with its source name for messages."""
    import yaml

    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(Problem(source, None, None, "file not found"))
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(Problem(source, None, None, f"not a readable YAML file: {exc}")) from None
    if not isinstance(document, dict):
        raise InputError(Problem(source, None, None, "expected a mapping (key: value) at the top level"))
    return document, source
