"""Wall time and peak memory of a full national monitoring pass (funnels, benchmarking, SPC, scores and
bands), at full size and at 1/10 of the organisations so growth can be seen to be linear.

    python benchmarks/monitor.py --orgs 50000 --indicators 100 --months 60
    python benchmarks/monitor.py --data DIR        # an existing synthetic data set (carelens synth)
    python benchmarks/monitor.py --orgs 5000 --no-tenth   # one size only
    python benchmarks/monitor.py --orgs 5000 --no-tenth --repeat 3 --workers 1
    python benchmarks/monitor.py --data DIR --settings my-monitor.yaml   # e.g. judgements.history_periods: 1
    python benchmarks/monitor.py --orgs 5000 --no-tenth --engine spark --spark-master spark://host:7077
    python benchmarks/monitor.py --orgs 5000 --no-tenth --cluster-scaling   # 1, 2, 4 workers on loopback

Data are generated with ``carelens.ingest.synth`` into a temporary folder first (not timed). Each pass
runs in a fresh child process (``--repeat`` times: best and median are printed, since other jobs on
the machine make single timings noisy). Peak memory is the largest total resident memory of that
process and its worker processes (``--workers``, default one per core), sampled every 20 ms from /proc
where there is one (pages shared by forked workers are counted once per process, so this is an upper
bound), else the child's own ``ru_maxrss``.

``--engine spark`` runs the pass on Spark at ``--spark-master`` (default the settings' master): the
figures are the driver's (this machine's part: its Python process and the driver JVM it starts), the
time excludes starting the Spark session (printed apart) and includes starting the executors.
``--cluster-scaling`` starts standalone clusters of 1, 2 and 4 one-core workers on loopback
(:class:`carelens.monitor.loopback.LoopbackCluster`) and prints a table of the Spark pass on each beside
the embedded pass; on a machine with fewer cores than workers it shows the cost of coordination rather
than a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def one_pass(data: str, workers: int, settings: str | None, engine: str, spark_master: str | None) -> None:
    """Run in a child process: time the pass over ``data`` and print JSON figures."""
    from carelens.monitor.engines import engine_for
    from carelens.monitor.inputs import parquet_inputs
    from carelens.monitor.service import compute_pass
    from carelens.monitor.settings import load_settings

    config = load_settings(settings)
    started = time.perf_counter()
    with engine_for(config.engine, engine, spark_master, workers) as chosen:
        session = time.perf_counter() - started
        started = time.perf_counter()
        result = compute_pass(parquet_inputs(data), config, workers=workers, engine=chosen)
        seconds = time.perf_counter() - started
    me, workers_used = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(u.ru_utime + u.ru_stime for u in (me, workers_used))  # CPU time, whatever else is running
    peak = me.ru_maxrss / 1024**2  # KiB -> GiB
    print(
        json.dumps(
            {
                "seconds": seconds,
                "session_seconds": session,
                "cpu_seconds": cpu,
                "peak_gib": peak,
                "observations": result.observations,
                "flags": len(result.flags),
                "organisations": len(result.organisations),
                "inputs_digest": result.inputs_digest,
                "results_digest": result.results_digest,
                "judgements": sum(len(part) for part in result.judgement_parts),
            }
        )
    )


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (0 when it has gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0]) * 1024 if "VmRSS:" in status else 0
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def measure(
    data: Path,
    workers: int,
    settings: Path | None = None,
    engine: str = "embedded",
    spark_master: str | None = None,
) -> dict:
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", str(data), "--workers", str(workers), "--engine", engine]
        + (["--settings", str(settings)] if settings else [])
        + (["--spark-master", spark_master] if spark_master else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0]

    def sample() -> None:
        while child.poll() is None:
            peak[0] = max(peak[0], _tree_rss(child.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    sampler.join()
    if child.returncode:
        raise RuntimeError(f"monitor pass failed:\n{err}")
    figures = json.loads(out.strip().splitlines()[-1])
    if Path("/proc").is_dir() and peak[0]:
        figures["peak_gib"] = max(figures["peak_gib"], peak[0] / 1024**3)
    return figures


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
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: one per core)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="passes per size (best and median shown)")
    parser.add_argument(
        "--settings", type=Path, help="monitoring settings YAML (default: the packaged monitor.yaml)"
    )
    parser.add_argument("--engine", choices=("embedded", "spark"), default="embedded")
    parser.add_argument(
        "--spark-master", help="Spark master URL (default: the settings' engine.spark.master)"
    )
    parser.add_argument(
        "--cluster-scaling",
        action="store_true",
        help="Spark on standalone clusters of 1, 2 and 4 one-core workers on loopback, beside the embedded pass",
    )
    parser.add_argument(
        "--worker-memory", default="2g", help="memory of each loopback worker (--cluster-scaling)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        one_pass(args.child, args.workers, args.settings, args.engine, args.spark_master)
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
            if args.cluster_scaling:
                cluster_scaling(folder, label, args, Path(tmp))
                continue
            runs = repeated(folder, args, args.engine, args.spark_master)
            figures = min(runs, key=lambda f: f["seconds"])
            median = statistics.median(f["seconds"] for f in runs)
            rate = figures["observations"] / max(figures["seconds"], 1e-9)
            where = (
                f"{args.workers} worker(s)"
                if args.engine == "embedded"
                else f"Spark at {args.spark_master or 'the settings master'} (driver's figures; "
                f"session started in {min(f['session_seconds'] for f in runs):.1f} s, not counted)"
            )
            cpu_note = (
                "" if args.engine == "embedded" else " in the driver's Python, not its JVM or executors"
            )
            print(
                f"monitor pass, {label}, {where}: {figures['observations']:,} observations "
                f"-> {figures['flags']:,} flags, {figures['judgements']:,} judgements, "
                f"{figures['organisations']:,} organisations: "
                f"{figures['seconds']:.1f} s wall best, {median:.1f} s median of {len(runs)} "
                f"(CPU {min(f['cpu_seconds'] for f in runs):.1f} s{cpu_note}) "
                f"({rate:,.0f} obs/s), peak memory {max(f['peak_gib'] for f in runs):.2f} GiB "
                "(targets at 50,000 x 100 x 60: <= 30 s and <= 4 GiB; at 1/10: <= 3 s); "
                f"inputs digest {figures['inputs_digest'][:16]}, "
                f"results digest {figures['results_digest'][:16]}",
                flush=True,
            )


def repeated(folder: Path, args: argparse.Namespace, engine: str, master: str | None) -> list[dict]:
    """``--repeat`` passes over ``folder`` on ``engine``, each in a fresh child process."""
    return [measure(folder, args.workers, args.settings, engine, master) for _ in range(max(args.repeat, 1))]


def cluster_scaling(folder: Path, label: str, args: argparse.Namespace, tmp: Path) -> None:
    """The pass embedded and on standalone loopback clusters of 1, 2 and 4 one-core workers, as a table
    printed row by row."""
    from carelens.monitor.loopback import LoopbackCluster, stopped_on_termination

    print(
        f"\ncluster scaling, {label} (best and median of {max(args.repeat, 1)}; Spark without its session start)"
    )
    print(f"{'engine':<28} {'wall best':>10} {'median':>8} {'obs/s':>12} {'driver GiB':>11}  results digest")
    digests = set()

    def row(name: str, runs: list[dict]) -> None:
        best = min(runs, key=lambda f: f["seconds"])
        median = statistics.median(f["seconds"] for f in runs)
        rate = best["observations"] / max(best["seconds"], 1e-9)
        digests.add(best["results_digest"])
        print(
            f"{name:<28} {best['seconds']:>9.1f}s {median:>7.1f}s {rate:>12,.0f} "
            f"{max(f['peak_gib'] for f in runs):>11.2f}  {best['results_digest'][:16]}",
            flush=True,
        )

    row(f"embedded, {args.workers} process(es)", repeated(folder, args, "embedded", None))
    for workers in (1, 2, 4):
        cluster = LoopbackCluster(tmp / f"cluster-{workers}", workers=workers, memory=args.worker_memory)
        with stopped_on_termination(), cluster:
            row(f"spark, {workers} worker(s)", repeated(folder, args, "spark", cluster.master_url))
    if len(digests) != 1:
        raise SystemExit("the engines' results digests differ")


if __name__ == "__main__":
    main()
