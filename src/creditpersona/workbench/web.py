"""What every workbench page shares: templates, the session of a request, CSRF, redirects.

Pages are rendered on the server (Jinja2, autoescaped) and enhanced with HTMX; the session
is kept server-side (:mod:`creditpersona.workbench.session`). Every response of the
workbench is ``Cache-Control: no-store``, so that the browser's Back button after sign-out
asks the server again and lands on the sign-in page instead of showing a cached customer.
"""

from __future__ import annotations

import urllib.parse
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from creditpersona.workbench.i18n import LANG_COOKIE, pick_language, translate
from creditpersona.workbench.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    Session,
    SessionStore,
    same_token,
)

#: Navigation: (page key, address, roles that see the link).
NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("myday", "/myday", ("rm",)),
    ("search", "/firms", ("rm", "credit_officer", "risk_manager")),
    ("quote", "/quote", ("rm", "credit_officer")),
    ("watchlist", "/watchlist", ("rm", "credit_officer", "risk_manager")),
    ("portfolio", "/portfolio", ("risk_manager", "credit_officer")),
    ("admin", "/admin", ("admin", "risk_manager")),
)
#: The first page of each role after sign-in.
HOME = {"rm": "/myday", "credit_officer": "/firms", "risk_manager": "/portfolio",
        "admin": "/admin"}
PLOTLY_URL = "/vendor/plotly.min.js"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def package_dir(name: str) -> Path:
    """The folder ``name`` (``templates`` or ``static``) inside the installed package."""
    return Path(str(resources.files("creditpersona.workbench") / name))


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(package_dir("templates")),
    autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True)


def sessions(request: Request) -> SessionStore:
    """The application's session store (created by :func:`creditpersona.workbench.install`)."""
    store: SessionStore = request.app.state.workbench_sessions
    return store


def current(request: Request) -> Session | None:
    """The signed-in session of this request, or None."""
    return sessions(request).get(request.cookies.get(SESSION_COOKIE))


def language(request: Request) -> str:
    """The language the browser chose (the cookie), Chinese by default."""
    return pick_language(request.cookies.get(LANG_COOKIE))


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects).

    Examples
    --------
    >>> local_path("/firms?q=a"), local_path("//evil.example/x"), local_path("https://x")
    ('/firms?q=a', '/', '/')
    """
    if not target or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


def here(request: Request) -> str:
    """The path and query of this request (to come back to after sign-in or a switch)."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           status: int = 200, session: Session | None = None) -> HTMLResponse:
    """Render template ``name`` with the labels, session and navigation of this request."""
    lang = language(request)
    ctx: dict[str, Any] = {
        "lang": lang, "t": lambda key: translate(key, lang), "session": session,
        "nav": NAV, "page": "", "here": here(request), "flash": None, "flash_error": False,
        "charts": False, "plotly_url": PLOTLY_URL, "as_of": None,
        "static": lambda path: f"/static/{path}",
    }
    ctx.update(context or {})
    html = _ENV.get_template(name).render(ctx)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def fragment(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    """A template rendered as an HTMX fragment (no layout)."""
    return render(request, name, context, session=context.get("session"))


def to_signin(request: Request, ended: bool = False) -> Response:
    """Send the browser to the sign-in page, coming back here afterwards.

    HTMX requests get an ``HX-Redirect`` so the whole page moves, not the fragment.
    """
    target = "/signin?" + urllib.parse.urlencode(
        {"next": here(request) if request.method == "GET" else "/",
         **({"ended": "1"} if ended else {})})
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target, **NO_STORE})
    return RedirectResponse(target, status_code=303, headers=NO_STORE)


async def csrf_ok(request: Request, session: Session) -> bool:
    """Whether a state-changing request carries this session's CSRF token (header or form)."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return same_token(session.csrf, given)


def error_page(request: Request, status: int, session: Session | None,
               detail: str = "") -> HTMLResponse:
    """The workbench's error page (404 looks the same for a missing and a hidden firm)."""
    key = {404: "not_found", 403: "forbidden"}.get(status, "error")
    lang = language(request)
    return render(request, "error.html", {"status": status, "message": translate(key, lang),
                                          "detail": detail}, status=status, session=session)
