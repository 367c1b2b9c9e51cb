"""The contract's ``campaign_contacts.response`` (issue 18): four outcomes kept distinct.

An RM's outcome is one of contacted / interested / declined / taken. Only *taken* is a
take-up (``responded`` true, with the amount), which is what the response and uplift models
learn from; the other three are kept as they were recorded. The field was added to the
contract later, so files and stores written before it still load.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from creditpersona.contract.schema import CAMPAIGN_RESPONSES, TABLES_BY_NAME
from creditpersona.store.ingest import ingest, ingest_file
from creditpersona.store.store import Store

COLUMNS = list(TABLES_BY_NAME["campaign_contacts"].field_names)


@pytest.fixture(scope="module")
def small_bank(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    from creditpersona.synth import generate_bank

    root = tmp_path_factory.mktemp("response")
    root.chmod(0o700)
    gen = generate_bank(root / "data", 30, 3, years=2, txn_per_firm_year=5, fmt="csv")
    firms = pd.read_csv(gen.out_dir / "firms.csv", dtype=str)["firm_id"].tolist()
    return gen.out_dir, firms


def _contacts(firms: list[str], rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {"product": "working_capital", "channel": "rm_visit", "contact_date": "2026-04-15",
            "treated": True, "responded": False, "amount_taken": 0.0}
    return pd.DataFrame([{**base, "firm_id": firms[i], **r} for i, r in enumerate(rows)])


def test_the_four_responses_load_distinct_and_mismatches_are_quarantined(
        small_bank: tuple[Path, list[str]], tmp_path: Path) -> None:
    data, firms = small_bank
    with Store(tmp_path / "s.duckdb") as st:
        ingest(st, [data])
        assert st.table("campaign_contacts").response.isnull().all().execute()
        good = [{"campaign_id": "R", "response": r, "responded": r == "taken",
                 "amount_taken": 2e6 if r == "taken" else 0.0} for r in CAMPAIGN_RESPONSES]
        bad = [{"campaign_id": "R", "response": "taken", "responded": False},
               {"campaign_id": "R", "response": "declined", "responded": True},
               {"campaign_id": "R", "response": "interested", "treated": False,
                "channel": None},
               {"campaign_id": "R", "response": "maybe"}]
        _contacts(firms, good + bad)[COLUMNS].to_csv(tmp_path / "c.csv", index=False)
        result = ingest_file(st, tmp_path / "c.csv", "campaign_contacts")
        t = st.table("campaign_contacts")
        loaded = t.filter(t.campaign_id == "R").to_pandas().sort_values("firm_id")
        q = st.table("quarantine").filter(lambda x: x.load_id == result.load_id).to_pandas()
    assert sorted(loaded["response"]) == sorted(CAMPAIGN_RESPONSES)
    assert loaded.set_index("response")["responded"].to_dict() == {
        "contacted": False, "interested": False, "declined": False, "taken": True}
    assert sorted(q["row_number"]) == [5, 6, 7, 8]
    assert (q["rules"].str.contains("response_mismatch")).sum() == 3
    first = q.loc[q["row_number"] == 5, "message"].iloc[0]
    assert "response = 'taken' but responded = 'False'" in first and "correct the source" in first
    assert "one of contacted, interested, declined, taken" in " ".join(q["message"])


def test_files_and_stores_from_before_the_field_still_load(
        small_bank: tuple[Path, list[str]], tmp_path: Path) -> None:
    data, firms = small_bank
    store = tmp_path / "old.duckdb"
    with Store(store) as st:
        ingest(st, [data])
    # A store created before the field: drop the column as an older version had it.
    with duckdb.connect(str(store)) as con:
        con.execute("ALTER TABLE campaign_contacts DROP COLUMN response")
    with Store(store) as st:  # opening for writing adds the column, empty
        assert "response" in st.table("campaign_contacts").columns
        old = _contacts(firms, [{"campaign_id": "OLD", "responded": True, "amount_taken": 1e6}])
        old[[c for c in COLUMNS if c != "response"]].to_csv(tmp_path / "o.csv", index=False)
        ingest_file(st, tmp_path / "o.csv", "campaign_contacts")
        t = st.table("campaign_contacts")
        row = t.filter(t.campaign_id == "OLD").to_pandas()
    assert len(row) == 1 and row["response"].isna().all() and bool(row["responded"].iloc[0])


def test_the_response_is_an_outcome_never_a_feature() -> None:
    """The response and uplift models learn ``responded``; the recorded response says it."""
    from creditpersona.marketing.history import feature_columns

    history = pd.DataFrame({c: [] for c in (*COLUMNS, "snapshot", "load_id", "pd_score",
                                            "employees")})
    assert feature_columns(history, pooled=True) == ["pd_score", "employees"]
