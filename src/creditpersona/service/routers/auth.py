"""``/api/v1/auth``: the OAuth2 password flow, rate-limited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from creditpersona.service import audit
from creditpersona.service.auth import issue_token, login_blocked, record_failure
from creditpersona.service.deps import Caller, Context, caller, client_of, context
from creditpersona.service.problems import Problem
from creditpersona.service.schemas import Token, UserOut
from creditpersona.service.users import authenticate

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request,
          ctx: Annotated[Context, Depends(context)]) -> Token:
    """Log in with user name and password; returns a bearer token that expires."""
    client = client_of(request)
    wait = login_blocked(ctx.ops, form.username, client)
    if wait > 0:
        raise Problem(429, f"too many failed logins; try again in {int(wait) + 1} s.",
                      headers={"Retry-After": str(int(wait) + 1)})
    user = authenticate(ctx.ops, form.username, form.password)
    if user is None:
        record_failure(ctx.ops, form.username, client)
        raise Problem(401, "wrong user name or password (or the user is disabled).",
                      headers={"WWW-Authenticate": "Bearer"})
    audit.record(ctx.ops, audit.Actor(user.username, user.role, client), "login", "token")
    return Token(access_token=issue_token(ctx.secret, user.username, ctx.token_minutes),
                 token_type="bearer", expires_in=ctx.token_minutes * 60)


@router.get("/me", response_model=UserOut)
def me(who: Annotated[Caller, Depends(caller)]) -> UserOut:
    """The logged-in user."""
    u = who.user
    return UserOut(username=u.username, role=u.role,  # type: ignore[arg-type]
                   rm_id=u.rm_id, active=u.active, created_at=u.created_at)
