"""Access-checked query services: the one place the role rules (:mod:`carelens.model.access`) are enforced.

Every service is a plain function ``(engine_or_connection, actor, ...) -> data`` used alike by the HTTP
API, the web pages and the command line. A service raises :class:`NotFound` for anything that does not
exist *or that the actor may not know exists* (unpublished ratings, unannounced inspections: 404, never
403, so their existence does not leak), :class:`Forbidden` for a whole area the role may not use (e.g.
the audit log), :class:`Unauthenticated` for bad credentials and :class:`Invalid` for a well-formed but
impossible request.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the errors a service raises; the API maps each to an HTTP status."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """No such thing, or the actor is not entitled to know of it (HTTP 404)."""

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


__all__ = ["Forbidden", "Invalid", "NotFound", "ServiceError", "Unauthenticated"]
