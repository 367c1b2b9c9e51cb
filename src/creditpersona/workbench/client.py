"""The workbench's way into the service: its own REST API, called in process.

Every page asks the service's ``/api/v1`` endpoints for its data with the signed-in user's
bearer token, through an ASGI transport into the same application (no socket, no second
server). So a page sees exactly what the API shows that user — the relationship-manager
scoping, the 404 for a firm outside the book and the audit record of every read and write
all happen in the service's data-access layer, once, and the workbench cannot bypass them.
The browser's address is passed on as the client of the inner request, so the audit trail
records where a look came from.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
from starlette.requests import Request

#: Prefix of the service's versioned API.
API = "/api/v1"


@dataclasses.dataclass
class ApiError(Exception):
    """The API answered with an error (RFC 9457 problem details when it could)."""

    status: int
    title: str
    detail: str

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"


def _problem(response: httpx.Response) -> ApiError:
    title, detail = response.reason_phrase, ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        raw = body.get("detail", "")
        if isinstance(raw, list):  # FastAPI's validation errors
            raw = "; ".join(f"{'.'.join(str(x) for x in e.get('loc', ())[1:])}: {e.get('msg')}"
                            for e in raw if isinstance(e, dict))
        detail = str(raw)
    return ApiError(response.status_code, title, detail)


class ServiceClient:
    """Calls the service's API for one browser request.

    Parameters
    ----------
    request : starlette.requests.Request
        The browser's request; its application is the service, its client the audit's
        "from where".
    token : str or None
        The signed-in user's bearer token (None before sign-in).
    """

    def __init__(self, request: Request, token: str | None = None) -> None:
        client = request.client
        origin = (client.host, client.port) if client else ("unknown", 0)
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=request.app, client=origin),
            base_url="http://workbench.internal",
            headers={"Authorization": f"Bearer {token}"} if token else {},
            timeout=30.0)

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._client.request(method, API + path, **kwargs)
        if response.status_code >= 400:
            raise _problem(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``/api/v1{path}``; parameters that are None or '' are left out."""
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        return await self._send("GET", path, params=clean)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST a JSON body to ``/api/v1{path}``."""
        return await self._send("POST", path, json=body)

    async def token(self, username: str, password: str) -> str:
        """Sign in through ``POST /api/v1/auth/token`` and return the access token."""
        body = await self._send("POST", "/auth/token",
                                data={"username": username, "password": password})
        return str(body["access_token"])
