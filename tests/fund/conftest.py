"""Shared fixtures for the funding tests: the packaged practice tables, read once per session."""

from __future__ import annotations

import dataclasses

import pytest

from carelens.fund import practices
from carelens.fund.scenario import load_scenario


@pytest.fixture(scope="session")
def practices_2024():
    return practices.from_file(practices.packaged_file(2024))


@pytest.fixture(scope="session")
def published_targets_only():
    """The packaged 2024/25 published-need scenario without its pace-of-change baseline."""
    scenario = load_scenario("2024_25")
    pace = dataclasses.replace(scenario.pace, baseline_year=None, baseline_quantum_gbp=None)
    return dataclasses.replace(scenario, pace=pace)
