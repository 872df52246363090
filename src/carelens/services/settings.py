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
    password_memory_kib: int = field(
        default=19_456,
        metadata={
            "doc": "Memory cost of an argon2id password hash, in KiB. The default with password_time_cost 2 "
            "and password_parallelism 1 is the first of OWASP's Password Storage Cheat Sheet configurations "
            "(19 MiB, 2 iterations, 1 lane; about 40 ms a check here). A stored hash made with other "
            "parameters (or an older scrypt hash) is re-made with these at its owner's next sign-in."
        },
    )
    password_time_cost: int = field(
        default=2,
        metadata={"doc": "Iterations (time cost) of an argon2id password hash; see password_memory_kib."},
    )
    password_parallelism: int = field(
        default=1,
        metadata={"doc": "Lanes (parallelism) of an argon2id password hash; see password_memory_kib."},
    )
    sign_in_threads: int = field(
        default=1,
        metadata={
            "doc": "Threads per server process that check passwords, apart from the request_threads: a flood "
            "of sign-ins queues for these and never holds a thread other requests need. argon2 releases the "
            "interpreter lock, so 1 thread keeps password work to at most one core."
        },
    )
    sign_in_queue: int = field(
        default=16,
        metadata={
            "doc": "Sign-ins that may wait for a password-checking thread; one more is answered 503 with "
            "Retry-After at once, so a flood cannot build an unbounded queue."
        },
    )
    sign_in_free_failures: int = field(
        default=5,
        metadata={
            "doc": "Failed sign-ins an account (a user name, whether it exists or not) may have before it is "
            "locked out: the next failure locks it for sign_in_lockout_seconds, and each further failure "
            "doubles that, up to sign_in_max_lockout_seconds. A locked-out sign-in is answered 429 with "
            "Retry-After without checking the password; a successful sign-in clears the account's count."
        },
    )
    sign_in_address_free_failures: int = field(
        default=20,
        metadata={
            "doc": "Failed sign-ins one client address may have (to any accounts) before it is locked out "
            "with the same back-off as an account. More than sign_in_free_failures, as several people may "
            "share an address; a successful sign-in does not clear it (else one good account would reset "
            "a password-spraying address)."
        },
    )
    sign_in_lockout_seconds: float = field(
        default=1.0,
        metadata={"doc": "The first lockout after the free failures, in seconds; it doubles each time."},
    )
    sign_in_max_lockout_seconds: float = field(
        default=900.0,
        metadata={"doc": "The longest lockout (15 minutes): from then on, one guess per this many seconds."},
    )
    sign_in_forget_seconds: float = field(
        default=3600.0,
        metadata={
            "doc": "Failures are forgotten this long after an account's or address's last failed sign-in "
            "(and once its lockout is over)."
        },
    )
    sign_in_refusal_delay_seconds: float = field(
        default=1.0,
        metadata={
            "doc": "A sign-in refused because its account or address is locked out is answered after this "
            "many seconds (or the time left, if shorter), costing the server an idle wait rather than work: "
            "a client that ignores Retry-After gets one answer a second per connection. 0 answers at once."
        },
    )
    submission_free: int = field(
        default=5,
        metadata={
            "doc": "Experiences and concerns one client address (or one signed-in user) may send within "
            "submission_forget_seconds of each other; the next is refused 429 with Retry-After for "
            "submission_lockout_seconds, doubling each time it is tried again while locked out."
        },
    )
    submission_lockout_seconds: float = field(
        default=3600.0,
        metadata={"doc": "How long a sender who has sent submission_free submissions waits, in seconds."},
    )
    submission_forget_seconds: float = field(
        default=3600.0,
        metadata={"doc": "A sender's count of submissions is forgotten this long after its last one."},
    )
    max_request_bytes: int = field(
        default=1_048_576,
        metadata={
            "doc": "Largest request body accepted (1 MiB), checked on Content-Length and while reading; a "
            "larger one is answered 413 without being read."
        },
    )
    error_excerpt_chars: int = field(
        default=80,
        metadata={
            "doc": "Most characters of a rejected input value quoted back in an error (422) response; the "
            "rest is cut, so an error is never as large as the input."
        },
    )
    hsts_seconds: int = field(
        default=31_536_000,
        metadata={
            "doc": "max-age of the Strict-Transport-Security header sent on responses served over https "
            "(one year); 0 sends none."
        },
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
