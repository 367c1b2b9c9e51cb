"""Shared fixtures: small hand-made source files and a fresh store per test."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from creditpersona.store.store import Store

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
def store(tmp_path: Path) -> Store:
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


@pytest.fixture(scope="session")
def synthetic_bank(tmp_path_factory: pytest.TempPathFactory) -> SyntheticBank:
    """2,000 firms, seed 5, three years to 2026-06-30, profiled at 2026-06-30."""
    from creditpersona.profile.build import compute_profile, save_profile
    from creditpersona.store.ingest import ingest
    from creditpersona.synth import generate_bank

    root = tmp_path_factory.mktemp("synthetic_bank")
    gen = generate_bank(root / "data", 2000, seed=5)
    as_of = dt.date(2026, 6, 30)
    with Store(root / "bank.duckdb") as st:
        ingest(st, [gen.out_dir])
        run = compute_profile(st, as_of)
        save_profile(st, run)
    return SyntheticBank(gen.out_dir, root / "bank.duckdb", as_of, run.frame)


# --- The REST service (issue 17): one small cycle store for every service test -----------


@dataclasses.dataclass(frozen=True)
class ServiceBank:
    """A 400-firm bank after its first review quarter, published for the service.

    ``store`` has run 2026-03-31 (through ``run_cycle_live``: snapshot and report kept);
    ``next_as_of`` (2026-06-30) has not run yet, for the test that runs it live.
    """

    root: Path
    store: Path
    as_of: dt.date
    next_as_of: dt.date

    def copy(self, target: Path) -> Path:
        """A private copy of the store with its snapshot, reports, ledger folders and ops."""
        import shutil

        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        for item in self.root.iterdir():
            if item.name.startswith(self.store.name):
                dest = target / item.name
                if item.is_dir():
                    shutil.copytree(item, dest)
                else:
                    shutil.copy2(item, dest)
        return target / self.store.name


@pytest.fixture(scope="session")
def service_bank(tmp_path_factory: pytest.TempPathFactory) -> ServiceBank:
    """400 firms, seed 11, two review quarters generated, the first one run (~1–2 min)."""
    from creditpersona.service.live import run_cycle_live
    from creditpersona.store.ingest import ingest
    from creditpersona.synth import generate_bank

    root = tmp_path_factory.mktemp("service_bank")
    root.chmod(0o700)
    gen = generate_bank(root / "data", 400, 11, years=3, txn_per_firm_year=30,
                        fmt="parquet", quarters=2)
    store = root / "bank.duckdb"
    with Store(store) as st:
        ingest(st, [gen.out_dir])
        run_cycle_live(st, gen.quarters[0], root / "out")
    return ServiceBank(root, store, gen.quarters[0], gen.quarters[1])
