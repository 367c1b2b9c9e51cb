"""The Spark report's sample and store checks, without Spark (DuckDB over Parquet files).

* The sample of firms the report's charts and persona cards are drawn on is the firms of
  smallest MD5 digest of the firm id (``report.spark.SAMPLE_KEY``): a documented hash, the
  same on every DuckDB version and machine, so a bank's report draws the same firms every
  quarter. The expected draw is computed here with :mod:`hashlib`, not read from the code.
* ``creditpersona report`` answers a ``--store`` that is not a store with exit status 2.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from creditpersona.cli.app import app
from creditpersona.store import results
from creditpersona.store.parquet import ParquetResults

from .conftest import CYCLE_Q2, CycledBank

DAY = dt.date(2026, 6, 30)
#: Twelve firm ids whose MD5 order is not their order as text.
FIRMS = [f"9132{i:04d}MA0000000X" for i in range(12)]


def _write(root: Path, name: str, values: dict[str, list[Any]], parts: int) -> None:
    """``values`` as the Parquet files of one date of result table ``name``, the rows
    dealt round-robin into ``parts`` files (every declared column; NULL when not given)."""
    folder = root / name / f"as_of={DAY}"
    folder.mkdir(parents=True)
    fields = [f for f in results.table(name).schema if f.name != "as_of"]
    rows = len(next(iter(values.values())))
    table = pa.table({f.name: pa.array(values[f.name], type=f.type) if f.name in values
                      else pa.nulls(rows, type=f.type) for f in fields})
    for part in range(parts):
        pq.write_table(table.take(list(range(part, rows, parts))),
                       folder / f"part-{part}.parquet")
    (folder / "_SUCCESS").touch()


def test_the_report_sample_is_the_smallest_md5_digests(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    from creditpersona.report import spark as report

    shuffled = FIRMS[5:] + FIRMS[:5]
    _write(tmp_path, results.PROFILES, {"firm_id": shuffled}, parts=3)
    _write(tmp_path, results.PD_SCORES, {"firm_id": FIRMS,
                                          "pd": [i / 100 for i in range(len(FIRMS))]}, parts=2)
    digest = {f: hashlib.md5(f.encode("utf-8")).hexdigest() for f in FIRMS}
    expected = sorted(FIRMS, key=digest.__getitem__)[:5]
    assert expected != sorted(FIRMS)[:5]  # the order is the digest's, not the ids'
    monkeypatch.setattr(report, "SAMPLE", 5)
    res = ParquetResults(tmp_path)
    try:
        sample = report._sample(res, DAY)
    finally:
        res.close()
    assert sample["firm_id"].tolist() == expected
    assert sample["pd"].tolist() == [FIRMS.index(f) / 100 for f in expected]


def test_report_needs_a_store(tmp_path: Path) -> None:
    results_dir = tmp_path / "bank.duckdb.results"
    (results_dir / "profiles" / f"as_of={DAY}").mkdir(parents=True)
    ran = CliRunner().invoke(app, ["report", "--store", str(results_dir)])
    assert ran.exit_code == 2
    said = " ".join(ran.output.split())
    assert "Parquet results of a Spark run" in said
    assert f"--store {tmp_path / 'bank.duckdb'}" in said
    other = tmp_path / "notes"
    other.mkdir()
    ran = CliRunner().invoke(app, ["report", "--store", str(other)])
    assert ran.exit_code == 2 and "pass the store file" in " ".join(ran.output.split())
    text = tmp_path / "bank.duckdb"
    text.write_text("not a database")
    ran = CliRunner().invoke(app, ["report", "--store", str(text)])
    assert ran.exit_code == 2 and "cannot open the store" in " ".join(ran.output.split())
    assert ran.exception is None or isinstance(ran.exception, SystemExit)


def test_the_report_of_a_cycle_is_kept_beside_the_store(cycled_bank: CycledBank,
                                                        tmp_path: Path) -> None:
    """``creditpersona report`` of a completed (embedded) cycle writes --out and keeps the
    page where ``run`` keeps it and the service serves it: ``<store>.reports/<date>.html``."""
    store = cycled_bank.copy(cycled_bank.clean, "report-kept")
    out = tmp_path / "report.html"
    ran = CliRunner().invoke(app, ["report", "--store", str(store), "--out", str(out),
                                   "--as-of", str(CYCLE_Q2)])
    assert ran.exit_code == 0, ran.output
    kept = store.parent / f"{store.name}.reports" / f"{CYCLE_Q2}.html"
    assert f"kept as {kept}" in " ".join(ran.output.split())
    assert kept.read_bytes() == out.read_bytes()
    assert "<h2>客户性格分类 Customer personas</h2>" in out.read_text("utf-8")
