"""Ingest benchmark: synthetic observations written to the Parquet store, then read back with DuckDB.

    python benchmarks/ingest.py [--rows 10000000] [--orgs 50000] [--months 60] [--dir PATH] [--keep]

Generates ``--rows`` observations with :mod:`carelens.ingest.synth` (one indicator of
``orgs × months`` rows at a time), writes each batch atomically with
:class:`carelens.store.parquet.ObservationStore` (fsync on, as in production) and prints:

- rows per second written to Parquet (target ≥ 1M rows/s), timed apart from generation;
- rows per second for a DuckDB aggregate scan of the whole store, for reading it all into Arrow
  through DuckDB (:meth:`ObservationStore.read`, sorted by key and unsorted) and through pyarrow
  partition by partition (:meth:`ObservationStore.iter_partitions`).

The totals read back are checked against those generated. ``--postgres`` (a throwaway local cluster)
or ``--postgres-url`` also loads them into the SQL store's observation table with COPY (target ≥ 200,000
rows/s).

    python benchmarks/ingest.py --ae [--ae-rows 492000]

instead imports a national-size A&E CSV (the packaged ``ae_attendances.csv`` layout, its providers
repeated under new codes with perturbed counts) into a fresh SQLite store with ``carelens ingest``'s
service, in a child process, and prints the import's time and the child's peak memory (targets: 4 s and
400 MB for 492,000 rows), and the CPU time the import used (reading and writing run on two threads, so on
an idle machine the time is less than this; on a busy one, more).

    python benchmarks/ingest.py --ae-monthly

instead imports every month of the packaged NHS England monthly A&E files (April 2019 - March 2026, 84
files, as ``carelens ingest ae-monthly DIR`` does) into a fresh SQLite store, in a child process, and prints
the time (target: 20 s).

    python benchmarks/ingest.py --rtt

instead imports the packaged NHS England referral to treatment full extract (April 2026, 180,781 rows,
zipped), as ``carelens ingest rtt FILE`` does, into a fresh SQLite store, in a child process, and prints
the time, the rows read per second and the child's peak memory (target: 10 s).
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from carelens.ingest.synth import generate_indicator, make_indicators, make_organisations
from carelens.store.parquet import DuckDBSettings, ObservationStore

TARGET_WRITE_ROWS_PER_SECOND = 1_000_000
"""Issue 3's target for loading observations into the embedded (Parquet) store."""
TARGET_COPY_ROWS_PER_SECOND = 200_000
"""Issue 16's target for loading observations into PostgreSQL."""
TARGET_AE_SECONDS, TARGET_AE_MB = 4.0, 400
"""Issue 16's targets for importing a 492,000-row A&E CSV into SQLite."""
TARGET_AE_MONTHLY_SECONDS = 20.0
"""Issue 17's target for importing the 84 packaged months of NHS England's A&E files into SQLite."""
TARGET_RTT_SECONDS = 10.0
"""Target for importing one month's referral to treatment full extract (180,781 rows) into SQLite."""

AE_IMPORT = """
import resource, sys, time
from carelens.ingest.service import ingest
from carelens.store.engine import create_engine
engine = create_engine(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
[result] = ingest(engine, "ae", [sys.argv[2]], user="benchmark")
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(result.rows, result.inserted, seconds, after.ru_maxrss / 1024, cpu)
"""


AE_MONTHLY_IMPORT = """
import sys, time
from carelens.ingest.service import files_to_import, ingest
from carelens.store.engine import create_engine
engine = create_engine(sys.argv[1])
started = time.perf_counter()
files, skipped = files_to_import("ae-monthly", [sys.argv[2]])
results = ingest(engine, "ae-monthly", files, user="benchmark")
seconds = time.perf_counter() - started
print(len(results), sum(r.rows for r in results), sum(r.inserted for r in results), seconds)
"""


RTT_IMPORT = """
import resource, sys, time
from carelens.ingest.service import ingest
from carelens.store.engine import create_engine
engine = create_engine(sys.argv[1])
started = time.perf_counter()
[result] = ingest(engine, "rtt", [sys.argv[2]], user="benchmark")
seconds = time.perf_counter() - started
print(result.rows, result.inserted, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def benchmark_rtt_sqlite() -> None:
    """Import the packaged referral to treatment full extract into a fresh SQLite store; print the time."""
    import subprocess
    import sys

    from carelens.packaged import DATA_DIR
    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema

    path = DATA_DIR / "rtt" / "20260430-RTT-April-2026-full-extract.csv.zip"
    folder = Path(tempfile.mkdtemp(prefix="carelens-bench-rtt-"))
    try:
        url = f"sqlite:///{folder / 'store.db'}"
        engine = create_engine(url)
        ensure_schema(engine)  # the schema exists before the import, as in use
        engine.dispose()
        child = subprocess.run(
            [sys.executable, "-c", RTT_IMPORT, url, str(path)], capture_output=True, text=True, check=True
        )
        rows, inserted, seconds, peak_mb = child.stdout.split()
        rows, seconds = int(rows), float(seconds)
        assert rows == 180_781, rows
        fast = "meets" if seconds <= TARGET_RTT_SECONDS else "MISSES"
        print(
            f"RTT full extract into SQLite: {rows:,} rows read, {int(inserted):,} rows written in {seconds:.2f} s "
            f"= {rows / seconds:,.0f} rows/s ({fast} the {TARGET_RTT_SECONDS:g} s target), peak memory "
            f"{float(peak_mb):,.0f} MB"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def benchmark_ae_monthly_sqlite() -> None:
    """Import all 84 packaged months of NHS England's A&E files into a fresh SQLite store; print the time."""
    import subprocess
    import sys

    from carelens.demo.store import DATA_DIR
    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema

    folder = Path(tempfile.mkdtemp(prefix="carelens-bench-ae-monthly-"))
    try:
        url = f"sqlite:///{folder / 'store.db'}"
        engine = create_engine(url)
        ensure_schema(engine)
        engine.dispose()
        child = subprocess.run(
            [sys.executable, "-c", AE_MONTHLY_IMPORT, url, str(DATA_DIR / "ae_monthly")],
            capture_output=True,
            text=True,
            check=True,
        )
        files, rows, inserted, seconds = child.stdout.split()
        assert int(files) == 84, files
        fast = "meets" if float(seconds) <= TARGET_AE_MONTHLY_SECONDS else "MISSES"
        print(
            f"A&E monthly files into SQLite: {files} months, {int(rows):,} rows read, {int(inserted):,} rows "
            f"written in {float(seconds):.2f} s ({fast} the {TARGET_AE_MONTHLY_SECONDS:g} s target)"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def make_ae_file(path: Path, rows: int, seed: int) -> int:
    """Write an A&E CSV of ``rows`` rows in the packaged layout: the packaged file's rows again and again,
    each copy's providers under new codes (``RF4`` -> ``RF4B7``) with attendances, breaches and admissions
    perturbed (binomially, so breaches never exceed attendances). Returns the rows written."""
    import pandas as pd

    from carelens.packaged import DATA_DIR

    packaged = pd.read_csv(DATA_DIR / "nhsrdatasets" / "ae_attendances.csv", dtype={"type": str})
    rng = np.random.default_rng(seed)
    copies = []
    for k in range(math.ceil(rows / len(packaged))):
        copy = packaged.copy()
        if k:
            copy["org_code"] = copy["org_code"] + f"{chr(65 + k % 26)}{k // 26}"
            copy["attendances"] = rng.poisson(copy["attendances"]).clip(min=1)
            copy["breaches"] = rng.binomial(
                copy["attendances"], (packaged["breaches"] / packaged["attendances"])
            )
            copy["admissions"] = rng.binomial(
                copy["attendances"], (packaged["admissions"] / packaged["attendances"]).clip(upper=1)
            )
        copies.append(copy)
    frame = pd.concat(copies, ignore_index=True).iloc[:rows]
    frame.to_csv(path, index=False)
    return len(frame)


def benchmark_ae_sqlite(rows: int, seed: int) -> None:
    """Import a national-size A&E file into a fresh SQLite store; print time and peak memory."""
    import json
    import subprocess
    import sys

    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema

    folder = Path(tempfile.mkdtemp(prefix="carelens-bench-ae-"))
    try:
        path = folder / "ae_national.csv"
        written = make_ae_file(path, rows, seed)
        url = f"sqlite:///{folder / 'store.db'}"
        engine = create_engine(url)
        ensure_schema(engine)  # the schema exists before the import, as in use
        engine.dispose()
        child = subprocess.run(
            [sys.executable, "-c", AE_IMPORT, url, str(path)], capture_output=True, text=True, check=True
        )
        read, inserted, seconds, peak_mb, cpu = json.loads("[" + ",".join(child.stdout.split()) + "]")
        assert read == written, (read, written)
        fast = "meets" if seconds <= TARGET_AE_SECONDS else "MISSES"
        small = "meets" if peak_mb <= TARGET_AE_MB else "MISSES"
        print(
            f"A&E import into SQLite: {read:,} rows ({path.stat().st_size / 1e6:.1f} MB), {inserted:,} rows "
            f"written in {seconds:.2f} s ({fast} the {TARGET_AE_SECONDS:g} s target), peak memory "
            f"{peak_mb:,.0f} MB ({small} the {TARGET_AE_MB} MB target); {cpu:.2f} s of CPU (both threads: "
            "on a loaded machine, compare this)"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def benchmark_postgres_copy(store: ObservationStore, url: str) -> float:
    """Load every observation in ``store`` into the PostgreSQL store at ``url`` with COPY; return rows/s.

    Organisations and indicators are created first (the observation table references them), then each
    partition is streamed with :func:`carelens.store.repository.copy_arrow` in one transaction. The time
    counted is the observations' COPY and the commit.
    """
    import pyarrow as pa
    import sqlalchemy as sa

    from carelens.store import repository, schema
    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema

    engine = create_engine(url)
    ensure_schema(engine)
    with store.connect() as duck:
        codes = [
            row[0] for row in duck.execute("SELECT DISTINCT org_code FROM observations ORDER BY 1").fetchall()
        ]
    rows = 0
    with engine.connect() as connection:
        transaction = connection.begin()
        import_id = repository.start_import(connection, "synth", "benchmark", "0" * 64, 0, "benchmark")
        repository.copy_arrow(
            connection,
            schema.organisation,
            pa.table(
                {"code": codes, "kind": ["nhs_trust"] * len(codes), "import_id": [import_id] * len(codes)}
            ),
        )
        connection.execute(
            sa.insert(schema.indicator),
            [{"id": i, "version": 1, "title": i, "definition": {}} for i in store.indicators()],
        )
        start = time.perf_counter()
        for batch in store.iter_partitions():
            batch = batch.append_column("import_id", pa.array([import_id] * batch.num_rows, pa.int64()))
            rows += repository.copy_arrow(connection, schema.observation, batch)
        transaction.commit()
        seconds = time.perf_counter() - start
        loaded = connection.execute(sa.select(sa.func.count()).select_from(schema.observation)).scalar_one()
    engine.dispose()
    assert loaded == rows, (loaded, rows)
    print(f"postgres COPY: {rows:,} observations in {seconds:.1f} s")
    return rows / seconds


def write_phase(store: ObservationStore, rows: int, orgs: int, months: int, seed: int) -> dict[str, float]:
    """Generate and write ``rows`` observations, one indicator batch at a time; time both separately."""
    organisations = make_organisations(orgs, months, seed)
    # About 3% of organisation-months are missing, so ask for slightly more indicators than rows/(orgs·months).
    indicators = make_indicators(math.ceil(rows / (orgs * months * 0.95)) + 1, seed)
    written, used, generate_seconds, write_seconds, total_numerator = 0, 0, 0.0, 0.0, 0.0
    for k in range(len(indicators.ids)):
        if written >= rows:
            break
        used += 1
        started = time.perf_counter()
        batch, _ = generate_indicator(k, organisations, indicators, months, seed)
        batch = batch.slice(0, rows - written)
        generated = time.perf_counter()
        written += store.write(batch)
        write_seconds += time.perf_counter() - generated
        generate_seconds += generated - started
        total_numerator += pc.sum(batch["numerator"]).as_py()
    return {
        "rows": written,
        "indicators": used,
        "generate_seconds": generate_seconds,
        "write_seconds": write_seconds,
        "numerator_total": total_numerator,
    }


def read_phase(store: ObservationStore) -> dict[str, float]:
    """Time a DuckDB aggregate scan, a full DuckDB read into Arrow, and a pyarrow partition-by-partition read."""
    started = time.perf_counter()
    with store.connect() as connection:
        count, numerator_total = connection.execute(
            "SELECT count(*), sum(numerator) FROM observations"
        ).fetchone()
    scan_seconds = time.perf_counter() - started

    started = time.perf_counter()
    read_rows = store.read().num_rows
    read_seconds = time.perf_counter() - started

    started = time.perf_counter()
    unordered_rows = store.read(ordered=False).num_rows
    unordered_seconds = time.perf_counter() - started

    started = time.perf_counter()
    partition_rows = sum(t.num_rows for t in store.iter_partitions())
    partition_seconds = time.perf_counter() - started
    assert read_rows == unordered_rows == partition_rows == count, (read_rows, partition_rows, count)
    return {
        "rows": count,
        "numerator_total": numerator_total,
        "scan_seconds": scan_seconds,
        "read_seconds": read_seconds,
        "unordered_seconds": unordered_seconds,
        "partition_seconds": partition_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="observations to write (default 10M)")
    parser.add_argument("--orgs", type=int, default=50_000, help="organisations (default 50,000)")
    parser.add_argument("--months", type=int, default=60, help="months per series (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="store folder (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: every CPU)")
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory limit (default 2GB)")
    parser.add_argument(
        "--postgres-url", default=None, help="also load into PostgreSQL at this URL with COPY"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also load into a throwaway local PostgreSQL cluster with COPY",
    )
    parser.add_argument(
        "--ae", action="store_true", help="only import a national-size A&E CSV into SQLite, timed"
    )
    parser.add_argument(
        "--ae-monthly", action="store_true", help="time the 84 packaged A&E months into SQLite instead"
    )
    parser.add_argument("--ae-rows", type=int, default=492_000, help="rows of the A&E CSV (default 492,000)")
    parser.add_argument(
        "--rtt",
        action="store_true",
        help="time the packaged referral to treatment extract into SQLite instead",
    )
    args = parser.parse_args()
    if args.rtt:
        benchmark_rtt_sqlite()
        return
    if args.ae_monthly:
        benchmark_ae_monthly_sqlite()
        return
    if args.ae:
        benchmark_ae_sqlite(args.ae_rows, args.seed)
        return

    root = args.dir or Path(tempfile.mkdtemp(prefix="carelens-bench-")) / "observations"
    if root.exists() and any(root.iterdir()):
        parser.error(f"{root} is not empty")
    duckdb_settings = DuckDBSettings(memory_limit=args.memory_limit)
    if args.threads:
        duckdb_settings = DuckDBSettings(threads=args.threads, memory_limit=args.memory_limit)
    store = ObservationStore(root, duckdb=duckdb_settings)
    print(
        f"store {root}; DuckDB threads={duckdb_settings.threads} memory_limit={duckdb_settings.memory_limit} "
        f"temp_directory={duckdb_settings.temp_directory}"
    )
    try:
        wrote = write_phase(store, args.rows, args.orgs, args.months, args.seed)
        size = sum(f.stat().st_size for f in store.files())
        rows = wrote["rows"]
        rate = rows / wrote["write_seconds"]
        verdict = "meets" if rate >= TARGET_WRITE_ROWS_PER_SECOND else "MISSES"
        print(
            f"generated {rows:,} rows ({wrote['indicators']} indicators x {args.orgs:,} orgs x {args.months} months) "
            f"in {wrote['generate_seconds']:.2f} s: {rows / wrote['generate_seconds']:,.0f} rows/s"
        )
        print(
            f"parquet write: {rows:,} rows in {wrote['write_seconds']:.2f} s = {rate:,.0f} rows/s "
            f"({verdict} the {TARGET_WRITE_ROWS_PER_SECOND:,} rows/s target); "
            f"{size / 1e6:,.1f} MB on disk, {size / rows:.2f} bytes/row"
        )
        read = read_phase(store)
        assert read["rows"] == rows, (read["rows"], rows)
        assert np.isclose(read["numerator_total"], wrote["numerator_total"], rtol=1e-12)
        print(
            f"duckdb scan (count, sum): {rows / read['scan_seconds']:,.0f} rows/s ({read['scan_seconds']:.2f} s)"
        )
        print(
            f"duckdb read all to Arrow, sorted: {rows / read['read_seconds']:,.0f} rows/s ({read['read_seconds']:.2f} s)"
        )
        print(
            f"duckdb read all to Arrow, unsorted: {rows / read['unordered_seconds']:,.0f} rows/s "
            f"({read['unordered_seconds']:.2f} s)"
        )
        print(
            f"pyarrow read partition by partition: {rows / read['partition_seconds']:,.0f} rows/s "
            f"({read['partition_seconds']:.2f} s)"
        )
        print("read-back totals match what was written")
        if args.postgres_url:
            rate = benchmark_postgres_copy(store, args.postgres_url)
            verdict = "meets" if rate >= TARGET_COPY_ROWS_PER_SECOND else "MISSES"
            print(
                f"postgres COPY: {rate:,.0f} rows/s ({verdict} the {TARGET_COPY_ROWS_PER_SECOND:,} rows/s target)"
            )
        if args.postgres:
            from carelens.store.testing import Stores

            cluster = Stores("postgresql", Path(tempfile.mkdtemp(prefix="carelens-bench-pg-")))
            try:
                rate = benchmark_postgres_copy(store, cluster.new_url())
                verdict = "meets" if rate >= TARGET_COPY_ROWS_PER_SECOND else "MISSES"
                print(
                    f"postgres COPY: {rate:,.0f} rows/s ({verdict} the {TARGET_COPY_ROWS_PER_SECOND:,} rows/s target)"
                )
            finally:
                cluster.close()
    finally:
        if not args.keep:
            shutil.rmtree(root if args.dir else root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
