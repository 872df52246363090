"""Sorting tables in the browser (``static/sortable-tables.js``) in Debian's chromium: a heading of a
table marked sortable becomes a button that sorts the rows by the raw value behind each cell (a
figure's number, a date's ISO form), sets ``aria-sort`` and keeps empty and suppressed cells last; a
table split over pages keeps the server's sort links; axe-core finds no serious or critical violation
and the Content-Security-Policy is not broken (the script is a file of the site, not inline)."""

from __future__ import annotations

import datetime as dt

import pytest

from .conftest import check_accessibility, shot, signed_in

expect = pytest.importorskip("playwright.sync_api").expect


def heading(tab, table: str, name: str):
    """The column heading ``name`` of table ``#table``."""
    return tab.locator(f"#{table}").get_by_role("columnheader", name=name, exact=True)


def column(tab, table: str, index: int) -> list[str]:
    """The ``data-sort-value`` of each row's cell in column ``index`` of table ``#table``, in row order."""
    return tab.eval_on_selector_all(
        f"#{table} tbody tr", f"rows => rows.map(r => r.cells[{index}].getAttribute('data-sort-value'))"
    )


def numbers_then_empties(values: list[str]) -> tuple[list[float], int]:
    """The numbers of a column in order, checking every empty value comes after them."""
    filled = [v for v in values if v]
    assert values[: len(filled)] == filled, "empty values must stay last"
    return [float(v) for v in filled], len(values) - len(filled)


def test_a_league_table_on_one_page_sorts_by_the_raw_value_in_the_browser(browser, live_server, tmp_path):
    tab = signed_in(browser, live_server, None, "/league-tables?indicator=shmi&size=1000", "")
    try:
        table = tab.locator("#league-table")
        expect(table).to_have_attribute("data-sortable", "")
        value = heading(tab, "league-table", "Value")
        assert value.locator("a").count() == 0  # the server's link became a button
        value.get_by_role("button").click()
        expect(value).to_have_attribute("aria-sort", "ascending")
        expect(heading(tab, "league-table", "Band")).not_to_have_attribute("aria-sort", "ascending")
        ascending, empty = numbers_then_empties(column(tab, "league-table", 4))
        assert ascending == sorted(ascending) and len(ascending) > 100
        value.get_by_role("button").click()
        expect(value).to_have_attribute("aria-sort", "descending")
        descending, still_empty = numbers_then_empties(column(tab, "league-table", 4))
        assert descending == sorted(ascending, reverse=True) and still_empty == empty
        expect(tab.get_by_role("status").first).to_have_text("Sorted by Value (descending)")
        name = heading(tab, "league-table", "Organisation")
        name.get_by_role("button").click()
        expect(name).to_have_attribute("aria-sort", "ascending")
        assert value.get_attribute("aria-sort") is None
        shot(tab, tmp_path, "league-sorted-by-name")
        check_accessibility(tab)
        assert tab.csp_violations == []
    finally:
        tab.context.close()


def test_a_table_over_several_pages_keeps_the_servers_sort_links(browser, live_server):
    tab = signed_in(browser, live_server, None, "/league-tables?indicator=shmi", "")
    try:
        assert tab.locator("#league-table[data-sortable]").count() == 0
        link = heading(tab, "league-table", "Value").get_by_role("link")
        expect(link).to_have_attribute("href", "/league-tables?indicator=shmi&sort=value&order=ascending")
        link.click()
        tab.wait_for_url("**sort=value**")
        expect(heading(tab, "league-table", "Value")).to_have_attribute("aria-sort", "ascending")
    finally:
        tab.context.close()


def test_dates_sort_by_the_day_not_the_words(browser, live_server, rating_history, tmp_path):
    """Earlier ratings written "1 December 2010" sort by the date they stand for."""
    tab = signed_in(browser, live_server, None, "/organisations/RK950", "")
    try:
        report_date = heading(tab, "earlier-ratings", "Report date")
        report_date.get_by_role("button").click()
        expect(report_date).to_have_attribute("aria-sort", "ascending")
        days = column(tab, "earlier-ratings", 3)
        assert days == sorted(days) and len(days) == 30
        shown = tab.eval_on_selector_all(
            "#earlier-ratings tbody tr", "rows => rows.map(r => r.cells[3].lastChild.textContent.trim())"
        )
        assert [dt.datetime.strptime(s, "%d %B %Y").date().isoformat() for s in shown] == days
        assert shown != sorted(shown)  # the words alone would sort otherwise
        shot(tab, tmp_path, "earlier-ratings-by-date")
        check_accessibility(tab)
        assert tab.csp_violations == []
    finally:
        tab.context.close()
