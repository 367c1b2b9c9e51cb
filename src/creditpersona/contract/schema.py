"""The data contract: every raw table the bank hands us, field by field.

This module is the single source of truth. The validator enforces it, the store creates its
tables from it, the synthetic bank writes to it and ``docs/data-contract.md`` is rendered from
it (a test keeps the document in step). All amounts are RMB yuan (人民币元).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DType = Literal["string", "int", "float", "date", "bool"]

#: Relative tolerance of the balance-sheet identity total_assets = total_liabilities + equity.
BALANCE_SHEET_TOLERANCE = 0.005
#: Absolute tolerance (yuan) of the same identity, so rounding on tiny firms passes.
BALANCE_SHEET_ABS_TOLERANCE = 1000.0

#: Rules a row can break, with the plain-language meaning a person reads in the quarantine.
RULES: dict[str, str] = {
    "required": "a required value is empty",
    "unparseable": "a value cannot be read as the field's type",
    "non_finite": "a number is infinite or not a number (`inf`, `-inf`, `nan`, `1e309`)",
    "not_whole": "an integer field holds a fraction (3.7 employees); it is not rounded",
    "control_character": "text holds NUL or another control character (tab and line breaks "
                         "are allowed)",
    "range": "a number is outside its allowed range",
    "choice": "a value is not one of the allowed codes",
    "uscc": "a unified social credit code is malformed or its check character is wrong",
    "industry": "an industry code is not a GB/T 4754-2017 code",
    "region": "a region code is not a GB/T 2260 code",
    "balance_sheet": "total assets differ from total liabilities plus equity beyond tolerance",
    "component_exceeds_total": "a component is larger than the total it belongs to",
    "window_order": "a count over a shorter window exceeds the count over a longer window",
    "date_order": "dates are in an impossible order",
    "response_mismatch": "a campaign response disagrees with the take-up flag, or a held-out "
                         "control has a response",
    "unknown_reference": "the row refers to a firm or loan the store does not hold",
    "duplicate_key": "another row with the same key was read first or is already loaded",
    "ragged_row": "a CSV row has more or fewer fields than the header (or an Excel row has "
                  "values beyond the header); the row is kept as text",
    "undecodable": "a CSV row holds bytes that are neither UTF-8 nor GB18030/GBK; the row is "
                   "kept as text",
}

Check = Literal["uscc", "industry", "region"]


@dataclass(frozen=True)
class Field:
    """One column of a contract table."""

    name: str
    dtype: DType
    zh: str
    en: str
    unit: str | None = None
    required: bool = True
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    check: Check | None = None
    references: str | None = None  # "table.field"
    #: Added to the contract after files were written without it: a file may lack the
    #: column (read as empty). Only for optional fields.
    added: bool = False

    def constraint_text(self) -> str:
        """The field's constraints as one line of documentation."""
        parts = ["required" if self.required else "optional"]
        if self.added:
            parts.append("the column may be absent (added later)")
        if self.min is not None:
            parts.append(f"≥ {self.min:g}")
        if self.max is not None:
            parts.append(f"≤ {self.max:g}")
        if self.choices:
            parts.append("one of " + ", ".join(f"`{c}`" for c in self.choices))
        if self.check == "uscc":
            parts.append("valid USCC (GB 32100-2015 check character)")
        if self.check == "industry":
            parts.append("GB/T 4754-2017 code, e.g. `C38`, `C3811`, `K7010`")
        if self.check == "region":
            parts.append("six-digit GB/T 2260 code with a known province")
        if self.references:
            parts.append(f"must exist in `{self.references}`")
        return "; ".join(parts)


@dataclass(frozen=True)
class CrossRule:
    """A rule over several fields of one row; ``kind`` names how the validator checks it.

    ``fields`` are read as (smaller, larger) for ``le`` rules, as (total_assets,
    total_liabilities, equity) for ``balance``, and as (response, responded, treated) for
    ``response`` (a recorded response agrees with the take-up flag and needs a contact).
    """

    rule: str
    kind: Literal["le", "balance", "response"]
    fields: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Table:
    """One raw source table of the contract."""

    name: str
    zh: str
    en: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    cross_rules: tuple[CrossRule, ...] = field(default_factory=tuple)

    @property
    def field_names(self) -> tuple[str, ...]:
        """Column names in contract order."""
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        """The field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"table {self.name!r} has no field {name!r}")

    @property
    def parents(self) -> tuple[str, ...]:
        """Tables this one refers to."""
        return tuple(
            dict.fromkeys(f.references.split(".")[0] for f in self.fields if f.references)
        )


YUAN = "RMB yuan"
PRODUCTS = (
    "project_finance", "working_capital", "trade_finance", "equipment", "tech_rnd",
    "supply_chain", "green", "inclusive_small",
)
PRODUCT_LABELS_ZH = {
    "project_finance": "项目融资", "working_capital": "流动资金贷款", "trade_finance": "贸易融资",
    "equipment": "设备贷款", "tech_rnd": "科技研发贷款", "supply_chain": "供应链金融",
    "green": "绿色贷款", "inclusive_small": "普惠小微贷款",
}
PURPOSES = (
    "raw_materials", "payroll", "equipment_purchase", "construction", "rnd",
    "trade_settlement", "inventory", "refinancing", "other",
)
PURPOSE_LABELS_ZH = {
    "raw_materials": "采购原材料", "payroll": "发放工资", "equipment_purchase": "购置设备",
    "construction": "项目建设", "rnd": "研发投入", "trade_settlement": "贸易结算",
    "inventory": "备货", "refinancing": "借新还旧", "other": "其他",
}
OWNERSHIP = ("state_owned", "private", "foreign", "hk_macao_taiwan", "collective", "mixed")
OWNERSHIP_LABELS_ZH = {
    "state_owned": "国有", "private": "民营", "foreign": "外资", "hk_macao_taiwan": "港澳台资",
    "collective": "集体", "mixed": "混合所有制",
}
TXN_CHANNELS = ("counter", "online", "mobile", "direct_link", "other")
COLLATERAL = (
    "none", "real_estate", "equipment", "receivables", "inventory", "deposit", "equity_pledge",
    "land_use_right",
)
GUARANTEE = ("none", "corporate", "guarantee_company", "personal", "government_fund")
CAMPAIGN_CHANNELS = ("rm_visit", "phone", "sms", "online_banking", "wechat", "branch_event")
#: What a contact gave (an RM records it): reached without an answer yet, interested,
#: declined, or taken up (then ``responded`` is true and ``amount_taken`` the amount).
CAMPAIGN_RESPONSES = ("contacted", "interested", "declined", "taken")
DOC_SOURCES = ("news", "court", "registry", "rm_note", "annual_report")
LPR_TENORS = ("1Y", "5Y")


def _money(name: str, zh: str, en: str, *, signed: bool = False, required: bool = True) -> Field:
    return Field(name, "float", zh, en, YUAN, required=required, min=None if signed else 0.0)


def _count(name: str, zh: str, en: str) -> Field:
    return Field(name, "int", zh, en, "count", min=0)


FIRM_REF = "firms.firm_id"

FIRMS = Table(
    "firms", "企业客户", "Corporate customers", key=("firm_id",),
    fields=(
        Field("firm_id", "string", "统一社会信用代码", "Unified social credit code (USCC)",
              check="uscc"),
        Field("name", "string", "企业名称", "Registered name (Chinese)"),
        Field("industry_code", "string", "国民经济行业代码", "GB/T 4754-2017 industry code",
              check="industry"),
        Field("region_code", "string", "行政区划代码", "GB/T 2260 region code of registration",
              check="region"),
        Field("founded_on", "date", "成立日期", "Founding date"),
        Field("employees", "int", "从业人员", "Employees", "persons", min=0),
        _money("registered_capital", "注册资本", "Registered capital"),
        Field("ownership_type", "string", "所有制类型", "Ownership type", choices=OWNERSHIP),
        Field("listed", "bool", "是否上市", "Listed on a stock exchange"),
        Field("relationship_start", "date", "建立合作日期", "Start of the relationship with us"),
        Field("rm_id", "string", "客户经理编号", "Relationship-manager id"),
    ),
    cross_rules=(
        CrossRule("date_order", "le", ("founded_on", "relationship_start"),
                  "the relationship cannot start before the firm was founded"),
    ),
)

STATEMENTS = Table(
    "financial_statements", "财务报表", "Financial statements",
    key=("firm_id", "period_type", "period_end"),
    fields=(
        Field("firm_id", "string", "统一社会信用代码", "Firm (USCC)", references=FIRM_REF),
        Field("period_type", "string", "报告期类型", "annual, or quarterly (flows cover the "
              "single quarter, not year to date)", choices=("annual", "quarterly")),
        Field("period_end", "date", "报告期末", "Last day of the period"),
        Field("published_on", "date", "披露/报送日期",
              "Date the bank received or could see the statement"),
        _money("revenue", "营业收入", "Operating revenue"),
        _money("cost_of_sales", "营业成本", "Cost of sales"),
        _money("operating_profit", "营业利润", "Operating profit", signed=True),
        _money("net_profit", "净利润", "Net profit", signed=True),
        _money("interest_expense", "利息费用", "Interest expense"),
        _money("depreciation_amortisation", "折旧与摊销", "Depreciation and amortisation"),
        _money("total_assets", "资产总计", "Total assets"),
        _money("current_assets", "流动资产合计", "Current assets"),
        _money("cash", "货币资金", "Cash and equivalents"),
        _money("receivables", "应收账款", "Trade receivables"),
        _money("inventory", "存货", "Inventory"),
        _money("prepayments", "预付款项", "Prepayments"),
        _money("total_liabilities", "负债合计", "Total liabilities"),
        _money("current_liabilities", "流动负债合计", "Current liabilities"),
        _money("short_term_debt", "短期借款", "Short-term borrowings"),
        _money("long_term_debt", "长期借款", "Long-term borrowings"),
        _money("payables", "应付账款", "Trade payables"),
        _money("advance_receipts", "预收款项/合同负债", "Advance receipts"),
        _money("equity", "所有者权益合计", "Total equity", signed=True),
        _money("operating_cash_flow", "经营活动现金流量净额", "Net operating cash flow",
               signed=True),
        _money("capex", "购建长期资产支付的现金", "Capital expenditure (cash paid)"),
    ),
    cross_rules=(
        CrossRule("date_order", "le", ("period_end", "published_on"),
                  "a statement cannot be published before its period ends"),
        CrossRule("balance_sheet", "balance", ("total_assets", "total_liabilities", "equity"),
                  "total_assets must equal total_liabilities + equity within 0.5 % "
                  "(or 1,000 yuan)"),
        CrossRule("component_exceeds_total", "le", ("current_assets", "total_assets"),
                  "current assets cannot exceed total assets"),
        CrossRule("component_exceeds_total", "le", ("current_liabilities", "total_liabilities"),
                  "current liabilities cannot exceed total liabilities"),
    ),
)

BUREAU = Table(
    "bureau_reports", "征信报告", "Credit-bureau reports (PBOC enterprise credit report)",
    key=("firm_id", "report_date"),
    fields=(
        Field("firm_id", "string", "统一社会信用代码", "Firm (USCC)", references=FIRM_REF),
        Field("report_date", "date", "报告日期", "Date the report was pulled"),
        _count("lenders", "授信机构数", "Number of lending institutions"),
        _money("outstanding_balance", "未结清余额", "Outstanding credit balance, all lenders"),
        _count("overdue_count_12m", "近12个月逾期次数", "Overdue occurrences, last 12 months"),
        _count("overdue_count_24m", "近24个月逾期次数", "Overdue occurrences, last 24 months"),
        Field("max_dpd_12m", "int", "近12个月最长逾期天数", "Maximum days past due, 12 months",
              "days", min=0),
        Field("max_dpd_24m", "int", "近24个月最长逾期天数", "Maximum days past due, 24 months",
              "days", min=0),
        _money("guarantees_given", "对外担保余额", "Guarantees given for others"),
        _count("inquiries_1m", "近1个月查询次数", "Credit inquiries, last month"),
        _count("inquiries_3m", "近3个月查询次数", "Credit inquiries, last 3 months"),
        _count("inquiries_6m", "近6个月查询次数", "Credit inquiries, last 6 months"),
        _count("inquiries_12m", "近12个月查询次数", "Credit inquiries, last 12 months"),
        _money("written_off", "核销/呆账余额", "Written-off amounts at any lender"),
    ),
    cross_rules=(
        CrossRule("window_order", "le", ("overdue_count_12m", "overdue_count_24m"),
                  "overdue count over 12 months cannot exceed the 24-month count"),
        CrossRule("window_order", "le", ("max_dpd_12m", "max_dpd_24m"),
                  "max days past due over 12 months cannot exceed the 24-month maximum"),
        CrossRule("window_order", "le", ("inquiries_1m", "inquiries_3m"),
                  "inquiries over 1 month cannot exceed the 3-month count"),
        CrossRule("window_order", "le", ("inquiries_3m", "inquiries_6m"),
                  "inquiries over 3 months cannot exceed the 6-month count"),
        CrossRule("window_order", "le", ("inquiries_6m", "inquiries_12m"),
                  "inquiries over 6 months cannot exceed the 12-month count"),
    ),
)

TRANSACTIONS = Table(
    "transactions", "账户交易流水", "Account transaction flows", key=("txn_id",),
    fields=(
        Field("txn_id", "string", "交易流水号", "Transaction id"),
        Field("firm_id", "string", "统一社会信用代码", "Firm (USCC)", references=FIRM_REF),
        Field("txn_date", "date", "交易日期", "Value date"),
        Field("amount", "float", "交易金额", "Signed amount: + inflow (credit), - outflow (debit)",
              YUAN),
        Field("counterparty", "string", "交易对手", "Counterparty name", required=False),
        Field("channel", "string", "交易渠道", "Channel", choices=TXN_CHANNELS),
        Field("summary", "string", "摘要", "Summary text (Chinese)", required=False),
    ),
)

LOANS = Table(
    "loans", "贷款", "Loans", key=("loan_id",),
    fields=(
        Field("loan_id", "string", "借据号", "Loan id"),
        Field("firm_id", "string", "统一社会信用代码", "Borrower (USCC)", references=FIRM_REF),
        Field("product", "string", "贷款产品", "Product", choices=PRODUCTS),
        Field("purpose", "string", "贷款用途", "Stated purpose", choices=PURPOSES),
        _money("amount", "贷款金额", "Principal amount"),
        Field("lpr_tenor", "string", "LPR期限品种", "LPR tenor the rate is set on",
              choices=LPR_TENORS),
        Field("spread_bp", "float", "加点(基点)", "Spread over LPR", "bp", min=-300, max=2000),
        Field("term_months", "int", "期限(月)", "Term", "months", min=1, max=360),
        Field("start_date", "date", "放款日", "Disbursement date"),
        Field("maturity_date", "date", "到期日", "Contractual maturity"),
        Field("collateral_type", "string", "担保物类型", "Collateral", choices=COLLATERAL),
        Field("guarantee_type", "string", "保证方式", "Guarantee", choices=GUARANTEE),
    ),
    cross_rules=(
        CrossRule("date_order", "le", ("start_date", "maturity_date"),
                  "a loan cannot mature before it starts"),
    ),
)

REPAYMENTS = Table(
    "repayments", "还款计划与记录", "Repayment schedule and history", key=("loan_id", "due_date"),
    fields=(
        Field("loan_id", "string", "借据号", "Loan", references="loans.loan_id"),
        Field("due_date", "date", "应还日期", "Due date"),
        _money("amount_due", "应还金额", "Amount due (principal and interest)"),
        Field("paid_date", "date", "实还日期", "Date paid in full; empty while unpaid",
              required=False),
        _money("amount_paid", "实还金额", "Amount paid so far"),
    ),
)

CAMPAIGNS = Table(
    "campaign_contacts", "营销活动触达", "Marketing campaign contacts",
    key=("campaign_id", "firm_id"),
    fields=(
        Field("campaign_id", "string", "营销活动编号", "Campaign id"),
        Field("firm_id", "string", "统一社会信用代码", "Firm (USCC)", references=FIRM_REF),
        Field("product", "string", "推荐产品", "Product offered (or held back, for control)",
              choices=PRODUCTS),
        Field("channel", "string", "触达渠道", "Contact channel; empty for the control group",
              choices=CAMPAIGN_CHANNELS, required=False),
        Field("contact_date", "date", "触达日期", "Contact (or assignment) date"),
        Field("treated", "bool", "是否实验组", "True = contacted, false = held-out control"),
        Field("responded", "bool", "是否响应", "Took up the product within the campaign window"),
        _money("amount_taken", "成交金额", "Amount taken up"),
        Field("response", "string", "触达结果", "What the contact gave: contacted (no answer "
              "yet), interested, declined or taken; empty when not recorded",
              choices=CAMPAIGN_RESPONSES, required=False, added=True),
    ),
    cross_rules=(
        CrossRule("response_mismatch", "response", ("response", "responded", "treated"),
                  "response taken means responded is true and any other response that it is "
                  "false, and only a contacted firm (treated) has a response"),
    ),
)

DOCUMENTS = Table(
    "documents", "文本资料", "Unstructured documents (Chinese text)", key=("doc_id",),
    fields=(
        Field("doc_id", "string", "文档编号", "Document id"),
        Field("firm_id", "string", "统一社会信用代码", "Firm (USCC)", references=FIRM_REF),
        Field("doc_date", "date", "日期", "Publication or record date"),
        Field("source", "string", "来源", "news, court, registry, rm_note (客户经理走访记录), "
              "annual_report", choices=DOC_SOURCES),
        Field("text", "string", "正文", "Text (Chinese)"),
    ),
)

#: Contract tables in load order: a table comes after every table it refers to.
TABLES: tuple[Table, ...] = (
    FIRMS, STATEMENTS, BUREAU, TRANSACTIONS, LOANS, REPAYMENTS, CAMPAIGNS, DOCUMENTS,
)
TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    """The contract table called ``name``.

    Raises
    ------
    SchemaError
        If no contract table has that name.
    """
    from creditpersona.errors import SchemaError

    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        raise SchemaError(
            f"{name!r} is not a contract table; expected one of {', '.join(TABLES_BY_NAME)}."
        ) from None
