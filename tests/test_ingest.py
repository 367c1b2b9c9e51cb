"""Validation, quarantine and loading: every row read is loaded or quarantined."""

from __future__ import annotations

import string
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FIRMS_HEADER, GOOD_FIRMS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditpersona import SchemaError, ingest, ingest_file
from creditpersona.contract import schema
from creditpersona.domain import uscc
from creditpersona.store import ingest as ingest_module
from creditpersona.store.store import Store


def _quarantine(store: Store) -> pd.DataFrame:
    return store.table("quarantine").to_pandas().sort_values(["load_id", "row_number"])


def test_clean_file_loads_every_row(store: Store, firms_csv: Path) -> None:
    result = ingest_file(store, firms_csv)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 4, 0)
    firms = store.table("firms").to_pandas().set_index("firm_id")
    assert firms.loc["9135021359498494XQ", "listed"] is True or \
        bool(firms.loc["9135021359498494XQ", "listed"]) is True  # 是 reads as true
    assert firms["registered_capital"].sum() == pytest.approx(97_000_000)
    assert str(firms["founded_on"].dtype).startswith(("datetime64", "date"))


BAD_ROWS = {
    # row content → the rule that must be reported first, and the field named
    "91310110666007217A,坏校验位公司,C38,310110,2010-01-01,5,1,private,false,2015-01-01,RM1":
        ("uscc", "firm_id"),
    "91310115591693856A,未知行业公司,C12,310115,2012-03-05,80,5,private,false,2016-07-01,RM1":
        ("industry", "industry_code"),
    "91430111MA4L41YT1U,坏日期公司,E48,430111,2005-13-45,900,8,state_owned,true,2008-01-01,RM2":
        ("unparseable", "founded_on"),
    "9135021359498494XQ,负资本公司,F51,350213,2014-09-09,25,-2,private,是,2018-02-02,RM2":
        ("range", "registered_capital"),
    "91310110666007217T,区划错误公司,C38,990110,2010-01-01,5,1,private,false,2015-01-01,RM1":
        ("region", "region_code"),
    "91310110666007217T,缺经理公司,C38,310110,2010-01-01,5,1,private,false,2015-01-01,":
        ("required", "rm_id"),
    "91310110666007217T,早于成立公司,C38,310110,2010-01-01,5,1,private,false,2009-01-01,RM1":
        ("date_order", "founded_on,relationship_start"),
    "91310110666007217T,坏所有制公司,C38,310110,2010-01-01,5,1,alien,false,2015-01-01,RM1":
        ("choice", "ownership_type"),
}


@pytest.mark.parametrize(("row", "expected"), list(BAD_ROWS.items()))
def test_each_rule_quarantines_with_a_message(
    store: Store, tmp_path: Path, row: str, expected: tuple[str, str]
) -> None:
    path = tmp_path / "firms.csv"
    path.write_text(f"{FIRMS_HEADER}\n{row}\n", encoding="utf-8")
    result = ingest_file(store, path)
    assert (result.rows_loaded, result.rows_quarantined) == (0, 1)
    q = _quarantine(store).iloc[0]
    assert (q["rule"], q["field"]) == expected
    assert q["row_number"] == 1 and q["line"] == 2
    key = row.split(",")[0]
    assert q["message"].startswith(f"firms row firm_id={key} ({path} line 2): ")
    assert expected[1].split(",")[0] in q["message"]
    assert q["raw_json"].count(key) == 1


def test_uscc_message_names_the_right_check_character(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "firms.csv"
    bad = list(BAD_ROWS)[0]
    path.write_text(f"{FIRMS_HEADER}\n{bad}\n", encoding="utf-8")
    ingest_file(store, path)
    assert "should be 'T'" in _quarantine(store).iloc[0]["message"]


def test_duplicates_first_row_wins_and_store_duplicates_are_caught(
    store: Store, tmp_path: Path, firms_csv: Path
) -> None:
    ingest_file(store, firms_csv)
    again = tmp_path / "more" / "firms.csv"
    again.parent.mkdir()
    new_code = "91310115MA1K3YJ12" + uscc.check_character("91310115MA1K3YJ12")
    new_row = GOOD_FIRMS[0].replace("91310110666007217T", new_code)
    again.write_text("\n".join([FIRMS_HEADER, GOOD_FIRMS[1], new_row, new_row]) + "\n",
                     encoding="utf-8")
    result = ingest_file(store, again)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 1, 2)
    q = _quarantine(store)
    assert q["rule"].tolist() == ["duplicate_key", "duplicate_key"]
    assert "already loaded (load 1)" in q.iloc[0]["message"]
    assert "row 2 of this file has the same key" in q.iloc[1]["message"]


def test_same_file_twice_changes_nothing(store: Store, firms_csv: Path) -> None:
    first = ingest_file(store, firms_csv)
    before = {t: store.table(t).count().execute() for t in ("firms", "quarantine", "load_log")}
    second = ingest_file(store, firms_csv)
    after = {t: store.table(t).count().execute() for t in ("firms", "quarantine", "load_log")}
    assert second.skipped and second.load_id == first.load_id
    assert before == after


def test_gbk_csv_loads(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "firms.csv"
    path.write_bytes(("\n".join([FIRMS_HEADER, *GOOD_FIRMS]) + "\n").encode("gbk"))
    result = ingest_file(store, path)
    assert result.rows_loaded == 4
    names = set(store.table("firms").to_pandas()["name"])
    assert "厦门鹭岛贸易有限公司" in names
    log = store.table("load_log").to_pandas()
    assert log["encoding"].tolist() == ["gb18030"]


def test_utf8_bom_and_windows_line_ends(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "firms.csv"
    path.write_bytes(("\r\n".join([FIRMS_HEADER, *GOOD_FIRMS]) + "\r\n").encode("utf-8-sig"))
    assert ingest_file(store, path).rows_loaded == 4
    assert store.table("firms").rm_id.isin(["RM0001", "RM0002"]).all().execute()


def test_parquet_and_excel_read_like_csv(tmp_path: Path, firms_csv: Path) -> None:
    frame = pd.read_csv(firms_csv, dtype=str)
    frame.loc[1, "employees"] = "八十"  # unparseable in every format
    frame.to_excel(tmp_path / "firms.xlsx", index=False)
    typed = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(typed, tmp_path / "firms.parquet")
    counts = {}
    for suffix in ("xlsx", "parquet"):
        with Store(tmp_path / f"{suffix}.duckdb") as s:
            r = ingest_file(s, tmp_path / f"firms.{suffix}")
            counts[suffix] = (r.rows_loaded, r.rows_quarantined)
            rule = s.table("quarantine").rule.execute().tolist()
            assert rule == ["unparseable"]
    assert counts == {"xlsx": (3, 1), "parquet": (3, 1)}


def test_typed_parquet_is_loaded_without_text_round_trip(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "transactions.parquet"
    firm = GOOD_FIRMS[0].split(",")[0]
    pq.write_table(pa.table({
        "txn_id": ["T1", "T2"], "firm_id": [firm, firm],
        "txn_date": pa.array([pd.Timestamp("2025-01-02").date()] * 2, pa.date32()),
        "amount": [1234.5, -99.0], "counterparty": ["甲", None], "channel": ["online", "fax"],
        "summary": ["货款", "手续费"],
    }), path)
    firms = tmp_path / "firms.csv"
    firms.write_text(f"{FIRMS_HEADER}\n{GOOD_FIRMS[0]}\n", encoding="utf-8")
    results = ingest(store, [firms, path])
    assert [r.table for r in results] == ["firms", "transactions"]
    assert (results[1].rows_loaded, results[1].rows_quarantined) == (1, 1)
    assert _quarantine(store).iloc[0]["rule"] == "choice"


def test_children_need_loaded_parents(store: Store, firms_csv: Path, tmp_path: Path) -> None:
    loans = tmp_path / "loans.csv"
    header = ",".join(schema.LOANS.field_names)
    known = GOOD_FIRMS[0].split(",")[0]
    unknown = "91310110666007226" + uscc.check_character("91310110666007226")
    rows = [
        f"L1,{known},working_capital,raw_materials,\"1,000,000\",1Y,85,12,2025/01/01,"
        "2026/01/01,none,corporate",
        f"L2,{unknown},working_capital,raw_materials,1000000,1Y,85,12,2025-01-01,2026-01-01,"
        "none,corporate",
        f"L3,{known},working_capital,raw_materials,1000000,1Y,85,12,2025-01-01,2024-01-01,"
        "none,corporate",
    ]
    loans.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    ingest(store, [loans, firms_csv])  # order on the command line does not matter
    q = _quarantine(store)
    assert q.set_index("row_key")["rule"].to_dict() == {
        "loan_id=L2": "unknown_reference", "loan_id=L3": "date_order"}
    assert store.table("loans").amount.sum().execute() == 1_000_000


def test_statement_rules(store: Store, firms_csv: Path, tmp_path: Path) -> None:
    ingest_file(store, firms_csv)
    firm = GOOD_FIRMS[0].split(",")[0]
    names = schema.STATEMENTS.field_names
    base = dict.fromkeys(names, "0")
    base.update(firm_id=firm, period_type="annual", period_end="2025-12-31",
                published_on="2026-04-20", total_assets="1000000", current_assets="400000",
                total_liabilities="600000", current_liabilities="300000", equity="400000")
    rows = [
        base,
        {**base, "period_end": "2024-12-31", "equity": "300000"},            # off by 10 %
        {**base, "period_end": "2023-12-31", "published_on": "2023-06-30"},  # early
        {**base, "period_end": "2022-12-31", "current_assets": "1200000"},   # component
        {**base, "period_end": "2021-12-31", "total_assets": "-5",
         "total_liabilities": "0", "equity": "-5", "current_assets": "0"},    # negative
        {**base, "period_end": "2020-12-31", "equity": "399500"},            # within 0.5 %
        {**base, "period_type": "monthly", "period_end": "2019-12-31"},
    ]
    path = tmp_path / "financial_statements.csv"
    pd.DataFrame(rows, columns=list(names)).to_csv(path, index=False)
    result = ingest_file(store, path)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 5)
    assert _quarantine(store)["rule"].tolist() == [
        "balance_sheet", "date_order", "component_exceeds_total", "range", "choice"]
    msg = _quarantine(store).iloc[0]["message"]
    assert "off by 100,000.00, 10.0%" in msg and "period_end=2024-12-31" in msg


def test_missing_column_rejects_the_file_with_advice(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "firms.csv"
    path.write_text("firm_id,name\n91310110666007217T,甲\n", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"lacks the column\(s\) industry_code.*Rename or add"):
        ingest_file(store, path)
    assert store.table("load_log").count().execute() == 0


def test_unknown_file_name_needs_table(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "export_2025.csv"
    path.write_text(FIRMS_HEADER + "\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="pass --table"):
        ingest(store, [path])
    assert ingest(store, [path], table="firms")[0].rows_read == 0


def test_store_opens_with_plain_duckdb(tmp_path: Path, firms_csv: Path) -> None:
    with Store(tmp_path / "plain.duckdb") as s:
        ingest_file(s, firms_csv)
    con = duckdb.connect(str(tmp_path / "plain.duckdb"), read_only=True)
    assert con.execute("select count(*) from firms").fetchone() == (4,)
    assert con.execute("select rows_loaded from load_log").fetchone() == (4,)


_cells = st.text(alphabet=string.ascii_letters + string.digits + "-/,.  是否", max_size=12)


def test_a_file_checked_in_chunks_finds_duplicates_across_them(
    store: Store, tmp_path: Path, firms_csv: Path
) -> None:
    """A big file is checked and loaded a chunk at a time; a key seen in an earlier chunk
    is still a duplicate of "row N of this file", and one loaded before of its load."""
    ingest_file(store, firms_csv)
    codes = [c + uscc.check_character(c) for c in
             ("91310115MA1K3YJ12", "91310115MA1K3YJ13", "91310115MA1K3YJ14")]
    a, b, c = (GOOD_FIRMS[0].replace("91310110666007217T", code) for code in codes)
    rows = [a, b, c, a, GOOD_FIRMS[1], a, b]  # rows 1..7; GOOD_FIRMS[1] is loaded already
    big = tmp_path / "big" / "firms.parquet"  # Parquet pieces hold exactly batch_rows rows
    big.parent.mkdir()
    pd.DataFrame([r.split(",") for r in rows], columns=FIRMS_HEADER.split(",")).to_parquet(big)
    result = ingest_file(store, big, batch_rows=1, chunk_rows=2)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (7, 3, 4)
    q = _quarantine(store).set_index("row_number")
    assert set(q.index) == {4, 5, 6, 7}
    assert (q["rule"] == "duplicate_key").all()
    for row, first in ((4, 1), (6, 1), (7, 2)):
        assert f"row {first} of this file has the same key" in str(q.loc[row, "message"])
    assert "already loaded (load 1)" in str(q.loc[5, "message"])
    assert sorted(store.table("firms").firm_id.execute()) == sorted(
        [*(r.split(",")[0] for r in GOOD_FIRMS), *codes])


def test_a_load_that_fails_in_a_later_chunk_leaves_nothing(
    store: Store, firms_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    firms = tmp_path / "firms.parquet"
    pd.read_csv(firms_csv, dtype=str).to_parquet(firms)
    real_insert = ingest_module._insert_good
    calls = []

    def failing_insert(db: object, contract: schema.Table, *args: object) -> None:
        calls.append(contract.name)
        if calls.count("firms") == 3:
            raise RuntimeError("disk full")
        real_insert(db, contract, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_module, "_insert_good", failing_insert)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_file(store, firms, batch_rows=1, chunk_rows=1)
    assert calls.count("firms") == 3  # two chunks were loaded before the failure
    assert store.table("firms").count().execute() == 0
    monkeypatch.undo()
    assert ingest_file(store, firms, batch_rows=1, chunk_rows=1).rows_loaded == 4


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10), _cells), max_size=8),
       copies=st.lists(st.integers(0, 3), max_size=3))
def test_loaded_plus_quarantined_equals_read(
    tmp_path_factory: pytest.TempPathFactory, damage: list[tuple[int, int, str]],
    copies: list[int],
) -> None:
    rows = [r.split(",") for r in GOOD_FIRMS] + [GOOD_FIRMS[i].split(",") for i in copies]
    for r, c, value in damage:
        rows[r][c] = value
    d = tmp_path_factory.mktemp("prop")
    pd.DataFrame(rows, columns=FIRMS_HEADER.split(",")).to_csv(d / "firms.csv", index=False)
    with Store(d / "s.duckdb") as s:
        result = ingest_file(s, d / "firms.csv")
        loaded = s.table("firms").count().execute()
        quarantined = s.table("quarantine").row_number.execute().tolist()
    assert result.rows_read == len(rows)
    assert result.balanced and loaded == result.rows_loaded
    assert len(set(quarantined)) == len(quarantined) == result.rows_quarantined


def test_a_load_that_fails_midway_leaves_nothing(
    store: Store, firms_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_log(db: object, log: dict[str, object]) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_module, "_insert_log", failing_log)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_file(store, firms_csv)
    assert store.table("firms").count().execute() == 0
    monkeypatch.undo()
    assert ingest_file(store, firms_csv).rows_loaded == 4  # and a retry loads it


def test_memory_limit_must_be_a_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from creditpersona import StoreError

    monkeypatch.setenv("CREDITPERSONA_MEMORY_LIMIT", "lots")
    with pytest.raises(StoreError, match="not a memory size"):
        Store(tmp_path / "m.duckdb")


def test_running_out_of_store_memory_says_what_to_set_and_loads_nothing(
    store: Store, firms_csv: Path
) -> None:
    from creditpersona import StoreError

    store.memory_limit = "1MB"  # what the message reports; DuckDB's own limit is set below
    store.con.raw_sql("SET memory_limit = '1MB'")
    with pytest.raises(StoreError, match=r"firms\.csv: loading table firms needed more memory"
                       r".*CREDITPERSONA_MEMORY_LIMIT=1MB.*ingest the file again"):
        ingest_file(store, firms_csv)
    store.con.raw_sql("SET memory_limit = '2GB'")
    assert store.table("firms").count().execute() == 0
    assert ingest_file(store, firms_csv).rows_loaded == 4  # and a retry loads it


def test_a_table_s_checks_are_compiled_once_per_process(tmp_path: Path, firms_csv: Path) -> None:
    # Building and compiling the Ibis checks cost ~0.3 s per file; a second file of the same
    # table and schema must reuse the compiled SQL, and load the same way.
    results = []
    for i in range(2):
        copy = tmp_path / f"copy{i}" / "firms.csv"
        copy.parent.mkdir()
        copy.write_bytes(firms_csv.read_bytes())
        with Store(tmp_path / f"s{i}.duckdb") as s:
            before = (ingest_module._compiled_parse.cache_info().misses,
                      ingest_module._compiled_cross.cache_info().misses)
            result = ingest_file(s, copy)
            after = (ingest_module._compiled_parse.cache_info().misses,
                     ingest_module._compiled_cross.cache_info().misses)
            q = s.table("quarantine").order_by("row_number").to_pandas()
            results.append((result.rows_loaded, result.rows_quarantined,
                            q.drop(columns=["source_file", "message"]).to_dict("records"),
                            s.table("firms").order_by("firm_id").to_pandas().to_dict("records")))
        if i == 1:
            assert after == before
    assert results[0] == results[1]
