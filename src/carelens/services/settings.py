"""Settings of the access-checked services and the API, as documented data with defaults.

Each setting can be overridden by an environment variable ``CARELENS_<NAME>`` (upper case), e.g.
``CARELENS_SESSION_MINUTES=60``. :func:`documented_settings` lists them all with their documentation
(a test checks every setting is documented).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from functools import cache


@dataclass(frozen=True)
class AccessSettings:
    """Session lifetimes, password hashing cost, page sizes, caching and small-number suppression."""

    session_minutes: int = field(
        default=480, metadata={"doc": "Lifetime of a web session (cookie) in minutes: a working day."}
    )
    api_token_days: int = field(
        default=30, metadata={"doc": "Lifetime of an API token issued by POST /api/v1/auth/token, in days."}
    )
    scrypt_n: int = field(
        default=2**14,
        metadata={"doc": "scrypt CPU/memory cost N for password hashes (2**14 = 16 MiB, OWASP minimum)."},
    )
    page_size: int = field(default=50, metadata={"doc": "Rows per page when a request does not say."})
    max_page_size: int = field(default=1000, metadata={"doc": "Most rows one page may hold."})
    league_cache_entries: int = field(
        default=64,
        metadata={
            "doc": "League table orderings kept in memory (per indicator, period, kind and viewer's reach); "
            "each is a few MB at national scale. Entries are keyed by the newest import, so they never go stale."
        },
    )
    public_max_age: int = field(
        default=60,
        metadata={"doc": "Seconds shared caches may keep a response to an anonymous (public) request."},
    )
    small_number_threshold: int = field(
        default=8,
        metadata={
            "doc": "Counts from 1 to this minus 1 are suppressed in published figures (NHS Digital's HES "
            "rule suppresses 1-7); 0 is shown. Actors entitled to an organisation's confidential data see "
            "its figures unsuppressed."
        },
    )
    actor_cache_seconds: float = field(
        default=5.0,
        metadata={
            "doc": "Seconds a server process remembers who a token belongs to, so a burst of API requests "
            "does not look the token up each time. Signing out takes effect at once in the process that "
            "handles it, and within this many seconds in other worker processes; 0 turns the cache off."
        },
    )
    request_threads: int = field(
        default=2,
        metadata={
            "doc": "Threads per server process that run the synchronous routes (each holds a store "
            "connection). The work is Python under one interpreter lock, so threads beyond the cores only "
            "contend for it: on 2 cores, league pages under 8 connections went from ~255 req/s with "
            "AnyIO's default of 40 threads to ~360 with 2 (benchmarks/api.py). Raise it for a store with "
            "slow round trips (a remote PostgreSQL); a slow request holds one thread while it runs."
        },
    )
    published_rating_methods: tuple[str, ...] = field(
        default=("published",),
        metadata={
            "doc": "Rating methods whose ratings are published (the regulator's own); ratings by any "
            "other method are proposals, visible only to roles entitled to unpublished ratings."
        },
    )


def documented_settings() -> dict[str, str]:
    """Every setting with its documentation."""
    return {f.name: f.metadata.get("doc", "") for f in fields(AccessSettings)}


@cache
def get_settings() -> AccessSettings:
    """The defaults, overridden by any ``CARELENS_<NAME>`` environment variables (read once)."""
    overrides: dict[str, object] = {}
    defaults = AccessSettings()
    for f in fields(AccessSettings):
        raw = os.environ.get(f"CARELENS_{f.name.upper()}")
        if raw is None:
            continue
        default = getattr(defaults, f.name)
        overrides[f.name] = tuple(raw.split(",")) if isinstance(default, tuple) else type(default)(raw)
    return replace(defaults, **overrides)
