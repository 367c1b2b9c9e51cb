"""Routes of the workbench: sign-in and sign-out, the language switch and static files.

The pages themselves live in :mod:`creditpersona.workbench.pages`; both are mounted on the
service's application by :func:`creditpersona.workbench.install`.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from creditpersona.workbench.client import ApiError, ServiceClient
from creditpersona.workbench.i18n import LANG_COOKIE, LANGUAGES, translate
from creditpersona.workbench.session import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    same_token,
)
from creditpersona.workbench.web import (
    HOME,
    NO_STORE,
    csrf_ok,
    current,
    language,
    local_path,
    render,
    sessions,
    to_signin,
)

router = APIRouter(include_in_schema=False)


def plotly_js() -> Path:
    """The plotly.min.js the installed ``plotly`` package ships (never copied into the repo)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _cookie(response: Response, name: str, value: str, max_age: int | None = None,
            request: Request | None = None) -> None:
    secure = request is not None and request.url.scheme == "https"
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=secure, path="/")


@router.get("/vendor/plotly.min.js")
async def plotly_file() -> FileResponse:
    """Plotly from the installed package, cached by the browser for a day."""
    return FileResponse(plotly_js(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/")
async def start(request: Request) -> Response:
    """The first page of the signed-in user's role, or the sign-in page."""
    session = current(request)
    if session is None:
        return to_signin(request)
    return RedirectResponse(HOME.get(session.role, "/firms"), status_code=303,
                            headers=NO_STORE)


@router.get("/signin")
async def signin_form(request: Request, next: str = "/", ended: str = "") -> Response:
    """The sign-in form, with a fresh CSRF token in a cookie and a hidden field."""
    token = secrets.token_urlsafe(32)
    lang = language(request)
    flash = translate("session_ended", lang) if ended else None
    response = render(request, "signin.html", {"login_csrf": token, "next": local_path(next),
                                                "flash": flash, "flash_error": bool(ended)})
    _cookie(response, LOGIN_CSRF_COOKIE, token, max_age=3600, request=request)
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the password through the service's token endpoint and start a session."""
    form = await request.form()
    lang = language(request)
    field = form.get(CSRF_FIELD)
    if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE, ""),
                      field if isinstance(field, str) else None):
        return _signin_again(request, translate("csrf_failed", lang))
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    async with ServiceClient(request) as api:
        try:
            token = await api.token(username, password)
        except ApiError:
            return _signin_again(request, translate("signin_failed", lang),
                                 str(form.get("next", "/")))
    async with ServiceClient(request, token) as api:
        me = await api.get("/auth/me")
    sid = sessions(request).create(str(me["username"]), str(me["role"]), token,
                                   me.get("rm_id"))
    target = local_path(str(form.get("next", "/")))
    response = RedirectResponse(target if target != "/" else HOME.get(str(me["role"]), "/"),
                                status_code=303, headers=NO_STORE)
    _cookie(response, SESSION_COOKIE, sid, request=request)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


def _signin_again(request: Request, message: str, next: str = "/") -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "signin.html", {"login_csrf": token, "next": local_path(next),
                                                "flash": message, "flash_error": True},
                      status=401)
    _cookie(response, LOGIN_CSRF_COOKIE, token, max_age=3600, request=request)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """End the session here (the cookie alone is then worth nothing) and forget the cookie."""
    session = current(request)
    if session is not None and not await csrf_ok(request, session):
        return to_signin(request)
    sessions(request).end(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/signin", status_code=303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str, next: str = "/") -> Response:
    """Remember the language (zh or en) and go back to the page."""
    response = RedirectResponse(local_path(next), status_code=303, headers=NO_STORE)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, httponly=True,
                            samesite="lax", path="/")
    return response
