"""Shared fixtures: small hand-made source files and a fresh store per test."""

from __future__ import annotations

from pathlib import Path

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
