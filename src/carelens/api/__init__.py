"""The HTTP API (FastAPI): one router module per area under :data:`API_PREFIX`, thin over
:mod:`carelens.services`. :mod:`carelens.app` mounts it next to the web pages."""

API_PREFIX = "/api/v1"
"""Where the API's routes live (the version is in the path)."""
