"""The synthetic bank through the contract: clean output loads whole, dirt is caught exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from creditpersona import ingest, ingest_file
from creditpersona.store.ingest import plan
from creditpersona.store.store import Store
from creditpersona.synth import generate_bank


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_injected_errors_are_quarantined_exactly(tmp_path: Path, fmt: str) -> None:
    gen = generate_bank(tmp_path / "bank", 200, seed=11, fmt=fmt, inject_errors=0.02)  # type: ignore[arg-type]
    injected = pd.read_csv(gen.truth_files["injected_errors"])
    assert len(injected) == gen.injected > 0
    assert set(injected["table"]) == {
        "firms", "financial_statements", "bureau_reports", "transactions", "loans",
        "repayments", "campaign_contacts", "documents"}
    with Store(tmp_path / "s.duckdb") as store:
        results = ingest(store, [gen.out_dir])
        q = store.table("quarantine").to_pandas()
    assert all(r.balanced for r in results)
    got = q.set_index(["table_name", "row_number"])
    want = injected.set_index(["table", "row_number"])
    assert set(got.index) == set(want.index), "none missed, no clean row rejected"
    joined = injected.merge(q, left_on=["table", "row_number"],
                            right_on=["table_name", "row_number"], suffixes=("_injected", ""))
    for _, item in joined.iterrows():
        table, row = item["table"], item["row_number"]
        assert item["rule_injected"] in item["rules"].split(","), (table, row, item["message"])
        where = f"line {row + 1}" if fmt == "csv" else f"row {row}"
        assert f"{table} row " in item["message"] and where in item["message"]
        named = "same key" if item["rule_injected"] == "duplicate_key" else item["field_injected"]
        assert any(part in item["message"] for part in str(named).split(",")), item["message"]


def test_clean_bank_loads_every_row(tmp_path: Path) -> None:
    gen = generate_bank(tmp_path / "bank", 150, seed=5)
    with Store(tmp_path / "s.duckdb") as store:
        results = ingest(store, [gen.out_dir])
        assert store.table("quarantine").count().execute() == 0
    assert {r.table: r.rows_loaded for r in results} == gen.rows


def test_reading_in_small_pieces_changes_nothing(tmp_path: Path) -> None:
    gen = generate_bank(tmp_path / "bank", 60, seed=2, inject_errors=0.05)
    outcomes = []
    for batch_rows in (10**7, 7):
        with Store(tmp_path / f"s{batch_rows}.duckdb") as store:
            for path, table in plan([gen.out_dir]):
                ingest_file(store, path, table, batch_rows=batch_rows)
            q = store.table("quarantine").to_pandas().sort_values(["table_name", "row_number"])
            counts = {t: store.table(t).count().execute() for t in gen.rows}
        outcomes.append((q[["table_name", "row_number", "rules"]].to_numpy().tolist(), counts,
                         q["message"].str.replace(str(tmp_path), "").tolist()))
    assert outcomes[0] == outcomes[1]
