"""Tests of the synthetic bank: contract conformance, determinism, truths, planted behaviour
and error injection. The contract check here is written independently of the generator."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import SyntheticBank

import creditpersona.synth as synth
from creditpersona.contract.schema import PRODUCTS, TABLES, TABLES_BY_NAME, Table
from creditpersona.domain import industry, regions, uscc
from creditpersona.errors import ConfigurationError
from creditpersona.synth import GenerationResult, generate_bank

N_FIRMS = 300
TXN = 20.0
RATE = 0.05
_TRUE = {"true", "1", "yes", "是"}
_BOOLS = _TRUE | {"false", "0", "no", "否"}


# ----- an independent contract check -----------------------------------------------------
def read_raw(path: Path) -> pd.DataFrame:
    """A written file as trimmed strings, empty meaning null."""
    if path.suffix == ".parquet":
        df = pq.read_table(path).to_pandas().astype(object)
        df = df.where(df.notna(), "")
        df = df.astype(str)
    else:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    return df.apply(lambda s: s.str.strip())


def _parse(values: pd.Series, dtype: str) -> tuple[pd.Series, pd.Series]:
    """Parsed values and a mask of present-but-unparseable entries."""
    present = values != ""
    if dtype in ("int", "float"):
        clean = values.str.replace(",", "", regex=False)
        pattern = r"^[+-]?\d+$" if dtype == "int" else r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
        ok = clean.str.match(pattern)
        parsed = pd.to_numeric(clean.where(ok & present), errors="coerce")
        return parsed, present & ~ok
    if dtype == "date":
        shape = values.str.match(r"^\d{4}[-/]\d{2}[-/]\d{2}$")
        parsed = pd.to_datetime(values.str.replace("/", "-", regex=False).where(shape & present),
                                format="%Y-%m-%d", errors="coerce")
        return parsed, present & parsed.isna()
    if dtype == "bool":
        low = values.str.lower()
        return low.isin(_TRUE), present & ~low.isin(_BOOLS)
    return values, pd.Series(False, index=values.index)


def violations(table: Table, df: pd.DataFrame, parent_keys: dict[str, set[str]]) -> pd.Series:
    """The set of rules each row breaks."""
    found: dict[str, list[str]] = {i: [] for i in df.index}

    def flag(mask: pd.Series, rule: str) -> None:
        for i in mask[mask].index:
            found[i].append(rule)

    parsed: dict[str, pd.Series] = {}
    for f in table.fields:
        col = df[f.name]
        if f.required:
            flag(col == "", "required")
        values, bad = _parse(col, f.dtype)
        flag(bad, "unparseable")
        parsed[f.name] = values.where(~bad)
        if f.min is not None:
            flag(values < f.min, "range")
        if f.max is not None:
            flag(values > f.max, "range")
        if f.choices:
            flag((col != "") & ~col.isin(f.choices), "choice")
        checks = {"uscc": uscc.is_valid, "industry": industry.is_known,
                  "region": regions.is_known}
        if f.check:
            flag((col != "") & ~col.map(checks[f.check]).astype(bool), f.check)
        if f.references:
            parent = f.references.split(".")[0]
            flag((col != "") & ~col.isin(parent_keys[parent]), "unknown_reference")
    for rule in table.cross_rules:
        if rule.kind == "le":
            left, right = parsed[rule.fields[0]], parsed[rule.fields[1]]
            flag(left.notna() & right.notna() & (left > right), rule.rule)
        elif rule.kind == "response":
            response, responded, treated = (parsed[x] for x in rule.fields)
            given = response != ""
            flag(given & (((response == "taken") != responded) | ~treated), rule.rule)
        else:
            ta, tl, eq = (parsed[x].astype(float) for x in rule.fields)
            tol = np.maximum(0.005 * ta.abs(), 1000.0)
            flag(ta.notna() & tl.notna() & eq.notna() & ((ta - tl - eq).abs() > tol), rule.rule)
    flag(df.duplicated(list(table.key), keep="first"), "duplicate_key")
    return pd.Series({i: set(v) for i, v in found.items()})


def check_all(result: GenerationResult) -> dict[str, pd.Series]:
    frames = {t.name: read_raw(result.files[t.name]) for t in TABLES}
    keys = {"firms": set(frames["firms"]["firm_id"]), "loans": set(frames["loans"]["loan_id"])}
    return {t.name: violations(t, frames[t.name], keys) for t in TABLES}


# ----- fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> GenerationResult:
    messages: list[str] = []
    result = generate_bank(tmp_path_factory.mktemp("clean"), n_firms=N_FIRMS, seed=7,
                           txn_per_firm_year=TXN, progress=messages.append)
    assert any(m.startswith("transactions") for m in messages)
    return result


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> GenerationResult:
    return generate_bank(tmp_path_factory.mktemp("dirty"), n_firms=N_FIRMS, seed=7,
                         txn_per_firm_year=TXN, inject_errors=RATE)


@pytest.fixture(scope="module")
def frames(clean: GenerationResult) -> dict[str, pd.DataFrame]:
    out = {t.name: pd.read_csv(clean.files[t.name], dtype=str, keep_default_na=False)
           for t in TABLES}
    out["truth"] = pd.read_csv(clean.truth_files["firms_truth"], keep_default_na=False)
    return out


# ----- API and parameters -----------------------------------------------------------------
def test_public_api() -> None:
    for name in synth.__all__:
        assert hasattr(synth, name)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_firms": 0}, "The 'n_firms' parameter of generate_bank must be an int >= 1. Got 0"),
    ({"seed": -1}, "The 'seed' parameter of generate_bank must be an int >= 0"),
    ({"years": 0}, "The 'years' parameter of generate_bank must be an int in"),
    ({"fmt": "xlsx"}, "The 'fmt' parameter of generate_bank must be one of"),
    ({"inject_errors": 0.9}, "The 'inject_errors' parameter of generate_bank must be a float"),
    ({"end_date": "2026-06-30"}, "The 'end_date' parameter of generate_bank must be a"),
    ({"txn_per_firm_year": -1.0}, "The 'txn_per_firm_year' parameter"),
])
def test_parameter_errors(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        generate_bank(tmp_path, **kwargs)  # type: ignore[arg-type]


# ----- contract conformance ---------------------------------------------------------------
def test_files_and_headers(clean: GenerationResult) -> None:
    assert set(clean.files) == {t.name for t in TABLES}
    for t in TABLES:
        with open(clean.files[t.name], encoding="utf-8") as fh:
            assert fh.readline().rstrip("\n") == ",".join(t.field_names)
        assert clean.rows[t.name] > 0
    assert clean.injected == 0
    assert pd.read_csv(clean.truth_files["injected_errors"]).empty


def test_clean_output_breaks_no_rule(clean: GenerationResult) -> None:
    for name, found in check_all(clean).items():
        broken = found[found.map(len) > 0]
        assert broken.empty, f"{name}: {broken.head().to_dict()}"


def test_csv_conventions(frames: dict[str, pd.DataFrame]) -> None:
    st = frames["financial_statements"]
    assert st["revenue"].str.match(r"^-?\d+\.\d{2}$").all()
    assert frames["firms"]["listed"].isin(["true", "false"]).all()
    assert frames["transactions"]["txn_date"].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    assert frames["transactions"]["txn_id"].is_unique
    assert frames["documents"]["doc_id"].is_unique
    # Unpaid instalments leave paid_date empty.
    rep = frames["repayments"]
    assert ((rep["paid_date"] == "") == (rep["amount_paid"].astype(float)
                                         < rep["amount_due"].astype(float))).all()


def test_statement_identities(frames: dict[str, pd.DataFrame]) -> None:
    st = frames["financial_statements"].drop(columns=["firm_id", "period_type", "period_end",
                                                      "published_on"]).astype(float)
    assert (st["equity"] - (st["total_assets"] - st["total_liabilities"])).abs().max() < 0.011
    parts = st[["cash", "receivables", "inventory", "prepayments"]].sum(axis=1)
    assert (parts <= st["current_assets"] + 0.02).all()
    assert (st["short_term_debt"] <= st["current_liabilities"]).all()
    non_current = st["total_liabilities"] - st["current_liabilities"]
    assert (st["long_term_debt"] <= non_current + 0.02).all()
    assert (st["payables"] <= st["current_liabilities"]).all()
    assert (st["advance_receipts"] <= st["current_liabilities"]).all()
    gross = st["revenue"] - st["cost_of_sales"] - st["interest_expense"]
    assert (st["operating_profit"] <= gross + 0.02).all()
    assert (st["net_profit"] <= st["operating_profit"] + 0.02).all()
    assert (st["equity"] < 0).any() or len(st) < 2000


def test_statement_dates(frames: dict[str, pd.DataFrame]) -> None:
    st = frames["financial_statements"]
    period = pd.to_datetime(st["period_end"])
    lag = (pd.to_datetime(st["published_on"]) - period).dt.days
    annual = st["period_type"] == "annual"
    assert lag[annual].between(60, 120).all() and lag[~annual].between(20, 45).all()
    assert (pd.to_datetime(st["published_on"]) <= pd.Timestamp("2026-06-30")).all()
    assert (period[annual].dt.strftime("%m-%d") == "12-31").all()
    # Some firms file nothing at all; micro firms file annual statements only.
    assert st["firm_id"].nunique() < N_FIRMS


def test_bureau_windows_and_dates(frames: dict[str, pd.DataFrame]) -> None:
    b = frames["bureau_reports"]
    assert (pd.to_datetime(b["report_date"]) <= pd.Timestamp("2026-06-30")).all()
    assert b.groupby("firm_id").size().max() <= 12


def test_firms_are_realistic(frames: dict[str, pd.DataFrame]) -> None:
    firms = frames["firms"]
    assert firms["name"].str.endswith("公司").all()
    assert (firms["firm_id"].str[2:8] == firms["region_code"]).all()
    assert firms["region_code"].isin(list(regions.DISTRICTS)).all()
    assert firms["rm_id"].str.match(r"^RM\d{4}$").all()
    assert firms["rm_id"].nunique() <= -(-N_FIRMS // 40)
    mix = frames["truth"]["size_class"].value_counts(normalize=True)
    assert 0.01 <= mix.get("large", 0) <= 0.15 and 0.2 <= mix.get("micro", 0) <= 0.5


def test_loans_follow_contract_conventions(frames: dict[str, pd.DataFrame]) -> None:
    loans = frames["loans"]
    term = loans["term_months"].astype(int)
    assert ((term <= 60) == (loans["lpr_tenor"] == "1Y")).all()
    rep = frames["repayments"]
    assert (pd.to_datetime(rep["due_date"]) <= pd.Timestamp("2026-06-30")).all()


def test_campaigns(frames: dict[str, pd.DataFrame]) -> None:
    c = frames["campaign_contacts"]
    treated = c["treated"] == "true"
    assert 0.7 < treated.mean() < 0.9
    assert (c.loc[~treated, "channel"] == "").all() and (c.loc[treated, "channel"] != "").all()
    responded = c["responded"] == "true"
    assert ((c["amount_taken"].astype(float) > 0) == responded).all()
    assert c["campaign_id"].nunique() == 6


# ----- determinism ------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_same_bytes(tmp_path: Path, fmt: str) -> None:
    runs = [generate_bank(tmp_path / str(i), n_firms=80, seed=3, txn_per_firm_year=10,
                          fmt=fmt, inject_errors=0.02)  # type: ignore[arg-type]
            for i in range(2)]
    for name, path in {**runs[0].files, **runs[0].truth_files}.items():
        other = {**runs[1].files, **runs[1].truth_files}[name]
        assert path.read_bytes() == other.read_bytes(), name
    different = generate_bank(tmp_path / "x", n_firms=80, seed=4, txn_per_firm_year=10, fmt=fmt)  # type: ignore[arg-type]
    assert different.files["firms"].read_bytes() != runs[0].files["firms"].read_bytes()


def test_parquet_is_typed(tmp_path: Path) -> None:
    result = generate_bank(tmp_path, n_firms=60, seed=1, txn_per_firm_year=10, fmt="parquet")
    types = {"string": "string", "int": "int64", "float": "double", "date": "date32[day]",
             "bool": "bool"}
    for t in TABLES:
        schema = pq.read_schema(result.files[t.name])
        assert schema.names == list(t.field_names)
        for f in t.fields:
            assert str(schema.field(f.name).type) == types[f.dtype], (t.name, f.name)
    for name, found in check_all(result).items():
        assert (found.map(len) == 0).all(), name


# ----- truths -----------------------------------------------------------------------------
def test_truth_files(clean: GenerationResult) -> None:
    truth = pd.read_csv(clean.truth_files["firms_truth"], keep_default_na=False)
    assert list(truth.columns[:8]) == ["firm_id", "persona", "persona_zh", "persona_en",
                                       "size_class", "true_pd_12m", "defaulted", "default_date"]
    assert [c for c in truth.columns if c.startswith("need_")] == [f"need_{p}" for p in PRODUCTS]
    assert truth["true_pd_12m"].between(0, 1).all()
    assert truth["persona"].nunique() == 6
    assert ((truth["default_date"] != "") == truth["defaulted"]).all()
    quarters = pd.read_csv(clean.truth_files["firm_quarter_truth"], keep_default_na=False)
    assert quarters["as_of"].nunique() == 12
    observable = pd.to_datetime(quarters["as_of"]) <= pd.Timestamp("2025-06-30")
    assert (quarters.loc[~observable, "defaulted_within_12m"] == "").all()
    assert quarters.loc[observable, "defaulted_within_12m"].isin(["true", "false"]).all()


def test_defaults_show_in_repayments_and_bureau(frames: dict[str, pd.DataFrame]) -> None:
    truth = frames["truth"].set_index("firm_id")
    bureau = frames["bureau_reports"]
    last = bureau.sort_values("report_date").groupby("firm_id").last()
    defaulted = truth.index[truth["defaulted"]]
    seen = last.index.intersection(defaulted)
    assert (last.loc[seen, "max_dpd_24m"].astype(int) >= 90).all()


def test_pd_generates_outcomes(synthetic_bank: SyntheticBank) -> None:
    """The mean true PD matches the realised default frequency (binomial tolerance), on the
    session's 2,000-firm bank (conftest.py)."""
    q = pd.read_csv(synthetic_bank.truth_dir / "firm_quarter_truth.csv", keep_default_na=False,
                    dtype={"defaulted_within_12m": str, "in_default": str})
    q = q[(q["defaulted_within_12m"] != "") & (q["in_default"] == "false")]
    for _, group in q.groupby("as_of"):
        expected = group["true_pd_12m"].sum()
        realised = (group["defaulted_within_12m"] == "true").sum()
        assert abs(realised - expected) < 4 * np.sqrt(expected) + 3
    rate = q["true_pd_12m"].mean()
    assert 0.015 < rate < 0.06


# ----- planted behaviours -----------------------------------------------------------------
def test_planted_behaviours(synthetic_bank: SyntheticBank) -> None:
    """Persona repayment habits and product choices, on the session's 2,000-firm bank."""
    truth = pd.read_csv(synthetic_bank.truth_dir / "firms_truth.csv", keep_default_na=False)
    persona = truth.set_index("firm_id")["persona"]
    loans = pd.read_csv(synthetic_bank.data_dir / "loans.csv", keep_default_na=False)
    loans["persona"] = loans["firm_id"].map(persona)
    rep = pd.read_csv(synthetic_bank.data_dir / "repayments.csv", keep_default_na=False)
    rep = rep[rep["paid_date"] != ""].merge(loans, on="loan_id")
    delay = (pd.to_datetime(rep["paid_date"]) - pd.to_datetime(rep["due_date"])).dt.days
    tech_rnd = (rep["persona"] == "growth_tech") & (rep["product"] == "tech_rnd")
    assert (delay[tech_rnd] < 0).mean() > 0.4 > (delay[~tech_rnd] < 0).mean()
    q1 = pd.to_datetime(rep["due_date"]).dt.month <= 3
    trade = (rep["persona"] == "trading_turnover") & (rep["product"] == "trade_finance")
    assert (delay[trade & q1] > 0).mean() > 0.4 > (delay[trade & ~q1] > 0).mean()
    refi = rep["purpose"] == "refinancing"
    assert (delay[refi] > 0).mean() > 3 * (delay[~refi] > 0).mean()
    by_persona = loans.groupby("persona")["product"].agg(lambda s: s.value_counts().index[0])
    assert by_persona["trading_turnover"] == "trade_finance"
    assert by_persona["growth_tech"] == "tech_rnd"
    assert by_persona["asset_heavy_project"] == "project_finance"
    assert by_persona["micro_inclusive"] == "inclusive_small"
    distressed = loans["persona"] == "leveraged_distressed"
    assert (loans.loc[distressed, "purpose"] == "refinancing").mean() > 0.3


#: The rules each table's dirty rows break (from the brief's list of kinds).
_KINDS: dict[str, set[str]] = {
    "firms": {"uscc", "industry", "unparseable", "duplicate_key"},
    "financial_statements": {"range", "balance_sheet", "date_order", "unparseable",
                             "unknown_reference", "duplicate_key"},
    "bureau_reports": {"unknown_reference", "range", "window_order", "unparseable",
                       "duplicate_key"},
    "transactions": {"unknown_reference", "unparseable", "choice", "duplicate_key"},
    "loans": {"unknown_reference", "range", "date_order", "choice", "duplicate_key"},
    "repayments": {"unknown_reference", "unparseable", "range", "duplicate_key"},
    "campaign_contacts": {"unknown_reference", "choice", "required", "duplicate_key"},
    "documents": {"unknown_reference", "choice", "required", "duplicate_key"},
}


# ----- error injection --------------------------------------------------------------------
def test_injection_adds_rows_and_keeps_clean_rows(clean: GenerationResult,
                                                  dirty: GenerationResult) -> None:
    log = pd.read_csv(dirty.truth_files["injected_errors"], dtype={"value": str},
                      keep_default_na=False)
    assert list(log.columns) == ["table", "row_number", "rule", "field", "value", "description"]
    assert dirty.injected == len(log)
    for t in TABLES:
        expected = max(1, round(RATE * clean.rows[t.name]))
        mine = log[log["table"] == t.name]
        assert len(mine) == expected, t.name
        assert dirty.rows[t.name] == clean.rows[t.name] + expected
        lines = dirty.files[t.name].read_text(encoding="utf-8").splitlines()
        dropped = set(mine["row_number"])
        kept = [line for i, line in enumerate(lines) if i not in dropped]
        assert kept == clean.files[t.name].read_text(encoding="utf-8").splitlines(), t.name
        assert set(mine["rule"]) <= _KINDS[t.name]
        if len(mine) >= 6:
            assert set(mine["rule"]) == _KINDS[t.name]


def test_each_dirty_row_breaks_exactly_its_rule(dirty: GenerationResult) -> None:
    log = pd.read_csv(dirty.truth_files["injected_errors"], dtype={"value": str},
                      keep_default_na=False)
    found = check_all(dirty)
    for name, rules in found.items():
        mine = log[log["table"] == name].set_index("row_number")
        dirty_rows = set(mine.index)
        for i, broken in rules.items():
            row_number = int(i) + 1
            if row_number in dirty_rows:
                assert broken == {mine.loc[row_number, "rule"]}, (name, row_number, broken)
            else:
                assert not broken, (name, row_number, broken)
    # Dirty firms and loans (other than exact duplicates) have no child rows.
    for parent, key, children in (("firms", "firm_id", [t.name for t in TABLES[1:]]),
                                  ("loans", "loan_id", ["repayments"])):
        rows = log[(log["table"] == parent) & (log["rule"] != "duplicate_key")]["row_number"]
        new_keys = set(read_raw(dirty.files[parent]).iloc[rows - 1][key])
        for child in children:
            child_frame = read_raw(dirty.files[child])
            if key in child_frame:
                assert not (set(child_frame[key]) & new_keys), child


def test_injected_parquet_is_text(tmp_path: Path) -> None:
    result = generate_bank(tmp_path, n_firms=60, seed=2, txn_per_firm_year=10, fmt="parquet",
                           inject_errors=0.1)
    for t in TABLES:
        schema = pq.read_schema(result.files[t.name])
        assert all(str(schema.field(n).type) == "string" for n in t.field_names)
    log = pd.read_csv(result.truth_files["injected_errors"], dtype={"value": str},
                      keep_default_na=False)
    found = check_all(result)
    for name, rules in found.items():
        mine = log[log["table"] == name]
        assert sorted(int(i) + 1 for i, r in rules.items() if r) == sorted(mine["row_number"])




def test_end_date_and_years_are_honoured(tmp_path: Path) -> None:
    result = generate_bank(tmp_path, n_firms=40, seed=9, txn_per_firm_year=10,
                           end_date=datetime.date(2025, 12, 31), years=2)
    txn = pd.read_csv(result.files["transactions"], dtype=str)
    dates = pd.to_datetime(txn["txn_date"])
    assert dates.max() <= pd.Timestamp("2025-12-31")
    assert dates.min() >= pd.Timestamp("2024-01-01")
    st = pd.read_csv(result.files["financial_statements"], dtype=str)
    annual = st[st["period_type"] == "annual"]
    assert set(annual["period_end"]) <= {"2024-12-31", "2023-12-31"}
    assert TABLES_BY_NAME["firms"].field_names == tuple(
        pd.read_csv(result.files["firms"], nrows=1).columns)


def test_warning_signs_follow_the_latent_risk_not_the_drawn_default(
        synthetic_bank: SyntheticBank) -> None:
    """The inquiry burst and the risk news come from the latent risk, so they add nothing to
    the true PD (before: inquiries alone ranked defaults at AUC 0.98 against 0.80 for the
    true PD, because they burst in the months before the drawn default date). On the
    session's 2,000-firm bank (conftest.py), as generated and loaded."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from creditpersona.store.store import Store

    with Store(synthetic_bank.store_path, read_only=True) as st:
        reports = st.table("bureau_reports").select(
            "firm_id", "report_date", "inquiries_3m").to_pandas()
        docs = st.table("documents").select("firm_id", "doc_date").to_pandas()
    truth = synthetic_bank.quarter_truth()
    truth = truth[~truth["in_default"].astype(bool) & truth["defaulted_within_12m"].notna()]
    reports["report_date"] = pd.to_datetime(reports["report_date"])
    docs["doc_date"] = pd.to_datetime(docs["doc_date"])
    parts = []
    for day, t in truth.groupby("as_of"):
        d = pd.Timestamp(day)
        r = reports[(reports["report_date"] <= d + pd.Timedelta(days=15))
                    & (reports["report_date"] > d - pd.Timedelta(days=60))]
        r = r.sort_values("report_date").groupby("firm_id").tail(1)
        n_docs = docs[(docs["doc_date"] <= d) & (docs["doc_date"] > d - pd.Timedelta(days=180))
                      ].groupby("firm_id").size().rename("docs_180d")
        parts.append(t.merge(r[["firm_id", "inquiries_3m"]], on="firm_id")
                     .merge(n_docs, left_on="firm_id", right_index=True, how="left"))
    m = pd.concat(parts).fillna({"docs_180d": 0})
    y = m["defaulted_within_12m"].astype(bool).astype(int).to_numpy()
    logit = np.log(m["true_pd_12m"] / (1 - m["true_pd_12m"])).to_numpy()
    x = np.column_stack([logit, np.log1p(m["inquiries_3m"]), np.log1p(m["docs_180d"])])
    both = LogisticRegression().fit(x, y).predict_proba(x)[:, 1]
    assert y.sum() > 200
    assert roc_auc_score(y, both) - roc_auc_score(y, logit) < 0.01
