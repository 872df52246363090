"""Wall time and peak memory of a full national monitoring pass (funnels, benchmarking, SPC, scores and
bands), at full size and at 1/10 of the organisations so growth can be seen to be linear.

    python benchmarks/monitor.py --orgs 50000 --indicators 100 --months 60
    python benchmarks/monitor.py --data DIR        # an existing synthetic data set (carelens synth)
    python benchmarks/monitor.py --orgs 5000 --no-tenth   # one size only

Data are generated with ``carelens.ingest.synth`` into a temporary folder first (not timed). Each pass
runs in a fresh child process so its peak resident memory (``ru_maxrss``) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_pass(data: str) -> None:
    """Run in a child process: time the pass over ``data`` and print JSON figures."""
    from carelens.monitor.inputs import parquet_inputs
    from carelens.monitor.service import compute_pass

    started = time.perf_counter()
    result = compute_pass(parquet_inputs(data))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_gib": peak,
                "observations": result.observations,
                "flags": len(result.flags),
                "organisations": len(result.organisations),
            }
        )
    )


def measure(data: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(data)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--indicators", type=int, default=100)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="existing synthetic data set (skips generation)")
    parser.add_argument(
        "--no-tenth", action="store_true", help="do not also run at 1/10 of the organisations"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        one_pass(args.child)
        return

    from carelens.ingest.synth import write_synthetic

    with tempfile.TemporaryDirectory(prefix="carelens-monitor-bench-") as tmp:
        sizes = [] if args.data else [args.orgs] + ([] if args.no_tenth else [max(args.orgs // 10, 1)])
        targets = [("given", args.data)] if args.data else []
        for orgs in sizes:
            folder = Path(tmp) / f"orgs{orgs}"
            started = time.perf_counter()
            write_synthetic(folder, orgs, args.indicators, args.months, args.seed)
            print(
                f"generated {orgs:,} orgs x {args.indicators} indicators x {args.months} months "
                f"in {time.perf_counter() - started:.1f} s (not timed below)",
                flush=True,
            )
            targets.append((f"{orgs:,} orgs", folder))
        for label, folder in reversed(targets):  # smallest first
            figures = measure(folder)
            rate = figures["observations"] / max(figures["seconds"], 1e-9)
            print(
                f"monitor pass, {label}: {figures['observations']:,} observations -> {figures['flags']:,} "
                f"flags, {figures['organisations']:,} organisations: {figures['seconds']:.1f} s wall "
                f"({rate:,.0f} obs/s), peak memory {figures['peak_gib']:.2f} GiB "
                "(target <= 60 s and <= 8 GB at 50,000 x 100 x 60)",
                flush=True,
            )


if __name__ == "__main__":
    main()
