"""Search benchmark on the demo store: print the index build time and p50/p95 latency (not run by the
test suite).

Loads the packaged demo data into a fresh SQLite store (or uses ``--db URL``, e.g. a PostgreSQL store
made by ``carelens demo``), builds the search index once (the first search after an import pays for it),
then times each query ``--repeat`` times through the service (:func:`search_organisations`, data-version
check included) and through the search page (FastAPI's test client: routing, template, HTML).

Run: python benchmarks/search.py [--db URL] [--repeat 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

QUERIES = [
    "PL6 8DH",
    "plymuth",
    "care home exeter",
    "university hospitals plymouth",
    "RK9",
    "derriford",
    "north middlesex",
    "surgery plymouth",
    "hosptal plymouth",
    "royal devon exeter",
    "manchester",
    "nhs trust",
    "EX2",
    "Derriford Road PL6 8DH",
    "L83",
    "st marys",
]
"""People's queries: postcodes, misspellings, words in any order, codes and their starts, places."""


def percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p95 of ``times`` (seconds), in milliseconds."""
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def main() -> None:
    from fastapi.testclient import TestClient

    from carelens.app import create_app
    from carelens.model.access import ANONYMOUS
    from carelens.services.organisations import search_organisations
    from carelens.services.search import load_directory
    from carelens.store.engine import create_engine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="an existing store's URL (default: a fresh SQLite demo store)")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    if args.db:
        engine = create_engine(args.db)
    else:
        from carelens.demo.store import load_demo_store
        from carelens.store.migrate import upgrade

        path = Path(tempfile.mkdtemp()) / "demo.db"
        engine = create_engine(f"sqlite:///{path}")
        upgrade(engine)
        started = time.perf_counter()
        load_demo_store(engine)
        print(f"demo store loaded in {time.perf_counter() - started:.1f} s ({path})")

    with engine.connect() as connection:
        started = time.perf_counter()
        index = load_directory(connection)
        built = time.perf_counter() - started
    print(
        f"index: {len(index.entries):,} organisations, {len(index.vocabulary):,} words, built in "
        f"{built * 1000:.0f} ms ({engine.dialect.name})"
    )
    search_organisations(engine, ANONYMOUS, q="warm up")
    service: list[float] = []
    page: list[float] = []
    client = TestClient(create_app(engine))
    print(f"{'query':32} {'found':>6} {'service p50':>12} {'p95':>7} {'page p50':>9} {'p95':>7}  first")
    for q in QUERIES:
        mine, pages = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = search_organisations(engine, ANONYMOUS, q=q, page_size=20)
            mine.append(time.perf_counter() - started)
        for _ in range(max(1, args.repeat // 5)):
            started = time.perf_counter()
            response = client.get("/search", params={"q": q})
            pages.append(time.perf_counter() - started)
            assert response.status_code == 200
        service += mine
        page += pages
        first = result.items[0]["code"] if result.items else "-"
        s50, s95 = percentiles(mine)
        p50, p95 = percentiles(pages)
        print(f"{q:32} {result.total:>6} {s50:>9.2f} ms {s95:>7.2f} {p50:>6.1f} ms {p95:>7.1f}  {first}")
    s50, s95 = percentiles(service)
    p50, p95 = percentiles(page)
    print(f"{'all queries':32} {'':>6} {s50:>9.2f} ms {s95:>7.2f} {p50:>6.1f} ms {p95:>7.1f}")


if __name__ == "__main__":
    main()
