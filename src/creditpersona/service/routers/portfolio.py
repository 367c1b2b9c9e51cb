"""``/api/v1/portfolio`` and ``/api/v1/runs``: the book as a whole, and the cycle's runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from creditpersona.service import access, workflow
from creditpersona.service.deps import CUSTOMER_ROLES, Caller, allow
from creditpersona.service.problems import Problem
from creditpersona.service.schemas import Portfolio, Run, RunPage
from creditpersona.service.snapshot import reports_dir

router = APIRouter(prefix="/api/v1", tags=["portfolio"])
Reader = Annotated[Caller, allow(*CUSTOMER_ROLES)]
Anyone = Annotated[Caller, allow(*CUSTOMER_ROLES, "admin")]
BookWide = Annotated[Caller, allow("credit_officer", "risk_manager")]


@router.get("/portfolio", response_model=Portfolio)
def portfolio(who: Reader) -> Portfolio:
    """Persona mix, grades, migration, triggers, industry flags, watch-list and overrides."""
    quarter = who.quarter()
    view = access.portfolio(quarter, who.scope)
    ops, day = who.ctx.ops, quarter.as_of.isoformat()
    if who.scope.rm_id is None:
        overrides = workflow.count(ops, "SELECT COUNT(DISTINCT firm_id) FROM rating_overrides "
                                        "WHERE as_of = ?", (day,))
        cases = workflow.count(ops, "SELECT COUNT(*) FROM watch_cases WHERE as_of = ? AND "
                                    "state != 'closed'", (day,))
    else:  # counted over the book only (firm ids of the scope)
        book = set(quarter.firms.loc[quarter.visible(who.scope), "firm_id"])
        rows = ops.read("SELECT DISTINCT firm_id FROM rating_overrides WHERE as_of = ?", (day,))
        overrides = sum(1 for (f,) in rows if f in book)
        rows = ops.read("SELECT firm_id FROM watch_cases WHERE as_of = ? AND state != 'closed'",
                        (day,))
        cases = sum(1 for (f,) in rows if f in book)
    who.audit("read", "portfolio", detail={"firms": view["firms"]})
    return Portfolio(**view, overrides=overrides, open_cases=cases)


@router.get("/runs", response_model=RunPage)
def runs(who: Anyone, limit: Annotated[int, Query(ge=1, le=500)] = 50,
         offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> RunPage:
    """The cycle's runs (the ledger), newest first."""
    frame = who.quarter().runs
    page = frame.iloc[offset:offset + limit].drop(columns=["inputs", "configs"],
                                                  errors="ignore")
    return RunPage(total=len(frame), limit=limit, offset=offset,
                   items=[Run(**r) for r in access.records(page)])


@router.get("/runs/{run_id}/report", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}}})
def run_report(run_id: Annotated[str, Path(max_length=64)], who: BookWide) -> HTMLResponse:
    """The HTML report the run wrote (book-wide data: credit officers and risk managers)."""
    frame = who.quarter().runs
    hit = frame[(frame["run_id"] == run_id) & (frame["status"] == "completed")]
    if not len(hit):
        raise Problem(404, f"run {run_id}: no completed run of that id.")
    as_of = access.jsonable(hit["as_of"].iat[0])
    path = reports_dir(who.ctx.store) / f"{as_of}.html"
    if not path.is_file():
        raise Problem(404, f"run {run_id}: its report was not kept beside the store "
                           f"({path.name}); `creditpersona report --as-of {as_of}` writes one.")
    who.audit("export", "run_report", detail={"run_id": run_id, "as_of": as_of})
    return HTMLResponse(path.read_text(encoding="utf-8"))
