"""Shared fixtures: small hand-made source files and a fresh store per test."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest
from hypothesis import settings

from creditpersona.store.store import Store

# The command line's rich consoles (cli/common.py) are made when it is imported and take
# their width from COLUMNS then: a test's ``CliRunner().invoke(..., env={"COLUMNS": ...})``
# comes too late. Without it they print 80 columns and wrap long paths (pytest-xdist puts
# ``popen-gwN/`` into every tmp_path), splitting the words the tests look for. The commands
# a test runs in another process inherit it.
os.environ["COLUMNS"] = "200"

# Argon2id at its default cost takes a quarter of a second per password hashed or checked,
# and the service's and workbench's tests add and sign in dozens of users: the tests (and the
# commands they start) hash at the smallest cost instead (service/users.py). That the
# service's default is unchanged: test_service.py's test_production_password_hashes_keep_
# argon2s_default_cost.
os.environ["CREDITPERSONA_INSECURE_TEST_PASSWORD_HASHES"] = "1"

# The Spark tests' JVMs are short and small (local mode, seconds to minutes, a 1 GB heap) on
# two cores that the other test process also uses: the C1 compiler alone and the serial
# collector spend far less CPU on compiling and collecting than the server defaults (C2
# and G1, which pay off in long runs). On the 50,000-firm Spark quarter of
# test_spark_cycle.py the process tree took 285 s of CPU with the defaults, 167 s with these
# (2026-12-05; docs/spark.md). Every test session's Spark settings come through
# CREDITPERSONA_SPARK_CONF (spark/session.py), so a session a test creates and the sessions of
# the commands it runs take them; a value set outside the tests wins.
os.environ.setdefault(
    "CREDITPERSONA_SPARK_CONF",
    "spark.driver.extraJavaOptions='-XX:TieredStopAtLevel=1 -XX:+UseSerialGC'")

# Two test processes share two cores with the cycles' DuckDB, LightGBM and Spark threads:
# a property's examples are timed by their own ``max_examples``, never by a wall-clock
# deadline that a busy machine (or the other workers) would exceed at random.
settings.register_profile("creditpersona", deadline=None)
settings.load_profile("creditpersona")

T = TypeVar("T")

FIRMS_HEADER = (
    "firm_id,name,industry_code,region_code,founded_on,employees,registered_capital,"
    "ownership_type,listed,relationship_start,rm_id"
)
# Valid codes from DOMAIN.md §3.
GOOD_FIRMS = [
    "91310110666007217T,上海恒信精密机械有限公司,C3411,310110,2010-01-01,350,10000000,private,"
    "false,2015-01-01,RM0001",
    "91310115591693856A,上海浦东云启软件有限公司,I65,310115,2012-03-05,80,5000000,private,"
    "false,2016-07-01,RM0001",
    "91430111MA4L41YT1U,长沙湘江建设工程有限公司,E48,430111,2005-05-05,900,80000000,"
    "state_owned,true,2008-01-01,RM0002",
    "9135021359498494XQ,厦门鹭岛贸易有限公司,F51,350213,2014-09-09,25,2000000,private,是,"
    "2018-02-02,RM0002",
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "test.duckdb")
    yield s
    s.close()


@pytest.fixture
def firms_csv(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "firms.csv"
    path.parent.mkdir()
    path.write_text("\n".join([FIRMS_HEADER, *GOOD_FIRMS]) + "\n", encoding="utf-8")
    return path


@dataclasses.dataclass(frozen=True)
class SyntheticBank:
    """A generated bank, ingested into a store and profiled as of ``as_of``.

    Shared by the whole test session: treat ``store_path`` as read-only and copy it
    (``shutil.copy``) into ``tmp_path`` before writing to it.
    """

    data_dir: Path
    store_path: Path
    as_of: dt.date
    profile: pd.DataFrame

    @property
    def truth_dir(self) -> Path:
        return self.data_dir / "truth"

    def firms_truth(self) -> pd.DataFrame:
        return pd.read_csv(self.truth_dir / "firms_truth.csv", dtype={"firm_id": str})

    def quarter_truth(self) -> pd.DataFrame:
        return pd.read_csv(self.truth_dir / "firm_quarter_truth.csv", dtype={"firm_id": str})


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str,
               build: Callable[[Path], T], load: Callable[[Path], T]) -> T:
    """A session fixture's value, built by one test process and reused by the others.

    In one process: ``build`` into a new folder. Under pytest-xdist (``-n 2``, see
    pyproject's addopts) the workers share the parent of their temporary folders: the first
    to ask builds into ``<shared>/<name>`` under a file lock and marks it done; a worker
    asking later (or waiting on the lock meanwhile) calls ``load`` on the finished folder.
    A build that failed leaves no mark: the next worker to ask builds again (and fails the
    same way, with its own traceback).
    """
    import os
    import shutil

    from filelock import FileLock

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent
    root, done = shared / name, shared / f"{name}.built"
    with FileLock(str(shared / f"{name}.lock")):
        if done.exists():
            return load(root)
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(mode=0o700)
        value = build(root)
        done.touch()
        return value


SYNTHETIC_AS_OF = dt.date(2026, 6, 30)


def _build_synthetic_bank(root: Path) -> SyntheticBank:
    from creditpersona.artefacts import frame_to_parquet
    from creditpersona.profile.build import compute_profile, save_profile
    from creditpersona.store.ingest import ingest
    from creditpersona.synth import generate_bank

    gen = generate_bank(root / "data", 2000, seed=5)
    with Store(root / "bank.duckdb") as st:
        ingest(st, [gen.out_dir])
        run = compute_profile(st, SYNTHETIC_AS_OF)
        save_profile(st, run)
    # The profile as computed, for the other test processes (the checkpoints' exact format).
    (root / "profile.parquet").write_bytes(frame_to_parquet(run.frame))
    return SyntheticBank(gen.out_dir, root / "bank.duckdb", SYNTHETIC_AS_OF, run.frame)


def _load_synthetic_bank(root: Path) -> SyntheticBank:
    from creditpersona.artefacts import frame_from_parquet

    profile = frame_from_parquet((root / "profile.parquet").read_bytes())
    return SyntheticBank(root / "data", root / "bank.duckdb", SYNTHETIC_AS_OF, profile)


@pytest.fixture(scope="session")
def synthetic_bank(tmp_path_factory: pytest.TempPathFactory) -> SyntheticBank:
    """2,000 firms, seed 5, three years to 2026-06-30, profiled at 2026-06-30."""
    return built_once(tmp_path_factory, "synthetic_bank", _build_synthetic_bank,
                      _load_synthetic_bank)


def _build_tiny_bank(root: Path) -> Path:
    from creditpersona.store.ingest import ingest
    from creditpersona.synth import generate_bank

    gen = generate_bank(root / "data", 60, seed=8, txn_per_firm_year=10)
    with Store(root / "tiny.duckdb") as st:
        ingest(st, [gen.out_dir])
    return root / "tiny.duckdb"


@pytest.fixture(scope="session")
def tiny_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of 60 generated firms (seed 8, three years to 2026-06-30, 10 transactions
    per firm and year), ingested: too few defaults for the PD development, for the tests of
    what a bank with too little history is told. Read-only: copy it (``shutil.copy``) into
    ``tmp_path`` before writing (ingesting even a small bank costs seconds)."""
    return built_once(tmp_path_factory, "tiny_bank", _build_tiny_bank,
                      lambda root: root / "tiny.duckdb")


# ---- the cycled bank: a small bank run through two quarter ends (session-scoped) --------
# Owned by the estimator-contract/test-speed work; append other fixtures after this block.
CYCLE_Q1, CYCLE_Q2 = dt.date(2026, 3, 31), dt.date(2026, 6, 30)


@dataclasses.dataclass(frozen=True)
class CycledBank:
    """A small bank and copies of its store at each step of two quarterly cycles.

    The cycle (``pipeline.run_cycle``) costs minutes, so it runs once per test session and
    every test that needs a store with results starts from a copy: treat ``after_q1`` and
    ``clean`` as read-only and call :meth:`copy` (store file and its ``.runs`` checkpoints)
    before writing.

    Attributes
    ----------
    data_dir : Path
        The generated source files (and ``truth/``).
    after_q1 : Path
        The store after the first cycle (2026-03-31: PD models developed, personas fitted).
    clean : Path
        The store after both cycles (2026-03-31 then 2026-06-30, models of Q1 in force).
    out_dir : Path
        Where both cycles wrote their files.
    work : Path
        A session folder for copies.
    q1, q2 : pipeline.CycleResult
        What each cycle returned (frames the cycle computed, before storage).
    """

    data_dir: Path
    after_q1: Path
    clean: Path
    out_dir: Path
    work: Path
    q1: Any
    q2: Any

    def copy(self, source: Path, name: str) -> Path:
        """A private copy of ``source`` (with its checkpoints): ``<name>.duckdb`` in a new
        owner-only folder of ``work``, so that tests of any module may use the same name."""
        import shutil
        import tempfile

        target = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.work)) / f"{name}.duckdb"
        shutil.copy(source, target)
        runs_dir = source.parent / f"{source.name}.runs"
        if runs_dir.exists():
            shutil.copytree(runs_dir, target.parent / f"{target.name}.runs")
        return target


def _build_cycled_bank(root: Path) -> CycledBank:
    import shutil

    from creditpersona.service.live import run_cycle_live
    from creditpersona.store.ingest import ingest
    from creditpersona.synth import generate_bank

    root.chmod(0o700)
    gen = generate_bank(root / "data", 400, 11, years=4, txn_per_firm_year=30, fmt="parquet")
    after_q1, clean = root / "after_q1.duckdb", root / "clean.duckdb"
    with Store(after_q1) as st:
        ingest(st, [gen.out_dir])
        q1 = run_cycle_live(st, CYCLE_Q1, root / "out")
    shutil.copy(after_q1, clean)
    if (root / "after_q1.duckdb.runs").exists():
        shutil.copytree(root / "after_q1.duckdb.runs", root / "clean.duckdb.runs")
    with Store(clean) as st:
        q2 = run_cycle_live(st, CYCLE_Q2, root / "out", keep_report=False)
    work = root / "work"
    work.mkdir()
    built = CycledBank(gen.out_dir, after_q1, clean, root / "out", work, q1, q2)
    # The other test processes see the cycles' results as their checkpoints give them back:
    # they must be what the cycles returned, frame for frame.
    loaded = _load_cycled_bank(root)
    assert_same_frames(built.q1, loaded.q1, "q1")
    assert_same_frames(built.q2, loaded.q2, "q2")
    return built


def assert_same_frames(left: Any, right: Any, where: str) -> None:
    """Every DataFrame and Series in ``left`` (through dataclasses, dicts, lists and tuples)
    equals its counterpart in ``right``; other values (fitted models) are not compared, nor
    ``files`` (where a cycle wrote its files: a reloaded cycle wrote none)."""
    if isinstance(left, pd.DataFrame):
        pd.testing.assert_frame_equal(left, right, obj=where)
    elif isinstance(left, pd.Series):
        pd.testing.assert_series_equal(left, right, obj=where)
    elif dataclasses.is_dataclass(left) and not isinstance(left, type):
        assert type(left) is type(right), where
        for f in [f for f in dataclasses.fields(left) if f.name != "files"]:
            assert_same_frames(getattr(left, f.name), getattr(right, f.name),
                               f"{where}.{f.name}")
    elif isinstance(left, dict):
        assert left.keys() == right.keys(), where
        for key in left:
            assert_same_frames(left[key], right[key], f"{where}[{key!r}]")
    elif isinstance(left, list | tuple):
        assert len(left) == len(right), where
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same_frames(a, b, f"{where}[{i}]")


def _load_cycled_bank(root: Path) -> CycledBank:
    """The bank another test process cycled: what each cycle returned is rebuilt from its
    run's checkpoints (``pipeline.load_cycle``, as ``creditpersona report`` does), which
    hold exactly the results the cycle computed (its resume relies on that: test_cycle.py)."""
    from creditpersona.pipeline import load_cycle

    after_q1, clean = root / "after_q1.duckdb", root / "clean.duckdb"
    with Store(after_q1, read_only=True) as st:
        q1 = load_cycle(st, CYCLE_Q1)
    with Store(clean, read_only=True) as st:
        q2 = load_cycle(st, CYCLE_Q2)
    return CycledBank(root / "data", after_q1, clean, root / "out", root / "work", q1, q2)


@pytest.fixture(scope="session")
def cycled_bank(tmp_path_factory: pytest.TempPathFactory) -> CycledBank:
    """400 firms, seed 11, four years to 2026-06-30 (Parquet), run for Q1 and Q2 of 2026.

    400 firms is the smallest size at which the first cycle still develops the PD models
    (the development needs 10 defaults per fold) with room to spare; it was 600 firms, and
    the cycle's time grows with the firms (marketing and profile) while its checks do not.

    Both quarters run as ``creditpersona run`` does (``service.live.run_cycle_live``: the
    cycle, then its report kept and the serving snapshot published beside the store), so the
    service's tests share these two cycles (``service_bank``) instead of running their own.
    The inbox is empty, so the stores hold exactly what ``pipeline.run_cycle`` writes.
    One test process runs the two cycles; the others reuse the stores (``built_once``).
    """
    return built_once(tmp_path_factory, "cycled_bank", _build_cycled_bank, _load_cycled_bank)


# --- The REST service (issue 17): the cycled bank's stores, published for the service ------


@dataclasses.dataclass(frozen=True)
class ServiceBank:
    """The cycled bank (400 firms) after its first review quarter, published for the service.

    ``store`` has run 2026-03-31 (through ``run_cycle_live``: snapshot and report kept);
    ``next_as_of`` (2026-06-30) has not run on it, for the test that runs it live.
    ``after_next`` is the same bank after ``next_as_of`` too (run and published, no report).
    """

    store: Path
    as_of: dt.date
    next_as_of: dt.date
    after_next: Path

    def copy(self, target: Path, *, after_next: bool = False) -> Path:
        """A private copy of the store (or of ``after_next``) with its snapshot, reports,
        ledger folders and ops, under ``target`` with the same file name."""
        import shutil

        source = self.after_next if after_next else self.store
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        for item in source.parent.iterdir():
            if item.name.startswith(source.name):
                dest = target / item.name
                if item.is_dir():
                    shutil.copytree(item, dest)
                else:
                    shutil.copy2(item, dest)
        return target / source.name


@pytest.fixture(scope="session")
def service_bank(cycled_bank: CycledBank) -> ServiceBank:
    """``cycled_bank``'s stores, which its cycles already published for the service."""
    return ServiceBank(cycled_bank.after_q1, CYCLE_Q1, CYCLE_Q2, cycled_bank.clean)


# --- Two processes (pytest-xdist, ``-n 2 --dist loadgroup`` in pyproject's addopts) ---------

# ---- the steady quarter on Spark, shared by the Spark parity tests (session-scoped) ------
def require_spark() -> None:
    """Skip the calling test module (or fixture) unless PySpark and Java 17 are present.

    Call it at the top of a Spark test module, before its ``creditpersona.spark`` imports.
    """
    import shutil

    pytest.importorskip("pyspark")
    if shutil.which("java") is None:  # pragma: no cover - CI installs Java 17
        pytest.skip("the Spark engine needs Java 17 (apt-get install openjdk-17-jre-headless)",
                    allow_module_level=True)



#: The xdist group of every test that reads :func:`spark_steady` (one process runs them,
#: so the Spark cycle runs once).
SPARK_STEADY_GROUP = "spark-steady"


@dataclasses.dataclass(frozen=True)
class SparkSteady:
    """The cycled bank's steady quarter as ``creditpersona run --engine spark`` ran it: a run
    that failed at the decisions stage, then the run that resumed and completed it."""

    result: Any  # creditpersona.spark.cycle.SparkCycleResult of the completing run
    root: Path  # the Parquet results
    out: Path  # the run's output folder (PD validation JSON, campaign lists)
    store: Path  # the store the runs wrote their ledger to
    output: str  # what the completing command printed
    failed: Any  # the CliRunner result of the failing command
    failed_stages: list[str]  # what the failing run announced, in order
    seen: list[str]  # what the completing run announced, in order


@pytest.fixture(scope="session")
def spark_steady(cycled_bank: CycledBank, tmp_path_factory: pytest.TempPathFactory
                 ) -> SparkSteady:
    """Q2 of the cycled bank by ``run --engine spark`` (``local[2]``, 2 buckets,
    ``spark.driver.maxResultSize=64m``), the models in force of the embedded first quarter,
    whose profiles, PD scores, personas and review triggers were carried into the Spark
    results first (as a bank moving from the embedded engine does, docs/spark.md), so that
    every stage compares with the embedded Q2.

    The quarter runs as an operator would live it: the first command fails at the
    decisions stage (an injected ``OSError``), the rules' results are then deleted, and the
    same command again resumes the profile, PD and persona stages from the failed run's
    checkpoints and computes the rules and every later stage. The parity tests compare the
    completed results with the embedded quarter; ``test_spark_resume.py`` checks the resume
    itself. One Spark quarter serves both (it was two, about 70 s of the suite). The
    command's :class:`SparkCycleResult` is kept by wrapping ``run_spark_cycle``."""
    require_spark()
    from typer.testing import CliRunner

    from creditpersona.cli.app import app
    from creditpersona.spark import cycle
    from creditpersona.spark import decisions as spark_decisions
    from creditpersona.spark.results import SparkResults
    from creditpersona.spark.session import spark_session
    from creditpersona.store import results

    work = tmp_path_factory.mktemp("spark_steady")
    store = cycled_bank.copy(cycled_bank.after_q1, "spark-steady")
    root = work / "results"
    spark = spark_session("local[2]", {"spark.driver.maxResultSize": "64m",
                                       "spark.sql.shuffle.partitions": "4"})
    with Store(store) as st:
        for name in (results.PROFILES, results.PD_SCORES, results.PERSONAS,
                     results.REVIEW_TRIGGERS):
            SparkResults(spark, root).import_date(st, name, CYCLE_Q1)
    args = ["run", "--as-of", str(CYCLE_Q2), "--store", str(store), "--engine", "spark",
            "--out", str(work / "out" / "report.html"), "--spark-master", "local[2]",
            "--spark-conf", "spark.driver.maxResultSize=64m",
            "--spark-conf", "spark.sql.shuffle.partitions=4",
            "--spark-results", str(root), "--buckets", "2"]
    real = cycle.run_spark_cycle
    announced: list[list[str]] = []
    ran: list[Any] = []

    def watched(*a: Any, **k: Any) -> Any:
        announced.append([])
        shown = k["on_stage"]

        def on_stage(name: str) -> None:
            announced[-1].append(name)
            shown(name)

        k["on_stage"] = on_stage
        ran.append(real(*a, **k))
        return ran[-1]

    def crash(*a: Any, **k: Any) -> Any:
        raise OSError("disk full (injected)")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cycle, "run_spark_cycle", watched)
        patch.setattr(spark_decisions, "stage", crash)
        failed = CliRunner().invoke(app, args)
    (root / results.ASSOCIATION_RULES / f"as_of={CYCLE_Q2}" / "_SUCCESS").unlink()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cycle, "run_spark_cycle", watched)
        printed = CliRunner().invoke(app, args)
    assert printed.exit_code == 0, printed.output
    assert len(ran) == 1 and len(announced) == 2
    return SparkSteady(ran[0], root, work / "out", store, printed.output, failed,
                       announced[0], announced[1])


#: The slowest test modules, slowest first: the two processes take whole modules (xdist
#: groups) from a queue in this order, then the others in the order collected, so the long
#: ones start at once and the short ones fill in at the end. The first three units of the
#: queue: ``test_review_scenario.py`` (its own bank), the module group of
#: ``test_spark_cycle.py`` (the 50,000-firm driver-memory test) and, through the module's
#: parity test, the ``spark-steady`` group (:func:`spark_steady`, then
#: ``test_spark_decisions_marketing.py`` and ``test_spark_rules_review.py``). The two Spark
#: groups need ``cycled_bank`` (one process, about 26 s): the process of the driver-memory
#: test builds it after generating its 50,000 firms (4 s) while the other runs the review
#: scenario, and then takes the steady group with the bank built. (With the two Spark
#: groups first, one process waited idle for the bank the other was building: about 23 s
#: of the 27.6 s setup of the driver-memory test in the clean-clone CI of 2026-12-05 19:25.)
#: Times: the clean-clone CI of 2026-12-05 04:33 (quiet 2 cores, ``-n 2``, before the
#: driver-memory test went from 16 buckets to 4 and the steady quarter from 4 to 2), then the
#: clean-clone CI of 08:01 with ``-n 3`` (commit 36c5801; slower, hence back to two).
SLOW_FIRST = (
    "tests/test_review_scenario.py",  # 800 firms, 7 quarters: alone 32 s (1,500 firms 38 s)
    # 43 s setup + 304 s | 63 s + 554 s; the steady group: 215 s setup | 409 s
    "tests/test_spark_cycle.py",
    "tests/test_spark_resume.py",  # the spark-steady group (conftest.spark_steady)
    "tests/test_cli.py",  # the demo (500 firms, two quarters): 70 s setup | 72 s
    "tests/test_service_live.py",  # `creditpersona run` in another process: 27 s | 75 s;
    # alone 24 s since the clients pause longer (29 s before; both alone: 2026-12-05, load 4)
    "tests/test_cycle.py",  # a crashed and completed re-run of Q2: 12 s setup | 41 s
    "tests/test_marketing_snapshots.py",  # stored snapshots: - | 90 s; alone 32 s (was 46 s)
    # The next three were left to the collected order, so test_service.py started among the
    # last modules (times: the non-Spark tests with -n 2 on 2026-12-05 12:45, load 4).
    "tests/test_marketing.py",  # the marketing stage on the 2,000-firm bank, UCI: 75 s
    "tests/test_profile.py",  # a 600-firm bank and the profile on Spark: 75 s
    "tests/test_pd_models.py",  # the Polish ten-fold cross-validation: 50 s
    "tests/test_service.py",  # every endpoint × role, the fuzz, `serve`: 45 s
    "tests/test_workbench_browser.py",  # Chromium: 35 s
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make every test module one xdist group and put the slowest modules first.

    ``--dist loadgroup`` sends a group to one process, so a module's module-scoped fixtures
    are built once (with ``--dist load`` a module split over both processes builds them
    twice). A test's own ``xdist_group`` mark wins. Runs before xdist's own hook, which
    appends the group to the test's id; ``--no-loadscope-reorder`` (addopts) keeps this
    order instead of ordering the groups by their number of tests.
    """
    root = config.rootpath

    def name(path: Path) -> str:
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)

    rank = {module: i for i, module in enumerate(SLOW_FIRST)}
    items[:] = sorted(items, key=lambda item: rank.get(name(item.path), len(rank)))
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(name(item.path)))
