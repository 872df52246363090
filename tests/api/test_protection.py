"""What every response and request goes through: security headers on every API route and page (the
permission matrix's routes and every page the app registers), the request-size limit, 422 bodies that
quote only excerpts, bounded page numbers and safe download names."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from carelens.app import create_app
from carelens.http.protection import API_DOCS_CSP, PAGE_CSP
from carelens.model.access import Role
from carelens.services.settings import get_settings
from carelens.store import schema
from carelens.store.testing import seed_import, seed_organisations

from .conftest import auth
from .test_permissions import MATRIX

PAGE_EXAMPLES = {
    "code": "P1",
    "review_id": "1",
    "inspection_id": "1",
    "case_id": "1",
    "file_format": "csv",
    "indicator_id": "I1",
    "chart": "funnel",
    "table": "settlements",
}
"""Values for the path parameters of web pages."""


def page_paths(app) -> list[str]:
    """Every page (GET route outside /api/v1: the web pages' and the app's own), with example path
    parameters."""
    from carelens.web.pages import page_routers

    paths = []
    for route in [*(r for router in page_routers() for r in router.routes), *app.routes]:
        if isinstance(route, APIRoute) and "GET" in route.methods and not route.path.startswith("/api/"):
            paths.append(re.sub(r"\{(\w+)\}", lambda m: PAGE_EXAMPLES[m.group(1)], route.path))
    return sorted(paths)


def assert_security_headers(response, csp: str = PAGE_CSP, https: bool = False) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == csp, response.request.url
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    if https:
        assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    else:
        assert "strict-transport-security" not in headers


@pytest.mark.parametrize("role", [Role.PUBLIC, Role.ANALYST], ids=["public", "analyst"])
def test_every_api_route_answers_with_the_security_headers(client, tokens, role):
    seen = set()
    for method, path, _expected in MATRIX:
        body = {"user_name": f"headers-{role.value}", "role": "analyst"} if method == "POST" else None
        response = client.request(method, path, headers=auth(tokens[role]), json=body)
        assert_security_headers(response)
        seen.add(response.status_code)
    assert {200, 403, 404} <= seen  # answers and refusals alike


def test_every_page_answers_with_the_security_headers(api_engine, client, tokens):
    paths = page_paths(client.app)
    expected = {"/", "/login", "/search", "/organisations/P1", "/plan", "/docs", "/redoc"}
    assert expected | {"/concerns", "/regime", "/regime/cases/1"} <= set(paths)
    # Even a page that fails (this store's plan summary is a stub) answers with them.
    pages = TestClient(create_app(api_engine), raise_server_exceptions=False)
    for path in paths:
        for token in (None, tokens[Role.ANALYST]):
            response = pages.get(path, headers=auth(token))
            assert_security_headers(response, API_DOCS_CSP if path in ("/docs", "/redoc") else PAGE_CSP)
    for other in ("/static/carelens.css", "/no-such-page", "/api/v1/no-such-route"):
        assert_security_headers(client.get(other))
    assert_security_headers(client.post("/api/v1/auth/token", json={}))  # 422
    assert_security_headers(client.put("/api/v1/organisations"))  # 405


def test_strict_transport_security_only_over_https(api_engine):
    secure = TestClient(create_app(api_engine), base_url="https://testserver")
    for path in ("/", "/api/v1/organisations", "/docs", "/static/carelens.css"):
        response = secure.get(path)
        csp = API_DOCS_CSP if path == "/docs" else PAGE_CSP
        assert_security_headers(response, csp, https=True)


def test_every_inline_script_on_a_page_is_allowed_by_its_hash(client):
    html = client.get("/").text
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.DOTALL)
    assert inline, "the design system's template marks the page js-enabled inline"
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in PAGE_CSP
    assert re.findall(r'<script[^>]*\bsrc="([^"]+)"', html) == ["/static/carelens.js"]


def test_api_documentation_assets_are_served_from_the_package(client):
    docs, redoc = client.get("/docs").text, client.get("/redoc").text
    assert "cdn" not in (docs + redoc).lower() and "https://" not in docs + redoc
    for asset in (
        "/static/swagger-ui/swagger-ui-bundle.js",
        "/static/swagger-ui/swagger-ui.css",
        "/static/api-docs/swagger.js",
        "/static/redoc/redoc.standalone.js",
        "/static/api-docs/redoc.js",
    ):
        assert asset in docs + redoc
        assert client.get(asset).status_code == 200, asset
    for licence in ("/static/swagger-ui/LICENSE", "/static/redoc/LICENSE"):
        assert "Permission" in client.get(licence).text or "Apache" in client.get(licence).text


def test_a_large_body_is_refused_unread_and_a_long_value_is_quoted_as_an_excerpt(client, tokens):
    limit = get_settings().max_request_bytes
    huge = b'{"user_name": "' + b"a" * (limit + 10) + b'", "password": "x"}'
    declared = client.post("/api/v1/auth/token", content=huge, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and len(declared.content) < 200

    def chunks():  # no Content-Length: counted while read
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536

    streamed = client.post(
        "/api/v1/auth/token", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413 and len(streamed.content) < 200
    login_form = client.post(
        "/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert login_form.status_code == 413

    long_name = "b" * 200_000  # within the limit, but far over the field's 100 characters
    echoed = client.post("/api/v1/auth/token", json={"user_name": long_name, "password": "x"})
    assert echoed.status_code == 422 and len(echoed.content) < 1000
    (error,) = echoed.json()["detail"]
    assert error["loc"] == ["body", "user_name"] and error["type"] == "string_too_long"
    assert error["input"].endswith(f"... ({200_000 - get_settings().error_excerpt_chars:,} more characters)")
    long_code = "Z" * 20_000  # a path echoed in a message: cut too, on pages and in the API
    page = client.get(f"/organisations/{long_code}")
    assert page.status_code == 404 and "Z" * 400 not in page.text and "more characters" in page.text
    api = client.get(f"/api/v1/systems/directions/{long_code}", headers=auth(tokens[Role.ANALYST]))
    assert api.status_code in (404, 422) and len(api.content) < 1000


@pytest.mark.parametrize(
    "path", ["/search?q=a&page=", "/allocations?page=", "/league-tables?page=", "/system-reviews?page="]
)
def test_huge_page_numbers_are_bounded(client, tokens, path):
    """A page number past any database integer is answered as page 1 is, or (past the services'
    highest page, a million) as a bad request naming the parameter; never 500 (OverflowError)."""
    headers = auth(tokens[Role.ANALYST])
    first = client.get(path + "1", headers=headers).status_code
    for page in ("99999999999999999999999", "1000001"):
        assert client.get(path + page, headers=headers).status_code in (first, 400)
    assert first < 500


def test_an_organisation_code_with_line_breaks_or_quotes_cannot_break_the_pdf_header(client, api_engine):
    code = 'Q"1\r\nSet-Cookie: x=1'
    with api_engine.begin() as c:
        seed_organisations(
            c,
            [dict(code=code, name="Quoted Clinic", kind="location", sector="hospitals")],
            seed_import(c, "odd-code", "test"),
        )
    try:
        response = client.get(f"/organisations/{quote(code, safe='')}/report.pdf")
        assert response.status_code == 200 and response.content.startswith(b"%PDF")
        disposition = response.headers["content-disposition"]
        assert disposition == (
            'inline; filename="carelens-Q1Set-Cookiex1.pdf"; '
            "filename*=UTF-8''carelens-Q%221%0D%0ASet-Cookie%3A%20x%3D1.pdf"
        )
        assert "set-cookie" not in response.headers
    finally:
        with api_engine.begin() as c:
            c.execute(schema.organisation.delete().where(schema.organisation.c.code == code))


def test_where_the_store_is_is_shown_only_to_administrators_and_never_its_password(
    client, tokens, api_engine
):
    import sqlalchemy as sa

    from carelens.store.engine import hide_password
    from carelens.store.schema_monitor import monitor_run

    assert hide_password("database postgresql+psycopg://care:s3cr3t@db.internal:5432/carelens") == (
        "database postgresql+psycopg://care:***@db.internal:5432/carelens"
    )
    assert hide_password("database sqlite:////srv/carelens.db") == "database sqlite:////srv/carelens.db"
    stored = "database postgresql+psycopg://care:s3cr3t@db.internal:5432/carelens"  # as runs once were
    with api_engine.begin() as c:
        before = c.execute(sa.select(monitor_run.c.id, monitor_run.c.source)).all()
        c.execute(monitor_run.update().values(source=stored))
    try:
        for role in Role:
            if role is Role.PUBLIC:
                continue
            headers = auth(tokens[role])
            runs = client.get("/api/v1/monitoring/runs", headers=headers).json()["items"]
            one = client.get(f"/api/v1/monitoring/runs/{runs[0]['id']}", headers=headers).json()
            exported = client.get("/api/v1/monitoring/runs?format=csv", headers=headers).text
            everything = str(runs) + str(one) + exported
            assert "s3cr3t" not in everything
            if role is Role.ADMIN:
                assert {r["source"] for r in runs} == {hide_password(stored)}
                assert "db.internal" in exported and "source" in one["run"]
            else:
                assert (
                    "db.internal" not in everything and "source" not in runs[0] and "source" not in one["run"]
                )
    finally:
        with api_engine.begin() as c:
            for run_id, source in before:
                c.execute(monitor_run.update().where(monitor_run.c.id == run_id).values(source=source))
