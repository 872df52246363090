"""Sign-in throttling: failed sign-ins per account and per client address, with exponential back-off.

The policy (every number a setting in :mod:`carelens.services.settings`): an account, or a client
address, may fail ``free`` times; the next failure locks it out for ``lockout`` seconds and each further
failure doubles that, up to ``max_lockout``. While locked out, a sign-in is refused without its password
being checked, so guessing is held to a few tries an hour; a refused attempt does not count as a failure
(it tested nothing). A successful sign-in clears its account's failures. Failures are forgotten
``forget`` seconds after the last one, once any lockout is over.

State is kept in memory per server process (no store writes while refusing a flood): with several
worker processes each keeps its own count. The table holds at most ``max_entries`` keys; when full, the
entries whose lockout is over go first, then the oldest, so a flood of made-up user names or addresses
cannot grow it without bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from carelens.services import ServiceError
from carelens.services.settings import AccessSettings


class TooManyAttempts(ServiceError):
    """Sign-in refused: the account or the client address is locked out for ``retry_after`` seconds (429)."""

    status = 429

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(-(-retry_after // 1)))
        super().__init__(f"too many failed sign-ins: try again in {self.retry_after} seconds")


@dataclass
class _Entry:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


@dataclass(frozen=True)
class Lockout:
    """A lockout a failure started: which key, and for how many seconds."""

    kind: str
    """'account' or 'address'."""
    key: str
    seconds: float
    failures: int


class Throttle:
    """Failures per key, with the back-off of the module's policy."""

    def __init__(
        self,
        kind: str,
        free: int,
        lockout: float,
        max_lockout: float,
        forget: float,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = kind
        self.free, self.lockout, self.max_lockout, self.forget = free, lockout, max_lockout, forget
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and now >= entry.locked_until and now - entry.last_failure >= self.forget:
            del self._entries[key]
            return None
        return entry

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        with self._lock:
            now = self.clock()
            entry = self._live(key, now)
            return max(0.0, entry.locked_until - now) if entry else 0.0

    def failed(self, key: str) -> Lockout | None:
        """Record a failure; the lockout it starts, if any."""
        with self._lock:
            now = self.clock()
            entry = self._live(key, now)
            if entry is None:
                self._make_room(now)
                entry = self._entries[key] = _Entry()
            entry.failures += 1
            entry.last_failure = now
            beyond = entry.failures - self.free
            if beyond <= 0:
                return None
            seconds = min(self.max_lockout, self.lockout * 2.0 ** min(beyond - 1, 60))
            entry.locked_until = now + seconds
            return Lockout(self.kind, key, seconds, entry.failures)

    def succeeded(self, key: str) -> None:
        """Clear ``key``'s failures."""
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def _make_room(self, now: float) -> None:
        if len(self._entries) < self.max_entries:
            return
        over = [k for k, e in self._entries.items() if now >= e.locked_until]
        for key in over[: max(1, len(self._entries) // 10)]:
            del self._entries[key]
        while len(self._entries) >= self.max_entries:  # all locked out: drop the oldest
            del self._entries[next(iter(self._entries))]


class SignInGuard:
    """The two throttles of sign-in: one keyed by user name, one by client address."""

    def __init__(self, settings: AccessSettings, clock: Callable[[], float] = time.monotonic) -> None:
        common = dict(
            lockout=settings.sign_in_lockout_seconds,
            max_lockout=settings.sign_in_max_lockout_seconds,
            forget=settings.sign_in_forget_seconds,
            clock=clock,
        )
        self.accounts = Throttle("account", settings.sign_in_free_failures, **common)
        self.addresses = Throttle("address", settings.sign_in_address_free_failures, **common)

    def check(self, user_name: str, address: str | None) -> None:
        """Raise :class:`TooManyAttempts` when the account or the address is locked out."""
        wait = max(self.accounts.wait(user_name), self.addresses.wait(address) if address else 0.0)
        if wait > 0:
            raise TooManyAttempts(wait)

    def failed(self, user_name: str, address: str | None) -> list[Lockout]:
        """Record a failed sign-in; the lockouts it started (to audit)."""
        started = [self.accounts.failed(user_name), self.addresses.failed(address) if address else None]
        return [lockout for lockout in started if lockout is not None]

    def succeeded(self, user_name: str) -> None:
        self.accounts.succeeded(user_name)


class TooManySubmissions(ServiceError):
    """A submission refused: this address or user has sent its share for now (429, with Retry-After)."""

    status = 429

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(-(-retry_after // 1)))
        super().__init__(f"too many submissions: try again in {self.retry_after} seconds")


class SubmissionGuard:
    """Submissions of experiences and concerns, counted per client address and per signed-in user with
    the same back-off as sign-in (:class:`Throttle`): ``submission_free`` may be sent within
    ``submission_forget_seconds`` of each other; the next locks the sender out for
    ``submission_lockout_seconds``, doubling each time (up to 24 times that). Kept in memory per server
    process."""

    def __init__(self, settings: AccessSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.senders = Throttle(
            "sender",
            max(0, settings.submission_free - 1),  # the free-th submission starts the lockout
            lockout=settings.submission_lockout_seconds,
            max_lockout=settings.submission_lockout_seconds * 24,
            forget=settings.submission_forget_seconds,
            clock=clock,
        )

    @staticmethod
    def _keys(user_name: str | None, address: str | None) -> list[str]:
        keys = [f"user:{user_name}"] if user_name else []
        return keys + ([f"address:{address}"] if address else [])

    def check(self, user_name: str | None, address: str | None) -> None:
        """Raise :class:`TooManySubmissions` when the user or the address is locked out."""
        wait = max((self.senders.wait(key) for key in self._keys(user_name, address)), default=0.0)
        if wait > 0:
            raise TooManySubmissions(wait)

    def sent(self, user_name: str | None, address: str | None) -> None:
        """Count a submission made."""
        for key in self._keys(user_name, address):
            self.senders.failed(key)
