"""``/api/v1/campaigns/outcomes``: an RM records a contact and its response.

The outcome is checked against the data contract's field rules here (product, channel,
firm in the caller's book), kept in the operational store's inbox, and taken into
``campaign_contacts`` through the contract's full validation (``ingest``) at the start of the
next cycle (:mod:`creditpersona.service.intake`), where it feeds the response and uplift
models.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from creditpersona.contract.schema import TABLES
from creditpersona.service import workflow
from creditpersona.service.deps import Caller, allow, firm_or_404
from creditpersona.service.problems import Problem
from creditpersona.service.schemas import OutcomeIn, OutcomeOut

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])
RM = Annotated[Caller, allow("rm")]
_FIELDS = {f.name: f for t in TABLES if t.name == "campaign_contacts" for f in t.fields}


@router.post("/outcomes", response_model=OutcomeOut, status_code=202)
def outcome(body: OutcomeIn, who: RM) -> OutcomeOut:
    """Record an offer's contact and response (taken in by the next cycle)."""
    for name in ("product", "channel"):
        value, choices = getattr(body, name), _FIELDS[name].choices
        if value is not None and choices and value not in choices:
            raise Problem(422, f"campaign_contacts.{name}: {value!r} is not one of "
                               f"{', '.join(choices)}.")
    if body.treated != (body.channel is not None):
        raise Problem(422, "campaign_contacts.channel: a contacted firm (treated) needs its "
                           "channel; a held-out control has none.")
    firm_or_404(who, who.quarter(), body.firm_id)
    outcome_id = workflow.add_outcome(who.ctx.ops, body.model_dump(), who.user.username)
    who.audit("write", "campaign_outcome", firm_id=body.firm_id,
              after={"outcome_id": outcome_id, **body.model_dump(mode="json")})
    return OutcomeOut(outcome_id=outcome_id, status="pending",
                      note="kept in the inbox; the next cycle takes it into campaign_contacts "
                           "through the data contract's validation.")
