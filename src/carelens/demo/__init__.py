"""Packaged real demo data (see data/*/README.md for provenance) and the demo job."""
