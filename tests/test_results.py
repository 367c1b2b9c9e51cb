"""The result store: every table the cycle writes is declared once and written through it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import CYCLE_Q1, CycledBank

from creditpersona import pipeline
from creditpersona.errors import StoreError
from creditpersona.store import results
from creditpersona.store.store import Store

Q1, Q2 = dt.date(2026, 3, 31), dt.date(2026, 6, 30)
SRC = Path(__file__).resolve().parents[1] / "src" / "creditpersona"
#: Tables that are not results of a date: the contract's inputs, ingestion, ledger, registry.
NOT_RESULTS = {"firms", "financial_statements", "bureau_reports", "transactions", "loans",
               "repayments", "campaign_contacts", "documents", "load_log", "quarantine",
               "model_registry", "cycle_runs", "cycle_stages"}


@pytest.fixture(scope="module")
def cycle(cycled_bank: CycledBank) -> tuple[Path, pipeline.CycleResult]:
    """The session's cycled bank after its first cycle, and what that cycle returned."""
    return cycled_bank.copy(cycled_bank.after_q1, "results"), cycled_bank.q1


@pytest.fixture(scope="module")
def cycle_store(cycle: tuple[Path, pipeline.CycleResult]) -> Path:
    return cycle[0]


def test_every_table_the_cycle_writes_is_declared_and_stored_as_declared(
        cycle_store: Path) -> None:
    with Store(cycle_store, read_only=True) as st:
        written = set(st.con.list_tables()) - NOT_RESULTS
        assert written == set(results.TABLES), "undeclared or unwritten result tables"
        for name, spec in results.TABLES.items():
            stored = st.table(name).schema().to_pyarrow()
            assert stored.equals(spec.schema), (name, stored, spec.schema)
            # One date, or none for a table with nothing to say on a first quarter
            # (review_drift compares with earlier quarters); the campaign snapshots' profiles
            # are kept under their snapshots, quarter ends before the cycle's date.
            if name == results.HISTORY_PROFILES:
                assert max(results.dates(st, name)) < CYCLE_Q1, name
            else:
                assert results.dates(st, name) in ([], [CYCLE_Q1]), name
            assert set(spec.key) <= set(spec.columns) and spec.key[0] == "as_of", name
            # The declared key identifies a row.
            frame = results.read(st, name, columns=spec.key)
            assert not frame.duplicated().any(), name
        for name in ("profiles", "pd_scores", "personas", "association_rules",
                     "decision_value", "decision_pricing", "offers", "review_triggers"):
            assert results.exists(st, name, CYCLE_Q1), name
            assert results.latest(st, name) == CYCLE_Q1, name


def test_read_filters_firms_and_columns_in_the_database(cycle_store: Path) -> None:
    with Store(cycle_store, read_only=True) as st:
        everyone = results.read(st, "pd_scores")
        some = sorted(everyone["firm_id"].iloc[[0, 5, 9]])
        got = results.read(st, "pd_scores", firms=iter(some), columns=["firm_id", "pd"])
        assert list(got.columns) == ["firm_id", "pd"]
        assert sorted(got["firm_id"]) == some
        expected = everyone.set_index("firm_id").loc[some, "pd"].to_numpy()
        assert got.set_index("firm_id").loc[some, "pd"].to_numpy() == pytest.approx(expected)
        assert results.read(st, "pd_scores", firms=[]).empty
        assert results.read(st, "pd_scores", dt.date(2020, 1, 1)).empty
        assert not results.exists(st, "pd_scores", dt.date(2020, 1, 1))
        with pytest.raises(StoreError, match="no column.*nonsense"):
            results.read(st, "pd_scores", columns=["firm_id", "nonsense"])
        with pytest.raises(StoreError, match="review_drift has no firm_id"):
            results.read(st, "review_drift", firms=["x"])
        with pytest.raises(StoreError, match="not a result table"):
            results.read(st, "firms")


def _migration(rows: int, firms: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"kind": "rating", "segment": "portfolio",
                         "from_state": [f"S{k}" for k in range(rows)], "to_state": "A",
                         "firms": firms, "previous_as_of": Q1})


def test_replace_date_replaces_only_its_date_and_converts_one_way(store: Store) -> None:
    assert results.replace_date(store, "review_migration", Q1, _migration(3)) == 3
    assert results.replace_date(store, "review_migration", Q2, _migration(2)) == 2
    # Again for Q2, from Arrow and with other values: Q2 is replaced, Q1 stays.
    again = pa.Table.from_pandas(_migration(4, firms=7), preserve_index=False)
    results.replace_date(store, "review_migration", Q2, again)
    assert results.dates(store, "review_migration") == [Q1, Q2]
    assert len(results.read(store, "review_migration", Q1)) == 3
    q2 = results.read(store, "review_migration")  # the latest date
    assert len(q2) == 4 and set(q2["firms"]) == {7}
    assert store.table("review_migration").schema().to_pyarrow().equals(
        results.TABLES["review_migration"].schema)
    # Numbers given as text, dates given as timestamps: converted to the declared types.
    results.replace_date(store, "review_migration", Q1, _migration(1).assign(
        firms="12", previous_as_of=pd.Timestamp(Q1)))
    q1 = results.read(store, "review_migration", Q1)
    assert q1["firms"].tolist() == [12]
    assert pd.Timestamp(q1["previous_as_of"].iloc[0]).date() == Q1


def test_object_flags_become_booleans_one_way() -> None:
    """Flags after a left join (True / False / NaN) go to Arrow as they are; other truthy
    values (1, 0.0) are converted one by one, to the same kind of array."""
    flags = pd.Series([True, np.nan, np.bool_(False), None], dtype=object)
    assert results._array(flags, pa.bool_()).to_pylist() == [True, None, False, None]
    mixed = pd.Series([True, np.nan, 1, 0.0], dtype=object)
    assert results._array(mixed, pa.bool_()).to_pylist() == [True, None, True, False]


def test_replace_date_refuses_frames_that_do_not_fit(store: Store) -> None:
    with pytest.raises(StoreError, match="review_migration.*undeclared column.*colour"):
        results.replace_date(store, "review_migration", Q1, _migration(1).assign(colour=1))
    with pytest.raises(StoreError, match="lacks the declared column.*to_state"):
        results.replace_date(store, "review_migration", Q1,
                             _migration(1).drop(columns="to_state"))
    with pytest.raises(StoreError, match="column firms: cannot store"):
        results.replace_date(store, "review_migration", Q1, _migration(1).assign(firms="many"))
    with pytest.raises(StoreError, match="rows of 2026-03-31, not only of 2026-06-30"):
        results.replace_date(store, "review_migration", Q2, _migration(1).assign(as_of=Q1))
    assert not results.exists(store, "review_migration")  # nothing half-written
    # A stored table of another version (a column this one does not write) is refused.
    store.con.raw_sql("CREATE TABLE review_triggers (as_of DATE, legacy VARCHAR)")
    with pytest.raises(StoreError, match="legacy.*DROP TABLE review_triggers"):
        results.replace_date(store, "review_triggers", Q1, pd.DataFrame(
            columns=results.TABLES["review_triggers"].columns))


def test_an_earlier_version_missing_columns_gets_them_added(store: Store) -> None:
    store.con.raw_sql("CREATE TABLE pd_scores (firm_id VARCHAR, pd DOUBLE, grade VARCHAR, "
                      "as_of DATE)")
    store.con.raw_sql("INSERT INTO pd_scores VALUES ('F1', 0.1, 'B', DATE '2026-03-31')")
    results.replace_date(store, "pd_scores", Q2, pd.DataFrame(
        {"firm_id": ["F2"], "pd": [0.2], "grade": ["C"], "rating_score": [1.5]}))
    assert set(results.TABLES["pd_scores"].columns) == set(store.table("pd_scores").columns)
    assert results.read(store, "pd_scores", Q2)["rating_score"].tolist() == [1.5]
    old = results.read(store, "pd_scores", Q1)
    assert old["firm_id"].tolist() == ["F1"] and old["rating_score"].isna().all()


def test_the_rule_for_saving(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path) as st:
        assert results.should_save(st) and results.should_save(st, True)
        assert not results.should_save(st, False)
    with Store(path, read_only=True) as st:
        assert not results.should_save(st) and not results.should_save(st, False)
        with pytest.raises(StoreError, match="read-only"):
            results.should_save(st, True)


def test_only_the_result_store_writes_result_tables() -> None:
    """No module but store/results.py deletes from or inserts into a table of the store,
    except the ingestion (inputs), the store itself, the ledger and the model registry. The
    service and the workbench write their own operational SQLite store (store/ops.py: users,
    audit, cases, sessions): SQL writes there are allowed, but never to a table named like a
    result."""
    allowed = {"store/results.py", "store/store.py", "store/ingest.py", "runs.py",
               "contract/validate.py",  # the quarantine, during ingestion
               "models/registry.py",
               "store/buckets.py"}  # a bucket's rows in a private in-memory DuckDB
    operational = ("service/", "workbench/", "store/ops.py", "store/inbox.py")  # SQLite ops
    duckdb_api = re.compile(r"con\.insert\(|create_table\(")
    sql = re.compile(r"(?:DELETE\s+FROM|INSERT\s+(?:OR\s+\w+\s+)?INTO)\s+\"?(\w+)")
    offenders = []
    for path in SRC.rglob("*.py"):
        name, text = str(path.relative_to(SRC)), path.read_text(encoding="utf-8")
        if name in allowed:
            continue
        targets = set(sql.findall(text))
        if duckdb_api.search(text) or (targets and not name.startswith(operational)):
            offenders.append(name)
        elif targets & set(results.TABLES):
            offenders.append(name)
    assert offenders == []
    listing = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
               if "list_tables()" in p.read_text(encoding="utf-8")]
    assert sorted(listing) == ["store/results.py", "store/store.py"]


def test_the_architecture_page_lists_every_declared_table() -> None:
    page = (SRC.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    start, end = "<!-- result-tables:start -->\n", "<!-- result-tables:end -->"
    assert page[page.index(start) + len(start):page.index(end)] == results.markdown()
    for name in results.TABLES:
        assert f"| `{name}` —" in page, name


def test_persona_channel_routing_is_applied_in_the_cycle(
        cycle: tuple[Path, pipeline.CycleResult]) -> None:
    """channels.yaml routes the standard journey by persona strategy (growth_tech → online
    banking, …): the cycle hands marketing the strategy codes, not the persona names."""
    from creditpersona.marketing.routing import load_channels

    result = cycle[1]
    channels = load_channels()
    by_strategy = channels.persona_channels
    strategy = result.personas.assignment.set_index("firm_id")["persona_id"].map(
        result.strategies.set_index("persona_id")["strategy"])
    offers = result.marketing.offers
    standard = offers[offers["journey"] == "standard"]
    wanted = standard["firm_id"].map(strategy).map(by_strategy)
    routed = wanted.notna().to_numpy()
    assert routed.sum() >= 10, "too few offers of routed personas to show the routing"
    assert (standard.loc[routed, "channel"] == wanted[routed]).all()
    # The check can fail: without persona routing, some of these firms would have been
    # contacted on their size class's channel, which differs from their persona's.
    size = result.profile.set_index("firm_id")["size_class"]
    size = size.where(size.isin(list(channels.journeys["standard"].channels)), "micro")
    by_size = standard.loc[routed, "firm_id"].map(size).map(
        channels.journeys["standard"].channels)
    assert (by_size != wanted[routed]).sum() >= 5


def test_declared_text_columns_follow_the_lexicon() -> None:
    """The profile's ``text_<event>`` / ``flag_<event>`` columns are declared for exactly the
    lexicon's events, so a new event cannot reach the store undeclared (or be dropped)."""
    from creditpersona.profile.lexicon import default_lexicon

    assert results._TEXT_EVENTS == tuple(e.code for e in default_lexicon().events)
