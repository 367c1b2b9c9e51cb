"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the service answers has ``type``, ``title``, ``status`` and ``detail``; a 500
never carries a traceback or an internal message (it is logged, with an id the client sees).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from creditpersona.errors import CreditPersonaError

MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger("creditpersona.service")
_TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 422: "Invalid request",
           429: "Too many requests", 500: "Internal error", 503: "Service unavailable"}


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """A problem-details response."""
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status,
            "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


class Problem(HTTPException):
    """Raise to answer with a problem (status, detail, optional headers)."""


def install(app: FastAPI) -> None:
    """Register the problem-details handlers on ``app``."""

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
                  for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        return problem(422, f"{'.'.join(first['loc'])}: {first['msg']}", errors=errors)

    @app.exception_handler(CreditPersonaError)
    async def _ours(request: Request, exc: CreditPersonaError) -> JSONResponse:
        return problem(400, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        ref = secrets.token_hex(6)
        _log.exception("unexpected error %s on %s %s", ref, request.method, request.url.path)
        return problem(500, f"unexpected error (reference {ref}); the service log has it.")
