"""Files the package writes for people: formulas neutralised, no planted symlink followed,
distinct names for every relationship manager, reruns that clean up only their own lists."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import FIRMS_HEADER, GOOD_FIRMS
from typer.testing import CliRunner

from creditpersona.cli.app import app
from creditpersona.marketing.lists import MANIFEST, SUMMARY_SHEET, write_campaign_lists
from creditpersona.report.html import render_report
from creditpersona.safeio import FORMULA_PREFIXES, UnsafePathError, to_csv, to_excel

#: RM ids that a naive "replace odd characters" maps onto one file or sheet name.
COLLIDING_RMS = ["RM 0001", "RM_0001", "rm_0001", "RM:0001", "R" * 40, "R" * 40 + "x",
                 "张三", "李四", "CON", "Summary"]
FORMULAS = ["=HYPERLINK(\"http://evil\",\"click\")", "+cmd|' /C calc'!A0", "-2+3",
            "@SUM(A1:A9)", "\tTAB", "\rCR"]


def _offers(rms: list[str], per_rm: int = 6) -> pd.DataFrame:
    rows = []
    for i, rm in enumerate(rms):
        for j in range(per_rm):
            rows.append({"rm_id": rm, "firm_id": f"F{i:02d}{j:02d}",
                         "firm_name": FORMULAS[j % len(FORMULAS)], "product": f"P{j}",
                         "expected_value": -10.5 * (j + 1), "p_accept": 0.1})
    return pd.DataFrame(rows)


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _keys(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["统一社会信用代码 Firm id"].astype(str),
                   frame["产品代码 Product code"].astype(str), strict=True))


def test_colliding_rm_ids_keep_every_offer(tmp_path: Path) -> None:
    offers = _offers(COLLIDING_RMS)
    files = write_campaign_lists(offers, tmp_path / "lists")
    assert len(files.csv_files) == len(COLLIDING_RMS)
    assert len({p.name.casefold() for p in files.csv_files}) == len(COLLIDING_RMS)
    loaded = pd.concat([pd.read_csv(p, encoding="utf-8-sig", dtype=str)
                        for p in files.csv_files])
    assert len(loaded) == len(offers)
    plan = set(zip(offers["firm_id"], offers["product"], strict=True))
    assert _keys(loaded) == plan
    for path in files.csv_files:  # one RM per file
        assert pd.read_csv(path, encoding="utf-8-sig", dtype=str)["客户经理 RM"].nunique() == 1
    assert files.excel is not None
    book = openpyxl.load_workbook(files.excel)
    sheets = [s for s in book.sheetnames if s != SUMMARY_SHEET]
    assert len(sheets) == len(COLLIDING_RMS) and book.sheetnames[0] == SUMMARY_SHEET
    assert all(len(s) <= 31 for s in book.sheetnames)
    frames = [pd.read_excel(files.excel, sheet_name=s, dtype=str) for s in sheets]
    assert sum(len(f) for f in frames) == len(offers)
    assert _keys(pd.concat(frames)) == plan


def test_formula_cells_are_neutralised_in_csv_and_excel(tmp_path: Path) -> None:
    files = write_campaign_lists(_offers(["RM1"]), tmp_path / "lists")
    with files.csv_files[0].open(encoding="utf-8-sig", newline="") as handle:
        cells = [c for row in csv.reader(handle) for c in row]
    assert not [c for c in cells if c.startswith(FORMULA_PREFIXES) and not _number(c)]
    assert "'-2+3" in cells and "-10.5" in cells  # text escaped, numbers left as numbers
    assert "'=HYPERLINK(\"http://evil\",\"click\")" in cells and "'@SUM(A1:A9)" in cells
    assert files.excel is not None
    sheet = openpyxl.load_workbook(files.excel)["RM1"]
    header = [c.value for c in sheet[1]]
    name_col = header.index("企业名称 Firm") + 1
    value_col = header.index("预期价值(元) Expected value (yuan)") + 1
    names = [sheet.cell(row=r, column=name_col) for r in range(2, sheet.max_row + 1)]
    assert all(c.data_type == "s" for c in names)  # text, never a formula ('f')
    # xlsx stores a carriage return as _x000D_, which openpyxl hands back as it is
    assert {c.value.replace("_x000D_", "\r") for c in names} == {"'" + f for f in FORMULAS}
    values = [sheet.cell(row=r, column=value_col).value for r in range(2, sheet.max_row + 1)]
    assert all(isinstance(v, int | float) and v < 0 for v in values)  # numbers stay numbers


def test_planted_symlinks_are_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    out = tmp_path / "lists"
    out.mkdir()
    for name in ("RM1.csv", "campaign_lists.xlsx", MANIFEST):
        (out / name).symlink_to(victim)
    report = tmp_path / "report.html"
    report.symlink_to(victim)
    watch = tmp_path / "watch.csv"
    watch.symlink_to(victim)
    files = write_campaign_lists(_offers(["RM1"]), out)
    to_csv(pd.DataFrame({"a": [1]}), watch)
    to_excel(tmp_path / "book.xlsx", {"s": pd.DataFrame({"a": [1]})})
    from creditpersona.store.summary import PortfolioSummary

    empty = PortfolioSummary(*(pd.DataFrame() for _ in PortfolioSummary.__dataclass_fields__))
    render_report(report, title="t", summary=empty, profile=pd.DataFrame())
    assert victim.read_text(encoding="utf-8") == "precious"
    for path in (*files.csv_files, files.excel, out / MANIFEST, report, watch):
        assert path is not None and not path.is_symlink() and path.is_file()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    linked = tmp_path / "linked"
    linked.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        write_campaign_lists(_offers(["RM1"]), linked)


def test_list_folder_is_owner_only(tmp_path: Path) -> None:
    write_campaign_lists(_offers(["RM1"]), tmp_path / "new" / "lists")
    assert stat.S_IMODE((tmp_path / "new" / "lists").stat().st_mode) == 0o700


def test_rerun_removes_its_own_lists_and_keeps_foreign_files(tmp_path: Path) -> None:
    out = tmp_path / "lists"
    write_campaign_lists(_offers(["A", "B", "C"]), out)
    (out / "notes.csv").write_text("mine", encoding="utf-8")
    (out / "budget.xlsx").write_text("mine too", encoding="utf-8")
    outside = tmp_path / "outside.csv"
    outside.write_text("keep", encoding="utf-8")
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"] += ["../outside.csv", str(outside)]  # a tampered manifest
    (out / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    files = write_campaign_lists(_offers(["A", "D"]), out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["A.csv", "D.csv", "campaign_lists.xlsx", "notes.csv",
                            "budget.xlsx", MANIFEST])
    assert [p.name for p in files.csv_files] == ["A.csv", "D.csv"]
    assert outside.read_text(encoding="utf-8") == "keep"
    assert json.loads((out / MANIFEST).read_text(encoding="utf-8"))["files"] == [
        "A.csv", "D.csv", "campaign_lists.xlsx"]


def test_quarantine_export_is_written_safely(tmp_path: Path) -> None:
    bad = "=1+1" + GOOD_FIRMS[1][18:]  # an invalid firm id that reads as a formula
    source = tmp_path / "firms.csv"
    source.write_text("\n".join([FIRMS_HEADER, GOOD_FIRMS[0], GOOD_FIRMS[0], bad]) + "\n",
                      encoding="utf-8")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    out = tmp_path / "q.csv"
    out.symlink_to(victim)
    store = str(tmp_path / "s.duckdb")
    for args in (["ingest", str(source), "--store", store],
                 ["quarantine", "--store", store, "--csv", str(out)]):
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, done.output
    assert victim.read_text(encoding="utf-8") == "precious" and not out.is_symlink()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and rows[1]["row_key"] == "firm_id==1+1"
    assert json.loads(rows[1]["raw_json"])["firm_id"] == "=1+1"
    assert not [c for row in rows for c in row.values() if c.startswith(FORMULA_PREFIXES)]


def test_generate_writes_owner_only_and_never_through_a_planted_link(tmp_path: Path) -> None:
    from creditpersona.synth.generator import generate_bank

    out = tmp_path / "bank"
    out.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours", encoding="utf-8")
    (out / "firms.csv").symlink_to(victim)
    generate_bank(out, 60, seed=3, txn_per_firm_year=5)
    assert victim.read_text(encoding="utf-8") == "not yours"
    assert not (out / "firms.csv").is_symlink() and (out / "firms.csv").stat().st_size > 0
    assert stat.S_IMODE((out / "truth").stat().st_mode) == 0o700
