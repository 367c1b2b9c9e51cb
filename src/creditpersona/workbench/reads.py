"""The reads the API has no endpoint for, made through the service's own functions.

My day needs the RM's campaign list (the quarter's offers of their book), the watch-list
page a case's history, and the portfolio and watch-list pages the persona names. Rather than
open the store, these go through the service's access layer exactly as an endpoint would:
the caller is authenticated from the session's token by
:func:`creditpersona.service.deps.authenticate`, firms are filtered by
:meth:`creditpersona.service.access.Quarter.visible` (the one scoping rule) or refused by
:func:`creditpersona.service.deps.firm_or_404` (the same 404 for a firm outside the book),
and every read of customer data is written to the audit chain by :meth:`Caller.audit`
(persona names are labels, not customer data).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from creditpersona.service import access, workflow
from creditpersona.service.deps import Caller, authenticate, context_of, firm_or_404


def who(request: Request, token: str) -> Caller:
    """The service's caller for a session's token (raises the service's 401 problem)."""
    return authenticate(request, token, context_of(request))


def campaign_list(request: Request, token: str) -> tuple[str, list[dict[str, Any]]]:
    """The quarter's as-of date and the offers of the firms the caller may see.

    Returns
    -------
    (str, list of dict)
        As-of date (ISO) and one row per offer, best expected value first.
    """
    me = who(request, token)
    quarter = me.quarter()
    offers = quarter.tables.get("offers")
    if offers is None or not len(offers):
        rows: list[dict[str, Any]] = []
    else:
        book = set(quarter.firms.loc[quarter.visible(me.scope), "firm_id"])
        mine = offers[offers["firm_id"].isin(book)]
        if "expected_value" in mine.columns:
            mine = mine.sort_values("expected_value", ascending=False)
        rows = access.records(mine)
    me.audit("read", "campaign_list", detail={"offers": len(rows)})
    return quarter.as_of.isoformat(), rows


def case_history(request: Request, token: str, firm_id: str) -> dict[str, Any] | None:
    """The firm's watch-list case of the quarter with its actions (None if never opened).

    Raises
    ------
    fastapi.HTTPException
        The service's 404 problem when the firm is not in the caller's scope.
    """
    me = who(request, token)
    quarter = me.quarter()
    firm_or_404(me, quarter, firm_id)
    found = workflow.case(me.ctx.ops, firm_id, quarter.as_of)
    me.audit("read", "watch_case", firm_id=firm_id)
    return found


def persona_names(request: Request, token: str) -> dict[str, tuple[str, str]]:
    """Persona id → (Chinese, English) name of the quarter (labels only, no firm data)."""
    quarter = who(request, token).quarter()
    frame = quarter.tables.get("personas")
    if frame is None or not len(frame):
        return {}
    names = frame.drop_duplicates("persona_id")
    return {str(p): (str(z), str(e)) for p, z, e in zip(
        names["persona_id"], names["persona_name_zh"], names["persona_name_en"], strict=True)}

