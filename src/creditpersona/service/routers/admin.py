"""``/api/v1/users`` (admins) and ``/api/v1/audit`` (risk managers and admins)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from creditpersona.service import audit
from creditpersona.service.deps import Caller, allow
from creditpersona.service.problems import Problem
from creditpersona.service.schemas import AuditPage, AuditRecord, AuditVerdict, UserIn, UserOut
from creditpersona.service.users import add_user, get_user, list_users, set_active

router = APIRouter(prefix="/api/v1", tags=["administration"])
Admin = Annotated[Caller, allow("admin")]
Auditor = Annotated[Caller, allow("risk_manager", "admin")]


def _out(user: object) -> UserOut:
    return UserOut(**dataclasses.asdict(user))  # type: ignore[call-overload]


@router.get("/users", response_model=list[UserOut])
def users(who: Admin) -> list[UserOut]:
    """Every user (no password hashes)."""
    return [_out(u) for u in list_users(who.ctx.ops)]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, who: Admin) -> UserOut:
    """Create a user."""
    if get_user(who.ctx.ops, body.username) is not None:
        raise Problem(409, f"user {body.username}: already exists.")
    user = add_user(who.ctx.ops, body.username, body.role, body.password, body.rm_id)
    who.audit("write", "user", detail={"username": body.username},
              after=dataclasses.asdict(user))
    return _out(user)


@router.post("/users/{username}/disable", response_model=UserOut)
def disable_user(username: str, who: Admin) -> UserOut:
    """Disable a user: their tokens stop working at once."""
    before = get_user(who.ctx.ops, username)
    if before is None:
        raise Problem(404, f"user {username}: not found.")
    user = set_active(who.ctx.ops, username, False)
    who.audit("write", "user", detail={"username": username},
              before=dataclasses.asdict(before), after=dataclasses.asdict(user))
    return _out(user)


@router.get("/audit", response_model=AuditPage)
def audit_log(who: Auditor, user: str | None = None, firm_id: str | None = None,
              since: dt.datetime | None = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 100,
              offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> AuditPage:
    """Audit records, newest first (reading them is itself recorded)."""
    rows, total = audit.entries(who.ctx.ops, username=user, firm_id=firm_id, since=since,
                                limit=limit, offset=offset)
    who.audit("read", "audit", detail={"user": user, "firm_id": firm_id,
                                       "since": since.isoformat() if since else None})
    return AuditPage(total=total, limit=limit, offset=offset,
                     items=[AuditRecord(**r) for r in rows])


@router.get("/audit/verify", response_model=AuditVerdict)
def audit_verify(who: Auditor) -> AuditVerdict:
    """Check the whole hash chain."""
    v = audit.verify(who.ctx.ops)
    return AuditVerdict(ok=v.ok, records=v.records, first_bad=v.first_bad, reason=v.reason,
                        last_hash=v.last_hash)
