"""Text signals of the customer profile: lexicon, negation, recency, point in time, scores,
and separation of defaulters on the synthetic bank."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from creditpersona.errors import ConfigurationError, SchemaError
from creditpersona.profile.text import Lexicon, explain_text, load_lexicon, text_signals
from creditpersona.synth import generate_bank

AS_OF = dt.date(2026, 6, 30)
LEX = load_lexicon()
RISK = [e.code for e in LEX.events if e.polarity == "risk"]
POSITIVE = [e.code for e in LEX.events if e.polarity == "positive"]
# Risk sentences in the style of court notices, registry feeds, news and visit notes.
RISK_TEXTS = [
    "该企业被列为失信被执行人。",
    "因金融借款合同纠纷，该公司被银行起诉至法院。",
    "该公司股东所持股权被司法冻结。",
    "受订单减少影响，企业主要生产线全面停产。",
    "多名员工反映企业拖欠工资三个月。",
    "该公司被市场监督管理局列入经营异常名录。",
    "企业实际控制人失联，厂区人去楼空。",
]


def docs(rows: list[tuple[str, dt.date, str | None]]) -> pd.DataFrame:
    return pd.DataFrame({
        "doc_id": [f"D{i:08d}" for i in range(1, len(rows) + 1)],
        "firm_id": [r[0] for r in rows],
        "doc_date": [r[1] for r in rows],
        "source": "news",
        "text": [r[2] for r in rows],
    })


def one(text: str, *, age: int = 0, half_life_days: float = 180.0) -> pd.Series:
    out = text_signals(docs([("F1", AS_OF - dt.timedelta(days=age), text)]), AS_OF,
                       half_life_days=half_life_days)
    assert len(out) == 1
    return out.iloc[0]


# ----- negation ---------------------------------------------------------------------------
def test_negated_lawsuit_is_not_counted() -> None:
    row = one("经核查，未发现该企业涉及诉讼")
    assert not row["flag_lawsuit"]
    assert row["text_lawsuit"] == 0.0
    assert row["text_negated_mentions"] == 1
    assert row["text_risk_score"] == 0.0
    assert row["text_top_event"] is None


def test_dishonest_debtor_listing_is_flagged() -> None:
    row = one("该企业被列为失信被执行人")
    assert row["flag_dishonest_debtor"]
    assert row["text_dishonest_debtor"] == pytest.approx(1.0)
    assert row["text_top_event"] == "dishonest_debtor"
    assert row["text_lexicon_score"] == pytest.approx(100 * (1 - np.exp(-0.9)))
    # The text-risk model (issue 16) is not confident on this short line (p < 0.65): the
    # document's risk is the lexicon's.
    assert row["text_risk_score"] >= row["text_lexicon_score"] - 1e-9
    assert row["text_risk_documents"] == 1


@pytest.mark.parametrize(("text", "code", "flagged"), [
    # cue before the term, with a firm name in between
    ("经核查，未发现天津宝捷制衣有限公司涉及诉讼或被执行记录。", "lawsuit", False),
    ("经核查，未发现天津宝捷制衣有限公司涉及诉讼或被执行记录。", "enforcement_listing", False),
    ("经查询，该公司不存在失信被执行记录。", "dishonest_debtor", False),
    ("经核查，该企业无逾期、欠息记录。", "default_overdue", False),
    ("法院裁定不予受理该公司的破产申请。", "bankruptcy", False),
    # cue after the term in the same clause
    ("公司澄清：网传停产消息不实，生产经营正常。", "production_halt", False),
    ("该公司股权冻结已解除。", "equity_freeze", False),
    ("涉诉情况：无", "lawsuit", False),
    # negation does not cross a clause or a contrastive conjunction
    ("未发现诉讼记录，但存在被执行记录。", "enforcement_listing", True),
    ("该企业无逾期但有多起诉讼。", "lawsuit", True),
    ("公司经营正常，未见异常。该公司被法院强制执行。", "enforcement_listing", True),
    # pseudo-negations and words that contain a cue character are not negations
    ("公司因未按期支付货款被供应商起诉。", "lawsuit", True),
    ("无锡某纺织公司停产。", "production_halt", True),
    ("企业资金紧张，无力偿还到期贷款。", "default_overdue", True),
    ("会计师对该公司年报出具了保留意见。", "audit_qualified", True),
    ("该公司年报审计意见为标准无保留意见。", "audit_qualified", False),
])
def test_negation_cues(text: str, code: str, flagged: bool) -> None:
    assert bool(one(text)[f"flag_{code}"]) is flagged


def test_negated_mentions_are_counted_separately() -> None:
    row = one("经核查，未发现该企业涉及诉讼或被执行记录，亦无失信记录。")
    assert row["text_negated_mentions"] == 3
    assert not row[[f"flag_{c}" for c in RISK]].any()


# ----- tokenisation ---------------------------------------------------------------------
def test_multi_character_terms_are_not_split() -> None:
    row = one("该企业被列为失信被执行人")
    # 失信被执行人 is one token: it does not also count as 被执行人 (enforcement listing).
    assert not row["flag_enforcement_listing"]
    row = one("多名员工反映企业拖欠员工工资")
    assert row["flag_wage_arrears"] and not row["flag_default_overdue"]


@pytest.mark.parametrize("frame", ["据报道，该公司{t}。", "客户经理走访发现{t}，需持续关注"])
def test_every_term_is_found_whole_in_context(frame: str) -> None:
    rows = [(f"{e.code}|{t}", AS_OF, frame.format(t=t)) for e in LEX.events for t in e.terms]
    out = text_signals(docs(rows), AS_OF).set_index("firm_id")
    codes = out.index.str.split("|").str[0]
    for code in LEX.codes:
        flags = out[f"flag_{code}"].to_numpy()
        mine = np.asarray(codes == code)
        assert flags[mine].all(), out.index[mine & ~flags].tolist()
        assert not flags[~mine].any(), out.index[~mine & flags].tolist()


# ----- recency and point in time --------------------------------------------------------
@pytest.mark.parametrize("half_life", [30.0, 180.0, 365.0])
def test_weight_halves_at_the_half_life(half_life: float) -> None:
    text = RISK_TEXTS[0]
    fresh = one(text, age=0, half_life_days=half_life)["text_dishonest_debtor"]
    half = one(text, age=int(half_life), half_life_days=half_life)["text_dishonest_debtor"]
    quarter = one(text, age=int(2 * half_life), half_life_days=half_life)["text_dishonest_debtor"]
    assert fresh == pytest.approx(1.0)
    assert half == pytest.approx(0.5)
    assert quarter == pytest.approx(0.25)


def test_recent_windows() -> None:
    rows = [("F1", AS_OF - dt.timedelta(days=age), RISK_TEXTS[2]) for age in (0, 89, 90, 364)]
    rows += [("F2", AS_OF - dt.timedelta(days=365), RISK_TEXTS[2])]
    out = text_signals(docs(rows), AS_OF).set_index("firm_id")
    assert out.loc["F1", "n_documents"] == 4
    assert out.loc["F1", "n_documents_90d"] == 2
    assert out.loc["F1", "flag_equity_freeze"]
    assert not out.loc["F2", "flag_equity_freeze"]  # older than a year: weight, no flag
    assert out.loc["F2", "text_equity_freeze"] > 0


def test_documents_after_as_of_are_ignored() -> None:
    base = docs([
        ("F1", AS_OF - dt.timedelta(days=40), RISK_TEXTS[1]),
        ("F1", AS_OF, "该公司召开年度经营工作会议。"),
        ("F2", AS_OF - dt.timedelta(days=400), RISK_TEXTS[3]),
    ])
    future = docs([
        ("F1", AS_OF + dt.timedelta(days=1), RISK_TEXTS[0]),
        ("F2", AS_OF + dt.timedelta(days=30), "经核查，未发现该企业涉及诉讼。"),
        ("F3", AS_OF + dt.timedelta(days=2), RISK_TEXTS[4]),
    ])
    before = text_signals(base, AS_OF)
    after = text_signals(pd.concat([base, future], ignore_index=True), AS_OF)
    pd.testing.assert_frame_equal(before, after)
    assert before["firm_id"].tolist() == ["F1", "F2"]


def test_firms_without_documents_up_to_as_of_do_not_appear() -> None:
    out = text_signals(docs([("F9", AS_OF + dt.timedelta(days=1), RISK_TEXTS[0])]), AS_OF)
    assert out.empty
    assert "text_risk_score" in out.columns


def test_output_columns_and_types() -> None:
    out = text_signals(docs([("F1", AS_OF, RISK_TEXTS[0]), ("F2", AS_OF, "中标重点项目。")]),
                       AS_OF)
    expected = (["firm_id", "n_documents", "n_documents_90d"]
                + [f"text_{c}" for c in LEX.codes] + [f"flag_{c}" for c in LEX.codes]
                + ["text_negated_mentions", "text_risk_score", "text_positive_score",
                   "text_top_event", "text_lexicon_score", "text_risk_documents",
                   "text_max_document_risk", "text_other_firm_documents",
                   "text_top_document", "text_top_document_date", "text_top_document_risk"])
    assert out.columns.tolist() == expected
    assert all(out[f"flag_{c}"].dtype == bool for c in LEX.codes)
    assert all(out[f"text_{c}"].dtype == np.float64 for c in LEX.codes)
    assert out["n_documents"].dtype == np.int64
    f2 = out.set_index("firm_id").loc["F2"]
    assert f2["flag_contract_win"] and f2["text_positive_score"] > 0
    assert f2["text_risk_score"] == 0.0 and f2["text_top_event"] is None
    assert f2["text_top_document"] is None and np.isnan(f2["text_top_document_risk"])
    f1 = out.set_index("firm_id").loc["F1"]
    assert f1["text_top_document"] == RISK_TEXTS[0] and f1["text_top_document_risk"] >= 0.5


def test_doc_dates_as_text_or_timestamps() -> None:
    d = docs([("F1", AS_OF - dt.timedelta(days=10), RISK_TEXTS[0])])
    expected = text_signals(d, AS_OF)
    for dates in (d["doc_date"].astype(str), pd.to_datetime(d["doc_date"])):
        pd.testing.assert_frame_equal(text_signals(d.assign(doc_date=dates), AS_OF), expected)


# ----- scores ---------------------------------------------------------------------------
def test_neutral_news_scores_zero() -> None:
    rows = [("F1", AS_OF - dt.timedelta(days=age), text) for age, text in [
        (3, "该公司召开年度经营工作会议，部署下一阶段重点任务。"),
        (50, "该公司组织开展安全生产月活动。"),
        (120, "该公司法定代表人发生变更。"),
        (200, "走访该公司，企业经营正常，现金流稳定。"),
        (300, "该公司发布2025年年度报告，全年实现营业收入12000万元。"),
        (330, "合同约定违约金为货款的百分之二十。"),
    ]]
    row = text_signals(docs(rows), AS_OF).iloc[0]
    assert row["n_documents"] == 6
    assert row["text_risk_score"] == 0.0
    assert row["text_top_event"] is None
    assert not row[[f"flag_{c}" for c in RISK]].any()


risk_doc = st.tuples(st.sampled_from(RISK_TEXTS), st.integers(min_value=0, max_value=1500))


@settings(max_examples=40, deadline=None)
@given(st.lists(risk_doc, max_size=8), risk_doc)
def test_risk_score_is_monotone_in_risk_mentions(
    existing: list[tuple[str, int]], extra: tuple[str, int]
) -> None:
    def score(items: list[tuple[str, int]]) -> float:
        rows = [("F1", AS_OF - dt.timedelta(days=age), text) for text, age in items]
        rows.append(("F1", AS_OF - dt.timedelta(days=5), "该公司召开年度经营工作会议。"))
        return float(text_signals(docs(rows), AS_OF)["text_risk_score"].iloc[0])

    before, after = score(existing), score([*existing, extra])
    assert 0.0 <= before < after < 100.0


@settings(max_examples=20, deadline=None)
@given(st.lists(risk_doc, min_size=1, max_size=10))
def test_result_does_not_depend_on_row_order(items: list[tuple[str, int]]) -> None:
    rows = [(f"F{i % 3}", AS_OF - dt.timedelta(days=age), text)
            for i, (text, age) in enumerate(items)]
    d = docs(rows)
    shuffled = d.sample(frac=1.0, random_state=len(items)).reset_index(drop=True)
    pd.testing.assert_frame_equal(text_signals(d, AS_OF), text_signals(shuffled, AS_OF))


def test_top_event_is_the_largest_severity_times_weight() -> None:
    rows = [("F1", AS_OF - dt.timedelta(days=5), "因买卖合同纠纷被起诉。"),
            ("F1", AS_OF - dt.timedelta(days=6), "该公司涉及另一起民间借贷纠纷诉讼。"),
            ("F1", AS_OF - dt.timedelta(days=700), "该企业被列为失信被执行人。")]
    row = text_signals(docs(rows), AS_OF).iloc[0]
    # 0.4 · (two fresh lawsuits ≈ 1.96) > 0.9 · 0.5 ** (700/180) ≈ 0.06
    assert row["text_top_event"] == "lawsuit"
    assert row["text_lawsuit"] == pytest.approx(0.5 ** (5 / 180) + 0.5 ** (6 / 180))


# ----- explanation ----------------------------------------------------------------------
def test_explain_text_names_the_top_events() -> None:
    rows = [("F1", AS_OF - dt.timedelta(days=10), "因买卖合同纠纷被供应商起诉。"),
            ("F1", AS_OF - dt.timedelta(days=12), "该公司因借款合同纠纷被银行起诉。"),
            ("F1", AS_OF - dt.timedelta(days=20), "该公司被法院列为被执行人，执行标的80万元。"),
            ("F2", AS_OF - dt.timedelta(days=20), "中标重点项目。")]
    out = text_signals(docs(rows), AS_OF).set_index("firm_id")
    assert explain_text(out.loc["F1"]) == (
        "近一年涉及诉讼与被执行人信息", "lawsuits and enforcement listings in the past year")
    assert explain_text(out.loc["F2"]) == (
        "近期未见负面文本信息", "no adverse news, court or registry records")
    assert explain_text({"text_top_event": float("nan")})[1].startswith("no adverse")


def test_explain_text_rejects_bad_max_events() -> None:
    with pytest.raises(ConfigurationError, match=r"The 'max_events' parameter of explain_text "
                       r"must be a positive integer\. Got 0 instead\."):
        explain_text({"text_top_event": "lawsuit"}, max_events=0)


# ----- parameters and lexicon validation ------------------------------------------------
def test_parameter_errors() -> None:
    d = docs([("F1", AS_OF, RISK_TEXTS[0])])
    with pytest.raises(ConfigurationError, match=r"The 'half_life_days' parameter of "
                       r"text_signals must be a positive finite number of days\. Got 0 instead\."):
        text_signals(d, AS_OF, half_life_days=0)
    with pytest.raises(ConfigurationError, match=r"The 'as_of' parameter of text_signals must "
                       r"be a datetime\.date\. Got '2026-06-30' instead\."):
        text_signals(d, "2026-06-30")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match=r"documents has no column text"):
        text_signals(d.drop(columns="text"), AS_OF)
    with pytest.raises(SchemaError, match=r"documents row doc_id=D00000001: doc_date '2026-13-01'"
                       r" is not a date .*fix the source or drop the rows"):
        text_signals(d.assign(doc_date="2026-13-01"), AS_OF)
    with pytest.raises(SchemaError, match=r"documents row doc_id=D00000001: firm_id None is "
                       r"missing \(1 such rows\)"):
        text_signals(d.assign(firm_id=None), AS_OF)


def test_documents_without_text_count_as_documents() -> None:
    d = docs([("F1", AS_OF, RISK_TEXTS[0]), ("F1", AS_OF, None), ("F2", AS_OF, None)])
    out = text_signals(d, AS_OF).set_index("firm_id")
    assert out["n_documents"].tolist() == [2, 1]
    assert out.loc["F1", "flag_dishonest_debtor"]
    assert out.loc["F2", "text_risk_score"] == 0.0


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "lexicon.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _packaged() -> dict[str, Any]:
    return LEX.model_dump(mode="json")


def test_packaged_lexicon_is_sound(tmp_path: Path) -> None:
    assert isinstance(LEX, Lexicon)
    assert len(RISK) >= 15 and len(POSITIVE) >= 5
    assert all(len(e.terms) >= 3 for e in LEX.events)
    assert all(0.0 <= e.severity <= 1.0 for e in LEX.events)
    for code in ("lawsuit", "enforcement_listing", "dishonest_debtor", "equity_freeze",
                 "asset_seizure", "production_halt", "wage_arrears", "tax_arrears",
                 "environmental_penalty", "administrative_penalty", "bankruptcy",
                 "default_overdue", "management_departure", "key_customer_loss", "fraud",
                 "audit_qualified", "negative_media", "patent", "contract_win", "expansion",
                 "award", "financing_round"):
        assert code in LEX.codes
    assert load_lexicon(_write(tmp_path, _packaged())) == LEX


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["events"].append(dict(d["events"][4])),
     r"event codes must be unique; lawsuit repeated"),
    (lambda d: d["events"][4].update(severity=1.5),
     r"events\[lawsuit\]\.severity: Input should be less than or equal to 1 \(got 1\.5\)"),
    (lambda d: d["events"][4].update(terms=[]),
     r"events\[lawsuit\]\.terms: .*at least 1 item"),
    (lambda d: d["events"][4].update(terms=["诉讼", " "]),
     r"events\[lawsuit\]\.terms: terms must not contain empty strings"),
    (lambda d: d["events"][4]["terms"].append("停产"),
     r"term '停产' belongs to both 'lawsuit' and 'production_halt'"),
    (lambda d: d["events"][4]["terms"].append("未发现"),
     r"term\(s\) 未发现 also listed as a negation cue"),
    (lambda d: d["events"][4].update(polarity="bad"),
     r"events\[lawsuit\]\.polarity: Input should be 'risk' or 'positive'"),
    (lambda d: d["negation"].update(window_before=0),
     r"negation\.window_before: Input should be greater than or equal to 1"),
])
def test_lexicon_validation_errors_are_clear(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = _packaged()
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigurationError, match=rf"{tmp_path}.*invalid lexicon; fix these "
                       rf"entries: .*{message}"):
        load_lexicon(path)


def test_lexicon_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigurationError, match=r"The 'path' parameter of load_lexicon must be "
                       r"an existing YAML file\. Got '.*nope\.yaml' instead\."):
        load_lexicon(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("events: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"bad\.yaml: not valid YAML"):
        load_lexicon(bad)


def test_custom_lexicon_is_used() -> None:
    data = _packaged()
    data["events"] = [e for e in data["events"] if e["code"] in ("lawsuit", "contract_win")]
    lex = Lexicon.model_validate(data)
    out = text_signals(docs([("F1", AS_OF, "该企业被列为失信被执行人，另涉及诉讼。")]), AS_OF,
                       lexicon=lex)
    assert [c for c in out.columns if c.startswith("flag_")] == ["flag_lawsuit",
                                                                 "flag_contract_win"]
    assert out["text_top_event"].iloc[0] == "lawsuit"


# ----- the synthetic bank ---------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_defaulters_have_higher_text_risk_on_the_synthetic_bank(
    tmp_path: Path, seed: int
) -> None:
    # Risk news follows the firm's latent risk, not its drawn default date, so the text
    # signal ranks firms by their true PD and only through it by the drawn outcome. Measured
    # over seeds 0-11 (300 firms each, 2026-12-04): mean difference 19-47 points, Spearman
    # correlation with the true 12-month PD 0.24-0.44 and with `defaulted` 0.13-0.31 (it was
    # 0.39-0.62 while the news anticipated the drawn date). A scorer without signal gives 0.
    generate_bank(tmp_path, 300, seed, txn_per_firm_year=5.0)
    documents = pd.read_csv(tmp_path / "documents.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(tmp_path / "truth" / "firms_truth.csv")
    signals = text_signals(documents, AS_OF)
    firms = truth[["firm_id", "defaulted", "true_pd_12m"]].merge(signals, on="firm_id",
                                                                 how="left")
    score = firms["text_risk_score"].fillna(0.0)
    defaulted = firms["defaulted"].astype(bool)
    assert defaulted.sum() >= 5, f"seed {seed}: too few defaulters to compare"
    gap = score[defaulted].mean() - score[~defaulted].mean()
    rho_pd = spearmanr(score, firms["true_pd_12m"]).statistic
    rho = spearmanr(score, defaulted).statistic
    assert gap >= 8.0, f"seed {seed}: mean text_risk_score gap {gap:.1f}"
    assert rho_pd >= 0.15, f"seed {seed}: Spearman with the true PD {rho_pd:.3f}"
    assert rho >= 0.08, f"seed {seed}: Spearman with defaulted {rho:.3f}"


# ----- the model's vocabulary: boilerplate, negation along lists, weak events -----------------
@pytest.mark.parametrize(("text", "code", "flagged"), [
    ("走访该公司，涉诉情况：无；欠税情况：无。", "tax_arrears", False),
    ("走访该公司，涉诉情况：无；欠税情况：无。", "lawsuit", False),
    ("该企业无逾期、欠息及诉讼记录。", "lawsuit", False),
    ("该企业无逾期，但被列为被执行人。", "enforcement_listing", True),
    ("欠税情况：欠缴税款约二十万元。", "tax_arrears", True),
])
def test_negation_reaches_along_lists_and_form_answers(text: str, code: str,
                                                       flagged: bool) -> None:
    assert bool(one(text)[f"flag_{code}"]) is flagged


def test_standard_warnings_are_not_events() -> None:
    warning = one("该公司获得银行授信五百万元。风险提示：本文仅供参考，不构成投资建议；"
                  "如企业发生逾期、违约或诉讼，授信可能被压降。")
    assert not warning["flag_default_overdue"] and not warning["flag_lawsuit"]
    assert warning["text_risk_score"] < 20
    event = one("公司股东所持股权被司法冻结。风险提示：股市有风险，投资需谨慎。")
    assert event["flag_equity_freeze"] and event["text_risk_score"] > 50


def test_resignation_is_a_weak_event_apart_from_missing_managers() -> None:
    resigned = one("公司董事长因个人原因辞职。")
    assert resigned["flag_executive_change"] and not resigned["flag_management_departure"]
    missing = one("公司实际控制人近日联系不上，厂区大门紧锁。")
    assert missing["flag_management_departure"]
    assert missing["text_lexicon_score"] > 2 * resigned["text_lexicon_score"]


def test_synthetic_documents_hold_warnings_retractions_and_other_firms(tmp_path: Path) -> None:
    generate_bank(tmp_path, 200, 3, txn_per_firm_year=1.0)
    documents = pd.read_csv(tmp_path / "documents.csv", dtype=str, keep_default_na=False)
    firms = pd.read_csv(tmp_path / "firms.csv", dtype=str, keep_default_na=False)
    text = documents["text"]
    assert text.str.contains("风险提示|重要提示").sum() >= 10
    assert text.str.contains("不实|谣言|已撤诉").sum() >= 3
    names = dict(zip(firms["firm_id"], firms["name"], strict=True))
    about_other = [t for f, t in zip(documents["firm_id"], text, strict=True)
                   if "业务往来" in t or "同园区" in t]
    assert about_other
    for f, t in zip(documents["firm_id"], text, strict=True):
        if "业务往来" in t or "同园区" in t:
            others = [n for k, n in names.items() if k != f and n in t]
            assert others, t  # another firm of the bank is named beside the firm
    # The scandal of the other firm does not count for the firm the document is filed under.
    sel = documents[text.isin(about_other)]
    out = text_signals(sel, AS_OF, firm_names=names)
    assert (out["text_other_firm_documents"] > 0).mean() >= 0.5


def test_known_firms_build_the_names_automaton_once(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``KnownFirms`` (what a Spark worker passes, bucket after bucket) gives the signals
    of the plain names and builds the names' automaton on the first read only."""
    from creditpersona.text import attribution, package

    generate_bank(tmp_path, 200, 3, txn_per_firm_year=1.0)
    documents = pd.read_csv(tmp_path / "documents.csv", dtype=str, keep_default_na=False)
    firms = pd.read_csv(tmp_path / "firms.csv", dtype=str, keep_default_na=False)
    names = dict(zip(firms["firm_id"], firms["name"], strict=True))
    built: list[int] = []

    class Counted(attribution.NameFinder):
        def __init__(self, firm_names: Any, min_length: int = 4) -> None:
            built.append(len(firm_names))
            super().__init__(firm_names, min_length)

    monkeypatch.setattr(attribution, "NameFinder", Counted)
    monkeypatch.setattr(package, "NameFinder", Counted)
    halves = [documents.iloc[: len(documents) // 2], documents.iloc[len(documents) // 2:]]
    plain = [text_signals(h, AS_OF, firm_names=names, jobs=1) for h in halves]
    assert built == [len(names)] * 2  # a plain mapping: one automaton a read
    known = attribution.KnownFirms(names)
    again = [text_signals(h, AS_OF, firm_names=known, jobs=1) for h in halves]
    assert built == [len(names)] * 3
    for a, b in zip(plain, again, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert sum(int((a["text_other_firm_documents"] > 0).sum()) for a in again) > 0


def test_mentions_read_with_the_model_equal_the_lexicon_pass() -> None:
    """The mentions the profile takes from the model's reading of the texts (each text
    prepared and matched once) are those of the lexicon pass alone, and the scores are
    the model's, in one process and in worker batches alike."""
    from creditpersona.profile.text import _mention_cells, _text_mentions
    from creditpersona.text.features import vocabulary
    from creditpersona.text.package import load_packaged

    voc = vocabulary()
    texts: list[object] = [*RISK_TEXTS, "经核查，未发现该企业涉及诉讼，无逾期、欠息记录。",
                           None, "", "企业中标重点项目。风险提示：投资有风险。"] * 3
    pkg = load_packaged()
    direct = _text_mentions(texts, voc)
    assert direct[0].size > 0
    for jobs in (1, 2):
        pending = pkg.score_async(texts, jobs, mentions=True)
        try:
            found = pending.mentions()
            p = pending.result()
        finally:
            pending.close()
        assert found is not None
        cells = _mention_cells(found["doc"] * len(voc.events) + found["event"],
                               found["negated"], len(voc.events))
        for a, b in zip(cells, direct, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(p, pkg.score(texts, 1))
    # A text holding the batch separator is read one at a time: no shared mentions.
    pending = pkg.score_async(["甲\x00乙"], 1, mentions=True)
    assert pending.mentions() is None
    pending.close()


def test_signals_at_several_dates_are_those_of_each_date() -> None:
    """``text_signals_at`` reads every document once, yet gives each date exactly what
    ``text_signals`` gives it (ages, windows, other firms named, firms without documents)."""
    from creditpersona.profile.text import text_signals_at

    names = {"F1": "甲公司", "F2": "乙公司", "F3": "丙公司"}
    rows = [("F1", dt.date(2025, 7, 1), RISK_TEXTS[0]),
            ("F1", dt.date(2026, 2, 1), "甲公司与乙公司合同纠纷，乙公司被起诉。"),
            ("F2", dt.date(2026, 4, 15), RISK_TEXTS[3]),
            ("F2", dt.date(2026, 6, 30), "经核查，未发现乙公司涉及诉讼。"),
            ("F3", dt.date(2026, 9, 1), RISK_TEXTS[1]),
            ("F3", dt.date(2025, 12, 31), None)]
    documents = docs(rows)
    dates = [dt.date(2025, 12, 31), dt.date(2026, 3, 31), AS_OF, dt.date(2026, 9, 30)]
    at = text_signals_at(documents, dates, firm_names=names)
    assert list(at) == dates
    for day in dates:
        pd.testing.assert_frame_equal(at[day], text_signals(documents, day, firm_names=names))
    assert len(at[dates[0]]) == 2 and len(at[dates[-1]]) == 3
    with pytest.raises(ConfigurationError, match="dates"):
        text_signals_at(documents, [])
