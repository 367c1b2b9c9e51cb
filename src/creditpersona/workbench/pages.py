"""The workbench's pages: My day, firm search and 360, quote, watch-list, portfolio, admin.

Each page asks the service's API for its data with the signed-in user's token (see
:mod:`creditpersona.workbench.client`), so what a page shows, and whether it may be shown at
all, is decided by the service: a firm outside an RM's book is the same 404 page as a firm
that does not exist, a role the API refuses gets the 403 page, and every read and write is in
the audit chain. Forms carry the session's CSRF token; writes follow post/redirect/get or
answer an HTMX fragment.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from creditpersona.workbench import reads, views
from creditpersona.workbench.client import ApiError, ServiceClient
from creditpersona.workbench.i18n import translate
from creditpersona.workbench.session import SESSION_COOKIE, Session
from creditpersona.workbench.web import (
    NO_STORE,
    csrf_ok,
    current,
    error_page,
    fragment,
    language,
    render,
    sessions,
    to_signin,
)

router = APIRouter(include_in_schema=False)
Handler = Callable[[Session, ServiceClient], Awaitable[Response]]
#: Rows fetched per API call when a page needs a whole list (the API's page limit).
PAGE = 500
#: At most this many rows are gathered for one page (then the page says it is cut).
MAX_ROWS = 5000


async def _serve(request: Request, handler: Handler, write: bool = False) -> Response:
    """Run ``handler`` for the signed-in user, turning the API's refusals into pages.

    A request without a live session goes to the sign-in page; a write without this
    session's CSRF token is refused (403); the API's 401 ends the session, its 403 and 404
    become the workbench's error pages.
    """
    session = current(request)
    if session is None:
        return to_signin(request)
    if write and not await csrf_ok(request, session):
        return error_page(request, 403, session, translate("csrf_failed", language(request)))
    async with ServiceClient(request, session.token) as api:
        try:
            return await handler(session, api)
        except ApiError as exc:
            return _refused(request, session, exc.status, exc.detail)
        except HTTPException as exc:  # the service's problems raised by reads.py
            return _refused(request, session, exc.status_code, str(exc.detail))


def _refused(request: Request, session: Session, status: int, detail: str) -> Response:
    if status == 401:
        sessions(request).end(request.cookies.get(SESSION_COOKIE))
        return to_signin(request, ended=True)
    if status == 404:  # never say more than "not found": existence must not leak
        return error_page(request, 404, session)
    return error_page(request, status, session, detail)


async def _all(api: ServiceClient, path: str, params: dict[str, Any]) -> tuple[list[Any], int]:
    """Every item of a paginated list (up to :data:`MAX_ROWS`) and the total."""
    items: list[Any] = []
    total = 0
    while len(items) < MAX_ROWS:
        page = await api.get(path, {**params, "limit": PAGE, "offset": len(items)})
        items += page["items"]
        total = int(page["total"])
        if not page["items"] or len(items) >= total:
            break
    return items, total


def _page(request: Request, session: Session, name: str, ctx: dict[str, Any]) -> Response:
    lang = language(request)
    base = {"v": views, "lang": lang,
            "bi": lambda zh, en: views.bilingual(zh, en, lang)}
    return render(request, name, {**base, **ctx}, session=session)


# --- My day -----------------------------------------------------------------------------

@router.get("/myday")
async def myday(request: Request) -> Response:
    """The RM's book, this quarter's best offers and a two-click outcome for each."""

    async def handler(session: Session, api: ServiceClient) -> Response:
        firms, total = await _all(api, "/firms", {})
        as_of, offers = await run_in_threadpool(reads.campaign_list, request, session.token)
        best: dict[str, dict[str, Any]] = {}
        for o in offers:
            best.setdefault(o["firm_id"], o)
        watched = sum(1 for f in firms if f.get("on_watch"))
        return _page(request, session, "myday.html", {
            "page": "myday", "firms": firms, "total": total, "offers": offers,
            "best": best, "watched": watched, "as_of": as_of,
            "today": dt.date.today().isoformat(), "outcomes": list(views.OUTCOMES)})

    return await _serve(request, handler)


@router.post("/outcomes")
async def outcome(request: Request) -> Response:
    """Record an offer's outcome through the outcome API; answers the row's new state."""

    async def handler(session: Session, api: ServiceClient) -> Response:
        form = await request.form()
        kind = str(form.get("outcome", ""))
        lang = language(request)
        if kind not in views.OUTCOMES:
            return fragment(request, "outcome_done.html", {
                "ok": False, "message": f"outcome {kind!r}", "lang": lang,
                "t": lambda k: translate(k, lang)})
        treated, responded = views.OUTCOMES[kind]
        raw_amount = str(form.get("amount", "")).strip()
        try:
            # The contract requires an amount: none taken up is 0; a take-up needs its amount.
            amount = (float(raw_amount) * 1e4 if raw_amount else None) if responded else 0.0
            campaign = campaign_id(str(form.get("as_of", "")))
        except ValueError as exc:
            return fragment(request, "outcome_done.html", {
                "ok": False, "message": str(exc), "t": lambda k: translate(k, lang)})
        body = {"campaign_id": campaign,
                "firm_id": str(form.get("firm_id", "")), "product": str(form.get("product", "")),
                "channel": str(form.get("channel", "")) or None,
                "contact_date": str(form.get("contact_date") or dt.date.today().isoformat()),
                "treated": treated, "responded": responded, "amount_taken": amount,
                "response": kind}
        try:
            saved = await api.post("/campaigns/outcomes", body)
        except ApiError as exc:
            if exc.status in (401, 404):
                raise
            return fragment(request, "outcome_done.html", {
                "ok": False, "message": exc.detail, "t": lambda k: translate(k, lang)})
        return fragment(request, "outcome_done.html", {
            "ok": True, "kind": kind, "amount": amount, "saved": saved, "v": views,
            "t": lambda k: translate(k, lang)})

    return await _serve(request, handler, write=True)


def campaign_id(as_of: str) -> str:
    """The campaign the workbench files a quarter's offer outcomes under.

    Examples
    --------
    >>> campaign_id("2026-06-30")
    'WB20260630'
    """
    day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    return f"WB{day:%Y%m%d}"


# --- Firm search and 360 ----------------------------------------------------------------

@router.get("/firms")
async def search(request: Request, q: str = "", persona: str = "", grade: str = "",
                 industry: str = "", rm_id: str = "", offset: int = 0) -> Response:
    """Search by name, short name or USCC; the results table refreshes as you type (HTMX)."""
    params = {"q": q.strip(), "persona": persona, "grade": grade, "industry": industry,
              "rm_id": rm_id, "limit": 50, "offset": max(offset, 0)}

    async def handler(session: Session, api: ServiceClient) -> Response:
        found = await api.get("/firms", params)
        ctx = {"page": "search", "found": found, "params": params,
               "query": urllib.parse.urlencode({k: v for k, v in params.items()
                                                if k not in ("limit", "offset") and v})}
        name = "search_results.html" if request.headers.get("hx-request") else "search.html"
        return _page(request, session, name, ctx)

    return await _serve(request, handler)


@router.get("/firms/{firm_id}")
async def firm(request: Request, firm_id: str, saved: str = "") -> Response:
    """The firm's 360: header, profile radar, persona, rating, limits, prices, warnings …"""

    async def handler(session: Session, api: ServiceClient) -> Response:
        quoted = urllib.parse.quote(firm_id, safe="")
        view = await api.get(f"/firms/{quoted}")
        view["repayments"] = await _repayments(api, quoted, view.get("repayments") or {})
        lang = language(request)
        ctx = await run_in_threadpool(firm_context, view, lang)
        return _page(request, session, "firm.html", {
            "page": "search", "f": view, "as_of": view["as_of"], "saved": saved,
            "today": dt.date.today().isoformat(), "outcomes": list(views.OUTCOMES), **ctx})

    return await _serve(request, handler)


async def _repayments(api: ServiceClient, quoted: str, latest: dict[str, Any]
                      ) -> dict[str, Any]:
    """The firm's whole repayment history for the timeline: the 360 carries the latest few,
    the rest come from the paged ``/firms/{id}/repayments`` (up to :data:`MAX_ROWS`; the
    page says how many of how many it shows)."""
    if int(latest.get("total") or 0) <= int(latest.get("shown") or 0):
        return latest
    items, total = await _all(api, f"/firms/{quoted}/repayments", {})
    return {**latest, "total": total, "shown": len(items), "items": items}


def firm_context(view: dict[str, Any], lang: str) -> dict[str, Any]:
    """Charts and formatted parts of a 360 view (CPU work, run off the event loop)."""
    from creditpersona.decisions.pricing import COMPONENTS

    labels = {d: views.bilingual(zh, en, lang) for d, (zh, en) in views.dimension_names().items()}
    prices = view.get("prices") or []
    main = _main_price(prices, view.get("limit"))
    parts = {c: main.get(c) for c in COMPONENTS} if main else {}
    return {
        "dim_labels": labels, "radar": views.radar(view["scores"], labels),
        "main_price": main, "waterfall": views.waterfall(
            parts, component_labels(lang), translate("rate", lang), main.get("rate"),
            translate("floor_adjustment", lang)) if main else "",
        "docs": views.documents(view.get("documents") or [], lang),
        "timeline": views.loan_timeline(view.get("loans") or [], view["as_of"], lang),
        "repayment_chart": views.repayment_timeline(
            (view.get("repayments") or {}).get("items") or [], view.get("loans") or [], lang),
        "grades": views.grade_names(), "charts": True,
    }


def _main_price(prices: list[dict[str, Any]], limit: dict[str, Any] | None) -> dict[str, Any]:
    """The price of the limit's product when there is one, else the first price."""
    product = (limit or {}).get("product")
    for p in prices:
        if p.get("product") == product:
            return p
    return prices[0] if prices else {}


def component_labels(lang: str) -> dict[str, str]:
    """Labels of the pricing waterfall's components."""
    zh = {"ftp_bp": "资金成本 FTP", "operating_cost_bp": "运营成本", "expected_loss_bp": "预期损失",
          "capital_charge_bp": "资本成本", "target_margin_bp": "目标利润",
          "fee_credit_bp": "中收抵扣", "tax_bp": "税费", "strategy_bp": "客户性格策略"}
    en = {"ftp_bp": "Funding (FTP)", "operating_cost_bp": "Operating cost",
          "expected_loss_bp": "Expected loss", "capital_charge_bp": "Capital charge",
          "target_margin_bp": "Target margin", "fee_credit_bp": "Fee credit", "tax_bp": "Tax",
          "strategy_bp": "Persona strategy"}
    return en if lang == "en" else zh


@router.post("/firms/{firm_id}/override")
async def override(request: Request, firm_id: str) -> Response:
    """A credit officer's grade and reason, through the rating-override API (then back)."""

    async def handler(session: Session, api: ServiceClient) -> Response:
        form = await request.form()
        quoted = urllib.parse.quote(firm_id, safe="")
        await api.post(f"/firms/{quoted}/rating-override",
                       {"grade": str(form.get("grade", "")),
                        "reason": str(form.get("reason", "")).strip()})
        return RedirectResponse(f"/firms/{quoted}?saved=override#rating", status_code=303,
                                headers=NO_STORE)

    return await _serve(request, handler, write=True)


# --- Quote --------------------------------------------------------------------------------

@router.get("/quote")
async def quote_form(request: Request, firm_id: str = "",
                     product: str = "working_capital") -> Response:
    """Pick firm, product, amount, term, collateral and guarantee; the quote follows."""
    from creditpersona.contract.schema import COLLATERAL, GUARANTEE, PRODUCTS

    async def handler(session: Session, api: ServiceClient) -> Response:
        return _page(request, session, "quote.html", {
            "page": "quote", "firm_id": firm_id, "product": product, "products": PRODUCTS,
            "collaterals": COLLATERAL, "guarantees": GUARANTEE, "charts": True})

    return await _serve(request, handler)


@router.post("/quote/price")
async def quote_price(request: Request) -> Response:
    """The quote fragment: rate, spread, RAROC against the hurdle, and the waterfall."""

    async def handler(session: Session, api: ServiceClient) -> Response:
        form = await request.form()
        lang = language(request)
        t = lambda k: translate(k, lang)  # noqa: E731
        if not str(form.get("firm_id", "")).strip():
            return fragment(request, "quote_result.html", {"error": t("quote_hint"), "t": t})
        try:
            body = {"firm_id": str(form.get("firm_id", "")).strip(),
                    "product": str(form.get("product", "")),
                    "amount": float(str(form.get("amount", "0"))) * 1e4,
                    "term_months": int(str(form.get("term_months", "12"))),
                    "collateral_type": str(form.get("collateral_type", "")) or None,
                    "guarantee_type": str(form.get("guarantee_type", "")) or None}
        except ValueError:
            return fragment(request, "quote_result.html", {"error": t("quote_hint"), "t": t})
        try:
            quote = await api.post("/quotes", body)
        except ApiError as exc:
            if exc.status == 401:
                raise
            message = t("not_found") if exc.status == 404 else exc.detail
            return fragment(request, "quote_result.html", {"error": message, "t": t})
        chart = views.waterfall(quote["components_bp"], component_labels(lang), t("rate"),
                                quote.get("rate"), t("floor_adjustment"))
        return fragment(request, "quote_result.html", {
            "error": None, "q": quote, "chart": chart, "v": views, "t": t})

    return await _serve(request, handler, write=True)


@router.get("/quote/firms")
async def quote_firms(request: Request, firm_id: str = "") -> Response:
    """Suggestions for the quote's firm field: the search's first matches as options."""

    async def handler(session: Session, api: ServiceClient) -> Response:
        found = await api.get("/firms", {"q": firm_id.strip(), "limit": 10}) \
            if firm_id.strip() else {"items": []}
        return fragment(request, "firm_options.html", {"items": found["items"]})

    return await _serve(request, handler)


# --- Watch-list ---------------------------------------------------------------------------

@router.get("/watchlist")
async def watchlist(request: Request, level: str = "", persona: str = "", industry: str = "",
                    rm_id: str = "", state: str = "") -> Response:
    """The quarter's watch-list with filters and each firm's case state."""
    filters = {"level": level, "persona": persona, "industry": industry, "rm_id": rm_id,
               "state": state}

    async def handler(session: Session, api: ServiceClient) -> Response:
        items, total = await _all(api, "/watchlist", {"level": level, "state": state})
        # Persona, industry and RM come from the firm search of the same scope.
        firms, _ = await _all(api, "/firms", {"watch": True, "persona": persona,
                                              "industry": industry, "rm_id": rm_id})
        brief = {f["firm_id"]: f for f in firms}
        rows = [{**i, "brief": brief[i["firm_id"]]} for i in items if i["firm_id"] in brief]
        names = await run_in_threadpool(reads.persona_names, request, session.token)
        return _page(request, session, "watchlist.html", {
            "page": "watchlist", "rows": rows, "total": total, "filters": filters,
            "personas": names, "levels": sorted({str(i.get("level")) for i in items}),
            "can_act": session.role in ("rm", "risk_manager")})

    return await _serve(request, handler)


@router.get("/watchlist/{firm_id}/case")
async def case(request: Request, firm_id: str) -> Response:
    """A firm's case: its history and the next steps (HTMX fragment)."""

    async def handler(session: Session, api: ServiceClient) -> Response:
        found = await run_in_threadpool(reads.case_history, request, session.token, firm_id)
        return _case_fragment(request, session, firm_id, found)

    return await _serve(request, handler)


@router.post("/watchlist/{firm_id}/case")
async def case_action(request: Request, firm_id: str) -> Response:
    """Move a case (acknowledge, record an action, close, reopen) through the API."""

    async def handler(session: Session, api: ServiceClient) -> Response:
        form = await request.form()
        body = {"to_state": str(form.get("to_state", "")),
                "note": str(form.get("note", "")).strip(),
                "assignee": str(form.get("assignee", "")).strip() or None}
        error = None
        try:
            found = await api.post(f"/watchlist/{urllib.parse.quote(firm_id, safe='')}/actions",
                                   body)
        except ApiError as exc:
            if exc.status in (401, 404):
                raise
            error = exc.detail
            found = await run_in_threadpool(reads.case_history, request, session.token, firm_id)
        return _case_fragment(request, session, firm_id, found, error)

    return await _serve(request, handler, write=True)


def _case_fragment(request: Request, session: Session, firm_id: str,
                   found: dict[str, Any] | None, error: str | None = None) -> Response:
    from creditpersona.service.workflow import NEW, TRANSITIONS

    lang = language(request)
    state = found["state"] if found else NEW
    return fragment(request, "case.html", {
        "firm_id": firm_id, "case": found, "error": error, "state": state,
        "next_states": TRANSITIONS[state], "can_act": session.role in ("rm", "risk_manager"),
        "session": session, "t": lambda k: translate(k, lang)})


# --- Portfolio ----------------------------------------------------------------------------

@router.get("/portfolio")
async def portfolio(request: Request) -> Response:
    """Persona mix, grades, migration heatmaps, triggers, industries and watch-list counts."""

    async def handler(session: Session, api: ServiceClient) -> Response:
        book = await api.get("/portfolio")
        names = await run_in_threadpool(reads.persona_names, request, session.token)
        lang = language(request)
        figures = await run_in_threadpool(portfolio_charts, book, names, lang)
        from creditpersona.report.review import _TRIGGERS

        return _page(request, session, "portfolio.html", {
            "page": "portfolio", "p": book, "as_of": book["as_of"], "charts": True,
            "figures": figures, "personas": names, "trigger_names": _TRIGGERS})

    return await _serve(request, handler)


def portfolio_charts(book: dict[str, Any], names: dict[str, tuple[str, str]],
                     lang: str) -> dict[str, str]:
    """The portfolio page's charts; the migration heatmaps are the report's own.

    The report's figures go through ``plotly.graph_objects`` (a third of a second each), so
    the charts are kept for the same numbers, names and language: the book changes once a
    quarter, and a page view then costs only the API call.
    """
    key = json.dumps([book, names, lang], sort_keys=True, ensure_ascii=False, default=str)
    return dict(_portfolio_charts(key))


@functools.lru_cache(maxsize=32)
def _portfolio_charts(key: str) -> tuple[tuple[str, str], ...]:
    book, raw_names, lang = json.loads(key)
    names = {p: (z, e) for p, (z, e) in raw_names.items()}
    return tuple(_draw_portfolio(book, names, lang).items())


def _draw_portfolio(book: dict[str, Any], names: dict[str, tuple[str, str]],
                    lang: str) -> dict[str, str]:
    import pandas as pd

    from creditpersona.review.migration import LEFT, NEW
    from creditpersona.workbench import charts

    t = lambda k: translate(k, lang)  # noqa: E731
    label = {p: f"{p} {views.bilingual(z, e, lang)}" for p, (z, e) in names.items()}
    out: dict[str, str] = {}
    personas = book["personas"]
    if personas:
        out["personas"] = charts.bars([label.get(p, p) for p in personas],
                                      list(personas.values()), t("persona_mix"),
                                      horizontal=True)
    order = [g for g in views.grade_names() if g in book["grades"]]
    if order:
        out["grades"] = charts.bars(order, [book["grades"][g] for g in order], t("grade_dist"))
    levels = book["watch_levels"]
    if levels:
        out["watch"] = charts.bars([views.level_label(k, lang) for k in levels],
                                   list(levels.values()), t("watch_counts"), colour=charts.RED)
    industries = pd.DataFrame(book["industries"])
    if len(industries):
        share = industries["on_watch"] / industries["firms"].where(industries["firms"] > 0)
        out["industries"] = charts.bars(industries["section"].astype(str).tolist(),
                                        share.fillna(0).tolist(), t("industry_flags"),
                                        percent=True, colour=charts.RED)
    moves = pd.DataFrame(book["migration"])
    states = [NEW, *views.grade_names(), LEFT]
    for kind, title in (("rating", "Rating migration 评级迁移"),
                        ("persona", "Persona migration 客户性格迁移")):
        part = (moves[(moves["kind"] == kind) & (moves["segment"] == "portfolio")]
                if len(moves) else moves)
        if not len(part):
            continue
        counts = part.pivot_table(index="from_state", columns="to_state", values="firms",
                                  aggfunc="sum", fill_value=0)
        if kind == "rating":
            counts = counts.reindex(index=[s for s in states if s in counts.index],
                                    columns=[s for s in states if s in counts.columns])
        out[f"migration_{kind}"] = charts.migration(counts, title, label)
    return out


# --- Admin --------------------------------------------------------------------------------

@router.get("/admin")
async def admin(request: Request, user: str = "", firm_id: str = "", since: str = "",
                offset: int = 0) -> Response:
    """Users and roles (admins) and the audit trail, filterable (admins, risk managers)."""
    from creditpersona.service.users import ROLES

    filters = {"user": user.strip(), "firm_id": firm_id.strip(), "since": since.strip()}

    async def handler(session: Session, api: ServiceClient) -> Response:
        users = await api.get("/users") if session.role == "admin" else None
        trail = await api.get("/audit", {**filters, "limit": 100, "offset": max(offset, 0)})
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v})
        return _page(request, session, "admin.html", {
            "page": "admin", "users": users, "trail": trail, "filters": filters,
            "query": query, "roles": ROLES})

    return await _serve(request, handler)


@router.post("/admin/users")
async def add_user(request: Request) -> Response:
    """Create a user through the API (admins), then back to the admin page."""

    async def handler(session: Session, api: ServiceClient) -> Response:
        form = await request.form()
        body = {"username": str(form.get("username", "")).strip(),
                "role": str(form.get("role", "")),
                "rm_id": str(form.get("rm_id", "")).strip() or None,
                "password": str(form.get("password", ""))}
        await api.post("/users", body)
        return RedirectResponse("/admin", status_code=303, headers=NO_STORE)

    return await _serve(request, handler, write=True)


@router.post("/admin/users/{username}/disable")
async def disable_user(request: Request, username: str) -> Response:
    """Disable a user through the API (admins)."""

    async def handler(session: Session, api: ServiceClient) -> Response:
        await api.post(f"/users/{urllib.parse.quote(username, safe='')}/disable", {})
        return RedirectResponse("/admin", status_code=303, headers=NO_STORE)

    return await _serve(request, handler, write=True)
