"""Access-checked query services: the one place the role rules (:mod:`carelens.model.access`) are enforced.

Every service is a plain function ``(engine_or_connection, actor, ...) -> data`` used alike by the HTTP
API, the web pages and the command line. A service raises :class:`NotFound` for anything that does not
exist *or that the actor may not know exists* (unpublished ratings, unannounced inspections: 404, never
403, so their existence does not leak), :class:`Forbidden` for a whole area the role may not use (e.g.
the audit log), :class:`Unauthenticated` for bad credentials and :class:`Invalid` for a well-formed but
impossible request. The errors are defined in :mod:`carelens.errors`, so a domain module can raise them
without depending on the services.
"""

from __future__ import annotations

from carelens.errors import Forbidden, Invalid, NotFound, ServiceError, Unauthenticated

__all__ = ["Forbidden", "Invalid", "NotFound", "ServiceError", "Unauthenticated"]
