"""The cycle on Spark (issue 19): nothing firm-sized on the driver, the same results as DuckDB.

* ``test_nothing_firm_sized_reaches_the_driver``: a generated bank of 50,000 firms through
  the Spark cycle's stages with ``spark.driver.maxResultSize=64m`` while a guard fails any
  ``collect`` / ``toPandas`` / ``toArrow`` / ``toLocalIterator`` that returns more than
  :data:`DRIVER_ROWS` rows. ``test_the_guard_catches_a_firm_sized_collect`` shows the guard
  fails the profile path that ran on Spark before this engine (it collected every firm).
* ``test_spark_matches_duckdb_stage_by_stage``: the steady quarter of the session's cycled
  bank on both engines, with the same models in force (fitted by the embedded first
  quarter, so the comparison isolates the engine) and the same previous ratings.

The Spark session is shared by the module (one JVM); these tests need PySpark and Java 17.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from creditpersona.store.store import Store

from .conftest import require_spark

require_spark()

from creditpersona.runs import runs  # noqa: E402
from creditpersona.spark.cycle import SPARK_STAGES, run_spark_cycle  # noqa: E402
from creditpersona.spark.results import spark_schema  # noqa: E402
from creditpersona.spark.session import spark_session  # noqa: E402
from creditpersona.store import results  # noqa: E402

from .conftest import (  # noqa: E402
    CYCLE_Q1,
    CYCLE_Q2,
    SPARK_STEADY_GROUP,
    CycledBank,
    SparkSteady,
)

#: The most rows one driver-side collect may return: above it, a table of firms came back.
DRIVER_ROWS = 5_000
#: Firms of the driver-memory test's bank.
BIG_FIRMS = 50_000


@dataclass
class DriverGuard:
    """Counts the rows every driver-side collect returns; fails above ``limit``."""

    limit: int
    calls: list[tuple[str, int]] = field(default_factory=list)

    @property
    def most(self) -> int:
        return max((n for _, n in self.calls), default=0)


def _rows(value: Any) -> int:
    if hasattr(value, "num_rows"):
        return int(value.num_rows)
    try:
        return len(value)
    except TypeError:
        return 0


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[DriverGuard]:
    """Every ``pyspark.sql.DataFrame`` method that brings rows to the driver, counted."""
    import pyspark.sql

    classes = [pyspark.sql.DataFrame]
    try:  # Spark 4: the classic (non-Connect) DataFrame overrides the methods
        from pyspark.sql.classic.dataframe import DataFrame as Classic
        classes.append(Classic)
    except ImportError:  # pragma: no cover - Spark 3.5
        pass
    seen = DriverGuard(DRIVER_ROWS)
    for cls, name in [(c, n) for c in classes
                      for n in ("collect", "toPandas", "toArrow", "toLocalIterator")]:
        original = cls.__dict__.get(name)
        if original is None:
            continue

        def counted(self: Any, *args: Any, _original: Any = original,
                    _name: str = name, **kwargs: Any) -> Any:
            value = _original(self, *args, **kwargs)
            if _name == "toLocalIterator":
                value = list(value)
            n = _rows(value)
            seen.calls.append((_name, n))
            if n > seen.limit:
                raise AssertionError(f"DataFrame.{_name} brought {n:,} rows to the driver "
                                     f"(limit {seen.limit:,}): a firm-level table")
            return iter(value) if _name == "toLocalIterator" else value

        monkeypatch.setattr(cls, name, counted)
    yield seen


@pytest.fixture(scope="module")
def spark() -> Any:
    return spark_session("local[2]", {"spark.driver.maxResultSize": "64m",
                                      "spark.sql.shuffle.partitions": "4"})


# Session-scoped (only this module uses it) so that pytest makes it before the session's
# ``cycled_bank``: it is generated while another process builds the cycled bank, rather
# than after waiting for it.
@pytest.fixture(scope="session")
def big_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50,000 firms as contract Parquet files (two years, about 4 transactions a firm and
    year, so the bank is wide rather than deep); the Spark cycle reads them directly."""
    from creditpersona.synth import generate_bank

    root = tmp_path_factory.mktemp("spark_big_bank")
    gen = generate_bank(root / "data", BIG_FIRMS, 3, years=2, txn_per_firm_year=4,
                        fmt="parquet")
    return gen.out_dir


def _parquet(folder: Path) -> pd.DataFrame:
    return pq.read_table(folder).to_pandas().sort_values("firm_id", ignore_index=True)


@pytest.mark.slow
def test_nothing_firm_sized_reaches_the_driver(big_bank: Path, cycled_bank: CycledBank,
                                               spark: Any, guard: DriverGuard,
                                               tmp_path: Path) -> None:
    """The steady quarter of 50,000 firms (models in force from the cycled bank's first
    quarter) with at most a 4,000-firm fit sample: no collect above 5,000 rows; its report
    is written from the results."""
    assert spark.sparkContext.getConf().get("spark.driver.maxResultSize") == "64m"
    store = cycled_bank.copy(cycled_bank.after_q1, "spark-big")
    # 4 buckets, not the default 16: each bucket is one Python call per stage whose fixed
    # cost, not the rows, set the test's time. It also makes the guard stricter: a bucket
    # (12,500 firms) is above DRIVER_ROWS, so a stage collecting one would fail here.
    with Store(store) as st:
        result = run_spark_cycle(st, CYCLE_Q2, tmp_path / "out", spark=spark,
                                 inputs=str(big_bank), results=tmp_path / "results",
                                 buckets=4, sample_cap=4_000)
    assert {s: result.where()[s] for s in SPARK_STAGES} == {s: "spark" for s in SPARK_STAGES}
    for stage in ("profile", "pd_models", "personas"):
        assert all(n == BIG_FIRMS for n in result.stages[stage].tables.values()), stage
    decided = result.stages["decisions"].tables
    assert decided[results.DECISION_VALUE] == decided[results.DECISION_LIMITS] == BIG_FIRMS
    assert 0 < result.stages["marketing"].tables[results.OFFERS] < BIG_FIRMS
    assert 0 < guard.most <= DRIVER_ROWS
    assert result.stages["personas"].driver_rows <= 4_000
    assert result.stages["rules"].driver_rows == 4_000  # the mining sample, capped
    # The report of the run (no Spark: DuckDB over the results and the Parquet inputs): every
    # section, the counts over every firm, the charts on the capped sample.
    from creditpersona.report.spark import SAMPLE, spark_report

    with Store(store, read_only=True) as st:
        page = spark_report(tmp_path / "report.html", st, result, title="50,000 firms"
                            ).read_text("utf-8")
    assert all(h in page for h in REPORT_SECTIONS)
    assert f"{BIG_FIRMS:,} firms. Scores run" in page
    assert f"uniform sample of {SAMPLE:,} firms" in page


def test_the_guard_catches_a_firm_sized_collect(spark: Any, guard: DriverGuard) -> None:
    """The guard fails a collect above its limit, through every way to the driver (the
    driver-memory test ran once on the profile path that ran on Spark before this engine,
    which collected every firm's features with ``to_pandas``: it failed there)."""
    guard.limit = 100
    rows = spark.range(101)
    assert len(spark.range(100).collect()) == 100
    for bring in (lambda: rows.collect(), lambda: rows.toPandas(),
                  lambda: list(rows.toLocalIterator())):
        with pytest.raises(AssertionError, match="101 rows to the driver"):
            bring()


def test_the_session_records_no_python_call_sites(spark: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """PySpark's DataFrame debugging is off (session DEFAULTS): building a column takes 3
    JVM round trips, not 13 (the call-site records cost the stages' wide plans seconds)."""
    from py4j.clientserver import ClientServerConnection
    from pyspark.errors.utils import is_debugging_enabled
    from pyspark.sql import functions as F

    assert spark.conf.get("spark.python.sql.dataFrameDebugging.enabled") == "false"
    assert not is_debugging_enabled()
    sent: list[str] = []
    original = ClientServerConnection.send_command

    def counted(self: Any, command: str) -> Any:
        sent.append(command)
        return original(self, command)

    monkeypatch.setattr(ClientServerConnection, "send_command", counted)
    F.col("pd")
    assert 1 <= len(sent) <= 3, sent


@pytest.mark.parametrize("edges", [[-np.inf, 0.01, 0.05, 0.2, np.inf], [0.0, 0.05, 0.5, 1.0]])
def test_the_histogram_counts_as_numpy(spark: Any, edges: list[float]) -> None:
    """The PSI's histogram (Spark SQL) gives ``numpy.histogram``'s counts: values on an edge
    in the bin to its right, the last edge in the last bin; missing, NaN, infinite and
    outside values left out."""
    from creditpersona.spark.stages import histogram

    values = [0.001, 0.01, 0.05, 0.049999, 0.2, 0.9, 1.0, 0.0, 0.5, 1.5, -0.1, float("nan"),
              None, float("inf"), float("-inf")]
    frame = spark.createDataFrame([(v,) for v in values], "pd double")
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    want = np.histogram(v[np.isfinite(v)], np.asarray(edges))[0]
    got = histogram(frame, "pd", np.asarray(edges))
    assert got.dtype == np.int64 and got.tolist() == want.tolist()
    assert want.sum() > 0


@pytest.mark.xdist_group(SPARK_STEADY_GROUP)
def test_spark_matches_duckdb_stage_by_stage(cycled_bank: CycledBank, spark_steady: SparkSteady
                                             ) -> None:
    """Tolerances: numbers within 1e-9 relative (the same functions on the same rows; only
    the order of floating-point sums may differ), text, grades, actions and personas equal.
    The Spark quarter is ``creditpersona run --engine spark`` (``spark_steady``).
    """
    store, root, ran = spark_steady.store, spark_steady.root, spark_steady.output
    assert f"Spark cycle 季度循环 {CYCLE_Q2}" in ran
    q2 = cycled_bank.q2
    _same(_parquet(root / "profiles" / f"as_of={CYCLE_Q2}"),
          q2.profile.sort_values("firm_id", ignore_index=True), skip={"run_id", "engine"})
    _same(_parquet(root / "pd_scores" / f"as_of={CYCLE_Q2}"),
          q2.pd.scores.sort_values("firm_id", ignore_index=True), skip={"as_of"})
    assert all(p.stat().st_mode & 0o077 == 0 for p in root.rglob("*"))  # owner-only
    for name in (results.PROFILES, results.PD_SCORES, results.PERSONAS):
        _declared(name, root / name / f"as_of={CYCLE_Q2}")
    duck = q2.personas.assignment.sort_values("firm_id", ignore_index=True)
    _same(_parquet(root / "personas" / f"as_of={CYCLE_Q2}"), duck,
          skip={"model_version", "run_id", "as_of"})
    duck_grades = q2.pd.tables["grades"].set_index("grade")["firms"].to_dict()
    validation = json.loads((spark_steady.out / "pd-validation.json").read_text("utf-8"))
    assert {r["grade"]: r["firms"] for r in validation["grades"]} == duck_grades
    assert validation["psi"] == pytest.approx(q2.pd.tables["psi"], rel=1e-9)
    with Store(store, read_only=True) as st:
        models = json.loads(runs(st, CYCLE_Q2)["models"].iloc[0])
        where = models["stages_on"]
    # The models in force of the first quarter scored the second (nothing re-fitted).
    assert models["pd_champion"]["fitted_for"] == str(CYCLE_Q1)
    assert models["personas"]["fitted_for"] is None
    assert where == {"inputs": "spark", **{s: "spark" for s in SPARK_STAGES}}


#: Every section heading of the cycle's report, in order (the embedded run's and the Spark
#: run's report show the same sections).
REPORT_SECTIONS = (
    "<h2>数据 Data</h2>", "<h2>客户画像 Customer profile", "<h2>季度检视 Quarterly review",
    "<h2>违约概率模型 Default-probability models</h2>", "<h2>客户性格分类 Customer personas</h2>",
    "<h3>授信策略 Credit strategy per persona</h3>", "<h2>关联规则 Association rules",
    "<h2>授信决策 Credit decisions", "<h2>文本风险 Text risk", "<h2>精准营销 Precision marketing",
    "<h2>运行记录与数据血缘 Run lineage</h2>")


@pytest.mark.xdist_group(SPARK_STEADY_GROUP)
def test_spark_run_writes_the_report(cycled_bank: CycledBank, spark_steady: SparkSteady
                                     ) -> None:
    """``run --engine spark`` writes the cycle's report from the Parquet results: every
    section of the embedded report, in order, and the headline figures of the embedded
    report of the same quarter (aggregated by DuckDB over the files, not by pandas)."""
    from creditpersona.report.decisions import decisions_view
    from creditpersona.report.html import profile_figures, reason_counts
    from creditpersona.report.spark import _decisions, _profile_figures
    from creditpersona.store.parquet import ParquetResults

    report = spark_steady.out / "report.html"
    assert f"Report: {report}" in " ".join(spark_steady.output.split())
    page = report.read_text("utf-8")
    at = [page.find(h) for h in REPORT_SECTIONS]
    assert all(i >= 0 for i in at), [h for h, i in zip(REPORT_SECTIONS, at, strict=True)
                                      if i < 0]
    assert at == sorted(at)
    assert "No rules mined yet" not in page and "No profile stored yet" not in page
    q2 = cycled_bank.q2
    assert f"{len(q2.profile):,} firms. Scores run" in page
    assert f"Watch-list — {len(q2.decisions.watchlist):,} firms" in page
    assert f"{len(q2.personas.assignment):,} firms. Names and descriptions" in page
    risky = int((q2.profile["text_risk_documents"] > 0).sum())
    assert f"{risky:,} firms have at least one document" in page
    res = ParquetResults(spark_steady.root)
    try:
        spark, duck = _profile_figures(res, CYCLE_Q2), profile_figures(q2.profile)
        assert spark.firms == duck.firms
        np.testing.assert_allclose(spark.means.to_numpy(), duck.means.to_numpy(), rtol=1e-9)
        assert spark.worst["firm_id"].tolist() == duck.worst["firm_id"].tolist()
        view, embedded = _decisions(res, CYCLE_Q2), decisions_view(q2.decisions)
        assert view.tiers.tolist() == embedded.tiers.tolist()
        assert view.watch_count == embedded.watch_count
        assert view.watch_head["firm_id"].tolist() == embedded.watch_head["firm_id"].tolist()
        assert view.top_limits["firm_id"].tolist() == embedded.top_limits["firm_id"].tolist()
        pd.testing.assert_frame_equal(view.by_persona, embedded.by_persona, check_dtype=False,
                                      rtol=1e-9)
        pd.testing.assert_frame_equal(view.binding, embedded.binding, check_dtype=False,
                                      rtol=1e-9)
        assert view.representative["firm_id"].tolist() == \
            embedded.representative["firm_id"].tolist()
        reasons = res.sql("SELECT coalesce(reason_1_zh, '—') || ' ' || "
                          "coalesce(reason_1_en, '') AS r, count(*) AS n FROM {s} GROUP BY r",
                          s=(results.PD_SCORES, CYCLE_Q2)).set_index("r")["n"]
        assert int(reasons.sum()) == len(q2.pd.scores)
        assert {k: int(reasons[k]) for k in reason_counts(q2.pd.scores).index} == \
            reason_counts(q2.pd.scores).to_dict()
        offers = res.sql("SELECT count(*) AS n FROM {o}", o=(results.OFFERS, CYCLE_Q2))
        assert f"{int(offers['n'].iloc[0]):,} offers to as many firms" in page
    finally:
        res.close()


def test_bad_spark_settings_are_usage_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from creditpersona.cli.app import app

    ran = CliRunner().invoke(app, ["run", "--as-of", "2026-06-30", "--store",
                                   str(tmp_path / "s.duckdb"), "--engine", "spark",
                                   "--spark-conf", "executor.memory"])
    assert ran.exit_code == 2 and "KEY=VALUE" in ran.output
    ran = CliRunner().invoke(app, ["run", "--as-of", "2026-06-30", "--store",
                                   str(tmp_path / "s.duckdb"), "--engine", "flink"])
    assert ran.exit_code == 2 and "duckdb or spark" in ran.output


def _declared(name: str, folder: Path) -> None:
    """The Parquet files of ``folder`` have the declared columns and types of ``name``
    (``as_of`` is the partition; timestamps in any unit)."""
    import pyarrow as pa

    declared = [f for f in results.TABLES[name].schema if f.name != "as_of"]
    for part in folder.glob("*.parquet"):
        schema = pq.read_schema(part)
        assert schema.names == [f.name for f in declared], (name, part)
        for f in declared:
            got = schema.field(f.name).type
            same = (pa.types.is_timestamp(got) and pa.types.is_timestamp(f.type)) or (
                got == f.type or (pa.types.is_list(got) and pa.types.is_list(f.type)))
            assert same, (name, f.name, got, f.type)


def _same(spark_rows: pd.DataFrame, duck_rows: pd.DataFrame, skip: set[str]) -> None:
    columns = [c for c in duck_rows.columns if c not in skip]
    assert spark_rows["firm_id"].tolist() == duck_rows["firm_id"].tolist()
    for c in columns:
        a, b = spark_rows[c], duck_rows[c]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float),
                                       rtol=1e-9, atol=1e-12, err_msg=c)
        else:
            left = a.astype(object).where(a.notna(), None).map(_plain).tolist()
            right = b.astype(object).where(b.notna(), None).map(_plain).tolist()
            assert left == right, c


def _plain(v: Any) -> Any:
    if isinstance(v, pd.Timestamp | dt.datetime):
        return pd.Timestamp(v).floor("s").isoformat()
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def test_the_spark_schemas_are_the_declared_ones(spark: Any) -> None:
    for name, spec in results.TABLES.items():
        schema = spark_schema(name)
        assert schema.fieldNames() == spec.columns, name
