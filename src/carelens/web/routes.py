"""Web pages, mounted by :func:`carelens.app.create_app` at the site root.

Thin by rule: each page asks the access-checked services (:mod:`carelens.services`) for its data and
renders a template; a service's ``NotFound``/``Forbidden`` becomes the matching HTML error page.
Pages for areas that have not landed are not registered, so they are 404.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import date
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carelens.http.protection import excerpt
from carelens.http.security import SESSION_COOKIE, ActorDep, end_session, logout, sign_in, start_session
from carelens.model.access import Actor, Role, Scope
from carelens.services import NotFound, ServiceError, Unauthenticated
from carelens.web.settings import web_settings
from carelens.web.templating import render

router = APIRouter(include_in_schema=False)


def navigation(actor: Actor, current: str) -> list[dict]:
    """Header links: what this actor can use (by its role rules, which the pages' services enforce).
    The role's own pages come first: the header moves the links that do not fit its width into "More",
    starting from the last, so a commissioner's scorecard or a provider's own page is never hidden there."""
    items = []
    # An inspector's organisations are its assignments: its plan lists them.
    own_organisations = () if actor.inspector_id else sorted(actor.organisations)[:2]
    for code in own_organisations:
        if actor.role is Role.COMMISSIONER:
            items.append((f"Scorecard ({code})", f"/commissioners/{code}"))
        items.append((f"My organisation ({code})", f"/organisations/{code}"))
    items += [("Find an organisation", "/search"), ("League tables", "/league-tables")]
    scope = actor.rules.confidential_data
    if scope in (Scope.ALL, Scope.SECTOR):
        items.append(("Monitoring", "/monitoring"))
    if scope in (Scope.ALL, Scope.AREA):
        items.append(("Allocations", "/allocations"))
    plans = actor.rules.inspection_plans
    if plans in (Scope.ALL, Scope.SECTOR):
        items.append(("Inspection plan", "/plan"))
    if plans is Scope.ASSIGNED:
        items.append(("My inspection plan", "/plan"))
    items.append(("System reviews", "/system-reviews"))  # published review reports are open to all
    if actor.rules.local_systems is not Scope.NONE:
        items.append(("Accountable care", "/accountable-care"))
    return [{"text": text, "href": href, "current": href == current} for text, href in items]


def page(request: Request, actor: Actor, template: str, status: int = 200, **context) -> HTMLResponse:
    """Render a page; pages showing data the public may not see are never cached."""
    html = render(template, actor=actor, nav=navigation(actor, request.url.path), **context)
    headers = {"Cache-Control": "no-store"} if actor.signed_in else {}
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(request: Request, actor: Actor, error: ServiceError) -> HTMLResponse:
    titles = {404: "Page not found", 403: "You cannot see this page", 400: "Cannot show this page"}
    title = titles.get(error.status, "Something went wrong")
    message = excerpt(error.message, 300)  # a message may quote the request (a code in the path)
    return page(request, actor, "error.jinja", status=error.status, title=title, message=message)


def _engine(request: Request):
    return request.app.state.engine


@router.get("/", response_class=HTMLResponse)
def home(request: Request, actor: ActorDep):
    return page(request, actor, "home.jinja", title="Find and compare health and care services")


@router.get("/about", response_class=HTMLResponse)
def about(request: Request, actor: ActorDep):
    from carelens.web.views import suppression_note

    return page(request, actor, "about.jinja", title="About the figures", suppression_note=suppression_note())


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after signing in (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


CSRF_COOKIE = "carelens_csrf"
"""The sign-in form's anti-forgery cookie (double submit): GET /login sets a random value in this
cookie (HttpOnly, SameSite=Strict, path /login) and in a hidden field of the form; POST /login signs in
only when the two match, so another site cannot sign a visitor's browser in to an account of its
choosing (login CSRF). Another site can neither read the cookie nor set it with the field's value."""


def _login_page(
    request: Request, actor: Actor, next_path: str, errors: list, status: int = 200, user_name: str = ""
) -> HTMLResponse:
    """The sign-in form with a fresh anti-forgery token (cookie and hidden field), never cached."""
    csrf = secrets.token_urlsafe(32)
    response = page(
        request,
        actor,
        "login.jinja",
        status=status,
        title="Sign in",
        next=next_path,
        errors=errors,
        user_name=user_name,
        csrf_token=csrf,
    )
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, actor: ActorDep, next: str | None = None):
    return _login_page(request, actor, _safe_next(next), [])


@router.post("/login")
async def login_submit(
    request: Request,
    actor: ActorDep,
    user_name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
):
    """Sign in (the password is checked off the request threads, throttled: http.security.sign_in)."""
    errors = []
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not (cookie and csrf_token and hmac.compare_digest(cookie.encode(), csrf_token.encode())):
        errors.append({"text": "Your sign-in form had expired: sign in again", "href": "#user_name"})
        return _login_page(request, actor, _safe_next(next), errors, status=400, user_name=user_name)
    if not user_name.strip():
        errors.append({"text": "Enter your user name", "href": "#user_name"})
    elif any(ord(c) < 32 or ord(c) == 127 for c in user_name):
        errors.append({"text": "A user name has no control characters", "href": "#user_name"})
    if not password:
        errors.append({"text": "Enter your password", "href": "#password"})
    status, retry_after = 400, None
    if not errors:
        try:
            token, expires = await sign_in(request, user_name.strip(), password, kind="session")
        except Unauthenticated:
            errors.append({"text": "User name or password is not right", "href": "#user_name"})
            status = 401
        except ServiceError as error:  # locked out (429) or too many sign-ins at once (503)
            errors.append({"text": _sign_in_refusal(error), "href": "#user_name"})
            status, retry_after = error.status, getattr(error, "retry_after", None)
        else:
            response = RedirectResponse(_safe_next(next), status_code=303)
            start_session(response, token, expires, secure=request.url.scheme == "https")
            response.delete_cookie(CSRF_COOKIE, path="/login")
            return response
    response = _login_page(request, actor, _safe_next(next), errors, status=status, user_name=user_name)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _sign_in_refusal(error: ServiceError) -> str:
    seconds = getattr(error, "retry_after", 1)
    if error.status == 429:
        return f"Too many failed sign-ins: try again in {seconds} second{'s' if seconds != 1 else ''}"
    return "Too many people are signing in at once: try again in a moment"


@router.post("/logout")
def logout_submit(request: Request):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        logout(_engine(request), token)
    response = RedirectResponse("/", status_code=303)
    end_session(response)
    return response


@router.get("/search", response_class=HTMLResponse)
def search(
    request: Request, actor: ActorDep, q: str = "", page_number: Annotated[int, Query(alias="page", ge=1)] = 1
):
    from carelens.services.organisations import search_organisations
    from carelens.web.views import KIND_NAMES

    results = None
    if q.strip():
        size = web_settings().search_results
        results = search_organisations(_engine(request), actor, q=q, page=page_number, page_size=size)
    links = _pager_links("/search", {"q": q}, results)
    return page(
        request,
        actor,
        "search.jinja",
        title=f"Search results for {q}" if q.strip() else "Find an organisation",
        q=q,
        results=results,
        kind_names=KIND_NAMES,
        **links,
    )


def _pager_links(path: str, params: dict, result) -> dict:
    if result is None:
        return {"previous_href": None, "next_href": None}
    previous_href = f"{path}?{urlencode({**params, 'page': result.page - 1})}" if result.page > 1 else None
    next_href = (
        f"{path}?{urlencode({**params, 'page': result.page + 1})}" if result.page < result.pages else None
    )
    return {"previous_href": previous_href, "next_href": next_href}


@router.get("/organisations/{code}", response_class=HTMLResponse)
def organisation(request: Request, actor: ActorDep, code: str):
    from carelens.web.views import profile_view

    try:
        view = profile_view(_engine(request), actor, code, web_settings())
    except ServiceError as error:
        return error_page(request, actor, error)
    title = view["organisation"]["name"] or code
    return page(request, actor, "organisation.jinja", title=title, **view)


@router.get("/organisations/{code}/report", response_class=HTMLResponse)
def organisation_report(request: Request, actor: ActorDep, code: str):
    from carelens.web.views import profile_view

    try:
        view = profile_view(_engine(request), actor, code, web_settings())
    except ServiceError as error:
        return error_page(request, actor, error)
    title = f"Report: {view['organisation']['name'] or code}"
    return page(request, actor, "report.jinja", title=title, **view)


@router.get("/organisations/{code}/report.pdf")
def organisation_report_pdf(request: Request, actor: ActorDep, code: str):
    from carelens.web.report import report_pdf
    from carelens.web.views import profile_view

    try:
        view = profile_view(_engine(request), actor, code, web_settings())
    except ServiceError as error:
        return error_page(request, actor, error)
    headers = {"Content-Disposition": _pdf_disposition(view["organisation"]["code"])}
    if actor.signed_in:
        headers["Cache-Control"] = "no-store"
    return Response(report_pdf(view), media_type="application/pdf", headers=headers)


def _pdf_disposition(code: str) -> str:
    """``inline`` with a file name made of the code's letters, digits, '-' and '_' only (an organisation
    code may hold any character: CR/LF or quotes must not reach a header), and the code in full,
    percent-encoded, as RFC 6266's ``filename*``."""
    plain = "".join(c for c in code if c.isascii() and (c.isalnum() or c in "-_"))[:60] or "organisation"
    return f"inline; filename=\"carelens-{plain}.pdf\"; filename*=UTF-8''carelens-{quote(code, safe='')}.pdf"


@router.get("/league-tables", response_class=HTMLResponse)
def league_tables(
    request: Request,
    actor: ActorDep,
    indicator: str | None = None,
    period: Annotated[date | None, Query(description="A period the monitoring run judged.")] = None,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
):
    from carelens.services.league import league_table
    from carelens.services.observations import list_indicators
    from carelens.web.views import KIND_NAMES, VALUE_FORMATS, league_rows, suppression_note

    engine = _engine(request)
    rankable = [
        i for i in list_indicators(engine, actor) if i["polarity"] in ("higher_is_better", "lower_is_better")
    ]
    chosen = next((i for i in rankable if i["id"] == indicator), rankable[0] if rankable else None)
    table = None
    if chosen is not None:
        try:
            table = league_table(
                engine,
                actor,
                chosen["id"],
                period=period,
                page=page_number,
                page_size=web_settings().league_table_rows,
            )
        except ServiceError as error:
            return error_page(request, actor, error)
    params = {"indicator": chosen["id"] if chosen else ""} | ({"period": period.isoformat()} if period else {})
    links = _pager_links("/league-tables", params, table)
    return page(
        request,
        actor,
        "league.jinja",
        title="League tables",
        indicators=rankable,
        options=[(i["id"], i["title"]) for i in rankable],
        chosen=chosen,
        table=table,
        value_format=VALUE_FORMATS.get(chosen["value_type"], "number") if chosen else "number",
        league_rows=league_rows,
        kind_names=KIND_NAMES,
        suppression_note=suppression_note(),
        **links,
    )


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring(request: Request, actor: ActorDep):
    from carelens.web.views import KIND_NAMES, monitoring_view

    try:
        view = monitoring_view(_engine(request), actor)
    except ServiceError as error:
        return error_page(request, actor, error)
    return page(
        request, actor, "monitoring.jinja", title="Monitoring overview", kind_names=KIND_NAMES, **view
    )


@router.get("/commissioners/{code}", response_class=HTMLResponse)
def commissioner_scorecard(request: Request, actor: ActorDep, code: str):
    from carelens.services.funding import commissioner_scorecard as scorecard
    from carelens.web.views import MEASURE_NAMES, RATING_NAMES

    try:
        card = scorecard(_engine(request), actor, code)
    except ServiceError as error:
        return error_page(request, actor, error)
    name = card["commissioner"]["name"] or code
    return page(
        request,
        actor,
        "scorecard.jinja",
        title=f"Scorecard: {name}",
        card=card,
        measure_names=MEASURE_NAMES,
        rating_names=RATING_NAMES,
    )


@router.get("/allocations", response_class=HTMLResponse)
def allocation_explorer(
    request: Request,
    actor: ActorDep,
    a: str | None = None,
    b: str | None = None,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
):
    from carelens.services import funding
    from carelens.web.charts import whatif_svg

    engine = _engine(request)
    try:
        scenarios = funding.scenarios(engine, actor)
    except ServiceError as error:
        return error_page(request, actor, error)
    try:
        table = funding.allocations(
            engine, actor, page=page_number, page_size=web_settings().league_table_rows
        )
    except NotFound:
        table = None  # no allocation run saved yet
    names = [s["name"] for s in scenarios]
    a = a if a in names else (names[0] if names else None)
    b = b if b in names else next((n for n in names if n != a), a)
    comparison = None
    if a and b and a != b:
        try:
            comparison = funding.whatif(engine, actor, a, b, chart=True)
        except ServiceError as error:
            return error_page(request, actor, error)
    links = _pager_links("/allocations", {"a": a or "", "b": b or ""}, table)
    return page(
        request,
        actor,
        "allocations.jinja",
        title="Allocations",
        table=table,
        options=[(s["name"], f"{s['title']} ({s['year']})") for s in scenarios],
        a=a,
        b=b,
        comparison=comparison,
        chart_svg=whatif_svg(comparison) if comparison else None,
        **links,
    )


@router.get("/plan", response_class=HTMLResponse)
def inspection_plan(
    request: Request,
    actor: ActorDep,
    status: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
):
    """The latest inspection schedule as the actor may see it; 404 (never 403) to roles without the
    inspection-plans right, as the services decide."""
    from carelens.web.views import PLAN_STATUS_NAMES, plan_view

    settings = web_settings()
    try:
        view = plan_view(
            _engine(request),
            actor,
            status or None,
            page_number,
            settings.plan_rows,
            settings.regime_case_rows,
        )
    except ServiceError as error:
        return error_page(request, actor, error)
    links = _pager_links("/plan", {"status": status}, view["table"])
    return page(
        request,
        actor,
        "plan.jinja",
        title="My inspection plan" if actor.rules.inspection_plans is Scope.ASSIGNED else "Inspection plan",
        status_filter=status,
        options=[("", "All inspections"), *PLAN_STATUS_NAMES.items()],
        **view,
        **links,
    )


# --- local system reviews and accountable care organisations ---------------------------------------


@router.get("/system-reviews", response_class=HTMLResponse)
def system_reviews(
    request: Request,
    actor: ActorDep,
    period: str | None = None,
    budget: str | None = None,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
):
    """Reviews of local systems (published reports to everyone); places ranked for review with why,
    overdue actions and the programme's budget what-if for the roles the services allow."""
    from carelens.web.views import REVIEW_STATUS_TAGS, system_reviews_view

    try:
        view = system_reviews_view(
            _engine(request), actor, period, budget, page_number, web_settings().league_table_rows
        )
    except ServiceError as error:
        return error_page(request, actor, error)
    links = _pager_links(
        "/system-reviews", {"period": view["period"] or "", "budget": budget or ""}, view["ranking"]
    )
    return page(
        request,
        actor,
        "system_reviews.jinja",
        status=400 if view["errors"] else 200,
        title="Local system reviews",
        status_tags=REVIEW_STATUS_TAGS,
        **view,
        **links,
    )


@router.get("/system-reviews/{review_id}", response_class=HTMLResponse)
def system_review(request: Request, actor: ActorDep, review_id: str):
    """One review: findings by pathway stage (never a rating) and, for those who track it, its action plan."""
    from carelens.services.systems import review
    from carelens.web.views import REVIEW_STATUS_TAGS

    try:
        if not review_id.isdigit() or not 0 < int(review_id) < 2**62:
            raise NotFound(f"no review {review_id}")
        found = review(_engine(request), actor, int(review_id))
    except ServiceError as error:
        return error_page(request, actor, error)
    title = f"Local system review: {found['place_name'] or found['place_code']}"
    return page(
        request, actor, "system_review.jinja", title=title, review=found, status_tags=REVIEW_STATUS_TAGS
    )


@router.get("/accountable-care", response_class=HTMLResponse)
def accountable_care(request: Request, actor: ActorDep):
    """ACO settlements (savings against the benchmark, quality gate, payment) and market concentration."""
    from carelens.web.views import CONCENTRATION_TAGS, accountable_care_view

    try:
        view = accountable_care_view(_engine(request), actor)
    except ServiceError as error:
        return error_page(request, actor, error)
    return page(
        request,
        actor,
        "accountable_care.jinja",
        title="Accountable care organisations",
        concentration_tags=CONCENTRATION_TAGS,
        **view,
    )
