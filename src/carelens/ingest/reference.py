"""What kind of organisation a code is, from the ODS reference files packaged with carelens.

For sources that name organisations by code only (NHS England's monthly A&E file): a code in an ODS trust
file (``etr``) is an NHS trust; a code in the ODS GP practice file (``epraccur``) is a GP practice when its
prescribing setting is 4 and otherwise a site (a walk-in centre, out-of-hours service or urgent care
centre: :func:`kind_of_prescribing_setting`); a code on :data:`CARE_TRUSTS` is an NHS trust; a code on
:data:`INDEPENDENT_PROVIDERS` is an independent provider. Any other code reporting activity is a site (``location``): in the A&E files these are urgent
treatment centres, walk-in centres and independent providers' sites. A kind already in the store (from an
ODS import, or an earlier file) is kept: the import service defers to it (``Source.stored_kinds``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import cache

from carelens.model.organisations import OrgKind
from carelens.packaged import DATA_DIR

ODS_DIR = DATA_DIR / "nhs_ods"
TRUST_FILES = ("etr.csv", "2026-07/etr.csv")
"""Packaged ODS trust files, oldest snapshot first (a trust that closed before the newest is in the older)."""
PRACTICE_FILE = "2023-12/epraccur.csv"

INDEPENDENT_PROVIDERS = {
    "AAH": "TETBURY HOSPITAL TRUST LTD",
    "AJN": "WORKINGTON HEALTH LIMITED",
    "AXG": "WILTSHIRE HEALTH & CARE",
    "NDJ": "FIRST COMMUNITY HEALTH AND CARE CIC",
    "NL7": "ASSURA VERTIS URGENT CARE CENTRES (BIRMINGHAM)",
    "NLW": "BRISTOL COMMUNITY HEALTH",
    "NLX": "SIRONA CARE & HEALTH",
    "NNJ": "DHU HEALTH CARE C.I.C",
    "NR3": "NOTTINGHAM CITYCARE PARTNERSHIP",
}
"""The three-character codes in NHS England's monthly A&E files (April 2019 - March 2026) that are not NHS
trusts in ODS: independent and other (social enterprise, community interest company) providers, named as
the A&E files name them. Every other three-character code in those files is an ODS trust."""

CARE_TRUSTS = {"TAD": "BRADFORD DISTRICT CARE NHS FOUNDATION TRUST"}
"""NHS trusts that ODS lists as care trusts (its ``ect`` file, not packaged) rather than in ``etr``, named as
NHS England's referral to treatment files name them."""

GP_PRACTICE_SETTING = "4"
"""ODS prescribing setting of a GP practice (epraccur field 26); 1 walk-in centre, 2 out of hours, ..."""


def kind_of_prescribing_setting(setting: str) -> OrgKind:
    """The kind of an epraccur organisation: a GP practice (setting 4) or another prescribing site."""
    return OrgKind.GP_PRACTICE if setting == GP_PRACTICE_SETTING else OrgKind.LOCATION


@cache
def reference_kinds() -> dict[str, OrgKind]:
    """Code -> kind for every organisation in the packaged ODS files and the independent providers."""
    kinds: dict[str, OrgKind] = {}
    with (ODS_DIR / PRACTICE_FILE).open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            kinds[row[0]] = kind_of_prescribing_setting(row[25])
    for name in TRUST_FILES:
        with (ODS_DIR / name).open(newline="", encoding="utf-8") as handle:
            kinds.update((row[0], OrgKind.NHS_TRUST) for row in csv.reader(handle))
    kinds.update(dict.fromkeys(CARE_TRUSTS, OrgKind.NHS_TRUST))
    kinds.update(dict.fromkeys(INDEPENDENT_PROVIDERS, OrgKind.INDEPENDENT_PROVIDER))
    return kinds


def kind_of(code: str, otherwise: Callable[[str], OrgKind] = lambda _code: OrgKind.LOCATION) -> OrgKind:
    """The kind of a code reporting activity (see the module's docstring); ``otherwise(code)`` when ODS does
    not list it (a site, unless the caller knows better)."""
    kind = reference_kinds().get(code)
    return kind if kind is not None else otherwise(code)
