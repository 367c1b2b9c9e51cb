"""The command line: help everywhere, exit codes a script can rely on, the demo end to end."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import FIRMS_HEADER, GOOD_FIRMS
from test_cli_quiet import warning_lines
from typer.testing import CliRunner

from creditpersona.cli.app import app
from creditpersona.contract.docs import render_markdown

runner = CliRunner()


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "creditpersona", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


@pytest.mark.parametrize("command", ["generate", "ingest", "status", "quarantine", "contract",
                                     "profile", "report", "run", "runs", "demo", "pd evaluate",
                                     "personas fit", "rules mine", "price", "limit", "monitor",
                                     "campaign evaluate"])
def test_help_everywhere(command: str) -> None:
    result = runner.invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_contract_prints_the_document() -> None:
    result = runner.invoke(app, ["contract"])
    assert result.exit_code == 0 and result.output == render_markdown()


def test_bad_input_exits_2_with_a_message(tmp_path: Path) -> None:
    done = _cli("ingest", str(tmp_path / "nope.csv"), "--store", str(tmp_path / "s.duckdb"))
    assert done.returncode == 2
    assert "nope.csv: no such file or directory" in done.stderr
    done = _cli("status", "--store", str(tmp_path / "missing.duckdb"))
    assert done.returncode == 2 and "no store here" in done.stderr


def test_duckdb_out_of_memory_is_an_answer_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from creditpersona.cli import app as cli_app

    def runs_out(*args: object, **kwargs: object) -> None:
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")

    monkeypatch.setenv("CREDITPERSONA_MEMORY_LIMIT", "3GB")
    monkeypatch.setattr(cli_app, "app", runs_out)
    with pytest.raises(SystemExit) as exit_:
        cli_app.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "CREDITPERSONA_MEMORY_LIMIT=3GB" in err and "failed to pin block" in err
    assert "Traceback" not in err


def test_fail_on_quarantine_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "firms.csv"
    path.write_text("\n".join([FIRMS_HEADER, GOOD_FIRMS[0], GOOD_FIRMS[0]]) + "\n",
                    encoding="utf-8")
    store = str(tmp_path / "s.duckdb")
    result = runner.invoke(app, ["ingest", str(path), "--store", store, "--fail-on-quarantine"])
    assert result.exit_code == 3
    assert "1 rows quarantined" in result.output
    shown = runner.invoke(app, ["quarantine", "--store", store])
    assert shown.exit_code == 0 and "duplicate_key" in shown.output
    status = runner.invoke(app, ["status", "--store", store])
    assert status.exit_code == 0 and "firms" in status.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``creditpersona demo`` on 500 firms (two quarters), once for the module."""
    out = tmp_path_factory.mktemp("demo") / "d"
    return out, _cli("demo", "--firms", "500", "--seed", "3", "--out", str(out))


def test_price_and_limit_equal_the_cycle_decisions(
        demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """`creditpersona price/limit --firm X --as-of D` give the cycle's stored decision."""
    import pandas as pd

    from creditpersona.decisions.stage import firm_limit, load_decisions_table, price_request
    from creditpersona.store.store import Store

    out, done = demo
    assert done.returncode == 0, done.stderr
    store, day = out / "creditpersona.duckdb", dt.date(2026, 6, 30)
    with Store(store, read_only=True) as st:
        limits = load_decisions_table(st, "limits", day).set_index("firm_id")
        pricing = load_decisions_table(st, "pricing", day).set_index("firm_id")
        # Firms of several persona policies, with and without a positive limit.
        ok = limits[limits["binding"] != "no_new_credit"]
        picks = (ok.assign(positive=ok["recommended_limit"] > 0).reset_index()
                 .groupby(["persona_policy", "positive"]).head(1)["firm_id"].tolist())
        assert len(picks) >= 3 and limits.loc[picks, "persona_policy"].nunique() >= 2
        for firm in picks:
            lim = firm_limit(st, day, firm).iloc[0]
            stored = limits.loc[firm]
            assert lim["persona_policy"] == stored["persona_policy"], firm
            for c in ("product", "binding"):
                assert lim[c] == stored[c], (firm, c)
            assert lim["recommended_limit"] == pytest.approx(stored["recommended_limit"])
            quote = price_request(st, day, firm).iloc[0]
            ref = pricing.loc[firm]
            for c in ("product", "persona_policy", "grade"):
                assert quote[c] == ref[c], (firm, c)
            for c in ("amount", "term_months", "rate", "spread_bp", "raroc", "pd"):
                assert float(quote[c]) == pytest.approx(float(ref[c]), rel=1e-9), (firm, c)
    firm = picks[0]
    shown = runner.invoke(app, ["limit", "--as-of", "2026-06-30", "--firm", firm,
                                "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    assert f"{limits.loc[firm, 'recommended_limit']:,.0f}" in shown.output
    assert str(limits.loc[firm, "persona_policy"]) in shown.output
    shown = runner.invoke(app, ["price", "--as-of", "2026-06-30", "--firm", firm,
                                "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    assert f"= {float(pricing.loc[firm, 'rate']):.2%}" in shown.output
    assert not pd.isna(pricing.loc[firm, "rate"])


def test_the_report_names_firms_and_lists_performing_firms(
        demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """Firm names next to codes, performing firms among the highest PDs, wide tables scroll,
    and the review's rating stability (rating against the PIT grade)."""
    import re

    out, done = demo
    assert done.returncode == 0, done.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<div class='scroll'><table" in page and "name 名称" in page
    head = "Highest default probabilities of performing firms"
    table = page[page.index(head):].split("</table>")[0]
    shown = re.findall(r"<td>(9[0-9A-Z]{17})</td>", table)
    assert len(shown) == 10
    con = duckdb.connect(str(out / "creditpersona.duckdb"), read_only=True)
    grades = dict(con.execute("select firm_id, grade from pd_scores where as_of = "
                              "DATE '2026-06-30'").fetchall())
    names = dict(con.execute("select firm_id, name from firms").fetchall())
    con.close()
    assert all(grades[f] != "D" for f in shown)
    assert names[shown[0]] in table
    assert "Rating stability 评级稳定性" in page and "point-in-time grade" in page


def test_demo_end_to_end(demo: tuple[Path, subprocess.CompletedProcess[str]],
                         tmp_path: Path) -> None:
    out, done = demo
    assert done.returncode == 0, done.stderr
    assert warning_lines(done.stderr) == [], done.stderr[:2000]  # the whole cycle, quiet
    assert "exactly the injected rows" in done.stdout
    assert "Every row read was loaded or quarantined: yes" in done.stdout
    con = duckdb.connect(str(out / "creditpersona.duckdb"), read_only=True)
    assert con.execute("select count(*) from firms").fetchone() == (500,)
    loads = con.execute("select sum(rows_read) = sum(rows_loaded + rows_quarantined) "
                        "from load_log").fetchone()
    assert loads == (True,)
    # Two quarters by default: the second is reviewed against the first.
    assert con.execute("select count(*), min(as_of), max(as_of) from profiles").fetchone() == (
        1000, dt.date(2026, 3, 31), dt.date(2026, 6, 30))
    assert con.execute("select count(*) from pd_scores").fetchone() == (1000,)
    for table in ("personas", "association_rules", "decision_pricing", "offers",
                  "review_triggers", "review_migration"):
        assert con.execute(f"select count(*) from {table}").fetchone()[0] > 0, table
    assert con.execute("select list(status order by as_of) from cycle_runs").fetchone() == (
        ["completed", "completed"],)
    page = (out / "report.html").read_text(encoding="utf-8")
    for title in ("客户性格", "Credit strategy per persona", "关联规则", "授信决策", "精准营销",
                  "季度检视", "Run lineage"):
        assert title in page, title
    assert "客户画像 Customer profile" in page and "plotly" in page.lower()
    assert "违约概率模型 Default-probability models" in page
    assert (out / "pd-validation.json").exists()
    lists = list((out / "campaign_lists").glob("*.xlsx"))
    assert lists, "campaign lists per relationship manager"
    assert "Customer profile 客户画像 as of 2026-06-30" in done.stdout
    con.close()

    store = out / "creditpersona.duckdb"
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["run", "--as-of", "2026-06-30", "--store", str(store),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "as of 2026-06-30" in page and "违约概率模型" in page
    con = duckdb.connect(str(store), read_only=True)
    # The same as-of date again: its rows are replaced, never duplicated.
    assert con.execute("select count(*) from pd_scores").fetchone() == (1000,)
    assert con.execute("select count(*) from profiles").fetchone() == (1000,)
    con.close()
    bad = runner.invoke(app, ["run", "--as-of", "2025-13-01", "--store", str(store)])
    assert bad.exit_code == 2 and "is not a date" in bad.output
    bad = runner.invoke(app, ["run", "--as-of", "2026-06-30", "--store", str(store),
                              "--refit", "everything"])
    assert bad.exit_code == 2 and "--refit pd" in bad.output
    rebuilt = runner.invoke(app, ["report", "--store", str(store), "--as-of", "2026-03-31",
                                  "--out", str(tmp_path / "q1.html")])
    assert rebuilt.exit_code == 0, rebuilt.output
    page = (tmp_path / "q1.html").read_text(encoding="utf-8")
    assert "季度检视 Quarterly review — 2026-03-31" in page and "Run lineage" in page
    ledger = runner.invoke(app, ["runs", "--store", str(store), "--as-of", "2026-06-30"])
    assert ledger.exit_code == 0 and "Cycle runs" in ledger.output
    assert "review" in ledger.output and "done" in ledger.output  # the stages of the last run


def test_generate_a_shock_needs_its_quarter(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--out", str(tmp_path / "g"), "--firms", "20",
                                 "--quarters", "4", "--shock-industry", "F51"])
    assert result.exit_code == 2 and "--shock-from" in result.output
    done = _cli("generate", "--out", str(tmp_path / "g"), "--firms", "20", "--quarters", "4",
                "--shock-industry", "F51", "--shock-from", "9")
    assert done.returncode == 2 and "from_quarter" in done.stderr, done.stderr


def test_run_with_too_little_history_says_what_to_do(
        tiny_bank: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The command's entry point in this process (``python -m creditpersona`` calls it; its
    start in another process is test_bad_input_exits_2_with_a_message's), on the session's
    60-firm bank (conftest.py)."""
    import shutil

    from creditpersona.cli import app as cli_app

    store = tmp_path / "s.duckdb"
    shutil.copy(tiny_bank, store)
    monkeypatch.setattr(sys, "argv", ["creditpersona", "run", "--as-of", "2025-12-31",
                                      "--store", str(store), "--out", str(tmp_path / "r.html")])
    with pytest.raises(SystemExit) as exit_:
        cli_app.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "load more" in err, err
