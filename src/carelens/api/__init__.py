"""HTTP API (FastAPI) and the app that also serves the web pages: thin over :mod:`carelens.services`."""
