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


def _check_contract(row: dict[str, object]) -> None:
    """The contract's field rules of ``campaign_contacts`` (required, bounds, choices)."""
    for name, field in _FIELDS.items():
        value = row.get(name)
        where = f"campaign_contacts.{name}"
        if value is None:
            if field.required:
                raise Problem(422, f"{where}: required ({field.en}).")
            continue
        if field.choices and value not in field.choices:
            raise Problem(422, f"{where}: {value!r} is not one of {', '.join(field.choices)}.")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if field.min is not None and value < field.min:
                raise Problem(422, f"{where}: {value} is below {field.min:g}.")
            if field.max is not None and value > field.max:
                raise Problem(422, f"{where}: {value} is above {field.max:g}.")


@router.post("/outcomes", response_model=OutcomeOut, status_code=202)
def outcome(body: OutcomeIn, who: RM) -> OutcomeOut:
    """Record an offer's contact and response (taken in by the next cycle).

    ``response`` keeps the four outcomes apart (contacted, interested, declined, taken); only
    ``taken`` is a take-up (``responded`` true), which the response and uplift models learn.
    """
    if body.responded is None and body.response is None:
        raise Problem(422, "campaign_contacts.responded: required (took the product up), or "
                           "give response (contacted, interested, declined or taken).")
    if body.response is not None:
        taken = body.response == "taken"
        if body.responded is not None and body.responded != taken:
            raise Problem(422, f"campaign_contacts.response: {body.response!r} with responded "
                               f"= {body.responded}; only a taken offer is a take-up "
                               "(responded true).")
        if not body.treated:
            raise Problem(422, "campaign_contacts.response: a held-out control (treated "
                               "false) was not contacted and has no response.")
        body = body.model_copy(update={"responded": taken})
    _check_contract(body.model_dump())
    if body.treated != (body.channel is not None):
        raise Problem(422, "campaign_contacts.channel: a contacted firm (treated) needs its "
                           "channel; a held-out control has none.")
    firm_or_404(who, who.quarter(), body.firm_id)
    if workflow.count(who.ctx.ops, "SELECT COUNT(*) FROM outcome_inbox WHERE campaign_id = ? "
                      "AND firm_id = ? AND status != 'rejected'",
                      (body.campaign_id, body.firm_id)):
        raise Problem(409, f"campaign_contacts: campaign {body.campaign_id} already has an "
                           f"outcome for firm {body.firm_id} (one per campaign and firm).")
    outcome_id = workflow.add_outcome(who.ctx.ops, body.model_dump(), who.user.username)
    who.audit("write", "campaign_outcome", firm_id=body.firm_id,
              after={"outcome_id": outcome_id, **body.model_dump(mode="json")})
    return OutcomeOut(outcome_id=outcome_id, status="pending",
                      note="kept in the inbox; the next cycle takes it into campaign_contacts "
                           "through the data contract's validation.")
