"""Malformed input, one test per defect class: a message with file, line and what to do (exit
code 2), or the bad row in the quarantine with its line while the rest of the file loads."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FIRMS_HEADER, GOOD_FIRMS
from typer.testing import CliRunner

from creditpersona import SchemaError, ingest_file
from creditpersona.cli.app import app
from creditpersona.contract import schema
from creditpersona.contract.docs import render_markdown
from creditpersona.errors import InsufficientDataError
from creditpersona.models.evaluate import read_table
from creditpersona.store.store import Store

runner = CliRunner()
GOOD = "\n".join([FIRMS_HEADER, *GOOD_FIRMS]) + "\n"


def _cli_ingest(path: Path, store: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["ingest", str(path), "--store", str(store)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, " ".join(result.output.split())


def _quarantine(store: Store) -> pd.DataFrame:
    return store.table("quarantine").to_pandas().sort_values("row_number", ignore_index=True)


def _names(store: Store) -> set[str]:
    return set(store.table("firms").to_pandas()["name"])


# -- whole files that cannot be read: exit 2, the file and what to do ---------------------------
def _parquet_bytes() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"firm_id": [r.split(",")[0] for r in GOOD_FIRMS]}), buf)
    return buf.getvalue()


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("firms.parquet", _parquet_bytes()[:200], "not a readable Parquet file"),
    ("firms.parquet", b"firm_id,name\n1,2\n", "not a readable Parquet file"),
    ("firms.xlsx", b"PK\x03\x04 this is no workbook", "not a readable Excel workbook"),
    ("firms.csv", (FIRMS_HEADER + ",name\n").encode(), "line 1: the header names the column(s) "
     "name more than once"),
])
def test_unreadable_file_exits_2_naming_it(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, output = _cli_ingest(path, tmp_path / "s.duckdb")
    assert code == 2
    assert f"{path}" in output and expected in output
    assert "ingest" in output.split(expected)[1]  # says what to do next


def test_unterminated_quote_exits_2_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "firms.csv"
    opened = GOOD_FIRMS[2].replace("长沙", '"长沙')
    path.write_text("\n".join([FIRMS_HEADER, GOOD_FIRMS[0], opened, GOOD_FIRMS[3]]) + "\n",
                    encoding="utf-8")
    code, output = _cli_ingest(path, tmp_path / "s.duckdb")
    assert code == 2
    assert f"{path} line 3: a quoted value opens on this line and is never closed" in output
    with Store(tmp_path / "s.duckdb") as s:
        assert s.table("load_log").count().execute() == 0


def test_quoted_line_break_inside_a_file_is_one_value(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "firms.csv"
    two_lines = GOOD_FIRMS[1].replace("上海浦东云启软件有限公司", '"上海浦东\n云启软件有限公司"')
    path.write_text("\n".join([FIRMS_HEADER, GOOD_FIRMS[0], two_lines, GOOD_FIRMS[2]]) + "\n",
                    encoding="utf-8")
    result = ingest_file(store, path)
    assert (result.rows_read, result.rows_loaded) == (3, 3)
    assert "上海浦东\n云启软件有限公司" in _names(store)


@pytest.mark.parametrize("target", ["folder", "pattern"])
def test_nothing_to_load_exits_2(tmp_path: Path, target: str) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a table", encoding="utf-8")
    path = folder if target == "folder" else folder / "*.parquet"
    code, output = _cli_ingest(path, tmp_path / "s.duckdb")
    assert code == 2
    expected = "holds no file to load" if target == "folder" else "matches no file"
    assert f"{path}: the {target}" in output and expected in output


# -- rows that cannot be read: quarantined with their line, the rest loads ----------------------
@pytest.mark.parametrize(("bad", "fields"), [
    (GOOD_FIRMS[1] + ",extra", 12),
    (",".join(GOOD_FIRMS[1].split(",")[:3]), 3),
])
def test_ragged_row_is_quarantined_with_its_line(
    store: Store, tmp_path: Path, bad: str, fields: int
) -> None:
    path = tmp_path / "firms.csv"
    path.write_text("\n".join([FIRMS_HEADER, GOOD_FIRMS[0], bad, GOOD_FIRMS[2], GOOD_FIRMS[3]])
                    + "\n", encoding="utf-8")
    result = ingest_file(store, path)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 3, 1)
    q = _quarantine(store).iloc[0]
    assert (q["rule"], q["row_number"], q["line"]) == ("ragged_row", 2, 3)
    assert f"({path} line 3): the row has {fields} fields but the header has 11" in q["message"]
    assert json.loads(q["raw_json"])["text"] == bad
    # Rows after the bad one keep their own numbers.
    assert store.table("firms").count().execute() == 3


def test_excel_row_wider_than_its_header_is_quarantined(store: Store, tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER := FIRMS_HEADER.split(","))
    for i, row in enumerate(GOOD_FIRMS[:3]):
        ws.append(row.split(",") + (["stray"] if i == 1 else []))
    wb.save(tmp_path / "firms.xlsx")
    result = ingest_file(store, tmp_path / "firms.xlsx")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    q = _quarantine(store).iloc[0]
    assert (q["rule"], q["row_number"], q["line"]) == ("ragged_row", 2, 3)
    assert f"has values in {len(HEADER) + 1} columns, the header names {len(HEADER)}" in \
        q["message"]


def test_undecodable_row_is_quarantined_and_the_rest_loads(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "firms.csv"
    bad = GOOD_FIRMS[1].encode("utf-8").replace("云启".encode(), b"\xff\xfe")
    path.write_bytes(b"\n".join([FIRMS_HEADER.encode(), GOOD_FIRMS[0].encode(), bad,
                                 GOOD_FIRMS[2].encode()]) + b"\n")
    result = ingest_file(store, path)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    q = _quarantine(store).iloc[0]
    assert (q["rule"], q["row_number"], q["line"]) == ("undecodable", 2, 3)
    assert "holds bytes that are neither UTF-8 nor GB18030 (line 3)" in q["message"]


def test_mixed_utf8_and_gbk_rows_are_each_decoded(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "firms.csv"
    lines = [FIRMS_HEADER.encode()] + [
        row.encode("gbk" if i % 2 else "utf-8") for i, row in enumerate(GOOD_FIRMS)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = ingest_file(store, path)
    assert (result.rows_loaded, result.rows_quarantined) == (4, 0)
    assert _names(store) == {row.split(",")[1] for row in GOOD_FIRMS}  # no mojibake
    assert store.table("load_log").encoding.execute().tolist() == ["utf-8+gb18030"]


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_other_separators_load(store: Store, tmp_path: Path, separator: str) -> None:
    path = tmp_path / "firms.csv"
    path.write_text(GOOD.replace(",", separator), encoding="utf-8")
    assert ingest_file(store, path).rows_loaded == 4


# -- values that would load wrong: their own rules ----------------------------------------------
@pytest.mark.parametrize(("field", "value", "rule"), [
    ("registered_capital", "inf", "non_finite"),
    ("registered_capital", "-inf", "non_finite"),
    ("registered_capital", "nan", "non_finite"),
    ("registered_capital", "1e309", "non_finite"),
    ("employees", "3.7", "not_whole"),
    ("employees", "1e400", "non_finite"),
    ("name", "上海\x00恒信", "control_character"),
    ("rm_id", "RM\x1b0001", "control_character"),
])
def test_silent_corruption_is_a_contract_violation(
    store: Store, tmp_path: Path, field: str, value: str, rule: str
) -> None:
    cells = GOOD_FIRMS[0].split(",")
    cells[schema.FIRMS.field_names.index(field)] = value
    path = tmp_path / "firms.csv"
    path.write_text("\n".join([FIRMS_HEADER, ",".join(cells), GOOD_FIRMS[1]]) + "\n",
                    encoding="utf-8")
    result = ingest_file(store, path)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    q = _quarantine(store).iloc[0]
    assert (q["rule"], q["field"]) == (rule, field)
    assert q["message"].startswith(f"firms row firm_id={cells[0]} ({path} line 2): {field} = ")


def test_typed_parquet_infinity_and_fraction_are_violations(store: Store, tmp_path: Path) -> None:
    frame = pd.read_csv(io.StringIO(GOOD), dtype=str)
    data = pa.Table.from_pandas(frame.drop(columns=["employees", "registered_capital"]))
    data = data.append_column("employees", pa.array([350.0, 3.5, 900.0, 25.0]))
    data = data.append_column("registered_capital",
                              pa.array([float("inf"), 1.0, 2.0, float("nan")]))
    pq.write_table(data, tmp_path / "firms.parquet")
    ingest_file(store, tmp_path / "firms.parquet")
    assert _quarantine(store)["rules"].tolist() == ["non_finite", "not_whole", "non_finite"]


def test_new_rules_are_documented() -> None:
    text = render_markdown()
    for rule in ("non_finite", "not_whole", "control_character", "ragged_row", "undecodable"):
        assert f"| `{rule}` |" in text
    assert Path(__file__).parents[1].joinpath("docs", "data-contract.md").read_text(
        encoding="utf-8") == text


# -- quarantine messages are built column-wise ----------------------------------------------------
def test_quarantine_messages_do_not_loop_over_rows(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_row_loop(self: pd.DataFrame) -> None:
        raise AssertionError("quarantine messages built row by row")

    monkeypatch.setattr(pd.DataFrame, "iterrows", no_row_loop)
    path = tmp_path / "firms.csv"
    path.write_text("\n".join([FIRMS_HEADER, *[GOOD_FIRMS[0]] * 50]) + "\n", encoding="utf-8")
    result = ingest_file(store, path)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 49)
    assert _quarantine(store)["message"].str.contains(
        "row 1 of this file has the same key").all()


def test_every_problem_of_a_row_is_in_its_message(store: Store, tmp_path: Path) -> None:
    cells = GOOD_FIRMS[0].split(",")
    cells[0], cells[1], cells[5] = "91310110666007217A", "", "三百"  # three problems
    path = tmp_path / "firms.csv"
    path.write_text("\n".join([FIRMS_HEADER, GOOD_FIRMS[1], ",".join(cells)]) + "\n",
                    encoding="utf-8")
    ingest_file(store, path)
    q = _quarantine(store).iloc[0]
    assert (q["row_number"], q["line"], q["rule"], q["field"]) == (2, 3, "required", "name")
    assert q["rules"] == "required,unparseable,uscc"
    assert q["message"] == (
        f"firms row firm_id=91310110666007217A ({path} line 3): name is empty but required; "
        "fill it in the source and ingest the file again; employees = '三百' is not a whole "
        "number; correct the value in the source; firm_id = '91310110666007217A' is not a "
        "valid unified social credit code (its check character should be 'T'); check the code "
        "against the business registry.")
    raw = json.loads(q["raw_json"])
    assert (raw["firm_id"], raw["name"], raw["employees"]) == ("91310110666007217A", None, "三百")


# -- later stages on a store that holds only some tables ------------------------------------------
def test_profile_of_a_partial_store_names_the_missing_tables(
    store: Store, firms_csv: Path
) -> None:
    from creditpersona.profile.build import compute_profile

    ingest_file(store, firms_csv)
    with pytest.raises(InsufficientDataError,
                       match=r"needs rows in the table\(s\) financial_statements, "
                             r"bureau_reports, .*creditpersona ingest financial_statements.csv"):
        compute_profile(store, dt.date(2026, 6, 30))


# -- ARFF for `pd evaluate` -----------------------------------------------------------------------
ARFF_HEAD = "@relation t\n@attribute a numeric\n@attribute note string\n@attribute y {0,1}\n" \
            "@data\n"


@pytest.mark.parametrize(("body", "expected"), [
    ("1.5,'two\nlines',0\n2,'x',1\n", r"t.arff line 6: a quoted value is not closed on its line"),
    ("1.5,'a',0\ninf,'b',1\n", r"t.arff line 7: numeric attribute 'a' = 'inf' is not a finite"),
    ("-Infinity,'a',0\n2,'b',1\n", r"t.arff line 6: numeric attribute 'a' = '-Infinity'"),
])
def test_malformed_arff_names_its_line(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "t.arff"
    path.write_text(ARFF_HEAD + body, encoding="utf-8")
    with pytest.raises(SchemaError, match=expected):
        read_table(path, label="y")
