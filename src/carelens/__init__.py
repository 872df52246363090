"""carelens: an open oversight engine for health and care.

Layers (bottom to top): ``stats`` (pure vectorised statistics), ``model`` (domain types),
``ingest``/``store`` (data in), ``monitor``/``assess``/``plan``/``fund``/``systems`` (the oversight cycle),
and thin ``cli``/``api``/``web`` interfaces over the same service functions.
"""

__version__ = "0.1.0"
