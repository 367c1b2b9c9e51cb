"""Tests of the synthetic bank over several review quarters, with and without an industry
shock: the review calendar, the untouched history before the shock, the shock's effect on
the true PD and on defaults, and the parameter errors."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from test_generator import check_all

from creditpersona.contract.schema import TABLES
from creditpersona.errors import ConfigurationError
from creditpersona.synth import GenerationResult, Shock, generate_bank

SEED = 3
END = datetime.date(2026, 6, 30)
#: Eight review quarters, F51 (wholesale) hit from the third one.
BANK = {"n_firms": 1000, "seed": SEED, "txn_per_firm_year": 10, "quarters": 8, "end_date": END}
SHOCK = Shock("F51", from_quarter=3, size=1.5)
#: Each table's date column: rows dated before the shock start must not change.
DATED = {"financial_statements": "published_on", "bureau_reports": "report_date",
         "transactions": "txn_date", "loans": "start_date", "repayments": "due_date",
         "campaign_contacts": "contact_date", "documents": "doc_date"}


@pytest.fixture(scope="module")
def calm(tmp_path_factory: pytest.TempPathFactory) -> GenerationResult:
    return generate_bank(tmp_path_factory.mktemp("calm"), **BANK)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shocked(tmp_path_factory: pytest.TempPathFactory) -> GenerationResult:
    return generate_bank(tmp_path_factory.mktemp("shocked"), shock=SHOCK,
                         **BANK)  # type: ignore[arg-type]


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _shock_start(result: GenerationResult) -> pd.Timestamp:
    return pd.Timestamp(json.loads(result.truth_files["shock"].read_text())["from_date"])


def _industry(result: GenerationResult) -> pd.Series:
    firms = _csv(result.files["firms"])
    return firms.set_index("firm_id")["industry_code"]


def test_quarters_are_the_last_quarter_ends(calm: GenerationResult,
                                            shocked: GenerationResult) -> None:
    expected = ["2024-09-30", "2024-12-31", "2025-03-31", "2025-06-30", "2025-09-30",
                "2025-12-31", "2026-03-31", "2026-06-30"]
    quarters = _csv(shocked.truth_files["quarters"])
    assert list(quarters.columns) == ["quarter", "as_of", "shocked"]
    assert quarters["quarter"].tolist() == [str(q) for q in range(1, 9)]
    assert quarters["as_of"].tolist() == expected
    assert quarters["shocked"].tolist() == ["false"] * 2 + ["true"] * 6
    assert _csv(calm.truth_files["quarters"])["shocked"].tolist() == ["false"] * 8
    assert [str(d) for d in shocked.quarters] == expected
    assert shocked.shock == SHOCK and calm.shock is None
    # The first review quarter still has three years of history behind it.
    truth = _csv(calm.truth_files["firm_quarter_truth"])
    assert truth["as_of"].min() <= "2021-09-30"


def test_shock_file(shocked: GenerationResult) -> None:
    facts = json.loads(shocked.truth_files["shock"].read_text())
    firms = int(_industry(shocked).str.startswith("F51").sum())
    assert facts == {"industry": "F51", "from_quarter": 3, "from_date": "2025-01-01",
                     "size": 1.5, "firms": firms}
    assert firms > 0


@pytest.mark.parametrize("table", sorted(DATED))
def test_rows_before_the_shock_are_unchanged(calm: GenerationResult, shocked: GenerationResult,
                                             table: str) -> None:
    start = _shock_start(shocked)
    frames = []
    for result in (calm, shocked):
        df = _csv(result.files[table])
        frames.append(df[pd.to_datetime(df[DATED[table]]) < start].reset_index(drop=True))
    assert len(frames[0]) > 100
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_firms_and_early_defaults_are_unchanged(calm: GenerationResult,
                                                shocked: GenerationResult) -> None:
    assert calm.files["firms"].read_bytes() == shocked.files["firms"].read_bytes()
    start = _shock_start(shocked)
    before, after = (_csv(r.truth_files["firms_truth"]).set_index("firm_id")["default_date"]
                     for r in (calm, shocked))
    early = pd.to_datetime(before) < start
    assert early.sum() > 5
    pd.testing.assert_series_equal(before[early], after[early])
    assert (pd.to_datetime(after) < start).sum() == early.sum()
    # A default the shock causes comes at least 90 days after it starts: the firm stops
    # paying in a shocked quarter and is 90 days past due in the next.
    moved = before != after
    assert moved.any()
    assert (pd.to_datetime(after[moved]) >= start + pd.Timedelta(days=90)).all()
    assert _industry(shocked)[moved[moved].index].str.startswith("F51").all()


def test_shock_raises_true_pd_and_defaults(calm: GenerationResult,
                                           shocked: GenerationResult) -> None:
    start = _shock_start(shocked)
    industry = _industry(shocked)
    q = _csv(shocked.truth_files["firm_quarter_truth"])
    q = q[q["in_default"] == "false"]
    hit = q["firm_id"].map(industry).str.startswith("F51")
    post = pd.to_datetime(q["as_of"]) >= start
    pd_ = q["true_pd_12m"].astype(float)
    rise_hit = pd_[hit & post].mean() / pd_[hit & ~post].mean()
    rise_rest = pd_[~hit & post].mean() / pd_[~hit & ~post].mean()
    assert rise_hit > 1.5 * rise_rest, (SEED, rise_hit, rise_rest)

    def default_rate_after(result: GenerationResult) -> float:
        truth = _csv(result.truth_files["firms_truth"])
        truth = truth[truth["firm_id"].map(industry).str.startswith("F51")]
        day = pd.to_datetime(truth["default_date"].replace("", None))
        alive = day.isna() | (day >= start)
        return float((day[alive] >= start).mean())

    assert default_rate_after(shocked) > default_rate_after(calm) + 0.03, SEED


def test_shocked_bank_breaks_no_rule(shocked: GenerationResult) -> None:
    for name, found in check_all(shocked).items():
        broken = found[found.map(len) > 0]
        assert broken.empty, f"{name}: {broken.head().to_dict()}"
    loans = set(_csv(shocked.files["loans"])["loan_id"])
    assert set(_csv(shocked.files["repayments"])["loan_id"]) <= loans


def test_same_arguments_same_bytes_with_a_shock(tmp_path: Path) -> None:
    def digest(result: GenerationResult) -> list[str]:
        paths = [*result.files.values(), *result.truth_files.values()]
        return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]

    runs = [generate_bank(tmp_path / str(i), n_firms=80, seed=1, txn_per_firm_year=5,
                          quarters=3, shock=Shock("C", 2)) for i in range(2)]
    assert digest(runs[0]) == digest(runs[1])


def test_one_quarter_writes_one_row(tmp_path: Path) -> None:
    day = datetime.date(2025, 11, 17)
    result = generate_bank(tmp_path, n_firms=60, seed=2, txn_per_firm_year=5, end_date=day)
    quarters = _csv(result.truth_files["quarters"])
    assert quarters.to_dict("records") == [{"quarter": "1", "as_of": "2025-11-17",
                                            "shocked": "false"}]
    assert result.quarters == [day] and result.shock is None
    assert "shock" not in result.truth_files
    assert not (tmp_path / "truth" / "shock.json").exists()
    assert sorted(result.files) == sorted(t.name for t in TABLES)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"quarters": 0}, "The 'quarters' parameter of generate_bank must be an int in [1, 40]"),
    ({"quarters": 41}, "The 'quarters' parameter of generate_bank must be an int in [1, 40]"),
    ({"quarters": 2.0}, "The 'quarters' parameter of generate_bank must be an int"),
    ({"quarters": 4, "end_date": datetime.date(2026, 6, 29)},
     "The 'end_date' parameter of generate_bank must be a calendar quarter end"),
    ({"quarters": 4, "shock": Shock("F", 5)},
     "The 'shock' parameter of generate_bank must be a Shock whose from_quarter is in [1, 4]"),
    ({"shock": Shock("F", 2)},
     "The 'shock' parameter of generate_bank must be a Shock whose from_quarter is in [1, 1]"),
    ({"shock": "F51"}, "The 'shock' parameter of generate_bank must be a Shock or None"),
    ({"shock": Shock("T97", 1)}, "none starts with 'T97'; sections present, with their firms: "),
])
def test_parameter_errors(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    out = tmp_path / "bank"
    with pytest.raises(ConfigurationError) as error:
        generate_bank(out, n_firms=50, seed=0, **kwargs)  # type: ignore[arg-type]
    assert message in str(error.value)
    assert not out.exists()


def test_unknown_industry_lists_the_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"C \d+, .*F \d+.*Shock\(industry='") as error:
        generate_bank(tmp_path, n_firms=200, seed=0, shock=Shock("S91", 1))
    assert "'S91'" in str(error.value)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"industry": "f51", "from_quarter": 1},
     "The 'industry' parameter of Shock must be a GB/T 4754 code prefix"),
    ({"industry": "F51", "from_quarter": 0},
     "The 'from_quarter' parameter of Shock must be an int >= 1"),
    ({"industry": "F51", "from_quarter": True}, "The 'from_quarter' parameter of Shock"),
    ({"industry": "F51", "from_quarter": 1, "size": 0.0},
     r"The 'size' parameter of Shock must be a float in (0, 5]"),
    ({"industry": "F51", "from_quarter": 1, "size": 5.5}, "The 'size' parameter of Shock"),
])
def test_shock_field_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        Shock(**kwargs)  # type: ignore[arg-type]
    assert message in str(error.value)
