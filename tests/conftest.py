"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

import carelens


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real demo datasets shipped with the package: ``src/carelens/demo/data``."""
    path = Path(carelens.__file__).resolve().parent / "demo" / "data"
    assert path.is_dir(), f"demo data folder not found at {path}"
    return path
