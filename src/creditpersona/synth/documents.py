"""Chinese documents about the firms: news, court records, registry changes, RM visit notes
and annual-report abstracts.

Most firms get neutral news and routine visit notes. Risk events (lawsuits, 被执行人,
失信被执行人, production halts, unpaid wages, frozen equity, environmental fines, a missing
controller, illegal fund-raising, unpaid bills, bankruptcy) come in several wordings and are
more frequent the higher a firm's latent risk; they cluster in the quarters when that risk is
high (the risk that drives defaults, not the drawn default date: the news carries no more
information than the true PD). Documents that use risk words without a risk event of the firm
are as varied: some deny a risk (经核查，未发现……; 涉诉情况：无), retract a rumour (网传……不实)
or report a case resolved (已撤诉); neutral news, bond prospectuses and annual-report abstracts
carry standard risk warnings (风险提示 …); some news reports another firm's scandal and names
the firm only beside it. Growing, healthy firms get positive news (patents, tenders won,
expansions).

With an industry shock, the documents of the bank without it are drawn first; then, from
the shock start on, risk news is added at the raised rate, positive news is thinned, and
the distress news of the shocked industry follows its shocked risk (see
:func:`_after_shock`). Documents dated before the shock start are unchanged.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from creditpersona.synth.financials import Columns, Financials
from creditpersona.synth.personas import INDEX
from creditpersona.synth.population import Floats, Population, sigmoid

#: Templates: (source, text with ``{name}`` and optionally ``{n}``, ``{city}`` and
#: ``{other}``, another firm of the bank). Some neutral documents carry standard risk
#: warnings (风险提示 …) or risk words in a harmless sense: they report no event.
NEUTRAL = (
    ("news", "{name}召开年度经营工作会议，部署下一阶段重点任务。"),
    ("news", "{name}参加{city}举办的产业对接洽谈会。"),
    ("news", "{name}与多家客户签订年度框架合作协议。"),
    ("news", "{name}组织开展安全生产月活动。"),
    ("news", "{name}获得{city}农商银行授信{n}00万元。风险提示：本文仅供参考，不构成投资建议；"
             "如企业发生逾期、违约或诉讼，授信可能被压降。"),
    ("news", "{name}组织员工参加{city}法院举办的合同纠纷防范讲座。"),
    ("news", "{name}开展消防演练，提升火灾等突发事件的应急处置能力。"),
    ("registry", "{name}发布债券募集说明书。重要提示：如发行人出现停产、资金链断裂、债务违约等"
                 "情形，投资者可能面临损失，敬请投资者注意投资风险。"),
)
POSITIVE = (
    ("news", "{name}获得发明专利授权{n}项，核心技术实现自主可控。"),
    ("news", "{name}中标{city}重点项目，中标金额约{n}万元。"),
    ("news", "{name}扩产项目开工建设，预计新增产能{n}%。"),
    ("news", "{name}入选{city}专精特新中小企业名单。"),
)
#: Risk events, each in several wordings (court and registry notices, news, RM notes).
RISK = (
    ("court", "{name}因买卖合同纠纷被供应商起诉，涉案金额{n}万元。"),
    ("court", "{name}被{city}中级人民法院列为被执行人，执行标的{n}万元。"),
    ("court", "{name}被列为失信被执行人，法定代表人被限制高消费。"),
    ("news", "{name}主要生产线停产，员工反映已停工{n}天。"),
    ("news", "{name}拖欠员工工资约{n}万元，劳动监察部门已介入。"),
    ("registry", "{name}股东所持{n}%股权被司法冻结。"),
    ("registry", "{name}因废水超标排放被{city}生态环境局处以罚款{n}万元。"),
    ("news", "{name}实际控制人近日联系不上，厂区大门紧锁，多家供应商上门讨要货款。"),
    ("news", "{name}因涉嫌非法吸收公众存款被{city}警方立案侦查，投资人无法提现。"),
    ("court", "{name}名下银行账户及厂房被法院查封，涉及金额{n}万元。"),
    ("news", "{name}多名员工反映已三个多月未领到工资，集体到劳动部门讨要说法。"),
    ("news", "{name}发行的商业承兑汇票到期未能兑付，持票人已向法院起诉。"),
    ("news", "{name}连续两年亏损，资不抵债，已向{city}中级人民法院申请破产重整。"),
)
#: Documents that name risk events the firm does not have: denials, rumours retracted,
#: resolved cases, and news of another firm's scandal that only mentions this one.
NEGATED = (
    ("rm_note", "经核查，未发现{name}涉及诉讼或被执行记录。"),
    ("court", "经查询，{name}不存在失信被执行记录。"),
    ("news", "{name}澄清：网传停产消息不实，公司生产经营正常。"),
    ("news", "网传{name}资金链断裂的消息不实，公司生产经营一切正常。"),
    ("news", "{name}发布声明：关于公司老板跑路的传闻纯属谣言。"),
    ("rm_note", "走访{name}，涉诉情况：无；欠税情况：无；企业无逾期、欠息记录。"),
    ("court", "{name}与供应商的买卖合同纠纷原告已撤诉，相关股权冻结已解除。"),
    ("news", "{other}因涉嫌非法集资被立案侦查，实际控制人已失联；{name}表示与其仅有少量业务往来，"
             "经营正常。"),
    ("news", "{other}被列为失信被执行人，多条生产线停产；同园区的{name}生产经营未受影响。"),
)
REGISTRY = (
    ("registry", "{name}注册资本变更为{n}万元。"),
    ("registry", "{name}法定代表人发生变更。"),
    ("registry", "{name}经营范围变更，新增技术服务等项目。"),
)
#: RM visit notes by persona, then the note for any firm under visible stress.
RM_NOTES = (
    "走访{name}，企业经营正常，订单饱满，现金流稳定。",
    "走访{name}，研发投入较大，营收增长较快，计划开展新一轮股权融资。",
    "走访{name}，企业负债率偏高，资金周转较紧，正在寻求续贷。",
    "走访{name}，春节前备货需求旺盛，资金周转压力阶段性上升。",
    "走访{name}，在建项目进度约{n}%，回款依赖项目结算。",
    "走访{name}，经营者从业多年，店铺客流稳定。",
)
#: The standard warning closing an annual-report abstract (not an event).
ANNUAL_REPORT_WARNING = "风险提示：公司可能面临市场竞争加剧、原材料价格波动及应收账款逾期等风险。"
RM_STRESS = "走访{name}，企业资金紧张，存在拖欠供应商货款情况，建议压降授信。"


#: Firm index, source, text and date of a batch of documents.
_Part = tuple[npt.NDArray[np.int64], npt.NDArray[np.object_], npt.NDArray[np.object_],
              npt.NDArray[np.datetime64]]
#: Position in :func:`documents`' batches of the positive news and of the distress news.
_POSITIVE_PART, _CLUSTER_PART = 1, 5


def _fill(template: npt.NDArray[np.object_], name: npt.NDArray[np.object_],
          number: npt.NDArray[np.int64], city: npt.NDArray[np.object_],
          other: npt.NDArray[np.object_] | None = None) -> npt.NDArray[np.object_]:
    """Fill ``{name}``, ``{n}``, ``{city}`` and ``{other}`` (another firm's name, default
    ``name``) in each template, one pass per unique template."""
    other = name if other is None else other
    out = np.empty(template.size, dtype=object)
    for t in np.unique(template):
        sel = template == t
        values = {"{name}": name[sel], "{n}": number[sel].astype(str).astype(object),
                  "{city}": city[sel], "{other}": other[sel]}
        text = np.full(int(sel.sum()), "", dtype=object)
        for piece in re.split(r"(\{name\}|\{n\}|\{city\}|\{other\})", str(t)):
            text = text + values.get(piece, piece)
        out[sel] = text
    return out


def _other_names(pop: Population, firm: npt.NDArray[np.int64],
                 number: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """Another firm's name for each document (derived from the drawn number, so that naming
    it takes no draws of its own)."""
    other = (firm + 1 + number) % max(pop.n, 1)
    other = np.where((other == firm) & (pop.n > 1), (other + 1) % max(pop.n, 1), other)
    return np.asarray(pop.name[other], dtype=object)


#: Distress news: about DISTRESS_RATE risk events a quarter as the latent risk passes
#: DISTRESS_RISK (where the quarterly default hazard reaches a few per cent).
DISTRESS_RATE, DISTRESS_SLOPE, DISTRESS_RISK = 1.25, 3.0, 2.5


def _distress(rng: np.random.Generator, risk: Floats, quarter_ends: npt.NDArray[np.datetime64],
              lo: npt.NDArray[np.datetime64], end: np.datetime64
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_],
                         npt.NDArray[np.object_], npt.NDArray[np.datetime64]]:
    """Distress news: per firm and grid quarter, Poisson in that quarter's latent risk.

    Each event is dated on a uniform day of its quarter; quarters outside the firm's
    history (before ``lo`` or after ``end``) get none. Returns firm, source, template, day.
    """
    start = quarter_ends - np.timedelta64(91, "D")
    live = (quarter_ends[None, :] >= lo[:, None]) & (start[None, :] <= end)
    lam = DISTRESS_RATE * sigmoid(DISTRESS_SLOPE * (risk - DISTRESS_RISK)) * live
    cell, source, text = _draw(rng, rng.poisson(lam).ravel(), RISK)
    firm, quarter = np.divmod(cell, quarter_ends.size)
    day = quarter_ends[quarter] - rng.integers(0, 91, cell.size).astype("timedelta64[D]")
    return firm, source, text, np.asarray(np.minimum(np.maximum(day, lo[firm]), end))


def _draw(rng: np.random.Generator, counts: npt.NDArray[np.int64],
          templates: tuple[tuple[str, str], ...]) -> tuple[npt.NDArray[np.int64],
                                                            npt.NDArray[np.object_],
                                                            npt.NDArray[np.object_]]:
    firm = np.repeat(np.arange(counts.size), counts)
    pick = rng.integers(0, len(templates), firm.size)
    source = np.asarray([s for s, _ in templates], dtype=object)[pick]
    text = np.asarray([t for _, t in templates], dtype=object)[pick]
    return firm, source, text


def _positive_rate(growthy: npt.NDArray[np.bool_], last_risk: Floats) -> Floats:
    return np.asarray(0.15 + 0.9 * growthy + 0.3 * (last_risk < 0))


def _risk_rate(last_risk: Floats) -> Floats:
    return np.asarray(0.05 + 0.8 * sigmoid(2.0 * (last_risk - 1.8)))


def documents(rng: np.random.Generator, pop: Population, fin: Financials,
              shock_rng: np.random.Generator | None = None, *, first_id: int = 1) -> Columns:
    """The ``documents`` rows, sorted by date and firm, with ``doc_id`` in that order.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream reserved for the documents.
    pop, fin : Population, Financials
        The firms and their quarterly financials.
    shock_rng : numpy.random.Generator, optional
        Stream for the documents the industry shock adds or removes; required when ``pop``
        has one.
    first_id : int, default 1
        Number of the first ``doc_id`` (a block of a larger bank continues the numbering
        of the blocks before it).

    Returns
    -------
    dict
        Contract columns (``firm`` holds firm indices).
    """
    tl = pop.timeline
    end_q = int(np.clip(tl.quarter_index(np.array([tl.end]))[0], 0, None))
    growthy = (pop.persona == INDEX["growth_tech"]) | (pop.growth > 0.15)
    draw = _Drawer(rng, pop)
    parts = _background(draw, pop.calm_risk[:, end_q], growthy)
    # Risk events concentrate in the quarters when a firm's latent risk is high (the risk
    # that drives defaults, not the drawn default date).
    firm, source, text, day = _distress(rng, pop.calm_risk, tl.quarter_ends, draw.lo, tl.end)
    parts.append((firm, source, draw.fill(firm, text), day))
    parts.append(_visit_notes(draw))
    parts.extend(_annual_reports(rng, pop, fin))
    if pop.has_shock:
        if shock_rng is None:
            raise ValueError("documents needs shock_rng when the population has a shock")
        parts = _after_shock(shock_rng, pop, parts, end_q, growthy)
    return _in_date_order(parts, tl.end, first_id)


class _Drawer:
    """The draws every batch of documents shares: template numbers and uniform dates."""

    def __init__(self, rng: np.random.Generator, pop: Population) -> None:
        tl = pop.timeline
        self.rng, self.pop = rng, pop
        self.lo = np.maximum(pop.founded_on, tl.history_start)
        self.span = np.maximum((tl.end - self.lo).astype(np.int64), 1)

    def fill(self, firm: npt.NDArray[np.int64], templates: npt.NDArray[np.object_]
             ) -> npt.NDArray[np.object_]:
        """The texts of ``templates`` about ``firm`` (draws one number per document)."""
        number = self.rng.integers(5, 100, firm.size)
        return _fill(templates, self.pop.name[firm], number, self.pop.city[firm],
                     _other_names(self.pop, firm, number))

    def uniform_dates(self, firm: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
        """A uniform day of each firm's history (from its founding or the history start)."""
        offset = (self.rng.random(firm.size) * self.span[firm]).astype(np.int64)
        return np.asarray(self.lo[firm] + offset.astype("timedelta64[D]"))


def _background(draw: _Drawer, last_risk: Floats, growthy: npt.NDArray[np.bool_]
                ) -> list[_Part]:
    """Neutral, positive, negated, registry and risk news on uniform dates, in that order
    (:data:`_POSITIVE_PART` is the second)."""
    rng, pop = draw.rng, draw.pop
    size_factor = np.array([2.5, 1.6, 1.0, 0.6])[pop.size_target]
    # Every count is drawn before the first batch's templates: the order fixes the bank.
    batches = (
        (rng.poisson(1.0 * size_factor), NEUTRAL),
        (rng.poisson(_positive_rate(growthy, last_risk)), POSITIVE),
        (rng.poisson(0.12, pop.n), NEGATED),
        (rng.poisson(0.4, pop.n), REGISTRY),
        (rng.poisson(_risk_rate(last_risk)), RISK),
    )
    parts: list[_Part] = []
    for counts, templates in batches:
        firm, source, text = _draw(rng, counts, templates)
        parts.append((firm, source, draw.fill(firm, text), draw.uniform_dates(firm)))
    return parts


def _visit_notes(draw: _Drawer) -> _Part:
    """RM visit notes: the persona's note, or a stress note once the firm looks stressed."""
    pop = draw.pop
    tl = pop.timeline
    firm = np.repeat(np.arange(pop.n), draw.rng.poisson(1.5, pop.n))
    day = draw.uniform_dates(firm)
    q = np.clip(tl.quarter_index(day), 0, tl.quarter_ends.size - 1)
    stressed = pop.risk[firm, q] > 1.8
    note = np.where(stressed, RM_STRESS, np.asarray(RM_NOTES, dtype=object)[pop.persona[firm]])
    return (firm, np.full(firm.size, "rm_note", dtype=object),
            draw.fill(firm, note.astype(object)), day)


def _annual_reports(rng: np.random.Generator, pop: Population, fin: Financials
                    ) -> list[_Part]:
    """Annual-report abstracts of listed firms, once each fiscal year is published."""
    tl = pop.timeline
    listed = np.flatnonzero(pop.listed)
    parts: list[_Part] = []
    for year in tl.fiscal_years:
        published = np.datetime64(f"{int(year) + 1}-04-25", "D")
        if published > tl.end:
            continue
        q_end = int(np.searchsorted(tl.quarter_ends, np.datetime64(f"{int(year)}-12-31", "D")))
        revenue = fin["revenue"][listed][:, max(q_end - 3, 0): q_end + 1].sum(axis=1)
        text = (pop.name[listed] + f"发布{int(year)}年年度报告，全年实现营业收入"
                + np.round(revenue / 1e4).astype(np.int64).astype(str).astype(object) + "万元。"
                + ANNUAL_REPORT_WARNING)
        day = published - rng.integers(0, 30, listed.size).astype("timedelta64[D]")
        parts.append((listed, np.full(listed.size, "annual_report", dtype=object),
                      text.astype(object), day))
    return parts


def _in_date_order(parts: list[_Part], end: np.datetime64, first_id: int) -> Columns:
    """The documents dated up to ``end``, sorted by date and firm, numbered from
    ``first_id``."""
    firm = np.concatenate([p[0] for p in parts])
    source = np.concatenate([p[1] for p in parts])
    text = np.concatenate([p[2] for p in parts])
    day = np.concatenate([p[3] for p in parts]).astype("datetime64[D]")
    keep = day <= end
    order = np.lexsort((firm[keep], day[keep]))
    sel = np.flatnonzero(keep)[order]
    last = first_id + sel.size - 1
    width = max(8, len(str(last)))
    numbers = np.arange(first_id, last + 1).astype(str)
    return {
        "doc_id": np.char.add("D", np.char.zfill(numbers, width)),
        "firm": firm[sel], "doc_date": day[sel], "source": source[sel], "text": text[sel],
    }


def _after_shock(rng: np.random.Generator, pop: Population, parts: list[_Part],
                 end_q: int, growthy: npt.NDArray[np.bool_]) -> list[_Part]:
    """The batches of the calm bank changed from the shock start on.

    Positive news dated after the start is thinned to the shocked rate; risk news is added
    after the start at the rate the shock adds; the distress news of the shocked industry
    dated after the start is dropped and drawn again from its shocked latent risk.
    """
    tl = pop.timeline
    start = pop.shock_start
    draw = _Drawer(rng, pop)
    lo, span, fill = draw.lo, draw.span, draw.fill
    last_risk, calm_last = pop.risk[:, end_q], pop.calm_risk[:, end_q]
    out = list(parts)

    def keep(part: _Part, mask: npt.NDArray[np.bool_]) -> _Part:
        return (part[0][mask], part[1][mask], part[2][mask], part[3][mask])

    firm, _, _, day = parts[_POSITIVE_PART]
    ratio = _positive_rate(growthy, last_risk) / _positive_rate(growthy, calm_last)
    out[_POSITIVE_PART] = keep(parts[_POSITIVE_PART],
                               pop.before_shock(day) | (rng.random(firm.size) < ratio[firm]))

    after = np.maximum(lo, start)
    room = np.maximum((tl.end - after).astype(np.int64), 0)
    extra = (_risk_rate(last_risk) - _risk_rate(calm_last)) * room / span
    firm, source, text = _draw(rng, rng.poisson(extra), RISK)
    day = after[firm] + (rng.random(firm.size) * room[firm]).astype("timedelta64[D]")
    out.append((firm, source, fill(firm, text), day))

    # Distress news of the shocked firms follows their shocked risk from the start on.
    shocked = pop.shocked
    firm, _, _, day = parts[_CLUSTER_PART]
    out[_CLUSTER_PART] = keep(parts[_CLUSTER_PART], pop.before_shock(day) | ~shocked[firm])
    firm, source, text, day = _distress(rng, np.where(shocked[:, None], pop.risk, -np.inf),
                                        tl.quarter_ends, lo, tl.end)
    out.append(keep((firm, source, fill(firm, text), day), ~pop.before_shock(day)))
    return out
