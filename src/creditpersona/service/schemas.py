"""Pydantic models of every request and response of the service (the OpenAPI schema).

The wide result rows of a firm (a limit with its every constraint, a price with its whole
waterfall) are models that name the fields a client relies on and keep the rest as extra
fields (``extra="allow"``), so that a column the cycle adds reaches the client unchanged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["rm", "credit_officer", "risk_manager", "admin"]
CaseState = Literal["open", "acknowledged", "action_taken", "closed"]


class Row(BaseModel):
    """A result row: the named fields plus whatever else the cycle stored."""

    model_config = ConfigDict(extra="allow")


class Health(BaseModel):
    status: Literal["ok"]
    as_of: str | None = Field(description="Quarter the service answers from (None: none yet).")
    version: str


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds until the token expires.")


class UserOut(BaseModel):
    username: str
    role: Role
    rm_id: str | None
    active: bool
    created_at: str


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    role: Role
    rm_id: str | None = Field(default=None, max_length=64)
    password: str = Field(min_length=10, max_length=256)


class FirmBrief(Row):
    firm_id: str
    name: str
    industry_code: str | None = None
    rm_id: str | None = None
    persona_id: str | None = None
    persona_name_zh: str | None = None
    persona_name_en: str | None = None
    pd: float | None = None
    grade: str | None = None
    watch_level: str | None = None
    on_watch: bool = False


class Page(BaseModel):
    total: int
    limit: int
    offset: int


class FirmPage(Page):
    items: list[FirmBrief]


class Score(BaseModel):
    dimension: str
    score: float | None
    coverage: float | None
    driver_zh: str | None
    driver_en: str | None


class Reason(BaseModel):
    feature: str | None
    zh: str | None
    en: str | None
    contribution: float | None


class Override(BaseModel):
    grade: str
    model_grade: str
    reason: str
    username: str
    at: str


class Rating(Row):
    pd: float | None = None
    pd_challenger: float | None = None
    grade: str | None = None
    reasons: list[Reason] = []
    override: Override | None = None


class Repayment(BaseModel):
    loan_id: str
    due_date: str
    amount_due: float | None
    paid_date: str | None = Field(description="Paid in full on (None: unpaid on the as-of date).")
    amount_paid: float | None
    dpd: int = Field(description="Days past due: paid date (or the as-of date, if unpaid) "
                                 "minus due date, at least 0.")
    status: Literal["paid", "paid_late", "overdue", "due"]


class RepaymentPage(BaseModel):
    total: int = Field(description="Instalments due by the as-of date.")
    shown: int = Field(description="Of which listed here: the most recent ones (at most 24; "
                                   "all of them through GET /api/v1/firms/{firm_id}/"
                                   "repayments).")
    upcoming: int = Field(description="Instalments due after the as-of date (not listed).")
    items: list[Repayment]


class RepaymentList(Page):
    """One page of a firm's repayments due by the as-of date, latest first."""

    as_of: str
    total: int = Field(description="Instalments due by the as-of date (all pages).")
    upcoming: int = Field(description="Instalments due after the as-of date (not listed).")
    items: list[Repayment]


class Firm360(BaseModel):
    as_of: str
    firm: Row
    scores: list[Score]
    persona: Row | None
    rating: Rating | None
    limit: Row | None
    prices: list[Row]
    classification: Row | None
    warning: Row | None
    monitoring: Row | None
    value: Row | None
    offers: list[Row]
    loans: list[Row]
    summary: dict[str, str | None] = Field(
        description="The profile's one-paragraph summary, Chinese and English.")
    text_risk: dict[str, Any]
    documents: list[Row]
    repayments: RepaymentPage = Field(
        description="The latest 24 instalments of the firm's loans due by the as-of date, "
                    "latest first; ``total`` counts them all, and GET /api/v1/firms/"
                    "{firm_id}/repayments?limit=&offset= pages through every one.")


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    firm_id: str = Field(min_length=1, max_length=64)
    product: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0, le=1e12, description="Yuan.")
    term_months: int = Field(ge=1, le=360)
    collateral_type: str | None = Field(default=None, max_length=64)
    guarantee_type: str | None = Field(default=None, max_length=64)


class Quote(Row):
    firm_id: str
    product: str
    rate: float | None = None
    spread_bp: float | None = None
    raroc: float | None = None
    components_bp: dict[str, float | None]


class LimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    firm_id: str = Field(min_length=1, max_length=64)
    product: str = Field(min_length=1, max_length=64)
    term_months: int | None = Field(default=None, ge=1, le=360)
    rate: float | None = Field(default=None, gt=0, lt=1, description="Yearly, e.g. 0.045.")


class LimitOut(Row):
    firm_id: str
    product: str
    recommended_limit: float | None = None
    binding: str | None = None
    binding_zh: str | None = None


class WatchItem(Row):
    firm_id: str
    name: str | None = None
    level: str | None = None
    points: float | None = None
    case_id: int | None = None
    state: CaseState | None = None
    assignee: str | None = None


class WatchPage(Page):
    items: list[WatchItem]


class CaseActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_state: CaseState
    note: str = Field(min_length=1, max_length=2000)
    assignee: str | None = Field(default=None, max_length=64)


class CaseAction(BaseModel):
    at: str
    username: str
    from_state: str
    to_state: str
    note: str
    assignee: str | None


class Case(BaseModel):
    case_id: int
    firm_id: str
    as_of: str
    state: CaseState
    assignee: str | None
    opened_at: str | None = None
    actions: list[CaseAction]


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign_id: str = Field(min_length=1, max_length=64)
    firm_id: str = Field(min_length=1, max_length=64)
    product: str = Field(min_length=1, max_length=64)
    channel: str | None = Field(default=None, max_length=64)
    contact_date: dt.date
    treated: bool = True
    responded: bool | None = Field(
        default=None, description="Took the product up; implied by ``response`` when omitted "
                                  "(true only for ``taken``).")
    amount_taken: float | None = Field(default=None, ge=0, le=1e12)
    response: Literal["contacted", "interested", "declined", "taken"] | None = Field(
        default=None, description="What the contact gave (campaign_contacts.response).")


class OutcomeOut(BaseModel):
    outcome_id: int
    status: Literal["pending", "taken", "rejected"]
    note: str


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grade: str = Field(min_length=1, max_length=4)
    reason: str = Field(min_length=5, max_length=2000)


class Portfolio(BaseModel):
    as_of: str
    firms: int
    personas: dict[str, int]
    grades: dict[str, int]
    watch_levels: dict[str, int]
    on_watch: int
    industries: list[Row]
    migration: list[Row]
    triggers: list[Row]
    overrides: int
    open_cases: int


class Run(Row):
    run_id: str
    as_of: str
    status: str


class RunPage(Page):
    items: list[Run]


class AuditRecord(BaseModel):
    seq: int
    at: str
    username: str
    role: str
    client: str
    action: str
    resource: str
    firm_id: str | None
    detail: str
    before: str | None
    after: str | None
    prev_hash: str
    hash: str


class AuditPage(Page):
    items: list[AuditRecord]


class AuditVerdict(BaseModel):
    ok: bool
    records: int
    first_bad: int | None
    reason: str
    last_hash: str
