"""The FastAPI application factory of the service (``creditpersona serve``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI

from creditpersona.service.access import NoResults, Results
from creditpersona.service.auth import TOKEN_MINUTES, load_secret
from creditpersona.service.deps import Context, context
from creditpersona.service.opstore import OpsStore, ops_path
from creditpersona.service.problems import install
from creditpersona.service.routers import (
    admin,
    auth,
    campaigns,
    decisions,
    firms,
    portfolio,
    watchlist,
)
from creditpersona.service.schemas import Health
from creditpersona.service.snapshot import snapshot_path
from creditpersona.service.users import password_hasher
from creditpersona.store.store import resolve_path

API_VERSION = "v1"


def _version() -> str:
    try:
        return version("creditpersona")
    except PackageNotFoundError:
        return "unknown"


def create_app(store: str | Path | None = None, *, secret: str | None = None,
               token_minutes: int = TOKEN_MINUTES) -> FastAPI:
    """The service over a store: its operational store, serving snapshot and secret.

    Parameters
    ----------
    store : str or Path, optional
        The DuckDB store (see :func:`creditpersona.store.store.resolve_path`). The service
        never opens it: it reads ``<store>.serving.duckdb`` (published by the cycle) and
        writes ``<store>.ops.sqlite``.
    secret : str, optional
        Token-signing secret (default: :func:`creditpersona.service.auth.load_secret`).
    token_minutes : int
        Lifetime of a token.
    """
    path = resolve_path(store)
    password_hasher()  # a misset hashing variable stops the start (and the hash is ready)
    ctx = Context(store=path, ops=OpsStore(ops_path(path)),
                  results=Results(snapshot_path(path)),
                  secret=secret if secret is not None else load_secret(path),
                  token_minutes=token_minutes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load the quarter before the worker accepts connections, so that no request waits
        # for it (a 100,000-firm quarter takes tens of seconds to index).
        try:
            ctx.results.current()
        except NoResults:
            pass  # /healthz says so; requests for data answer 503 until a run publishes
        yield

    app = FastAPI(title="creditpersona service", version=_version(), lifespan=lifespan,
                  description="Corporate-borrower personas, ratings, prices, limits and the "
                              "watch-list for relationship managers, credit officers and risk "
                              "managers (客户画像服务). Log in at /api/v1/auth/token.",
                  docs_url="/docs", openapi_url="/openapi.json")
    app.state.context = ctx
    install(app)
    for module in (auth, firms, decisions, watchlist, campaigns, portfolio, admin):
        app.include_router(module.router)

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz(ctx: Annotated[Context, Depends(context)]) -> Health:
        """Liveness without login: the quarter being served, if any."""
        try:
            as_of: str | None = ctx.results.current().as_of.isoformat()
        except NoResults:
            as_of = None
        return Health(status="ok", as_of=as_of, version=_version())

    from creditpersona.workbench import install as install_workbench  # web pages, issue 18
    install_workbench(app)
    return app
