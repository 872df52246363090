"""HTTP API latency and throughput on loopback with national-scale synthetic data loaded.

Loads synthetic organisations (default 50,000, the national scale) and observations into a fresh SQLite
store, starts ``carelens serve`` on a free loopback port, and drives a bounded number of requests at
the organisation profile and the league table: sequentially for latency (p50/p95), then from several
client threads for requests per second. Target (issue 8): p95 <= 200 ms and >= 200 requests/s on 2 cores.

    python benchmarks/api.py                     # 50,000 organisations x 3 indicators x 12 months
    python benchmarks/api.py --requests 500 --indicators 10
    python benchmarks/api.py --keep /tmp/bench.db --workers 1   # reuse a loaded store; one process

The client runs on the same machine, so it takes CPU from the server: figures are a lower bound.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


def load(url: str, orgs: int, indicators: int, months: int, seed: int) -> list[str]:
    """Write synthetic organisations, indicators and observations into the store; return org codes."""
    import sqlalchemy as sa

    from carelens.ingest.synth import iter_batches, make_indicators, make_organisations
    from carelens.model.access import Role
    from carelens.model.organisations import DEFAULT_SECTOR, OrgKind
    from carelens.services.auth import NewUser, create_users
    from carelens.store import schema
    from carelens.store.engine import create_engine
    from carelens.store.migrate import ensure_schema

    engine = create_engine(url)
    ensure_schema(engine)
    organisations = make_organisations(orgs, months, seed)
    definitions = make_indicators(indicators, seed)
    org_rows = organisations.table.select(["code", "name", "kind"]).to_pylist()
    with engine.begin() as c:
        c.execute(
            schema.import_record.insert().values(
                id=1,
                source="synth",
                file_name="benchmark",
                sha256="synth",
                rows=0,
                inserted=0,
                superseded=0,
                unchanged=0,
                user_name="benchmark",
                imported_at=dt.datetime.now(dt.UTC),
                status="loaded",
            )
        )
        c.execute(
            schema.organisation.insert(),
            [{**r, "sector": DEFAULT_SECTOR[OrgKind(r["kind"])].value, "import_id": 1} for r in org_rows],
        )
        c.execute(
            schema.indicator.insert(),
            [
                {"id": d["id"], "version": 1, "title": d["title"], "definition": json.loads(json.dumps(d))}
                for d in definitions.table.to_pylist()
            ],
        )
        create_users(c, [NewUser("analyst", Role.ANALYST, "analyst-pw")], by="benchmark", n=2**10)
        raw = c.connection.driver_connection
        insert = (
            "INSERT INTO observation (indicator_id, org_code, period, numerator, denominator, expected, value,"
            " import_id) VALUES (?, ?, ?, ?, ?, ?, ?, 1)"
        )
        for observations, _planted in iter_batches(organisations, definitions, months, seed):
            columns = observations.to_pydict()
            columns["period"] = [p.isoformat() for p in columns["period"]]
            names = ("indicator_id", "org_code", "period", "numerator", "denominator", "expected", "value")
            raw.executemany(insert, zip(*(columns[n] for n in names), strict=True))
    with engine.connect() as c:
        rows = c.execute(sa.select(sa.func.count()).select_from(schema.observation)).scalar()
    engine.dispose()
    print(f"loaded {orgs:,} organisations, {indicators} indicators x {months} months = {rows:,} observations")
    return [r["code"] for r in org_rows]


def stored_codes(url: str) -> list[str]:
    """Organisation codes of a store loaded by an earlier run (``--keep``)."""
    import sqlalchemy as sa

    from carelens.store import schema
    from carelens.store.engine import create_engine

    engine = create_engine(url)
    with engine.connect() as c:
        codes = list(
            c.execute(sa.select(schema.organisation.c.code).order_by(schema.organisation.c.code)).scalars()
        )
    engine.dispose()
    return codes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def drive(base: str, name: str, paths: list[str], headers: dict, threads: int) -> tuple[float, float]:
    """Latency from sequential requests, then throughput from ``threads`` concurrent clients; returns
    (p95 ms, requests per second)."""
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for path in paths[:5]:  # warm up
            client.get(path).raise_for_status()
        latencies = []
        for path in paths:
            started = time.perf_counter()
            client.get(path).raise_for_status()
            latencies.append(time.perf_counter() - started)

    def worker(chunk: list[str]) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for path in chunk:
                client.get(path).raise_for_status()

    chunks = [paths[i::threads] for i in range(threads)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, chunks))
    elapsed = time.perf_counter() - started
    ms = [v * 1000 for v in latencies]
    print(
        f"{name:<34} n={len(paths):>5}  p50 {statistics.median(ms):7.1f} ms  p95 {percentile(ms, 95):7.1f} ms  "
        f"{len(paths) / elapsed:7.0f} req/s ({threads} client threads)"
    )
    return percentile(ms, 95), len(paths) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--indicators", type=int, default=3)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint (bounded)")
    parser.add_argument("--threads", type=int, default=4, help="concurrent clients for the throughput run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (carelens serve)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of every endpoint; best and median are reported"
    )
    parser.add_argument(
        "--keep", type=Path, help="keep the loaded store in this file (reused when it exists)"
    )
    args = parser.parse_args()
    random.seed(args.seed)

    with tempfile.TemporaryDirectory(prefix="carelens-bench-") as tmp:
        path = args.keep or Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        started = time.perf_counter()
        if args.keep and args.keep.exists():
            codes = stored_codes(url)
            print(f"reusing {path} ({len(codes):,} organisations)")
        else:
            codes = load(url, args.orgs, args.indicators, args.months, args.seed)
        print(f"load took {time.perf_counter() - started:.1f} s")
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "carelens.cli",
                "serve",
                "--db",
                url,
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(base + "/openapi.json", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            token = httpx.post(
                base + "/api/v1/auth/token", json={"user_name": "analyst", "password": "analyst-pw"}
            ).json()["access_token"]
            analyst = {"Authorization": f"Bearer {token}"}
            n = args.requests
            profiles = [f"/api/v1/organisations/{random.choice(codes)}" for _ in range(n)]
            pages = -(-args.orgs // 50)
            league = [
                f"/api/v1/league-tables/synth_{random.randint(1, args.indicators):03d}?page={random.randint(1, pages)}"
                for _ in range(n)
            ]
            print(
                f"server: carelens serve (uvicorn, {args.workers} worker processes) on {base}; "
                f"{os.cpu_count()} CPUs"
            )
            cases = [
                ("organisation profile (analyst)", profiles, analyst),
                ("organisation profile (public)", profiles, {}),
                ("league table page (analyst)", league, analyst),
                ("league table page (public)", league, {}),
            ]
            results: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in cases}
            for attempt in range(args.repeat):
                print(f"-- run {attempt + 1} of {args.repeat}")
                for name, paths, headers in cases:
                    results[name].append(drive(base, name, paths, headers, args.threads))
            print(f"-- over {args.repeat} runs (target: p95 <= 200 ms, >= 200 req/s)")
            for name, runs in results.items():
                p95s, rates = [r[0] for r in runs], [r[1] for r in runs]
                print(
                    f"{name:<34} p95 best {min(p95s):7.1f} ms  median {statistics.median(p95s):7.1f} ms   "
                    f"req/s best {max(rates):5.0f}  median {statistics.median(rates):5.0f}"
                )
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
