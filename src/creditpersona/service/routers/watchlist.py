"""``/api/v1/watchlist``: the quarter's watch-list and its case workflow (预警处置)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from creditpersona.errors import ConfigurationError
from creditpersona.service import access, workflow
from creditpersona.service.deps import CUSTOMER_ROLES, Caller, allow, firm_or_404
from creditpersona.service.problems import Problem
from creditpersona.service.schemas import Case, CaseActionIn, WatchItem, WatchPage

router = APIRouter(prefix="/api/v1/watchlist", tags=["watch-list"])
Reader = Annotated[Caller, allow(*CUSTOMER_ROLES)]
Worker = Annotated[Caller, allow("rm", "risk_manager")]


@router.get("", response_model=WatchPage)
def watchlist(who: Reader, level: Annotated[str | None, Query(max_length=20)] = None,
              state: Annotated[str | None, Query(max_length=20)] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50,
              offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> WatchPage:
    """Firms on the watch-list in your scope with their case state, most points first.

    ``state`` filters by case state; ``new`` gives the firms without a case yet (their
    ``state`` and ``case_id`` are null)."""
    quarter = who.quarter()
    frame = access.watchlist(quarter, who.scope)
    if level:
        frame = frame[frame["level"] == level]
    known = workflow.cases(who.ctx.ops, quarter.as_of)
    frame = frame.assign(
        case_id=frame["firm_id"].map(lambda f: known.get(f, {}).get("case_id")),
        state=frame["firm_id"].map(lambda f: known.get(f, {}).get("state")),
        assignee=frame["firm_id"].map(lambda f: known.get(f, {}).get("assignee")))
    if state == workflow.NEW:  # on the watch-list, no case opened yet
        frame = frame[frame["case_id"].isna()]
    elif state:
        frame = frame[frame["state"] == state]
    page = frame.iloc[offset:offset + limit]
    who.audit("read", "watchlist", detail={"level": level, "state": state,
                                           "returned": len(page)})
    return WatchPage(total=len(frame), limit=limit, offset=offset,
                     items=[WatchItem(**r) for r in access.records(page)])


@router.post("/{firm_id}/actions", response_model=Case)
def act(firm_id: Annotated[str, Path(max_length=64)], body: CaseActionIn,
        who: Worker) -> Case:
    """Move the firm's case: open → acknowledged → action taken → closed (with a note).

    A firm without a case is opened with ``to_state`` ``open`` (the first history entry) or
    by its first action."""
    quarter = who.quarter()
    firm_or_404(who, quarter, firm_id)
    listed = quarter.of("decision_watchlist", firm_id)
    if not len(listed) or not bool(listed["on_watch"].fillna(False).iat[0]):
        raise Problem(409, f"firm {firm_id}: is not on the watch-list of {quarter.as_of}.")
    try:
        before, after = workflow.act(who.ctx.ops, firm_id, quarter.as_of, who.user.username,
                                     body.to_state, body.note, body.assignee)
    except ConfigurationError as exc:
        raise Problem(409, str(exc)) from None
    who.audit("write", "watch_case", firm_id=firm_id,
              before=None if before is None else {k: before[k] for k in ("state", "assignee")},
              after={"state": after["state"], "assignee": after["assignee"],
                     "note": body.note})
    return Case(**after)
