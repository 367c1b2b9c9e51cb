"""Generate a synthetic Chinese corporate loan book: the eight contract tables plus truths.

See ``docs/synthetic-bank.md`` for how the bank is simulated and which behaviours are
planted in it.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from creditpersona.contract.schema import PRODUCTS, TABLES_BY_NAME
from creditpersona.domain.size_class import classify
from creditpersona.errors import parameter_error
from creditpersona.safeio import private_dir, write_text
from creditpersona.synth import bureau, campaigns, documents, financials, lending, transactions
from creditpersona.synth.errors_injection import RECORD_COLUMNS, Injector
from creditpersona.synth.personas import PERSONAS
from creditpersona.synth.population import Population, build_population
from creditpersona.synth.shock import Shock
from creditpersona.synth.timeline import Timeline, history_years, is_quarter_end, shift_years
from creditpersona.synth.writer import TableSink, write_csv_table

_OWNER = "generate_bank"
#: Independent random streams, one per component, spawned from the seed in this order (new
#: streams go last, so the earlier ones keep their draws).
_STREAMS = ("population", "financials", "statements", "bureau", "transactions", "campaigns",
            "loans", "repayments", "documents", "injection", "shock_bureau", "shock_documents")
#: Largest accepted error-injection rate (dirty rows per clean row).
MAX_INJECTION_RATE = 0.5
#: Largest accepted number of review quarters.
MAX_QUARTERS = 40


@dataclass(frozen=True)
class GenerationResult:
    """What :func:`generate_bank` wrote.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    files : dict of str to Path
        Contract table name → written file.
    rows : dict of str to int
        Rows written per table, dirty rows included.
    truth_files : dict of str to Path
        Hidden-truth file name (``firms_truth``, ``firm_quarter_truth``,
        ``injected_errors``, ``quarters`` and, with a shock, ``shock``) → file under
        ``out_dir/truth``.
    injected : int
        Dirty rows added over all tables.
    seed : int
        The seed used.
    quarters : list of datetime.date
        As-of dates of the review quarters, oldest first (the last is the end date).
    shock : Shock or None
        The industry shock planted, if any.
    """

    out_dir: Path
    files: dict[str, Path]
    rows: dict[str, int]
    truth_files: dict[str, Path]
    injected: int
    seed: int
    quarters: list[datetime.date] = field(default_factory=list)
    shock: Shock | None = None


def _as_int(value: object) -> int | None:
    """``value`` as an int when it is an integer (booleans excluded), else ``None``."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    return None


def _validate(n_firms: object, seed: object, end_date: object, years: object,
              quarters: object, shock: object, txn_per_firm_year: object, fmt: object,
              inject_errors: object, progress: object) -> None:
    """Raise the project's parameter error for the first invalid argument."""
    n, s, y, nq = _as_int(n_firms), _as_int(seed), _as_int(years), _as_int(quarters)
    if n is None or n < 1:
        raise parameter_error("n_firms", _OWNER, "an int >= 1", n_firms)
    if s is None or s < 0:
        raise parameter_error("seed", _OWNER, "an int >= 0", seed)
    if not isinstance(end_date, datetime.date) or isinstance(end_date, datetime.datetime):
        raise parameter_error("end_date", _OWNER, "a datetime.date", end_date)
    if y is None or not 1 <= y <= 20:
        raise parameter_error("years", _OWNER, "an int in [1, 20]", years)
    if nq is None or not 1 <= nq <= MAX_QUARTERS:
        raise parameter_error("quarters", _OWNER, f"an int in [1, {MAX_QUARTERS}]", quarters)
    if nq > 1 and not is_quarter_end(end_date):
        raise parameter_error("end_date", _OWNER, "a calendar quarter end (31 March, 30 June, "
                              "30 September or 31 December) when quarters > 1", end_date)
    if shock is not None and not isinstance(shock, Shock):
        raise parameter_error("shock", _OWNER, "a Shock or None", shock)
    if isinstance(shock, Shock) and shock.from_quarter > nq:
        raise parameter_error("shock", _OWNER, f"a Shock whose from_quarter is in [1, {nq}] "
                              f"(the review quarters)", shock)
    if (not isinstance(txn_per_firm_year, Real) or isinstance(txn_per_firm_year, bool)
            or not 0 <= float(txn_per_firm_year) <= 100_000):
        raise parameter_error("txn_per_firm_year", _OWNER, "a float in [0, 100000]",
                              txn_per_firm_year)
    if fmt not in ("csv", "parquet"):
        raise parameter_error("fmt", _OWNER, "one of 'csv', 'parquet'", fmt)
    if (not isinstance(inject_errors, Real) or isinstance(inject_errors, bool)
            or not 0 <= float(inject_errors) <= MAX_INJECTION_RATE):
        raise parameter_error("inject_errors", _OWNER, f"a float in [0, {MAX_INJECTION_RATE}]",
                              inject_errors)
    if progress is not None and not callable(progress):
        raise parameter_error("progress", _OWNER, "a callable taking a str, or None", progress)


def generate_bank(
    out_dir: str | Path,
    n_firms: int = 2000,
    seed: int = 0,
    *,
    end_date: datetime.date = datetime.date(2026, 6, 30),
    years: int = 3,
    quarters: int = 1,
    shock: Shock | None = None,
    txn_per_firm_year: float = 67.0,
    fmt: Literal["csv", "parquet"] = "csv",
    inject_errors: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> GenerationResult:
    """Simulate a Chinese commercial bank's corporate book and write it to ``out_dir``.

    Writes one file per contract table (``<table>.csv`` or ``<table>.parquet``) and the
    hidden truths under ``out_dir/truth``: ``firms_truth.csv`` (persona, MIIT size class,
    true 12-month PD at the end date, default, true product needs), ``firm_quarter_truth.csv``
    (persona, true PD and observed default per firm and quarter end),
    ``injected_errors.csv`` (every dirty row added, empty unless ``inject_errors > 0``),
    ``quarters.csv`` (the review quarters and whether the shock is in force) and, with a
    shock, ``shock.json``. The same arguments always give byte-identical files.

    Parameters
    ----------
    out_dir : str or Path
        Output folder, created if missing.
    n_firms : int, default 2000
        Number of corporate customers.
    seed : int, default 0
        Seed of every random draw.
    end_date : datetime.date, default 2026-06-30
        Last day of the history ("today" for the bank).
    years : int, default 3
        Years of history before the first review quarter: fiscal years of annual statements
        and the span of flows, bureau reports and campaigns. With several review quarters
        the history gets ``ceil((quarters - 1) / 4)`` more years.
    quarters : int, default 1
        Number of review quarters, in [1, 40]: ``end_date`` and the quarter ends before it.
        Above 1, ``end_date`` must be a quarter end.
    shock : Shock, optional
        An industry downturn from one review quarter on (see :class:`Shock`). Everything
        dated before its first day is the same as without it.
    txn_per_firm_year : float, default 67.0
        Mean account transactions per firm and year.
    fmt : {"csv", "parquet"}, default "csv"
        File format of the contract tables (truths are always CSV).
    inject_errors : float, default 0.0
        Dirty rows to add per clean row of every table, in [0, 0.5]; at least one per
        table when positive. Clean rows are unaffected.
    progress : callable, optional
        Called with a short message as each table is written.

    Returns
    -------
    GenerationResult

    Raises
    ------
    ConfigurationError
        If a parameter is out of range, or no firm is in the shock's industry.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     result = generate_bank(tmp, n_firms=50, seed=1, txn_per_firm_year=5)
    ...     sorted(result.files) == sorted(TABLES_BY_NAME)
    True
    """
    # Over 80 lines only through its docstring (every parameter and file written); the
    # tables are written by _write_tables.
    _validate(n_firms, seed, end_date, years, quarters, shock, txn_per_firm_year, fmt,
              inject_errors, progress)
    streams = dict(zip(_STREAMS, np.random.SeedSequence(int(seed)).spawn(len(_STREAMS)),
                       strict=True))
    timeline = Timeline.build(end_date, history_years(int(years), int(quarters)),
                              int(quarters))
    pop = build_population(np.random.default_rng(streams["population"]), int(n_firms),
                           timeline, shock)
    out = Path(out_dir)
    truth_dir = private_dir(private_dir(out) / "truth")
    fin = financials.simulate(np.random.default_rng(streams["financials"]), pop)
    injector = (Injector(np.random.default_rng(streams["injection"]), float(inject_errors),
                         pop.firm_id, timeline.years) if inject_errors > 0 else None)
    files, rows, statements = _write_tables(out, fmt, streams, pop, fin, injector,
                                            float(txn_per_firm_year), progress)
    truth_files = _write_truths(truth_dir, pop, statements, injector)
    truth_files.update(_write_review_truths(truth_dir, pop, shock))
    if progress is not None:
        progress("truth: written")
    injected = sum(injector.dirty_done.values()) if injector is not None else 0
    reviews = [d.astype(datetime.date) for d in timeline.reviews]
    return GenerationResult(out, files, rows, truth_files, injected, int(seed), reviews, shock)


def _write_tables(out: Path, fmt: Literal["csv", "parquet"],
                  streams: Mapping[str, np.random.SeedSequence], pop: Population,
                  fin: financials.Financials, injector: Injector | None,
                  txn_per_firm_year: float, progress: Callable[[str], None] | None,
                  ) -> tuple[dict[str, Path], dict[str, int], financials.Columns]:
    """Simulate and write every contract table, in the one order that fixes the bytes."""

    def rng(name: str) -> np.random.Generator:
        return np.random.default_rng(streams[name])

    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    firm_ids = pa.array(pop.firm_id.tolist(), pa.string())
    files: dict[str, Path] = {}
    rows: dict[str, int] = {}

    def sink(name: str) -> TableSink:
        return TableSink(TABLES_BY_NAME[name], out / f"{name}.{fmt}", fmt, injector)

    def write(name: str, columns: Mapping[str, object]) -> None:
        s = sink(name)
        s.write(_with_firm_ids(columns, firm_ids))
        files[name] = s.close()
        rows[name] = s.rows
        say(f"{name}: {s.rows} rows")

    write("firms", _firm_columns(pop))
    statements = financials.statements(rng("statements"), pop, fin)
    write("financial_statements", statements)
    write("bureau_reports", bureau.reports(rng("bureau"), pop, fin, rng("shock_bureau")))
    txn = sink("transactions")
    n_chunks = len(transactions.chunk_bounds(pop, txn_per_firm_year))
    for i, chunk in enumerate(transactions.chunks(streams["transactions"], pop, fin,
                                                  txn_per_firm_year)):
        txn.write(chunk, last=i == n_chunks - 1)
        say(f"transactions: {txn.rows} rows")
    files["transactions"] = txn.close()
    rows["transactions"] = txn.rows
    contacts = campaigns.contacts(rng("campaigns"), pop)
    loans = lending.loans(rng("loans"), pop, contacts)
    write("loans", _rows(loans, loans["booked"]))
    write("repayments", lending.repayments(rng("repayments"), pop, loans))
    write("campaign_contacts", _rows(contacts, contacts["kept"]))
    write("documents", documents.documents(rng("documents"), pop, fin, rng("shock_documents")))
    return files, rows, statements


def _rows(columns: Mapping[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of every column where ``keep`` is true (the columns themselves if all are)."""
    if keep.all():
        return dict(columns)
    return {k: v[keep] for k, v in columns.items()}


def _write_review_truths(truth_dir: Path, pop: Population,
                         shock: Shock | None) -> dict[str, Path]:
    """``quarters.csv`` (review quarters and whether the shock is in force) and
    ``shock.json``."""
    reviews = pop.timeline.reviews
    in_force = ~pop.before_shock(reviews)
    quarters = pa.table({
        "quarter": pa.array(np.arange(1, reviews.size + 1, dtype=np.int64)),
        "as_of": pa.array(reviews, pa.date32()),
        "shocked": pa.array(in_force),
    })
    paths = {"quarters": write_csv_table(truth_dir / "quarters.csv", quarters)}
    if shock is not None:
        facts = {
            "industry": shock.industry, "from_quarter": int(shock.from_quarter),
            "from_date": str(pop.shock_start), "size": float(shock.size),
            "firms": int(pop.shocked.sum()),
        }
        path = write_text(truth_dir / "shock.json", json.dumps(facts, indent=2) + "\n")
        paths["shock"] = path
    return paths


def _with_firm_ids(columns: Mapping[str, object], firm_ids: pa.Array) -> dict[str, object]:
    """Replace the internal ``firm`` index column by the ``firm_id`` codes."""
    out = dict(columns)
    if "firm" in out and "firm_id" not in out:
        index = np.asarray(out.pop("firm"), dtype=np.int32)
        out["firm_id"] = pa.DictionaryArray.from_arrays(pa.array(index), firm_ids)
    return out


def _firm_columns(pop: Population) -> dict[str, object]:
    return {
        "firm_id": pop.firm_id, "name": pop.name, "industry_code": pop.industry_code,
        "region_code": pop.region_code, "founded_on": pop.founded_on,
        "employees": pop.employees, "registered_capital": pop.registered_capital,
        "ownership_type": pop.ownership, "listed": pop.listed,
        "relationship_start": pop.relationship_start, "rm_id": pop.rm_id,
    }


def _write_truths(truth_dir: Path, pop: Population, statements: Mapping[str, np.ndarray],
                  injector: Injector | None) -> dict[str, Path]:
    tl = pop.timeline
    horizon = tl.horizon
    annual = pd.DataFrame({
        "firm": statements["firm"], "type": statements["period_type"],
        "revenue": statements["revenue"], "assets": statements["total_assets"],
    })
    annual = annual[annual["type"] == "annual"].groupby("firm").last()
    revenue = pd.Series(pop.revenue_anchor).copy()
    assets = pd.Series(pop.assets_anchor).copy()
    revenue.loc[annual.index] = annual["revenue"].to_numpy()
    assets.loc[annual.index] = annual["assets"].to_numpy()
    size = classify(pop.industry_code, pop.employees, revenue.to_numpy(), assets.to_numpy())

    defaulted = pop.defaulted_by(tl.end)
    pd_end = np.where(defaulted, 1.0, pop.pd_between(tl.end, horizon))
    codes = np.asarray([p.code for p in PERSONAS], dtype=object)
    zh = np.asarray([p.zh for p in PERSONAS], dtype=object)
    en = np.asarray([p.en for p in PERSONAS], dtype=object)
    firms = {
        "firm_id": pa.array(pop.firm_id.tolist(), pa.string()),
        "persona": pa.array(codes[pop.persona], pa.string()),
        "persona_zh": pa.array(zh[pop.persona], pa.string()),
        "persona_en": pa.array(en[pop.persona], pa.string()),
        "size_class": pa.array(size, pa.string()),
        "true_pd_12m": pa.array(np.round(pd_end, 8)),
        "defaulted": pa.array(defaulted),
        "default_date": pa.array(np.where(defaulted, pop.default_date,
                                          np.datetime64("NaT", "D")), pa.date32(),
                                 from_pandas=True),
    }
    for k, product in enumerate(PRODUCTS):
        firms[f"need_{product}"] = pa.array(pop.needs[:, k])
    paths = {"firms_truth": write_csv_table(truth_dir / "firms_truth.csv", pa.table(firms))}

    parts = []
    for as_of in tl.hist_quarter_ends:
        later = np.datetime64(shift_years(as_of.astype(datetime.date), 1), "D")
        alive = np.flatnonzero(pop.founded_on <= as_of)
        in_default = pop.defaulted_by(as_of)[alive]
        pd_q = np.where(in_default, 1.0, pop.pd_between(as_of, later)[alive])
        hit = pop.defaulted_by(later)[alive]
        observed = later <= tl.end
        parts.append(pd.DataFrame({
            "firm": alive, "as_of": as_of, "true_pd_12m": np.round(pd_q, 8),
            "defaulted_within_12m": pd.array(hit if observed else [None] * alive.size,
                                             dtype="boolean"),
            "in_default": in_default,
        }))
    quarters = pd.concat(parts, ignore_index=True).sort_values(["firm", "as_of"],
                                                               kind="stable")
    quarter_table = pa.table({
        "firm_id": pa.array(pop.firm_id[quarters["firm"].to_numpy()].tolist(), pa.string()),
        "as_of": pa.array(quarters["as_of"].to_numpy().astype("datetime64[D]"), pa.date32()),
        "persona": pa.array(codes[pop.persona[quarters["firm"].to_numpy()]], pa.string()),
        "true_pd_12m": pa.array(quarters["true_pd_12m"].to_numpy()),
        "defaulted_within_12m": pa.array(quarters["defaulted_within_12m"]),
        "in_default": pa.array(quarters["in_default"].to_numpy()),
    })
    paths["firm_quarter_truth"] = write_csv_table(truth_dir / "firm_quarter_truth.csv",
                                                  quarter_table)
    records = (injector.record_table() if injector is not None
               else pd.DataFrame({c: pd.Series(dtype=object) for c in RECORD_COLUMNS}))
    record_table = pa.table({
        c: pa.array(records[c].to_numpy(), pa.int64() if c == "row_number" else pa.string())
        for c in RECORD_COLUMNS
    })
    paths["injected_errors"] = write_csv_table(truth_dir / "injected_errors.csv", record_table)
    return paths
