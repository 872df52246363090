"""Organisations, the dated relationships between them, and how codes map to kinds.

An organisation is identified by its code (an ODS code for NHS bodies, a CQC id for CQC locations and
providers, a GSS code for local authorities and countries). Relationships carry validity dates; a
merger or split is recorded as a ``succeeded_by`` relationship so history is never lost.
"""

from __future__ import annotations

import re
from enum import StrEnum


class OrgKind(StrEnum):
    """What an organisation is."""

    NHS_TRUST = "nhs_trust"
    LOCATION = "location"
    INDEPENDENT_PROVIDER = "independent_provider"
    CARE_HOME = "care_home"
    GP_PRACTICE = "gp_practice"
    PCN = "pcn"
    COMMISSIONER = "commissioner"
    LOCAL_AUTHORITY = "local_authority"
    REGION = "region"
    PLACE = "place"
    ACO = "aco"
    COUNTRY = "country"


class Sector(StrEnum):
    """The oversight sector an organisation belongs to (CQC's three sectors plus the system tiers)."""

    HOSPITALS = "hospitals"
    ADULT_SOCIAL_CARE = "adult_social_care"
    PRIMARY_CARE = "primary_care"
    COMMISSIONING = "commissioning"
    LOCAL_GOVERNMENT = "local_government"
    GEOGRAPHY = "geography"


DEFAULT_SECTOR: dict[OrgKind, Sector] = {
    OrgKind.NHS_TRUST: Sector.HOSPITALS,
    OrgKind.LOCATION: Sector.HOSPITALS,
    OrgKind.INDEPENDENT_PROVIDER: Sector.HOSPITALS,
    OrgKind.CARE_HOME: Sector.ADULT_SOCIAL_CARE,
    OrgKind.GP_PRACTICE: Sector.PRIMARY_CARE,
    OrgKind.PCN: Sector.PRIMARY_CARE,
    OrgKind.COMMISSIONER: Sector.COMMISSIONING,
    OrgKind.LOCAL_AUTHORITY: Sector.LOCAL_GOVERNMENT,
    OrgKind.REGION: Sector.COMMISSIONING,
    OrgKind.PLACE: Sector.COMMISSIONING,
    OrgKind.ACO: Sector.COMMISSIONING,
    OrgKind.COUNTRY: Sector.GEOGRAPHY,
}
"""Sector assumed when a source does not say (a source may override it per organisation)."""


class RelationshipKind(StrEnum):
    """A dated link from one organisation (the subject) to another (the object)."""

    PROVIDER_LOCATION = "provider_location"
    """subject = provider (trust or independent), object = location or care home it runs."""
    PRACTICE_PCN = "practice_pcn"
    """subject = GP practice, object = the primary care network it belongs to."""
    PRACTICE_COMMISSIONER = "practice_commissioner"
    """subject = GP practice, object = the commissioner (CCG before July 2022, then ICB) responsible."""
    COMMISSIONER_PARENT = "commissioner_parent"
    """subject = CCG or sub-ICB location, object = an ICB covering (part of) it. Not one at a time: in
    2022 some CCG areas were split between ICBs (e.g. 06H, 71E, 01Y, D2P2L)."""
    COMMISSIONER_REGION = "commissioner_region"
    """subject = commissioner, object = NHS England region."""
    ORGANISATION_REGION = "organisation_region"
    """subject = an inspected provider or site (NHS trust, independent provider, hospital location or care
    home), object = the NHS England region it is overseen in (for a trust: the ODS national grouping)."""
    ORGANISATION_ICB = "organisation_icb"
    """subject = an NHS trust or other provider, object = the integrated care board ODS places it in (its
    high-level health geography)."""
    LOCAL_AUTHORITY_AREA = "local_authority_area"
    """subject = any organisation, object = the local authority whose area it lies in."""
    CONTRACT = "contract"
    """subject = commissioner, object = provider it holds a contract with."""
    PLACE_MEMBER = "place_member"
    """subject = member organisation, object = place / system."""
    ACO_MEMBER = "aco_member"
    """subject = member organisation, object = accountable care organisation."""
    SUCCEEDED_BY = "succeeded_by"
    """subject = predecessor, object = successor (merger, split or rename); valid_from = effective date."""


PROVIDERS = frozenset({OrgKind.NHS_TRUST, OrgKind.INDEPENDENT_PROVIDER})
SITES = frozenset({OrgKind.LOCATION, OrgKind.CARE_HOME})
ANY = frozenset(OrgKind)

RELATIONSHIP_ENDPOINTS: dict[RelationshipKind, tuple[frozenset[OrgKind], frozenset[OrgKind]]] = {
    RelationshipKind.PROVIDER_LOCATION: (PROVIDERS, SITES),
    RelationshipKind.PRACTICE_PCN: (frozenset({OrgKind.GP_PRACTICE}), frozenset({OrgKind.PCN})),
    RelationshipKind.PRACTICE_COMMISSIONER: (
        frozenset({OrgKind.GP_PRACTICE}),
        frozenset({OrgKind.COMMISSIONER}),
    ),
    RelationshipKind.COMMISSIONER_PARENT: (
        frozenset({OrgKind.COMMISSIONER}),
        frozenset({OrgKind.COMMISSIONER}),
    ),
    RelationshipKind.COMMISSIONER_REGION: (frozenset({OrgKind.COMMISSIONER}), frozenset({OrgKind.REGION})),
    RelationshipKind.ORGANISATION_REGION: (PROVIDERS | SITES, frozenset({OrgKind.REGION})),
    RelationshipKind.ORGANISATION_ICB: (PROVIDERS, frozenset({OrgKind.COMMISSIONER})),
    RelationshipKind.LOCAL_AUTHORITY_AREA: (ANY, frozenset({OrgKind.LOCAL_AUTHORITY})),
    RelationshipKind.CONTRACT: (frozenset({OrgKind.COMMISSIONER}), PROVIDERS | SITES | {OrgKind.GP_PRACTICE}),
    RelationshipKind.PLACE_MEMBER: (ANY, frozenset({OrgKind.PLACE})),
    RelationshipKind.ACO_MEMBER: (ANY, frozenset({OrgKind.ACO})),
    RelationshipKind.SUCCEEDED_BY: (ANY, ANY),
}
"""Kinds of organisation allowed as (subject, object) of each relationship."""

ONE_AT_A_TIME: dict[RelationshipKind, str] = {
    RelationshipKind.PROVIDER_LOCATION: "object",
    RelationshipKind.PRACTICE_PCN: "subject",
    RelationshipKind.PRACTICE_COMMISSIONER: "subject",
    RelationshipKind.COMMISSIONER_REGION: "subject",
    RelationshipKind.ORGANISATION_REGION: "subject",
    RelationshipKind.ORGANISATION_ICB: "subject",
    RelationshipKind.LOCAL_AUTHORITY_AREA: "subject",
}
"""Relationships that hold one at a time for the named side (a location has one provider, a practice
one PCN): asserting a different link closes the current one the day before the new one starts."""

NHS_ENGLAND_REGIONS: dict[str, str] = {
    "Y56": "London",
    "Y58": "South West",
    "Y59": "South East",
    "Y60": "Midlands",
    "Y61": "East of England",
    "Y62": "North West",
    "Y63": "North East and Yorkshire",
}
"""The seven NHS England regions (since April 2020) by ODS code, as ODS files name them in their national
grouping field; the names are NHS England's."""

_NHS_TRUST_CODE = re.compile(r"^[RT5][A-Z0-9]{2}$")
_PRACTICE_CODE = re.compile(r"^[A-Z]\d{5}$")


def kind_from_ods_code(code: str) -> OrgKind:
    """Guess an organisation's kind from the shape of its ODS code, for sources that give only codes.

    Three characters starting with R or T are NHS trusts (5 for the former primary care trusts); a
    letter and five digits is a GP practice or other prescribing cost centre (e.g. a walk-in centre);
    anything else is treated as an independent provider (N codes are non-NHS organisations).
    """
    if _NHS_TRUST_CODE.match(code):
        return OrgKind.NHS_TRUST
    if _PRACTICE_CODE.match(code):
        return OrgKind.GP_PRACTICE
    return OrgKind.INDEPENDENT_PROVIDER
