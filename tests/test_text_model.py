"""The text-risk model: JSON state, real-data separation, negation and boilerplate, events
and drivers, entity attribution, and the ``creditpersona text`` commands.

Real data: 400 items and 370 (item, company) pairs of the BDCI 2019 negative financial news
set (MIT, ``tests/data/README.md``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from creditpersona.cli.app import app
from creditpersona.errors import ConfigurationError
from creditpersona.profile.text import text_signals
from creditpersona.text.attribution import AttributionModel, named_firms, short_names
from creditpersona.text.evaluate import evaluate_text
from creditpersona.text.features import prepare, prepare_many, strip_boilerplate, vocabulary
from creditpersona.text.model import TextRiskConfig, TextRiskModel, _ngram_view
from creditpersona.text.package import TextRiskPackage, document_events, load_packaged

DATA = Path(__file__).parent / "data"
NEWS = DATA / "bdci2019_negative_news_sample.csv"
PAIRS = DATA / "bdci2019_negative_entities_sample.csv"


@pytest.fixture(scope="module")
def news() -> pd.DataFrame:
    return pd.read_csv(NEWS)


@pytest.fixture(scope="module")
def pkg() -> TextRiskPackage:
    return load_packaged()


# ----- state ------------------------------------------------------------------------------
def test_packaged_state_round_trips_through_json(pkg: TextRiskPackage,
                                                 news: pd.DataFrame) -> None:
    texts = news["text"].tolist()[:60]
    again = TextRiskPackage.from_state(json.loads(json.dumps(pkg.to_state())))
    np.testing.assert_array_equal(again.score(texts), pkg.score(texts))
    names = [["某公司"]] * len(texts)
    np.testing.assert_array_equal(again.attribute(texts, names), pkg.attribute(texts, names))
    assert again.sha256 == pkg.sha256


def test_fitted_model_round_trips(news: pd.DataFrame) -> None:
    cfg = TextRiskConfig(min_df=2, max_ngrams=3000)
    model = TextRiskModel.fit(news["text"].tolist()[:200], news["negative"].to_numpy()[:200],
                              cfg)
    assert len(model.ngrams) == 3000
    state = json.loads(model.to_json())
    again = TextRiskModel.from_state(state)
    texts = news["text"].tolist()[200:]
    np.testing.assert_array_equal(again.score(texts), model.score(texts))


def test_bad_states_are_refused(pkg: TextRiskPackage) -> None:
    with pytest.raises(ConfigurationError, match="format"):
        TextRiskPackage.from_state({"format": "pickle"})
    state = pkg.text.to_state()
    state["coef"] = state["coef"][:-1]
    with pytest.raises(ConfigurationError, match="lengths disagree"):
        TextRiskModel.from_state(state)
    state = pkg.text.to_state()
    state["vocabulary_sha256"] = "0" * 64
    with pytest.raises(ConfigurationError, match="another vocabulary"):
        TextRiskModel.from_state(state).score(["公司停产"])


def test_packaged_file_is_plain_json_and_small(pkg: TextRiskPackage) -> None:
    path = Path(__file__).parents[1] / "src" / "creditpersona" / "text" / "data"
    raw = (path / "text_risk_model.json").read_bytes()
    assert len(raw) < 6_000_000
    state = json.loads(raw)
    assert state["format"] == "creditpersona.text_package/1"
    files = state["training"]["files"]
    # The shipped model is trained without CCKS 2019 (no licence stated).
    assert set(files) == {"bdci2019_negative_news.csv", "bdci2019_negative_entities.csv"}
    assert all(len(v) == 64 for v in files.values())
    assert len(pkg.training_data_sha256) == 64


# ----- real data ------------------------------------------------------------------------
def test_retrained_model_separates_held_out_real_news(news: pd.DataFrame) -> None:
    cfg = TextRiskConfig(min_df=2, max_ngrams=20000)
    tr, te = news.iloc[:300], news.iloc[300:]
    model = TextRiskModel.fit(tr["text"].tolist(), tr["negative"].to_numpy(), cfg)
    auc = roc_auc_score(te["negative"], model.score(te["text"].tolist()))
    assert auc >= 0.85, auc


def test_packaged_model_separates_real_news(pkg: TextRiskPackage, news: pd.DataFrame) -> None:
    auc = roc_auc_score(news["negative"], pkg.score(news["text"].tolist()))
    assert auc >= 0.95, auc


def test_evaluate_reports_both_models_on_the_same_folds(news: pd.DataFrame) -> None:
    out = evaluate_text(news.iloc[:160], "text", "negative", cv=2, seed=1)
    assert set(out["models"]) == {"packaged", "retrained"}
    for part in out["models"].values():
        assert len(part["folds"]) == 2
        assert 0.5 < part["summary"]["auc_mean"] <= 1.0
        assert [f["test_rows"] for f in part["folds"]] == [80, 80]


# ----- negation, boilerplate, events, drivers ----------------------------------------------
def test_boilerplate_and_negation_lower_the_risk(pkg: TextRiskPackage) -> None:
    plain_ = "甲公司二季度经营平稳，新签订单同比增长。"
    warned = plain_ + "风险提示：市场有风险，投资需谨慎，可能出现亏损、违约等风险。"
    assert strip_boilerplate(warned)[1] == 1
    assert abs(pkg.score([warned])[0] - pkg.score([plain_])[0]) < 0.02
    affirmed, denied = pkg.score(["网传甲公司停产，员工被拖欠工资。",
                                  "甲公司澄清：网传停产消息不实，公司生产经营正常。"])
    assert affirmed > denied


def test_events_and_drivers(pkg: TextRiskPackage) -> None:
    texts = ["乙公司被法院列为失信被执行人，实际控制人失联，多名投资人报案称无法提现。",
             "乙公司中标重点项目，获得发明专利授权。"]
    out = pkg.score_frame(texts)
    assert out["risk"].iloc[0] > 0.8 > out["risk"].iloc[1]
    events = out["events"].iloc[0].split("; ")
    assert {"dishonest_debtor", "management_departure", "payout_failure"} <= set(events)
    assert out["events"].iloc[1] == ""
    assert "失信被执行人" in out["events_zh"].iloc[0]
    drivers = out["drivers"].iloc[0].split("、")
    assert drivers and all(d in prepare(texts[0])[0] for d in drivers)
    assert document_events([None]) == [[]]


def test_vocabulary_matches_are_longest_and_negation_aware() -> None:
    text = prepare("经查询，该公司不存在失信被执行记录；但其股权被司法冻结。")[0]
    found = [(m.term, m.event, m.negated) for m in vocabulary().matches(text) if m.event]
    assert ("司法冻结", "equity_freeze", False) in found
    assert all(neg for term, _, neg in found if term.startswith("失信"))


# ----- attribution -------------------------------------------------------------------------
def test_short_names_and_named_firms() -> None:
    assert "恒瑞精密机械" in short_names("苏州恒瑞精密机械有限公司")
    found = named_firms(["恒瑞精密机械的供应商鼎信化工被列为失信被执行人"],
                        {"A": "苏州恒瑞精密机械有限公司", "B": "无锡鼎信化工有限公司",
                         "C": "无锡长江纺织有限公司"})
    assert found == [{"A", "B"}]


def test_the_subject_of_the_news_scores_above_the_bystander(pkg: TextRiskPackage) -> None:
    text = ("据报道，鼎信化工因涉嫌非法集资被立案侦查，实际控制人已失联，投资人无法提现。"
            "恒瑞精密机械表示，公司与鼎信化工仅有少量业务往来，经营正常。")
    subject, bystander = pkg.attribute([text], [["鼎信化工", "恒瑞精密机械"]])
    assert subject > pkg.threshold
    assert subject - bystander > 0.1  # the profile's bystander margin


def test_packaged_attribution_on_real_pairs(pkg: TextRiskPackage) -> None:
    pairs = pd.read_csv(PAIRS)
    p = pkg.attribute_rows(pairs["text"].tolist(), pairs["entity"].tolist())
    # Only items naming several firms, some negative and some not: the hard part of the task
    # (0.79 measured; the text score alone cannot separate these pairs).
    assert roc_auc_score(pairs["negative"], p) >= 0.72


def test_attribution_state_is_checked() -> None:
    m = AttributionModel(np.zeros(3), 0.0)
    with pytest.raises(ConfigurationError, match="features"):
        AttributionModel.from_state(m.to_state())


# ----- command line ------------------------------------------------------------------------
def test_text_score_and_evaluate_commands(tmp_path: Path, news: pd.DataFrame) -> None:
    runner = CliRunner()
    src = tmp_path / "news.csv"
    news.iloc[:40].assign(firm=["某公司"] * 40).to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    res = runner.invoke(app, ["text", "score", "--data", str(src), "--text", "text",
                              "--id", "id", "--entity", "firm", "--out", str(out)])
    assert res.exit_code == 0, res.output
    scored = pd.read_csv(out, encoding="utf-8-sig")
    assert scored.columns[:3].tolist() == ["id", "risk", "risk_doc"]
    assert "entity_risk" in scored.columns and len(scored) == 40
    report = tmp_path / "eval.json"
    res = runner.invoke(app, ["text", "evaluate", "--data", str(src), "--text", "text",
                              "--label", "negative", "--cv", "2", "--json", str(report)])
    assert res.exit_code == 0, res.output
    payload = json.loads(report.read_text(encoding="utf-8"))
    assert payload["models"]["packaged"]["summary"]["auc_mean"] > 0.5
    res = runner.invoke(app, ["text", "evaluate", "--data", str(src), "--text", "nope",
                              "--label", "negative"])
    assert res.exit_code == 2 and "nope" in res.output


# ----- profile signals ---------------------------------------------------------------------
def test_profile_signal_goes_to_the_firm_the_text_is_about() -> None:
    import datetime as dt

    from creditpersona.profile.text import text_signals

    day = dt.date(2026, 6, 30)
    names = {"A": "苏州恒瑞精密机械有限公司", "B": "无锡鼎信化工有限公司"}
    text = ("据报道，鼎信化工因涉嫌非法集资被立案侦查，实际控制人已失联，投资人无法提现。"
            "恒瑞精密机械表示，公司与鼎信化工仅有少量业务往来，经营正常。")
    docs = pd.DataFrame({"doc_id": ["D1", "D2"], "firm_id": ["A", "B"], "doc_date": [day, day],
                         "text": [text, text]})
    blind = text_signals(docs, day).set_index("firm_id")
    assert blind.loc["A", "flag_illegal_fundraising"]  # without names: both firms are hit
    out = text_signals(docs, day, firm_names=names).set_index("firm_id")
    assert out.loc["A", "text_other_firm_documents"] == 1
    assert not out.loc["A", "flag_illegal_fundraising"]
    assert out.loc["B", "flag_illegal_fundraising"]
    assert out.loc["B", "text_risk_score"] > 50 > out.loc["A", "text_risk_score"]


def test_report_section_highlights_the_top_risk_document() -> None:
    import datetime as dt

    from creditpersona.profile.text import text_signals
    from creditpersona.report.text import text_section

    day = dt.date(2026, 6, 30)
    docs = pd.DataFrame({
        "doc_id": ["D1", "D2", "D3"], "firm_id": ["A", "A", "B"], "doc_date": [day] * 3,
        "text": ["A公司被法院列为失信被执行人，实际控制人失联，员工被拖欠工资<三个月>。",
                 "A公司召开年度经营工作会议。", "B公司获得发明专利授权。"]})
    profile = text_signals(docs, day)
    html_ = text_section(profile, names=pd.Series({"A": "甲贸易有限公司"}))
    assert "<mark>" in html_ and "&lt;三个月&gt;" in html_  # highlighted, and escaped
    assert "<td class='text'>2026-06-30</td>" in html_
    assert "甲贸易有限公司" in html_  # the firm's name beside its code
    assert "失信被执行人" in html_ and "dishonest" in html_.lower()  # events in zh and en
    assert "A公司召开" not in html_ and "B公司" not in html_  # only the top risk document


def test_packaged_model_is_registered_once(tmp_path: Path, pkg: TextRiskPackage) -> None:
    from creditpersona.models import registry
    from creditpersona.store.store import Store
    from creditpersona.text.package import register_packaged

    store = Store(tmp_path / "bank.duckdb")
    first = register_packaged(store)
    again = register_packaged(store)
    assert first.version == again.version == 1
    assert len(registry.records(store, "text_risk")) == 1
    assert first.params["package_sha256"] == pkg.sha256
    files = pkg.training["files"]
    manifest = pd.DataFrame({"file": sorted(files), "sha256": [files[k] for k in sorted(files)]})
    assert first.training_data_sha256 == registry.frame_sha256(manifest)


# ----- vectorised scoring ------------------------------------------------------------------
#: Texts where a batch pass could differ from one text at a time: whitespace runs (n-grams
#: read them as one space), digits, full-width forms, combining marks and a final sigma at
#: a text's edge, a lone surrogate, a missing text, negation and retraction cues.
EDGE_TEXTS = ["  公司\t\t被起诉 \n\n 停产  ", "Σ公司ΣΣ", "１２３ 公司\u3000\u3000亏损", None, 3.5,
              "\ud800坏账", "é\u0301", "\u0301开头", "未 诉讼", "不诉讼已撤诉", "",
              "经核查，未发现涉及诉讼；网传停产消息不实。", "风险提示：投资有风险。公司违约。",
              "苏州恒瑞精密机械有限公司和无锡鼎信化工有限公司均被冻结"]


def test_scores_equal_the_frozen_reference(pkg: TextRiskPackage) -> None:
    ref = json.loads((DATA / "text_risk_reference.json").read_text(encoding="utf-8"))
    assert ref["package_sha256"] == pkg.sha256, (
        "the packaged model changed: regenerate tests/data/text_risk_reference.json with "
        "bench/text_reference.py from the code before the change")
    texts = ref["texts"]
    np.testing.assert_allclose(pkg.score(texts), ref["risk"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(pkg.text.decision(texts), ref["decision"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(vocabulary().features([prepare(t) for t in texts]),
                               ref["vocabulary_features"], rtol=0, atol=1e-12)
    assert document_events(texts) == ref["events"]


def test_batch_pass_equals_one_text_at_a_time(pkg: TextRiskPackage, news: pd.DataFrame) -> None:
    texts = news["text"].tolist()[:120] + EDGE_TEXTS
    prepared = prepare_many(texts)
    assert prepared == [prepare(t) for t in texts]
    voc = vocabulary()
    np.testing.assert_array_equal(voc.features(prepared), voc._loop_features(prepared))
    views = [_ngram_view(p[0], pkg.text.config) for p in prepared]
    fast = pkg.text._counts(views)
    slow = pkg.text._vectorizer().transform(views)
    assert (fast != slow).nnz == 0 and fast.shape == slow.shape
    one_by_one = np.concatenate([pkg.score([t]) for t in texts])
    np.testing.assert_allclose(pkg.score(texts), one_by_one, rtol=0, atol=1e-12)
    # a text holding the batch separator: every step falls back to one text at a time
    with_sep = [*texts[:5], "公司\x00停产"]
    assert prepare_many(with_sep) == [prepare(t) for t in with_sep]
    np.testing.assert_allclose(pkg.score(with_sep)[:5], pkg.score(texts[:5]), rtol=0,
                               atol=1e-12)
    found = voc.batch_matches([p[0] for p in prepared])
    assert found is not None
    for i in (0, 12, len(texts) - 3):
        got = [(int(s), int(e), bool(n)) for d, s, e, n in zip(
            found["doc"], found["start"], found["end"], found["negated"], strict=True)
            if d == i]
        assert got == [(m.start, m.end, m.negated) for m in voc.matches(prepared[i][0])]


def test_worker_processes_give_the_same_scores(pkg: TextRiskPackage,
                                               news: pd.DataFrame) -> None:
    texts = news["text"].tolist()[:40]
    np.testing.assert_array_equal(pkg.score(texts, jobs=2), pkg.score(texts, jobs=1))
    with pytest.raises(ConfigurationError, match="jobs"):
        pkg.score(texts, jobs=0)
    docs = pd.DataFrame({"firm_id": ["A", "A", "B"], "doc_date": ["2026-06-01"] * 3,
                         "text": ["公司被列为失信被执行人。", "经核查，未发现涉及诉讼。",
                                  "公司中标。"]})
    day = pd.Timestamp("2026-06-30").date()
    pd.testing.assert_frame_equal(text_signals(docs, day, jobs=2), text_signals(docs, day, jobs=1))
    with pytest.raises(ConfigurationError, match="jobs"):
        text_signals(docs, day, jobs=0)
