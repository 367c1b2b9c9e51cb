"""The rules and review stages on Spark (issue 19) against the embedded cycle, stage by stage.

The steady quarter (2026-06-30) of the session's cycled bank runs on Spark with the models
the embedded first quarter fitted, after the first quarter's profile, PD scores, personas
and review triggers were copied into the Spark results (the review reads the previous
quarter from there, not from the DuckDB store). Tolerances:

* rules: the same rule set — the same rules (scope, question, rank, antecedents,
  consequent) with the same counts, numbers within 1e-9 relative, the same sentences and
  the same ``params`` (settings, hypotheses, shuffle control): the bank has fewer firms
  than the sample cap, so both engines mine every firm;
* review: every drift row (comparison, segment, variable) with the same PSI, noise bound
  and missing shares to 1e-9 (the bin edges are Spark's exact percentiles, numpy's linear
  interpolation), bands, flags, bins and firm counts equal; the same migration cells
  (persona, rating, rating by section and division), performance rows and triggers.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from creditpersona.store.store import Store

from .conftest import require_spark

require_spark()

from creditpersona.spark.cycle import SparkCycleResult  # noqa: E402
from creditpersona.spark.results import SparkResults  # noqa: E402
from creditpersona.spark.session import spark_session  # noqa: E402
from creditpersona.store import results  # noqa: E402

from .conftest import (  # noqa: E402
    CYCLE_Q1,
    CYCLE_Q2,
    SPARK_STEADY_GROUP,
    CycledBank,
    SparkSteady,
)

pytestmark = pytest.mark.xdist_group(SPARK_STEADY_GROUP)


@pytest.fixture(scope="module")
def spark() -> Any:
    return spark_session("local[2]", {"spark.driver.maxResultSize": "64m",
                                      "spark.sql.shuffle.partitions": "4"})


@pytest.fixture(scope="module")
def spark_q2(spark_steady: SparkSteady) -> tuple[SparkCycleResult, Path]:
    """The steady quarter on Spark (2 buckets), the first quarter carried over
    (``spark_steady``, shared with the other Spark parity tests)."""
    return spark_steady.result, spark_steady.root


def _table(root: Path, name: str) -> pd.DataFrame:
    return pq.read_table(root / name / f"as_of={CYCLE_Q2}").to_pandas()


def _close(a: pd.Series, b: pd.Series, what: str) -> None:
    np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-9,
                               atol=1e-12, equal_nan=True, err_msg=what)


def _equal(a: pd.Series, b: pd.Series, what: str) -> None:
    def plain(s: pd.Series) -> list[Any]:
        return [None if v is None or (isinstance(v, float) and np.isnan(v)) else
                (bool(v) if isinstance(v, np.bool_) else v) for v in s.astype(object)]

    assert plain(a) == plain(b), what


def test_rules_and_review_ran_on_spark(spark_q2: tuple[SparkCycleResult, Path]) -> None:
    result, _ = spark_q2
    assert result.where()["rules"] == "spark" and result.where()["review"] == "spark"
    assert result.stages["rules"].tables[results.ASSOCIATION_RULES] > 0
    assert result.stages["rules"].driver_rows == 400  # every firm: under the cap
    assert set(result.stages["review"].tables) == {
        results.REVIEW_DRIFT, results.REVIEW_MIGRATION, results.REVIEW_PERFORMANCE,
        results.REVIEW_TRIGGERS}


def test_rules_match_the_embedded_cycle(spark_q2: tuple[SparkCycleResult, Path],
                                        cycled_bank: CycledBank) -> None:
    _, root = spark_q2
    key = ["question", "scope", "rank"]
    got = _table(root, results.ASSOCIATION_RULES).sort_values(key, ignore_index=True)
    ruleset = cycled_bank.q2.rules
    want = ruleset.rules.sort_values(key, ignore_index=True)
    assert len(want) > 0 and len(got) == len(want)
    for c in want.columns:
        if c == "antecedents":
            assert [tuple(a) for a in got[c]] == [tuple(a) for a in want[c]]
        elif pd.api.types.is_float_dtype(want[c]):
            _close(got[c], want[c], c)
        else:
            _equal(got[c], want[c], c)
    assert json.loads(got["params"].iloc[0]) == json.loads(
        json.dumps(ruleset.params, sort_keys=True))
    assert json.loads(got["scopes"].iloc[0]) == json.loads(
        ruleset.scopes.to_json(orient="records"))


def test_a_capped_rules_sample_baskets_only_the_firms_it_can_hold(
        spark: Any, spark_q2: tuple[SparkCycleResult, Path]) -> None:
    """Above the cap only the firms of the ``cap`` smallest sample keys are basketed
    (``sample_firms``), and the mining sample is the one every firm's baskets give."""
    import dataclasses

    from creditpersona.rules import kernels
    from creditpersona.spark import rules as spark_rules
    from creditpersona.spark.stages import SparkCycle

    result, root = spark_q2
    run = SparkCycle.open(spark, result.inputs, SparkResults(spark, root), buckets=2)
    model = dataclasses.replace(spark_rules.rules_model(run, CYCLE_Q2), sample_cap=50)
    firms = result.stages["profile"].tables[results.PROFILES]
    picked, keys, counted = spark_rules.sample_firms(run, model, CYCLE_Q2)
    assert picked is not None and keys is not None and counted == firms
    assert picked.count() == 50 and keys.count() == firms
    keys.unpersist()
    sample = spark_rules.rules_sample(run, model, CYCLE_Q2)
    every = spark_rules.partial_frame(run, model, CYCLE_Q2).toPandas()  # ≤ 50 a bucket
    signed = every["_sample_key"].to_numpy(dtype=np.int64)
    every["_sample_key"] = signed.view(np.uint64) ^ np.uint64(1 << 63)
    whole = kernels.combine_rules(model, [every])
    assert sample.sampled and sample.firms == whole.firms == firms
    assert len(sample.basket) == 50
    pd.testing.assert_frame_equal(sample.basket, whole.basket)
    assert sample.by is not None and whole.by is not None
    pd.testing.assert_series_equal(sample.by, whole.by)
    # The whole bank under the cap: no filter, every firm mined (the steady quarter's run).
    assert spark_rules.sample_firms(run, dataclasses.replace(model, sample_cap=firms),
                                    CYCLE_Q2)[:2] == (None, None)


def _same_rows(got: pd.DataFrame, want: pd.DataFrame, key: list[str], what: str) -> None:
    got = got.sort_values(key, ignore_index=True, key=lambda s: s.astype(str))
    want = want.sort_values(key, ignore_index=True, key=lambda s: s.astype(str))
    assert len(got) == len(want), what
    for c in want.columns:
        if c in ("as_of",):
            continue
        if pd.api.types.is_float_dtype(want[c]):
            _close(got[c], want[c], f"{what}.{c}")
        else:
            _equal(got[c].astype(object).map(_day), want[c].astype(object).map(_day),
                   f"{what}.{c}")


def _day(v: Any) -> Any:
    return str(pd.Timestamp(v).date()) if isinstance(v, pd.Timestamp | np.datetime64) else (
        str(v) if hasattr(v, "isoformat") else v)


def test_review_matches_the_embedded_cycle(spark_q2: tuple[SparkCycleResult, Path],
                                           cycled_bank: CycledBank) -> None:
    _, root = spark_q2
    with Store(cycled_bank.clean, read_only=True) as st:
        duck = {name: results.read(st, name, CYCLE_Q2) for name in (
            results.REVIEW_DRIFT, results.REVIEW_MIGRATION, results.REVIEW_PERFORMANCE,
            results.REVIEW_TRIGGERS)}
    drift = duck[results.REVIEW_DRIFT]
    assert set(drift["comparison"]) >= {"qoq"} and drift["psi"].notna().sum() > 50
    _same_rows(_table(root, results.REVIEW_DRIFT), drift,
               ["comparison", "reference_as_of", "segment", "variable"], "drift")
    migration = duck[results.REVIEW_MIGRATION]
    assert {"persona", "rating", "rating_by_section"} <= set(migration["kind"])
    _same_rows(_table(root, results.REVIEW_MIGRATION), migration,
               ["kind", "segment", "from_state", "to_state"], "migration")
    _same_rows(_table(root, results.REVIEW_PERFORMANCE), duck[results.REVIEW_PERFORMANCE],
               ["model"], "performance")
    _same_rows(_table(root, results.REVIEW_TRIGGERS), duck[results.REVIEW_TRIGGERS],
               ["trigger", "target"], "triggers")


def test_the_review_result_matches_beyond_the_tables(
        spark_q2: tuple[SparkCycleResult, Path], cycled_bank: CycledBank, spark: Any) -> None:
    """The migration matrices, rating summary, agreement and history of the review, split
    into 3 buckets instead of 2; and the matured cohort's performance: the first quarter's
    scores are stored once more as a cohort a year before the review, which the embedded
    :func:`~creditpersona.review.performance.matured_performance` judges on the store."""
    from creditpersona.contract.schema import TABLES
    from creditpersona.models.master_scale import load_master_scale
    from creditpersona.models.target import labels
    from creditpersona.review.config import load_review_config
    from creditpersona.review.performance import matured_performance
    from creditpersona.spark import stages as st
    from creditpersona.spark.review import spark_review

    _, root = spark_q2
    duck = cycled_bank.q2.review
    cohort = dt.date(2025, 6, 30)
    stored = SparkResults(spark, root)
    stored.write(results.PD_SCORES, cohort,
                 stored.read(results.PD_SCORES, CYCLE_Q1).drop("as_of"))
    store = cycled_bank.copy(cycled_bank.clean, "spark-rr-review")
    with Store(store, read_only=True) as s:
        run = st.SparkCycle.open(spark, str(cycled_bank.data_dir), stored, buckets=3)
        got = spark_review(run, s, CYCLE_Q2)
        cfg = load_review_config(None).pd
        want, _ = matured_performance(
            results.read(s, results.PD_SCORES, CYCLE_Q1), labels(
                {t.name: s.table(t.name) for t in TABLES}, cohort,
                horizon_months=cfg.horizon_months), {}, {},
            grade_order=load_master_scale().names[:-1], min_defaults=cfg.min_matured_defaults)
    stored.remove(results.PD_SCORES, cohort)
    assert got.cohort == cohort and int(want["firms"].max()) > 0
    _same_rows(got.performance, want, ["model"], "performance")
    assert got.previous == duck.previous == CYCLE_Q1
    for name in ("persona_migration", "rating_migration"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(duck, name), check_dtype=False)
    pd.testing.assert_frame_equal(got.rating_summary, duck.rating_summary, check_dtype=False,
                                  rtol=1e-9)
    assert got.persona_agreement == pytest.approx(duck.persona_agreement, rel=1e-12)
    pd.testing.assert_frame_equal(got.history_grades[got.history_grades["as_of"] >= CYCLE_Q1]
                                  .reset_index(drop=True), duck.history_grades,
                                  check_dtype=False)
    skip = ("decisions stage", "2025-06-30", "Spark sample cap")
    assert sorted(n for n in got.notes if not any(k in n for k in skip)) == sorted(
        n for n in duck.notes if "2025-06-30" not in n)
