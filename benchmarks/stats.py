"""Benchmark the statistics kernels at national scale and print the figures.

Targets (on a 2-core machine; issue "Foundation and the statistics engine" and issue 21):
- XmR limits + all four rules on 10,000 series × 60 points: ≤ 0.25 s (also printed: the monitoring
  pass's compiled entry points, ``xmr_latest`` and ``control_chart_latest``, on the same series);
- an overdispersed funnel on 50,000 units: ≤ 50 ms;
- a run chart with the Anhøj rules, and a Laney p′ chart with the four rules, on 10,000 series × 60 points:
  ≤ 0.25 s each;
- a risk-adjusted CUSUM over 10,000 series × 1,000 patient records each: ≤ 1 s.

Usage: python benchmarks/stats.py [--series 10000] [--points 60] [--units 50000] [--records 1000]
       [--repeats 7]
Each figure is the median (and best) wall time of ``--repeats`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from carelens.stats.control_charts import control_chart, control_chart_latest
from carelens.stats.cusum import risk_adjusted_cusum
from carelens.stats.funnel import funnel
from carelens.stats.run_chart import run_chart
from carelens.stats.spc import xmr, xmr_latest

SPC_TARGET_S = 0.25
FUNNEL_TARGET_S = 0.050
CUSUM_TARGET_S = 1.0


def timed(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and best wall time in seconds of ``repeats`` runs after one warm-up."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def spc_input(series: int, points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Monthly-like series: a per-series level and noise, some steps, trends and missing values."""
    level = rng.normal(0.9, 0.05, size=(series, 1))
    noise = rng.normal(0, 0.02, size=(series, points))
    step = (rng.random((series, 1)) < 0.1) * (np.arange(points) >= points // 2) * -0.05
    trend = (rng.random((series, 1)) < 0.05) * np.linspace(0, -0.06, points)
    values = (level + noise + step + trend).ravel()
    values[rng.random(values.size) < 0.01] = np.nan
    codes = np.repeat(np.arange(series), points)
    return values, codes


def funnel_input(units: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Proportions with log-normal unit sizes and between-unit variation (overdispersed)."""
    n = np.round(np.exp(rng.normal(7, 1.2, units))) + 10
    p = 1 / (1 + np.exp(-rng.normal(-1.5, 0.3, units)))
    return rng.binomial(n.astype(np.int64), p).astype(float), n


def laney_input(series: int, points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Monthly counts over large denominators (thousands of admissions) with between-month variation."""
    n = rng.integers(2_000, 20_000, size=series * points).astype(float)
    rate = np.repeat(rng.uniform(0.05, 0.2, series), points) * np.exp(rng.normal(0, 0.05, series * points))
    counts = rng.binomial(n.astype(np.int64), np.clip(rate, 0, 1)).astype(float)
    return counts, n


def cusum_input(series: int, records: int, rng: np.random.Generator):
    """Patients' predicted risks (skewed, mean about 5%) and outcomes; 5% of series have the odds of death
    doubled in their second half, so some charts signal several times and restart."""
    risks = rng.beta(1, 20, size=series * records)
    odds = risks / (1 - risks)
    worse = np.repeat(rng.random(series) < 0.05, records) & np.tile(
        np.arange(records) >= records // 2, series
    )
    odds = np.where(worse, 2 * odds, odds)
    outcomes = (rng.random(series * records) < odds / (1 + odds)).astype(float)
    return outcomes, risks, np.repeat(np.arange(series), records)


def report(name: str, median: float, best: float, target: float, extra: str) -> None:
    print(
        f"{name}: median {median:.3f} s, best {best:.3f} s (target <= {target} s) [{extra}] "
        f"{'OK' if median <= target else 'OVER TARGET'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=60)
    parser.add_argument("--units", type=int, default=50_000)
    parser.add_argument("--records", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    values, codes = spc_input(args.series, args.points, rng)
    result = xmr(values, codes, improvement="increase", target=0.95)
    median, best = timed(lambda: xmr(values, codes, improvement="increase", target=0.95), args.repeats)
    special = int(np.count_nonzero(result.rule != ""))
    print(
        f"spc     XmR limits + 4 rules, {args.series:,} series x {args.points} points: "
        f"median {median:.3f} s, best {best:.3f} s (target <= {SPC_TARGET_S} s) "
        f"[{special:,} special-cause points] {'OK' if median <= SPC_TARGET_S else 'OVER TARGET'}"
    )

    # The monitoring pass's entry point: the same chart reduced to each series' last limits, icon and
    # latest concern (the last 3 points), by compiled loops. Its first call loads numba (and its cache).
    recent = np.tile(np.arange(args.points) >= args.points - 3, args.series)
    started = time.perf_counter()
    latest = xmr_latest(values, codes, recent=recent, improvement="increase")
    first_call = time.perf_counter() - started
    median, best = timed(
        lambda: xmr_latest(values, codes, recent=recent, improvement="increase"), args.repeats
    )
    report(
        f"spc     XmR for the monitoring pass (xmr_latest), {args.series:,} series x {args.points} points",
        median,
        best,
        SPC_TARGET_S,
        f"{int(np.count_nonzero(latest.concern_rule_code)):,} series with a recent concern; "
        f"first call {first_call:.2f} s",
    )

    result = run_chart(values, codes)
    median, best = timed(lambda: run_chart(values, codes), args.repeats)
    report(
        f"run     run chart + Anhøj rules, {args.series:,} series x {args.points} points",
        median,
        best,
        SPC_TARGET_S,
        f"{int(result.runs_signal.sum()):,} series signal",
    )

    counts, n = laney_input(args.series, args.points, rng)
    options = {"improvement": "decrease", "target": 0.1}
    result = control_chart("pp", counts, codes, n, **options)
    median, best = timed(lambda: control_chart("pp", counts, codes, n, **options), args.repeats)
    report(
        f"laney   p' chart + 4 rules + runs analysis, {args.series:,} series x {args.points} points",
        median,
        best,
        SPC_TARGET_S,
        f"{int(np.count_nonzero(result.rule_code)):,} special-cause points",
    )

    latest = control_chart_latest("pp", counts, codes, n, recent=recent, improvement="decrease")
    median, best = timed(
        lambda: control_chart_latest("pp", counts, codes, n, recent=recent, improvement="decrease"),
        args.repeats,
    )
    report(
        f"laney   p' chart for the monitoring pass (control_chart_latest), {args.series:,} series x "
        f"{args.points} points",
        median,
        best,
        SPC_TARGET_S,
        f"{int(np.count_nonzero(latest.concern_rule_code)):,} series with a recent concern",
    )

    outcomes, risks, patient_codes = cusum_input(args.series, args.records, rng)
    result = risk_adjusted_cusum(outcomes, risks, patient_codes, threshold=4.5)
    median, best = timed(
        lambda: risk_adjusted_cusum(outcomes, risks, patient_codes, threshold=4.5), max(3, args.repeats // 2)
    )
    report(
        f"cusum   RA-CUSUM (odds ratio 2, h 4.5, reset), {args.series:,} series x {args.records:,} records",
        median,
        best,
        CUSUM_TARGET_S,
        f"{int(result.n_signals.sum()):,} signals in {int((result.n_signals > 0).sum()):,} series",
    )

    for kind in ("pr", "sr"):
        o, n = funnel_input(args.units, rng)
        # SR: expected deaths at the national rate, so that sum(O) = sum(E) as in SHMI.
        denominator = n if kind == "pr" else n * o.sum() / n.sum()
        method = "shmi" if kind == "sr" else None
        options = {"kind": kind, "levels": (95, 99.8)} | ({"method": method} if method else {})
        result = funnel(o, denominator, **options)
        median, best = timed(lambda o=o, d=denominator, kw=options: funnel(o, d, **kw), args.repeats)
        outliers = int(np.count_nonzero(result.flag != "within"))
        print(
            f"funnel  overdispersed {kind.upper()} funnel, {args.units:,} units: median {median * 1000:.1f} ms, "
            f"best {best * 1000:.1f} ms (target <= {FUNNEL_TARGET_S * 1000:.0f} ms) "
            f"[phi {float(result.phi[0]):.2f}, tau2 {float(result.tau2[0]):.5f}, {outliers:,} outliers] "
            f"{'OK' if median <= FUNNEL_TARGET_S else 'OVER TARGET'}"
        )


if __name__ == "__main__":
    main()
