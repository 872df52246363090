"""carelens.ingest."""
