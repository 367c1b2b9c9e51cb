"""What every endpoint shares: the service context, the caller, role checks, audit."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from creditpersona.service import audit
from creditpersona.service.access import FirmNotFound, NoResults, Quarter, Results, Scope, scope_of
from creditpersona.service.auth import read_token
from creditpersona.service.opstore import OpsStore
from creditpersona.service.problems import Problem
from creditpersona.service.users import User, get_user

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


@dataclass
class Context:
    """The service's state: the store it serves, its operational store, results, secret."""

    store: Path
    ops: OpsStore
    results: Results
    secret: str
    token_minutes: int
    _writer: audit.Writer | None = field(default=None, init=False, repr=False)
    _writer_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                         repr=False)

    def audit_writer(self) -> audit.Writer:
        """The process's audit writer (its thread started on first use)."""
        with self._writer_lock:
            if self._writer is None:
                self._writer = audit.Writer(self.ops)
            return self._writer


# The dependencies are coroutines: they only read memory and a row of SQLite, and a plain
# function would cost each request a hop through the thread pool per dependency.


def context_of(request: Request) -> Context:
    """The service's context (stores, secret, settings) of the app serving ``request``."""
    ctx: Context = request.app.state.context
    return ctx


async def context(request: Request) -> Context:
    return context_of(request)


@dataclass(frozen=True)
class Caller:
    """An authenticated user and where the request came from."""

    user: User
    client: str
    ctx: Context

    @property
    def scope(self) -> Scope:
        return scope_of(self.user.role, self.user.rm_id)

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(self.user.username, self.user.role, self.client)

    def quarter(self) -> Quarter:
        try:
            return self.ctx.results.current()
        except NoResults as exc:
            raise Problem(503, str(exc)) from None

    def audit(self, action: str, resource: str, **kw: Any) -> None:
        audit.record(self.ctx.ops, self.actor, action, resource, **kw)

    async def audited(self, action: str, resource: str, **kw: Any) -> None:
        """:meth:`audit` for a coroutine: the record is written by the audit writer's thread
        (:class:`creditpersona.service.audit.Writer`) and awaited until it is committed."""
        fields = audit.entry(self.actor, action, resource, **kw)
        await asyncio.wrap_future(self.ctx.audit_writer().submit(fields))


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def caller(request: Request, token: Annotated[str | None, Depends(oauth2)],
                 ctx: Annotated[Context, Depends(context)]) -> Caller:
    """The authenticated, active user of the request (401 otherwise)."""
    return authenticate(request, token, ctx)


def authenticate(request: Request, token: str | None, ctx: Context) -> Caller:
    """The active user a bearer token names (the service's 401 problem otherwise).

    The dependency :func:`caller` and the workbench's server-side reads share it.
    """
    unauthorised = Problem(401, "missing, invalid or expired token; log in at "
                                "/api/v1/auth/token.", headers={"WWW-Authenticate": "Bearer"})
    if not token:
        raise unauthorised
    name = read_token(ctx.secret, token)
    user = get_user(ctx.ops, name) if name else None
    if user is None or not user.active:
        raise unauthorised
    return Caller(user, client_of(request), ctx)


def allow(*roles: str) -> Any:
    """A dependency that admits only ``roles`` (403 for any other authenticated user)."""

    async def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.user.role not in roles:
            raise Problem(403, f"the {who.user.role} role may not do this (allowed: "
                               f"{', '.join(roles)}).")
        return who

    return Depends(check)


#: Roles that see customer data (admins manage users and read the audit log only).
CUSTOMER_ROLES = ("rm", "credit_officer", "risk_manager")


def not_found(firm_id: str) -> Problem:
    """The one answer for a firm that does not exist *or* is outside the caller's book."""
    return Problem(404, f"firm {firm_id}: not found.")


def firm_or_404(who: Caller, quarter: Quarter, firm_id: str) -> Any:
    try:
        return quarter.firm_row(who.scope, firm_id)
    except FirmNotFound:
        raise not_found(firm_id) from None
