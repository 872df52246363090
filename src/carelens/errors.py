"""Errors that carry enough context for a person to fix their input, and the errors a request can meet.

Every problem with user-supplied data names the source (file), the row and the field, so that
the command line can print them all at once and exit with code 2 (bad input).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (source, row, field) and why."""

    source: str
    row: int | None
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = [self.source]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"column {self.field!r}")
        return f"{', '.join(where)}: {self.reason}"


class InputError(ValueError):
    """Bad input: one or more problems, all reported together. The CLI maps this to exit code 2."""

    def __init__(self, problems: Iterable[Problem] | Problem | str, source: str = "input") -> None:
        if isinstance(problems, str):
            problems = [Problem(source, None, None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__(self.summary())

    def summary(self, limit: int = 20) -> str:
        shown = [str(p) for p in self.problems[:limit]]
        more = len(self.problems) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more problem(s)")
        return "\n".join(shown)


class Refused(InputError):
    """A change the rules refuse in the state the store holds (a failure-regime guard, a review beyond its
    direction's budget), saying why: bad input for the command line (exit 2), ``409 Conflict`` for the
    API (other :class:`InputError` are 422)."""

    status = 409


# Errors a request can meet: raised by the services (and by domain look-ups), mapped to HTTP statuses by
# the API and the web pages and to messages by the command line.


class ServiceError(Exception):
    """Base of the errors a service raises; the API maps each to an HTTP status."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError, LookupError):
    """No such thing, or the actor is not entitled to know of it (HTTP 404). A :class:`LookupError`, so
    code looking things up may catch either."""

    status = 404


class Forbidden(ServiceError):
    """The actor's role may not use this at all (HTTP 403); never used for things whose existence is secret."""

    status = 403


class Unauthenticated(ServiceError):
    """Missing, wrong or expired credentials (HTTP 401)."""

    status = 401


class Invalid(ServiceError):
    """A request that is well formed but cannot be answered, e.g. a league table of a neutral indicator (400)."""

    status = 400
