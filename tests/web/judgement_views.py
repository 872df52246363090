"""Reading the verdict of every organisation x indicator off each place that shows it, and comparing them.

Each reader returns ``{(org_code, indicator_id): Seen}``: the verdict, the limits at the verdict level,
the number of peers, the period and the run, as that place shows them. :func:`disagreements` lists
every place that shows something other than the reference (the API profile as an actor who may see every
figure). Used by ``test_one_judgement.py`` over the demo store and a synthetic national-style store.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

FLAG_VERDICTS = {
    "risk": {"worse"},
    "elevated risk": {"worse"},
    "no evidence of risk": {"as expected", "better"},
    "not scored": {"higher", "lower", "as expected"},
    "insufficient data": {"not compared"},
}
"""Which verdicts a monitoring flag goes with (a flag is the verdict seen in the adverse direction)."""


@dataclass(frozen=True)
class Seen:
    """What one place shows of one organisation x indicator."""

    verdict: str
    lower: float | None
    upper: float | None
    peers: int | None
    period: str | None
    run: int | None


def _number(text):
    if text in (None, "", "None"):
        return None
    return float(text)


def _seen(verdict, lower, upper, peers, period, run) -> Seen:
    peers = _number(peers)
    run = _number(run)
    return Seen(
        verdict,
        _number(lower),
        _number(upper),
        None if peers is None else int(peers),
        (period or None) and str(period)[:10],
        None if run is None else int(run),
    )


def from_api_profile(client, code: str, headers=None) -> dict[tuple[str, str], Seen]:
    body = client.get(f"/api/v1/organisations/{code}", headers=headers or {}).json()
    out = {}
    for item in body["indicators"]:
        c = item["comparison"]
        out[(code, item["indicator_id"])] = _seen(
            c["verdict"], c.get("lower"), c.get("upper"), c.get("peers"), c.get("period"), c.get("run_id")
        )
    return out


class _Attributes(HTMLParser):
    """The attributes of every element carrying ``marker`` among its attributes."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.found: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if self.marker in values:
            self.found.append(values)


def _marked(html: str, marker: str) -> list[dict[str, str]]:
    parser = _Attributes(marker)
    parser.feed(html)
    return parser.found


def from_page(html: str, code: str) -> dict[tuple[str, str], Seen]:
    """The indicator panels of an organisation page or its printable report."""
    return {
        (code, a["data-indicator"]): _seen(
            a["data-verdict"],
            a["data-lower"],
            a["data-upper"],
            a["data-peers"],
            a["data-period"],
            a["data-run"],
        )
        for a in _marked(html, "data-indicator")
    }


def from_league_api(client, indicator_id: str, period: str | None = None, headers=None) -> dict:
    """Every row of a league table from the API (all pages)."""
    out, page = {}, 1
    while True:
        params = {"page": page, "page_size": 1000} | ({"period": period} if period else {})
        body = client.get(
            f"/api/v1/league-tables/{indicator_id}", params=params, headers=headers or {}
        ).json()
        for row in body["items"]:
            c = row["comparison"]
            out[(row["org_code"], indicator_id)] = _seen(
                c["verdict"], c.get("lower"), c.get("upper"), c.get("peers"), c.get("period"), c.get("run_id")
            )
        if page >= body["pages"]:
            return out
        page += 1


def from_league_page(client, indicator_id: str) -> dict:
    """Every row of a league table page (all its pages), at its default (latest) period."""
    out, page = {}, 1
    while True:
        response = client.get("/league-tables", params={"indicator": indicator_id, "page": page})
        period = None
        for a in _marked(response.text, "data-org"):
            out[(a["data-org"], indicator_id)] = _seen(
                a["data-verdict"], a["data-lower"], a["data-upper"], a["data-peers"], period, a["data-run"]
            )
        if 'rel="next"' not in response.text:
            return out
        page += 1


def from_flags(rows) -> dict[tuple[str, str], Seen]:
    """Monitoring flags (rows of :func:`carelens.services.monitoring.flags`): the flag stands for the set
    of verdicts it goes with, written as "flag:<flag>"."""
    return {
        (r["org_code"], r["indicator_id"]): _seen(
            f"flag:{r['flag']}",
            r["risk_lower"],
            r["risk_upper"],
            r["peer_units"] or None,
            r["period"],
            r["run_id"],
        )
        for r in rows
    }


def disagreements(reference: dict, views: dict[str, dict]) -> list[str]:
    """Every organisation x indicator on which a view shows another verdict, other limits, another peer
    count or another run than the reference (for the same period; a view showing "suppressed" is only
    checked for its run). Views with no period (league pages) are compared at the reference's period."""
    problems = []
    for name, view in views.items():
        for key, seen in view.items():
            ref = reference.get(key)
            if ref is None:
                problems.append(f"{name}: {key} is shown but not in the reference")
                continue
            if seen.period is not None and seen.period != ref.period:
                continue  # another period (a flag's latest period where the organisation has no figure)
            if seen.verdict.startswith("flag:"):
                flag = seen.verdict.removeprefix("flag:")
                if ref.verdict not in FLAG_VERDICTS[flag]:
                    problems.append(f"{name}: {key} flag {flag!r} but verdict {ref.verdict!r}")
                if flag != "insufficient data" and (seen.lower, seen.upper, seen.peers) != (
                    ref.lower,
                    ref.upper,
                    ref.peers,
                ):
                    problems.append(f"{name}: {key} limits/peers {seen} vs {ref}")
                continue
            if seen.run != ref.run:
                problems.append(f"{name}: {key} run {seen.run} vs {ref.run}")
            if seen.verdict == "suppressed":
                continue
            if (seen.verdict, seen.lower, seen.upper, seen.peers) != (
                ref.verdict,
                ref.lower,
                ref.upper,
                ref.peers,
            ):
                problems.append(f"{name}: {key} shows {seen} where the run stored {ref}")
    return problems
