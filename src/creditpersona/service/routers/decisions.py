"""``/api/v1/quotes``, ``/api/v1/limits`` (what-ifs) and rating overrides.

The what-ifs call the cycle's own engines (:func:`creditpersona.decisions.pricing.price_loans`
and :func:`creditpersona.decisions.limits.recommend_limits`) on the firm's stored PD, grade,
persona policy and statements, so a quote here and the cycle's price agree.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter

from creditpersona.decisions.config import DecisionsConfig, load_decisions
from creditpersona.decisions.limits import recommend_limits
from creditpersona.decisions.pricing import COMPONENTS
from creditpersona.errors import CreditPersonaError
from creditpersona.models.master_scale import load_master_scale
from creditpersona.service import access, audit, workflow
from creditpersona.service.deps import CUSTOMER_ROLES, Caller, allow, firm_or_404
from creditpersona.service.problems import Problem
from creditpersona.service.quoting import QuoteBatcher
from creditpersona.service.schemas import LimitIn, LimitOut, Override, OverrideIn, Quote, QuoteIn

router = APIRouter(prefix="/api/v1", tags=["decisions"])
Reader = Annotated[Caller, allow(*CUSTOMER_ROLES)]
Officer = Annotated[Caller, allow("credit_officer")]
_config: DecisionsConfig | None = None
_batcher: QuoteBatcher | None = None
_lock = threading.Lock()


def config() -> DecisionsConfig:
    """The decisions configuration (loaded once)."""
    global _config
    if _config is None:
        _config = load_decisions()
    return _config


def batcher() -> QuoteBatcher:
    """The process's quote batcher (started on the first quote)."""
    global _batcher
    with _lock:
        if _batcher is None:
            _batcher = QuoteBatcher(config())
    return _batcher


def _check_choice(field: str, value: str | None, allowed: Any) -> None:
    if value is not None and value not in allowed:
        raise Problem(422, f"{field} {value!r} is not one of {', '.join(sorted(allowed))}.")


def _firm_inputs(quarter: access.Quarter, firm_id: str) -> dict[str, Any]:
    rating = quarter.records_of("pd_scores", firm_id)
    if not rating:
        raise Problem(409, f"firm {firm_id}: has no PD score as of {quarter.as_of}; it cannot "
                           "be priced or sized until a cycle scores it.")
    policy = quarter.records_of("decision_limits", firm_id)
    profile = quarter.records_of("profiles", firm_id)
    revenue = profile[0].get("revenue") if profile else None
    return {"firm_id": firm_id, "pd": float(rating[0]["pd"]), "grade": str(rating[0]["grade"]),
            "persona_strategy": policy[0]["persona_policy"] if policy else None,
            "revenue": np.nan if revenue is None else float(revenue)}


@router.post("/quotes", response_model=Quote)
async def quote(body: QuoteIn, who: Reader) -> Quote:
    """Price a loan (what-if): the pricing waterfall and RAROC, the cycle's own engine."""
    # A coroutine: everything before the price is memory look-ups, and the price (with this
    # read's audit record, committed with its batch's) is awaited, not waited for on a thread.
    cfg = config()
    _check_choice("product", body.product, cfg.products)
    _check_choice("collateral_type", body.collateral_type, cfg.lgd.by_collateral)
    _check_choice("guarantee_type", body.guarantee_type, cfg.lgd.guarantee_reduction)
    quarter = who.quarter()
    firm_or_404(who, quarter, body.firm_id)
    usual = cfg.products[body.product].default_collateral
    asked = body.model_dump()
    request = {**asked, "collateral_type": body.collateral_type or usual,
               "guarantee_type": body.guarantee_type or "none"}
    record = audit.entry(who.actor, "read", "quote", firm_id=body.firm_id, detail=asked)
    try:
        priced = await asyncio.wrap_future(batcher().submit(
            request, _firm_inputs(quarter, body.firm_id), ops=who.ctx.ops, record=record))
    except CreditPersonaError as exc:
        raise Problem(422, str(exc)) from None
    row = {k: access.jsonable(v) for k, v in priced.items()}
    return Quote(**row, components_bp={c: row.get(c) for c in COMPONENTS})


@router.post("/limits", response_model=LimitOut)
def limit(body: LimitIn, who: Reader) -> LimitOut:
    """Size a credit limit (what-if) for a product, term and rate: every constraint."""
    cfg = config()
    _check_choice("product", body.product, cfg.products)
    quarter = who.quarter()
    firm_or_404(who, quarter, body.firm_id)
    firm = pd.DataFrame([_firm_inputs(quarter, body.firm_id)])
    statements = quarter.of("statements", body.firm_id)
    if not len(statements):
        statements = pd.DataFrame({"firm_id": [body.firm_id]}).reindex(
            columns=quarter.tables["statements"].columns)
    stored = quarter.of("decision_limits", body.firm_id)
    profile = quarter.of("profiles", body.firm_id)
    fid = pd.Index([body.firm_id])
    ours = pd.Series(stored["our_exposure"].to_numpy(dtype=float)[:1] if len(stored)
                     else [0.0], index=fid)
    bureau = (float(profile["bureau_outstanding"].to_numpy(dtype=float)[0])
              if "bureau_outstanding" in profile.columns and len(profile) else np.nan)
    if np.isnan(bureau) and len(statements):
        bureau = float(np.nansum(statements[["short_term_debt", "long_term_debt"]].to_numpy(
            dtype=float)))
    try:
        out = recommend_limits(
            firm, statements, cfg, product=pd.Series(body.product, index=fid),
            term_months=None if body.term_months is None else pd.Series(
                float(body.term_months), index=fid),
            rate=None if body.rate is None else pd.Series(body.rate, index=fid),
            our_exposure=ours, bank_debt=pd.Series(bureau, index=fid))
    except CreditPersonaError as exc:
        raise Problem(422, str(exc)) from None
    who.audit("read", "limit", firm_id=body.firm_id, detail=body.model_dump())
    return LimitOut(**access.records(out)[0])


@router.post("/firms/{firm_id}/rating-override", response_model=Override, status_code=201)
def override(firm_id: str, body: OverrideIn, who: Officer) -> Override:
    """Record a credit officer's grade beside the model's (counted in the portfolio review)."""
    grades = load_master_scale().names
    _check_choice("grade", body.grade, grades)
    quarter = who.quarter()
    firm_or_404(who, quarter, firm_id)
    rating = quarter.records_of("pd_scores", firm_id)
    if not rating:
        raise Problem(409, f"firm {firm_id}: has no model grade as of {quarter.as_of} to "
                           "override.")
    before = workflow.latest_override(who.ctx.ops, firm_id, quarter.as_of)
    after = workflow.add_override(who.ctx.ops, firm_id, quarter.as_of,
                                  str(rating[0]["grade"]), body.grade, body.reason,
                                  who.user.username)
    who.audit("write", "rating_override", firm_id=firm_id, before=before, after=after)
    return Override(**after)
