"""CPU time of the monitoring kernel's funnel stage (step 2: every period's funnels of each indicator),
and a digest of what it gives, over indicators of a synthetic data set.

    python benchmarks/funnels.py --data DIR                    # every indicator of a synthetic data set
    python benchmarks/funnels.py --data DIR --indicators 12 --repeat 5

Each indicator is read and prepared as a monitoring pass does (peer groups, steps 0 and 1), untimed;
then :func:`carelens.monitor.kernel._funnels` runs ``--repeat`` times on it, after one warm-up run (which
also compiles or loads any compiled loops: its time is printed apart). Figures are CPU seconds of this
process (best and median over the repeats of the summed stage), so other jobs on the machine matter
less. The digest covers every array the stage gives, to the bit: equal digests, equal results.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import statistics
import time

import numpy as np


def prepared(data: str, count: int | None):
    """Per indicator the arguments of ``_funnels``, as :func:`carelens.monitor.kernel._assess_indicator`
    builds them."""
    from carelens.monitor import kernel
    from carelens.monitor.inputs import attach_peer_groups, parquet_inputs
    from carelens.monitor.settings import load_settings

    inputs = parquet_inputs(data)
    comparisons = inputs.comparisons(load_settings(None))
    names = sorted(comparisons)[:count]
    frame = attach_peer_groups(inputs.reader.read(names, None, None), inputs.organisations, comparisons)
    rows = kernel._Rows.sorted_from(frame)
    for k, name in enumerate(rows.ind_names):
        spec = comparisons[str(name)]
        day, peer = rows.take("day", k), rows.take("peer", k)
        o, d, e = rows.take("o", k), rows.take("d", k), rows.take("e", k)
        when = kernel.periods_of(day, spec.judged_periods)
        checked = kernel.eligibility(o, d, e, spec)
        group = when.position * max(len(rows.peer_names), 1) + peer
        comparable, _ = kernel.comparable_rows(o, group, checked, spec)
        yield str(name), (o, d, e, group, comparable, when.judged, spec)


def digest(result) -> str:
    """SHA-256 (first 16 hex digits) of every array of a ``_Funnels``."""
    h = hashlib.sha256()
    for field in dataclasses.fields(result):
        h.update(np.ascontiguousarray(getattr(result, field.name)).tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="a synthetic data set folder (carelens synth)")
    parser.add_argument("--indicators", type=int, help="only the first N indicators (default: all)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from carelens.monitor.kernel import _funnels

    work = list(prepared(args.data, args.indicators))
    rows = sum(len(a[0]) for _, a in work)
    started = time.process_time()
    digests = hashlib.sha256()
    for _, arguments in work:
        digests.update(digest(_funnels(*arguments)).encode())
    first = time.process_time() - started
    times = []
    for _ in range(args.repeat):
        started = time.process_time()
        for _, arguments in work:
            _funnels(*arguments)
        times.append(time.process_time() - started)
    print(
        f"funnel stage, {len(work)} indicators, {rows:,} observations: CPU {min(times):.2f} s best, "
        f"{statistics.median(times):.2f} s median of {args.repeat} (first run {first:.2f} s); "
        f"digest {digests.hexdigest()[:16]}"
    )


if __name__ == "__main__":
    main()
