"""Tests of the synthetic bank drawn in blocks of firms (``generate_bank(block_firms=...)``):
one block is the bank as before, several blocks are deterministic, hold one block's firms
at a time, and still make a bank that breaks no contract rule."""

from __future__ import annotations

import datetime
import hashlib
import inspect
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_generator import check_all

import creditpersona.synth.generator as generator
from creditpersona.contract.schema import TABLES
from creditpersona.errors import ConfigurationError
from creditpersona.synth import GenerationResult, Shock, generate_bank
from creditpersona.synth.population import FIRMS_PER_RM

N_FIRMS = 230
BLOCK = 80
TXN = 12.0
#: The id column of the tables whose rows each have an id of their own.
IDS = {"firms": "firm_id", "transactions": "txn_id", "loans": "loan_id",
       "documents": "doc_id"}


def _digests(result: GenerationResult) -> dict[str, str]:
    files = [*result.files.values(), *result.truth_files.values()]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationResult, list[int]]:
    """A bank of three blocks, and the number of firms of every population drawn."""
    drawn: list[int] = []
    build = generator.build_population

    def spy(*args: object, **kwargs: object) -> generator.Population:
        pop = build(*args, **kwargs)  # type: ignore[arg-type]
        drawn.append(pop.n)
        return pop

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(generator, "build_population", spy)
        result = generate_bank(tmp_path_factory.mktemp("blocks"), N_FIRMS, seed=3,
                               txn_per_firm_year=TXN, fmt="parquet", block_firms=BLOCK)
    return result, drawn


def test_block_size_at_least_the_bank_is_one_block(tmp_path: Path) -> None:
    exact = generate_bank(tmp_path / "a", 120, seed=5, txn_per_firm_year=TXN, block_firms=120)
    larger = generate_bank(tmp_path / "b", 120, seed=5, txn_per_firm_year=TXN)
    assert exact.blocks == larger.blocks == 1
    assert _digests(exact) == _digests(larger)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_blocks_same_arguments_same_bytes(tmp_path: Path, fmt: str) -> None:
    kwargs = {"seed": 11, "txn_per_firm_year": TXN, "block_firms": 50, "fmt": fmt}
    a = generate_bank(tmp_path / "a", 140, **kwargs)  # type: ignore[arg-type]
    b = generate_bank(tmp_path / "b", 140, **kwargs)  # type: ignore[arg-type]
    assert a.blocks == 3
    assert _digests(a) == _digests(b)
    other = generate_bank(tmp_path / "c", 140, **{**kwargs, "seed": 12})  # type: ignore[arg-type]
    assert _digests(other)["firms.csv" if fmt == "csv" else "firms.parquet"] != \
        _digests(a)["firms.csv" if fmt == "csv" else "firms.parquet"]


def test_at_most_one_block_of_firms_is_drawn_at_a_time(
        blocks: tuple[GenerationResult, list[int]]) -> None:
    result, drawn = blocks
    assert drawn == [BLOCK, BLOCK, N_FIRMS - 2 * BLOCK]
    assert result.blocks == 3


def test_rows_are_written_block_by_block(blocks: tuple[GenerationResult, list[int]]) -> None:
    """Every Parquet row group holds the rows of one block's firms, and the blocks follow
    each other in firm order: each block's rows were written before the next was drawn."""
    result, _ = blocks
    firms = pq.read_table(result.files["firms"]).column("firm_id").to_pylist()
    block_of = {firm: i // BLOCK for i, firm in enumerate(firms)}
    loans = pq.read_table(result.files["loans"], columns=["loan_id", "firm_id"]).to_pydict()
    block_of.update({loan: block_of[firm]
                     for loan, firm in zip(loans["loan_id"], loans["firm_id"], strict=True)})
    for table in TABLES:
        pf = pq.ParquetFile(result.files[table.name])
        key = "loan_id" if table.name == "repayments" else "firm_id"
        seen: list[int] = []
        for g in range(pf.num_row_groups):
            ids = pf.read_row_group(g, columns=[key]).column(key).to_pylist()
            in_group = {block_of[f] for f in ids}
            assert len(in_group) <= 1, f"{table.name} row group {g} mixes blocks {in_group}"
            seen.extend(in_group)
        assert seen == sorted(seen), table.name
        if table.name in ("firms", "bureau_reports", "financial_statements"):
            assert set(seen) == {0, 1, 2}, table.name


def test_blocks_make_one_valid_bank(blocks: tuple[GenerationResult, list[int]]) -> None:
    result, _ = blocks
    for name, found in check_all(result).items():
        broken = found[found.map(len) > 0]
        assert broken.empty, f"{name}: {broken.head().to_dict()}"
    for name, column in IDS.items():
        ids = pq.read_table(result.files[name]).column(column).to_pandas()
        assert ids.is_unique, name
        assert len(ids) == result.rows[name]
    rms = pq.read_table(result.files["firms"]).column("rm_id").to_pandas()
    assert rms.str.fullmatch(r"RM\d{4}").all()
    assert rms.str[2:].astype(int).max() <= -(-N_FIRMS // FIRMS_PER_RM)
    truth = pd.read_csv(result.truth_files["firms_truth"])
    firms = pq.read_table(result.files["firms"]).column("firm_id").to_pylist()
    assert truth["firm_id"].tolist() == firms
    quarters = pd.read_csv(result.truth_files["firm_quarter_truth"])
    assert quarters["firm_id"].drop_duplicates().isin(firms).all()
    order = pd.Series(range(len(firms)), index=firms)
    assert order[quarters["firm_id"]].is_monotonic_increasing


def test_shock_over_blocks(tmp_path: Path) -> None:
    result = generate_bank(tmp_path, 200, seed=2, txn_per_firm_year=TXN, block_firms=70,
                           quarters=4, end_date=datetime.date(2026, 6, 30),
                           shock=Shock("F5", from_quarter=2))
    firms = pd.read_csv(result.files["firms"], dtype=str)
    facts = pd.read_json(result.truth_files["shock"], typ="series")
    assert facts["firms"] == firms["industry_code"].str.startswith("F5").sum() > 0
    shocked = pd.read_csv(result.truth_files["quarters"])["shocked"].tolist()
    assert shocked == [False, True, True, True]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"block_firms": 0}, "The 'block_firms' parameter of generate_bank must be an int >= 1."),
    ({"block_firms": 2.5}, "The 'block_firms' parameter of generate_bank must be an int"),
    ({"block_firms": 40, "inject_errors": 0.05},
     "The 'block_firms' parameter of generate_bank must be an int >= n_firms (100) when "
     "inject_errors > 0"),
    ({"block_firms": 40, "quarters": 4, "shock": Shock("S9", from_quarter=2)},
     "no simulated industry starts with 'S9'"),
])
def test_block_parameter_errors(tmp_path: Path, kwargs: dict[str, object],
                                message: str) -> None:
    out = tmp_path / "bank"
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        generate_bank(out, 100, txn_per_firm_year=TXN, **kwargs)  # type: ignore[arg-type]
    assert not out.exists(), "a refused bank writes nothing"


def test_cli_default_block_matches_the_library() -> None:
    from creditpersona.cli import app

    default = inspect.signature(app.generate).parameters["block_firms"].default
    assert default == generator.DEFAULT_BLOCK_FIRMS
