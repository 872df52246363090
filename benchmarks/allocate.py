"""Allocation benchmarks: print timings (not run by the test suite).

1. A full allocation (targets, pace of change, places) from the 6,553 packaged practices of 2024/25.
2. A synthetic 60,000,000-person person-level need model aggregated to 6,500 practices: each person has
   a practice, an age band, a sex and a deprivation score; need = age/sex cost weight x (1 + 0.3 x
   deprivation); the practice weighted population is the sum, normalised to the national population.
   Processed in chunks (bounded memory), vectorised with bincount, then fed to the allocation engine.

Run: python benchmarks/allocate.py [--people 60000000] [--chunk 5000000]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import pandas as pd

from carelens.fund import practices
from carelens.fund.engine import allocate
from carelens.fund.scenario import load_scenario
from carelens.fund.service import run_allocation

AGE_BANDS = 19  # 0-4, 5-9, ..., 90+
COST = np.linspace(0.6, 4.0, AGE_BANDS) ** 1.5  # illustrative cost weight rising with age


def person_level_need(
    people: int, n_practices: int, chunk: int, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Population and need-weighted population per practice from simulated people, chunk by chunk."""
    rng = np.random.default_rng(seed)
    population = np.zeros(n_practices)
    need = np.zeros(n_practices)
    practice_deprivation = rng.uniform(0, 1, n_practices)
    practice_age_shift = rng.normal(0, 2, n_practices)
    for start in range(0, people, chunk):
        size = min(chunk, people - start)
        practice = rng.integers(0, n_practices, size, dtype=np.int32)
        age = np.clip(rng.normal(8 + practice_age_shift[practice], 5).astype(np.int16), 0, AGE_BANDS - 1)
        female = rng.random(size) < 0.5
        weight = COST[age] * np.where(female, 1.05, 1.0) * (1 + 0.3 * practice_deprivation[practice])
        population += np.bincount(practice, minlength=n_practices)
        need += np.bincount(practice, weights=weight, minlength=n_practices)
    need *= population.sum() / need.sum()
    return population, need


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=60_000_000)
    parser.add_argument("--chunk", type=int, default=5_000_000)
    args = parser.parse_args()

    started = time.perf_counter()
    table = practices.from_file(practices.packaged_file(2024))
    read = time.perf_counter() - started
    scenario = load_scenario("2024_25")
    started = time.perf_counter()
    result = run_allocation(
        scenario, lambda year: table if year == 2024 else practices.from_file(practices.packaged_file(year))
    )
    full = time.perf_counter() - started
    targets_only = dataclasses.replace(
        scenario, pace=dataclasses.replace(scenario.pace, baseline_year=None, baseline_quantum_gbp=None)
    )
    started = time.perf_counter()
    for _ in range(10):
        allocate(table, targets_only)
    engine_only = (time.perf_counter() - started) / 10
    print(f"read {len(table):,} practices from the packaged file: {read:.2f} s")
    print(
        f"full allocation incl. reading the 2023/24 baseline file ({len(result.commissioners)} ICBs, {len(result.places)} places): {full:.2f} s"
    )
    print(f"allocation engine alone on {len(table):,} practices: {engine_only * 1000:.1f} ms")

    n = len(table)
    started = time.perf_counter()
    population, need = person_level_need(args.people, n, args.chunk)
    model = time.perf_counter() - started
    synthetic = table.copy()
    synthetic["population"] = population
    synthetic["core_final"] = need
    synthetic["primary_medical_care_final"] = need
    started = time.perf_counter()
    allocate(synthetic, targets_only)
    alloc = time.perf_counter() - started
    print(
        f"person-level need model: {args.people:,} people -> {n:,} practices in chunks of {args.chunk:,}: "
        f"{model:.1f} s; allocation on the result {alloc * 1000:.1f} ms; total {model + alloc:.1f} s (target <= 30 s)"
    )
    print(pd.Series(need / population).describe().round(3).to_string())


if __name__ == "__main__":
    main()
