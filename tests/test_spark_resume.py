"""``run --engine spark`` after a failure resumes as the embedded cycle does, and its
report lands where the embedded run's does and can be rebuilt by ``creditpersona report``.

The cycled bank's steady quarter (400 firms) on Spark (``local[2]``, 2 buckets) is run by
the session's ``spark_steady`` as a failure and its resume: the decisions stage fails (an
injected ``OSError``); then the rules' results are deleted and the quarter is run again
through the command line: the profile, PD and persona stages come from the failed run's
checkpoints (their Parquet results checked), the rules (whose results are gone) and every
later stage are computed. The parity tests of the other Spark modules compare the completed
quarter with the embedded one. ``creditpersona report`` then rebuilds the report from the
ledger and the Parquet results without Spark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from creditpersona.store.store import Store

from .conftest import require_spark

require_spark()

from creditpersona.cli.app import app  # noqa: E402
from creditpersona.runs import runs  # noqa: E402
from creditpersona.store import results  # noqa: E402
from creditpersona.store.parquet import ParquetResults  # noqa: E402

from .conftest import CYCLE_Q2, SPARK_STEADY_GROUP, SparkSteady  # noqa: E402

pytestmark = pytest.mark.xdist_group(SPARK_STEADY_GROUP)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Resumed:
    store: Path
    root: Path  # the Parquet results
    report: Path  # the run's --out
    failed: Any  # the CliRunner result of the failing run
    failed_stages: list[str]  # what the failing run announced, in order
    output: str  # what the completing run printed
    seen: list[str]  # what the completing run announced, in order
    result: Any  # the completing run's SparkCycleResult


@pytest.fixture(scope="module")
def resumed(spark_steady: SparkSteady) -> Resumed:
    s = spark_steady
    return Resumed(s.store, s.root, s.out / "report.html", s.failed, s.failed_stages,
                   " ".join(s.output.split()), s.seen, s.result)


def test_a_failed_spark_run_is_resumed_from_the_failed_stage(resumed: Resumed) -> None:
    assert isinstance(resumed.failed.exception, OSError)
    assert resumed.failed_stages == ["profile", "pd_models", "personas", "rules", "decisions"]
    with Store(resumed.store, read_only=True) as st:
        ledger = runs(st, CYCLE_Q2)
    assert list(ledger["status"]) == ["completed", "failed"]
    failed, completed = ledger.iloc[1], ledger.iloc[0]
    assert failed["failed_stage"] == "decisions" and "injected" in failed["error"]
    assert completed["resumed_from"] == failed["run_id"]
    # The rules' results were deleted: the rules and every later stage are computed.
    assert resumed.result.resumed == ("profile", "pd_models", "personas")
    assert resumed.seen == ["profile (resumed)", "pd_models (resumed)",
                            "personas (resumed)", "rules", "decisions", "marketing", "review"]
    assert "profile 0.0 s (resumed), pd_models 0.0 s (resumed), personas 0.0 s (resumed), " \
           "rules" in resumed.output
    assert f"Run {completed['run_id']} recorded with its lineage" in resumed.output
    res = ParquetResults(resumed.root)
    try:
        def writers(name: str) -> list[str]:
            return res.sql("SELECT DISTINCT run_id FROM {t}", t=(name, CYCLE_Q2))[
                "run_id"].tolist()

        # Resumed stages keep the failed run's rows; computed ones carry the new run's id.
        assert writers(results.PROFILES) == [failed["run_id"]]
        assert writers(results.PERSONAS) == [failed["run_id"]]
        assert writers(results.ASSOCIATION_RULES) == [completed["run_id"]]
        assert res.exists(results.DECISION_LIMITS, CYCLE_Q2)
        assert res.exists(results.OFFERS, CYCLE_Q2)
    finally:
        res.close()


def test_the_spark_report_is_kept_and_rebuilt(resumed: Resumed, tmp_path: Path) -> None:
    kept = resumed.store.parent / f"{resumed.store.name}.reports" / f"{CYCLE_Q2}.html"
    assert f"kept as {kept}" in resumed.output
    assert kept.read_bytes() == resumed.report.read_bytes()
    kept.unlink()
    again = tmp_path / "again.html"
    ran = CliRunner().invoke(app, ["report", "--store", str(resumed.store), "--out",
                                   str(again)])
    assert ran.exit_code == 0, ran.output
    assert kept.read_bytes() == again.read_bytes()
    # The same page as the run wrote, but for the charts' random element ids.
    assert _UUID.sub("", again.read_text("utf-8")) == \
        _UUID.sub("", resumed.report.read_text("utf-8"))
    # Results moved: --spark-results says where; a wrong folder is an error, exit 2.
    moved = tmp_path / "moved"
    resumed.root.rename(moved)
    try:
        ran = CliRunner().invoke(app, ["report", "--store", str(resumed.store), "--out",
                                       str(again)])
        assert ran.exit_code == 2
        assert "pass the folder that holds them with --spark-results" in \
            " ".join(ran.output.split())
        ran = CliRunner().invoke(app, ["report", "--store", str(resumed.store), "--out",
                                       str(again), "--spark-results", str(moved)])
        assert ran.exit_code == 0, ran.output
    finally:
        moved.rename(resumed.root)
