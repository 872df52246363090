"""Size and time of each kind of web page on the demo store (the packaged real data, as ``carelens demo``
builds it), as the public and as the roles that use each page.

Builds the demo store once into ``--keep`` (reused when the file exists; building takes a few minutes),
then asks each page ``--repeat`` times through the app in-process (FastAPI's TestClient, no network)
and prints, per page, its size in bytes and the median and slowest time in milliseconds. The first
request of each page is left out of the times (it fills the caches every later request finds).

    python benchmarks/pages.py --keep /tmp/carelens-demo.db
    python benchmarks/pages.py --keep /tmp/carelens-demo.db --repeat 9 --only trust

Measured on 2 cores shared with other work (load average 12-14 throughout, so times vary by tens of
percent between runs), ``--repeat 5``, medians; the public trust page ``/organisations/RK9`` (University
Hospitals Plymouth, 60 indicators, 46 of them per-specialty waiting times):

| | trust page bytes | trust page ms | printable report bytes | report ms | analyst's trust page ms |
|---|---|---|---|---|---|
| before: every indicator a panel with its funnel plot and control chart | 1,145,081 | 11,617 | 1,143,156 | 9,132 | 13,186 |
| scored indicators as panels, the rest one table row each (charts on the indicator's own page, 26,057 bytes) | 240,717 | 5,203 | 238,792 | 2,546 | 3,908 |
| and a series with one figure a period no longer grouped by pandas (``services.series``) | 240,717 | 1,567 | 238,792 | 1,588 | 1,652 |

The other pages were unchanged in size (home 6,797 bytes, league table 75,592, monitoring 134,586,
inspection plan 87,376, scorecard 13,693, care home 12,808, GP practice 8,311); a per-specialty
indicator's own page is 26,057 bytes in 1,340 ms (the organisation profile service, which judges every
indicator of the trust, is most of both times).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

PAGES = [
    # (name, role that asks, path: braces are filled from the store)
    ("home", "public", "/"),
    ("search", "public", "/search?q=plymouth"),
    ("league table", "public", "/league-tables"),
    ("trust", "public", "/organisations/{trust}"),
    ("trust (analyst)", "analyst", "/organisations/{trust}"),
    ("trust indicator", "public", "/organisations/{trust}/indicators/{specialty_indicator}"),
    ("trust report", "public", "/organisations/{trust}/report"),
    ("care home", "public", "/organisations/{care_home}"),
    ("GP practice", "public", "/organisations/{practice}"),
    ("monitoring", "analyst", "/monitoring"),
    ("inspection plan", "inspector", "/plan"),
    ("scorecard", "commissioner", "/commissioners/{commissioner}"),
    ("allocations", "commissioner", "/allocations"),
    ("system reviews", "national_board", "/system-reviews"),
]


def demo_store(path: Path):
    """(engine, demo accounts by role) over the demo store at ``path``, built there when missing."""
    from carelens.services.auth import create_demo_users, password_hasher
    from carelens.store.engine import create_engine

    fresh = not path.exists()
    engine = create_engine(f"sqlite:///{path}")
    if fresh:
        from carelens.demo.jobs import run_demo_jobs
        from carelens.demo.store import load_demo_store
        from carelens.store.migrate import upgrade

        upgrade(engine)
        load_demo_store(engine)
        run_demo_jobs(engine)
    accounts = create_demo_users(engine, password_hasher(memory_kib=1024, time_cost=1))
    return engine, {a.role.value: a for a in accounts}


def examples(engine, accounts) -> dict[str, str]:
    """The codes the paths name: a trust with per-specialty waiting times, a care home, a practice."""
    import sqlalchemy as sa

    from carelens.store.schema import observation, organisation

    with engine.connect() as connection:

        def first(kind: str) -> str:
            query = sa.select(organisation.c.code).where(organisation.c.kind == kind).order_by("code")
            return connection.execute(query.limit(1)).scalar_one()

        specialty = connection.execute(
            sa.select(observation.c.indicator_id)
            .where(observation.c.org_code == "RK9", observation.c.indicator_id.like("rtt_%_c_%"))
            .order_by(observation.c.indicator_id)
            .limit(1)
        ).scalar_one_or_none()
        return {
            "trust": "RK9",
            "specialty_indicator": specialty or "rtt_within_18_weeks",
            "care_home": first("care_home"),
            "practice": first("gp_practice"),
            "commissioner": accounts["commissioner"].organisations[0],
        }


def measure(app, accounts, values: dict[str, str], repeat: int, only: str | None) -> list[tuple]:
    """(page, role, path, status, bytes, median ms, slowest ms) of each page."""
    from fastapi.testclient import TestClient

    from tests.web.conftest import sign_in

    clients: dict[str, TestClient] = {}
    rows = []
    try:
        for name, role, template in PAGES:
            if only and only not in name:
                continue
            if role not in clients:
                clients[role] = TestClient(app)
                clients[role].__enter__()
                if role != "public":
                    sign_in(clients[role], accounts[role])
            client, path = clients[role], template.format(**values)
            response = client.get(path)  # fills the caches
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
            size = len(response.content)
            rows.append((name, role, path, response.status_code, size, statistics.median(times), max(times)))
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, default=Path("/tmp/carelens-demo-pages.db"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", help="only the pages whose name contains this")
    args = parser.parse_args()

    from carelens.app import create_app

    engine, accounts = demo_store(args.keep)
    values = examples(engine, accounts)
    rows = measure(create_app(engine), accounts, values, args.repeat, args.only)
    print(f"{'page':<18} {'as':<15} {'status':>6} {'bytes':>10} {'median ms':>10} {'max ms':>8}  path")
    for name, role, path, status, size, median, slowest in rows:
        print(f"{name:<18} {role:<15} {status:>6} {size:>10,} {median:>10.0f} {slowest:>8.0f}  {path}")


if __name__ == "__main__":
    main()
