"""From the service's answers to what a page shows: labels, formatted numbers and charts.

Formatting only; every number comes from the API (or, for the two reads it has no endpoint
for, from :mod:`creditpersona.workbench.reads`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from creditpersona.workbench import charts

#: Campaign outcomes an RM records in two clicks → (treated, responded). Each is stored as it
#: was chosen (``campaign_contacts.response``); only "taken" is a take-up (``responded``).
OUTCOMES = {"contacted": (True, False), "interested": (True, False),
            "declined": (True, False), "taken": (True, True)}
LEVEL_BADGE = {"red": "red", "orange": "amber", "amber": "amber", "yellow": "amber",
               "green": "green", "none": "grey"}
LEVEL_ZH = {"red": "红色", "orange": "橙色", "yellow": "黄色", "amber": "橙色", "green": "绿色"}
TIER_BADGE = {"normal": "green", "special_mention": "amber", "substandard": "red",
              "doubtful": "red", "loss": "red"}


def pct(value: object, digits: int = 2) -> str:
    """A fraction as a percentage ('—' when missing).

    Examples
    --------
    >>> pct(0.0389), pct(None), pct(float("nan"))
    ('3.89%', '—', '—')
    """
    if not isinstance(value, int | float) or math.isnan(value):
        return "—"
    return f"{value:.{digits}%}"


def money(value: object, lang: str = "zh") -> str:
    """Yuan as 万元 (Chinese) or millions (English), '—' when missing.

    Examples
    --------
    >>> money(8270000.0), money(8270000.0, "en"), money(None)
    ('827.0万', '8.27m', '—')
    """
    if not isinstance(value, int | float) or math.isnan(value):
        return "—"
    return f"{value / 1e6:,.2f}m" if lang == "en" else f"{value / 1e4:,.1f}万"


def num(value: object, digits: int = 0) -> str:
    """A number with separators ('—' when missing)."""
    if not isinstance(value, int | float) or math.isnan(value):
        return "—"
    return f"{value:,.{digits}f}"


def bilingual(zh: object, en: object, lang: str) -> str:
    """The text of the chosen language, the other when it is missing."""
    first, second = (en, zh) if lang == "en" else (zh, en)
    for v in (first, second):
        if v not in (None, ""):
            return str(v)
    return ""


def level_badge(level: object) -> str:
    """CSS class of a watch level's badge."""
    return LEVEL_BADGE.get(str(level), "grey")


def level_label(level: object, lang: str) -> str:
    """A watch level in the page's language.

    Examples
    --------
    >>> level_label("red", "zh"), level_label("red", "en")
    ('红色', 'red')
    """
    return str(level) if lang == "en" else LEVEL_ZH.get(str(level), str(level))


@functools.lru_cache(maxsize=1)
def _text_package() -> Any:
    from creditpersona.text.package import load_packaged

    return load_packaged()


def documents(rows: Sequence[Mapping[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Risk documents with the words that raised their score highlighted and their events.

    The highlighting is the HTML report's (:func:`creditpersona.report.text.highlight`) with
    the packaged text-risk model's driving words.
    """
    from creditpersona.report.text import highlight
    from creditpersona.text.features import vocabulary
    from creditpersona.text.package import document_events

    pkg = _text_package()
    labels = {e.code: e for e in vocabulary().lexicon.events}
    texts = [str(r.get("text") or "") for r in rows]
    events = document_events(texts) if texts else []
    out = []
    for row, text, codes in zip(rows, texts, events, strict=True):
        words = [w for w, _ in pkg.text.drivers(text, 6)]
        out.append({"date": row.get("doc_date"), "source": row.get("source"),
                    "html": highlight(text, words),
                    "events": [bilingual(labels[c].zh, labels[c].en, lang) for c in codes
                               if c in labels]})
    return out


def radar(scores: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> str:
    """The five profile scores as a radar (missing scores drawn at 0)."""
    values = {labels.get(str(s["dimension"]), str(s["dimension"])):
              float(s["score"]) if s.get("score") is not None else 0.0 for s in scores}
    return charts.radar(values) if values else ""


def waterfall(components: Mapping[str, Any], labels: Mapping[str, str], total: str,
              rate: object = None, adjustment: str = "") -> str:
    """The price waterfall of a quote or a stored price (components in basis points).

    When the price ``rate`` (a fraction) differs from the sum of the components — the LPR
    floor or the cost floor applied — the difference is drawn as one more step, labelled
    ``adjustment``, so the last bar is the rate the customer pays.
    """
    steps = [(labels.get(k, k), float(v) / 1e4) for k, v in components.items()
             if isinstance(v, int | float) and not math.isnan(v)]
    if not steps:
        return ""
    if isinstance(rate, int | float) and not math.isnan(rate):
        gap = float(rate) - sum(v for _, v in steps)
        if abs(gap) >= 5e-7:
            steps.append((adjustment, gap))
    return charts.waterfall(steps, total)


def loan_timeline(loans: Sequence[Mapping[str, Any]], as_of: str, lang: str) -> str:
    """Loans from drawdown to maturity; a dot on the as-of date shows each loan's status
    (green: current, red: days past due)."""
    frame = pd.DataFrame(list(loans))
    need = {"loan_id", "start_date", "maturity_date"}
    if frame.empty or not need <= set(frame.columns):
        return ""
    frame = frame.sort_values("start_date")
    product = frame.get("product", pd.Series("", index=frame.index)).fillna("")
    label = frame["loan_id"].astype(str) + " " + product.map(
        lambda p: product_label(p, lang))
    bars = pd.DataFrame({"label": label, "start": frame["start_date"],
                         "end": frame["maturity_date"]})
    dpd = pd.to_numeric(frame.get("dpd", pd.Series(np.nan, index=frame.index)),
                        errors="coerce")
    live = dpd.notna().to_numpy()  # loans repaid before the as-of date have no status
    status = pd.DataFrame({
        "label": label, "date": as_of, "late": dpd.fillna(0) > 0,
        "text": [("逾期天数 " if lang != "en" else "days past due ") + f"{d:.0f}"
                 if pd.notna(d) else "" for d in dpd]})[live]
    return charts.timeline(bars, status)


def repayment_timeline(repayments: Sequence[Mapping[str, Any]],
                       loans: Sequence[Mapping[str, Any]], lang: str) -> str:
    """Each repayment shown in the 360 on its loan's line: due date, paid date and days past
    due (green on time, orange paid late, red overdue and unpaid)."""
    from creditpersona.workbench.i18n import translate

    frame = pd.DataFrame(list(repayments))
    if frame.empty:
        return ""
    product = {str(loan.get("loan_id")): product_label(loan.get("product"), lang)
               for loan in loans}
    frame["label"] = [f"{loan} {product.get(str(loan), '')}".strip()
                      for loan in frame["loan_id"]]
    words = {k: translate(k, lang) for k in ("due_date", "paid_date", "dpd", "amount_due")}
    frame["text"] = [
        f"{r['label']}<br>{words['due_date']} {r['due_date']} · {words['amount_due']} "
        f"{money(r['amount_due'], lang)}<br>{words['paid_date']} {r['paid_date'] or '—'} · "
        f"{words['dpd']} {r['dpd']}" for _, r in frame.iterrows()]
    names = {s: translate(f"rep_{s}", lang) for s in charts.REPAYMENT_COLOURS}
    return charts.repayments(frame, names)


def industry_label(code: object, lang: str) -> str:
    """A GB/T 4754 code with its division (or section) name.

    Examples
    --------
    >>> industry_label("C34", "zh"), industry_label("C3411", "en")
    ('C34 通用设备制造业', 'C3411 Manufacturing')
    """
    from creditpersona.domain.industry import DIVISION_NAMES, SECTION_BY_LETTER

    text = str(code or "")
    section = SECTION_BY_LETTER.get(text[:1])
    division = DIVISION_NAMES.get(text[:3]) if lang != "en" else None
    name = division or (bilingual(section.zh, section.en, lang) if section else "")
    return f"{text} {name}".strip()


def size_label(size: object, lang: str) -> str:
    """A MIIT size class in the page's language.

    Examples
    --------
    >>> size_label("small", "zh"), size_label("small", "en"), size_label(None, "zh")
    ('小型', 'small', '—')
    """
    from creditpersona.domain.size_class import SIZE_LABELS_ZH

    if not size:
        return "—"
    return str(size) if lang == "en" else SIZE_LABELS_ZH.get(str(size), str(size))


#: The limit's constraints as the 360 lists them: (column, binding values it stands for,
#: Chinese label, English label); the binding one is shown in bold.
LIMIT_ROWS = (
    ("adjusted_capacity", ("working_capital_need", "dscr", "capacity"),
     "需求测算（经评级与客户性格调整）", "Capacity (after grade and persona)"),
    ("single_borrower_cap", ("single_borrower_cap",), "单一客户集中度", "Single-borrower cap"),
    ("leverage_cap", ("leverage_cap",), "负债/收入上限", "Debt-to-revenue cap"),
    ("product_cap", ("product_cap",), "产品额度上限", "Product maximum"),
)


@functools.lru_cache(maxsize=1)
def _products() -> dict[str, tuple[str, str]]:
    from creditpersona.decisions.config import load_decisions

    return {k: (p.zh, p.en) for k, p in load_decisions().products.items()}


def product_label(code: object, lang: str) -> str:
    """A product of the catalogue by its name in the page's language (the code if unknown).

    Examples
    --------
    >>> product_label("trade_finance", "zh"), product_label("nope", "en")
    ('贸易融资', 'nope')
    """
    names = _products().get(str(code))
    return bilingual(*names, lang) if names else str(code or "")


#: Chinese names of the contract's collateral and guarantee types (codes in English).
TERMS_ZH = {
    "none": "无", "real_estate": "房产抵押", "equipment": "设备抵押",
    "receivables": "应收账款质押", "inventory": "存货质押", "deposit": "存单质押",
    "equity_pledge": "股权质押", "land_use_right": "土地使用权抵押", "corporate": "企业保证",
    "guarantee_company": "担保公司保证", "personal": "个人保证",
    "government_fund": "政府性融资担保",
}


def term_label(code: object, lang: str) -> str:
    """A collateral or guarantee type in the page's language.

    Examples
    --------
    >>> term_label("real_estate", "zh"), term_label("real_estate", "en")
    ('房产抵押', 'real estate')
    """
    text = str(code or "")
    return text.replace("_", " ") if lang == "en" else TERMS_ZH.get(text, text)


@functools.lru_cache(maxsize=1)
def dimension_names() -> dict[str, tuple[str, str]]:
    """The profile's five dimensions → (Chinese, English), read once from the scoring YAML."""
    from creditpersona.profile.scoring import load_scoring

    return {d: (c.zh, c.en) for d, c in load_scoring().dimensions.items()}


@functools.lru_cache(maxsize=1)
def grade_names() -> tuple[str, ...]:
    """The master scale's grades, best first (read once)."""
    from creditpersona.models.master_scale import load_master_scale

    return tuple(load_master_scale().names)
