"""axe-core over every page for every role: each role signs in once (one browser context), opens every
page of the page matrix it may see, at a laptop's width, and its own pages (the header's bar) at a
phone's too; the vendored axe-core must find no serious or critical violation on any of them.

Screenshots of every page go where the other journeys put theirs (``$CARELENS_TEST_ARTEFACTS`` if set,
else pytest's tmp folder), named role-width-path.
"""

from __future__ import annotations

import re

import pytest

from carelens.model.access import Role

from .conftest import serious_violations, shot, signed_in
from .test_page_matrix import MATRIX, NAVIGATION

pytest.importorskip("playwright.sync_api")

WIDE, NARROW = 1280, 390
"""A laptop's width (every page) and a phone's (each role's own pages)."""


def pages_for(role: Role, examples: dict[str, str]) -> list[str]:
    """The HTML pages of the page matrix ``role`` may see (200; downloads left out), then its own pages."""
    seen = [
        path.format(**examples)
        for method, path, expected in MATRIX
        if method == "GET" and expected[role] == 200 and not re.search(r"\.(csv|xlsx|pdf)(\?|$)", path)
    ]
    own = [path.format(**examples) for path in NAVIGATION[role][0]]
    return list(dict.fromkeys([*seen, *own]))


def shot_name(role: Role, width: int, path: str) -> str:
    """A screenshot's file name: role, width and the page's path and query as letters and dashes."""
    return f"axe-{role.value}-{width}-" + (re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "home")


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_every_page_a_role_sees_passes_axe(browser, live_server, accounts, examples, role, tmp_path):
    """No serious or critical axe-core violation on any page the role may see (1280 px), nor on its own
    pages at 390 px."""
    account = accounts.get(role.value) if role is not Role.PUBLIC else None
    tab = signed_in(
        browser, live_server, account.user_name if account else None, "/", account.password if account else ""
    )
    tab.set_default_timeout(60_000)  # some pages take seconds to draw on a busy machine
    found: dict[str, list[str]] = {}
    try:
        own = [path.format(**examples) for path in NAVIGATION[role][0]]
        for width, paths in ((WIDE, pages_for(role, examples)), (NARROW, own)):
            tab.set_viewport_size({"width": width, "height": 900})
            for path in paths:
                response = tab.goto(f"{live_server}{path}")
                assert response.status == 200, (path, response.status)
                shot(tab, tmp_path, shot_name(role, width, path))
                if bad := serious_violations(tab):
                    found[f"{path} at {width}px"] = bad
    finally:
        tab.context.close()
    assert not found, "\n".join(f"{page}: {line}" for page, lines in found.items() for line in lines)
