"""``/api/v1/firms``: search, export and the firm's 360 view (scoped to the caller's book)."""

from __future__ import annotations

import io
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from creditpersona.service import access, workflow
from creditpersona.service.deps import CUSTOMER_ROLES, Caller, allow, firm_or_404, not_found
from creditpersona.service.schemas import Firm360, FirmBrief, FirmPage, RepaymentList

router = APIRouter(prefix="/api/v1/firms", tags=["firms"])
Reader = Annotated[Caller, allow(*CUSTOMER_ROLES)]
Text = Annotated[str | None, Query(max_length=100)]
FirmId = Annotated[str, Path(max_length=64)]
EXPORT_LIMIT = 100_000


def _search(who: Caller, q: str | None, persona: str | None, grade: str | None,
            industry: str | None, rm_id: str | None, watch: bool | None) -> pd.DataFrame:
    return access.search(who.quarter(), who.scope, q=q, persona=persona, grade=grade,
                         industry=industry, rm_id=rm_id, watch=watch)


@router.get("", response_model=FirmPage)
def firms(who: Reader, q: Text = None, persona: Text = None, grade: Text = None,
          industry: Text = None, rm_id: Text = None, watch: bool | None = None,
          limit: Annotated[int, Query(ge=1, le=500)] = 50,
          offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> FirmPage:
    """Search firms by name, USCC or short name, with filters; paginated."""
    found = _search(who, q, persona, grade, industry, rm_id, watch)
    page = found.iloc[offset:offset + limit]
    who.audit("read", "firm_search", detail={"q": q, "persona": persona, "grade": grade,
                                             "industry": industry, "rm_id": rm_id,
                                             "watch": watch, "returned": len(page)})
    return FirmPage(total=len(found), limit=limit, offset=offset,
                    items=[FirmBrief(**r) for r in access.records(page)])


@router.get("/export.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def export(who: Reader, q: Text = None, persona: Text = None, grade: Text = None,
           industry: Text = None, rm_id: Text = None, watch: bool | None = None) -> Response:
    """The search's firms as CSV (UTF-8 with BOM, cells neutralised against formulas)."""
    from creditpersona.safeio import neutralise_frame

    found = _search(who, q, persona, grade, industry, rm_id, watch).head(EXPORT_LIMIT)
    buf = io.StringIO()
    neutralise_frame(found).to_csv(buf, index=False)
    who.audit("export", "firm_search", detail={"q": q, "persona": persona, "grade": grade,
                                               "industry": industry, "rm_id": rm_id,
                                               "watch": watch, "rows": len(found)})
    return Response(("\ufeff" + buf.getvalue()).encode("utf-8"), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="firms.csv"'})


@router.get("/{firm_id}", response_model=Firm360)
async def firm(firm_id: FirmId, who: Reader) -> Firm360:
    """The firm's 360 view as of the latest quarter (404 if not in your book).

    Its repayments are the latest 24 with their ``total``; ``/{firm_id}/repayments`` pages
    through all of them.
    """
    # A coroutine: the view is a few look-ups in memory and one indexed SQLite read, so it is
    # built on the event loop; the audit record, which may wait for another process's write
    # lock, is written by the audit writer's thread and awaited. A plain function would cost
    # two hops through the thread pool (the endpoint, then FastAPI's validation of its
    # answer), and each hop more than the view itself (see docs/service.md, "Latency of the
    # firm 360").
    quarter = who.quarter()
    firm_or_404(who, quarter, firm_id)
    override = workflow.latest_override(who.ctx.ops, firm_id, quarter.as_of)
    view = access.firm_view(quarter, who.scope, firm_id, override)
    await who.audited("read", "firm_360", firm_id=firm_id, detail={"as_of": view["as_of"]})
    return Firm360(**view)


@router.get("/{firm_id}/repayments", response_model=RepaymentList)
async def repayments(firm_id: FirmId, who: Reader,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50,
                     offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> RepaymentList:
    """Every instalment of the firm's loans due by the as-of date, latest first, paginated
    (the 360 view carries the latest 24); 404 if the firm is not in your book."""
    quarter = who.quarter()
    try:
        page = access.repayment_page(quarter, who.scope, firm_id, limit=limit, offset=offset)
    except access.FirmNotFound:
        raise not_found(firm_id) from None
    await who.audited("read", "firm_repayments", firm_id=firm_id,
                      detail={"as_of": page["as_of"], "limit": limit, "offset": offset,
                              "returned": len(page["items"])})
    return RepaymentList(**page)
