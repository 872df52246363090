"""The importers, one module per source, registered by their command-line name."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the registry stays import-light so `carelens --help` is fast
    from carelens.ingest.sources.base import Source

SOURCE_MODULES = {
    "ae": "carelens.ingest.sources.ae",
    "ae-monthly": "carelens.ingest.sources.ae_monthly",
    "ae-workbook": "carelens.ingest.sources.ae_workbook",
    "shmi": "carelens.ingest.sources.shmi",
    "cqc-ratings": "carelens.ingest.sources.cqc_ratings",
    "gp-weighted-population": "carelens.ingest.sources.gp_weighted_population",
    "ons-population": "carelens.ingest.sources.ons_population",
    "organisations": "carelens.ingest.sources.organisations",
    "relationships": "carelens.ingest.sources.relationships",
    "place-transitions": "carelens.ingest.sources.place_transitions",
    "ods-etr": "carelens.ingest.sources.ods:ETR",
    "ods-trusts": "carelens.ingest.sources.ods_trusts",
    "ods-eccg": "carelens.ingest.sources.ods:ECCG",
    "ods-succ": "carelens.ingest.sources.ods:SUCC",
    "ods-epraccur": "carelens.ingest.sources.ods:EPRACCUR",
    "observations": "carelens.ingest.sources.observations",
    "rtt": "carelens.ingest.sources.rtt",
}
"""Source name (as typed after ``carelens ingest``) -> module defining ``SOURCE`` (or ``module:NAME``)."""


def get_source(name: str) -> Source:
    """The importer called ``name``; raises KeyError for an unknown name."""
    module, _, attribute = SOURCE_MODULES[name].partition(":")
    return getattr(import_module(module), attribute or "SOURCE")
