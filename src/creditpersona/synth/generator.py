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
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from creditpersona.contract.schema import PRODUCTS, TABLES_BY_NAME
from creditpersona.domain.size_class import classify
from creditpersona.errors import parameter_error
from creditpersona.safeio import private_dir, write_text
from creditpersona.synth import bureau, campaigns, documents, financials, lending, transactions
from creditpersona.synth.errors_injection import RECORD_COLUMNS, Injector
from creditpersona.synth.personas import PERSONAS
from creditpersona.synth.population import FIRMS_PER_RM, Population, build_population
from creditpersona.synth.shock import Shock
from creditpersona.synth.timeline import Timeline, history_years, is_quarter_end, shift_years
from creditpersona.synth.writer import CsvSink, TableSink, write_csv_table

_OWNER = "generate_bank"
#: Independent random streams, one per component, spawned from the seed in this order (new
#: streams go last, so the earlier ones keep their draws).
_STREAMS = ("population", "financials", "statements", "bureau", "transactions", "campaigns",
            "loans", "repayments", "documents", "injection", "shock_bureau", "shock_documents")
#: Largest accepted error-injection rate (dirty rows per clean row).
MAX_INJECTION_RATE = 0.5
#: Largest accepted number of review quarters.
MAX_QUARTERS = 40
#: Firms simulated at a time by default: a bank of up to this many firms is one block.
DEFAULT_BLOCK_FIRMS = 50_000
#: First spawn-key word of the streams of the blocks after the first.
_BLOCK_KEY = 0x626C6B  # "blk"
_PERSONA_CODES = np.asarray([p.code for p in PERSONAS], dtype=object)
_PERSONA_ZH = np.asarray([p.zh for p in PERSONAS], dtype=object)
_PERSONA_EN = np.asarray([p.en for p in PERSONAS], dtype=object)


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
    blocks : int
        Blocks of firms the bank was drawn in (1 up to ``block_firms`` firms).
    """

    out_dir: Path
    files: dict[str, Path]
    rows: dict[str, int]
    truth_files: dict[str, Path]
    injected: int
    seed: int
    quarters: list[datetime.date] = field(default_factory=list)
    shock: Shock | None = None
    blocks: int = 1


def _as_int(value: object) -> int | None:
    """``value`` as an int when it is an integer (booleans excluded), else ``None``."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    return None


def _validate(n_firms: object, seed: object, end_date: object, years: object,
              quarters: object, shock: object, txn_per_firm_year: object, fmt: object,
              inject_errors: object, block_firms: object, progress: object) -> None:
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
    b = _as_int(block_firms)
    if b is None or b < 1:
        raise parameter_error("block_firms", _OWNER, "an int >= 1", block_firms)
    if float(inject_errors) > 0 and b < n:
        raise parameter_error("block_firms", _OWNER, f"an int >= n_firms ({n}) when "
                              f"inject_errors > 0 (dirty rows are drawn over the whole bank: "
                              f"generate dirty banks in one block)", block_firms)
    if progress is not None and not callable(progress):
        raise parameter_error("progress", _OWNER, "a callable taking a str, or None", progress)


# long: over 80 lines only through its docstring (every parameter and file written); the
# blocks are drawn and written by _Bank.
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
    block_firms: int = DEFAULT_BLOCK_FIRMS,
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
        table when positive. Clean rows are unaffected. Needs one block
        (``block_firms >= n_firms``).
    block_firms : int, default DEFAULT_BLOCK_FIRMS (50,000)
        Firms simulated at a time; memory grows with this, not with ``n_firms``. A bank of
        at most ``block_firms`` firms is one block. A larger one is drawn block after block,
        each from random streams of its own, and appended to the same files: the output
        then depends on ``block_firms`` too (see docs/synthetic-bank.md, "Large banks").
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
    _validate(n_firms, seed, end_date, years, quarters, shock, txn_per_firm_year, fmt,
              inject_errors, block_firms, progress)
    timeline = Timeline.build(end_date, history_years(int(years), int(quarters)),
                              int(quarters))
    n, size = int(n_firms), int(block_firms)
    bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
    if shock is not None and len(bounds) > 1:
        _check_industry(shock.industry)
    bank = _Bank(Path(out_dir), fmt, timeline, shock, float(inject_errors),
                 float(txn_per_firm_year), progress, n_rms=max(1, -(-n // FIRMS_PER_RM)),
                 blocks=len(bounds))
    for k, (a, b) in enumerate(bounds):
        bank.block(_block_streams(int(seed), k), b - a, last=k == len(bounds) - 1)
    if shock is not None and bank.shocked == 0:
        raise parameter_error("shock", _OWNER, f"a Shock whose industry matches the start of "
                              f"some firm's industry_code (none of the {n} firms does)",
                              shock.industry)
    return bank.finish(int(seed))


def _block_streams(seed: int, block: int) -> dict[str, np.random.SeedSequence]:
    """The component streams of one block: those of the seed itself for the first block
    (so a one-block bank is drawn as before blocks existed), then streams under spawn keys
    ``(_BLOCK_KEY, block)``, which the component streams (keys ``(i,)``) never take."""
    root = (np.random.SeedSequence(seed) if block == 0
            else np.random.SeedSequence(seed, spawn_key=(_BLOCK_KEY, block)))
    return dict(zip(_STREAMS, root.spawn(len(_STREAMS)), strict=True))


def _check_industry(prefix: str) -> None:
    """Raise at once, before any block is drawn, when no persona's industries start with
    ``prefix`` (a single block checks its firms instead)."""
    codes = sorted({code for p in PERSONAS for code, _ in p.industries})
    if not any(code.startswith(prefix) for code in codes):
        sections = ", ".join(sorted({c[0] for c in codes}))
        raise parameter_error(
            "shock", _OWNER, f"a Shock whose industry matches the start of some firm's "
            f"industry_code (no simulated industry starts with {prefix!r}; the sections "
            f"simulated are {sections}); pass a section letter or a division such as "
            f"Shock(industry='F51', ...)", prefix)


@dataclass
class _Numbering:
    """Where the ids of the next block start (each block continues the numbering)."""

    transactions: int = 1
    loans: int = 1
    documents: int = 1


class _Bank:
    """The files of a bank being written, block after block.

    Each contract table and truth file is opened once and every block appends its rows in
    firm order, so memory holds one block's rows at a time; the USCCs of earlier blocks
    (72 bytes a firm) are kept to keep codes unique over the whole bank.
    """

    def __init__(self, out: Path, fmt: Literal["csv", "parquet"], timeline: Timeline,
                 shock: Shock | None, inject_errors: float, txn_per_firm_year: float,
                 progress: Callable[[str], None] | None, *, n_rms: int, blocks: int) -> None:
        self.out, self.fmt, self.timeline, self.shock = out, fmt, timeline, shock
        self.inject_errors, self.txn_per_firm_year = inject_errors, txn_per_firm_year
        self.progress, self.n_rms, self.blocks = progress, n_rms, blocks
        self.numbering = _Numbering()
        self.injector: Injector | None = None
        self.sinks: dict[str, TableSink] = {}
        self.truths: dict[str, CsvSink] = {}
        self.taken: list[npt.NDArray[np.str_]] = []
        self.shocked = 0
        self.shock_start: np.datetime64 = np.datetime64("NaT", "D")
        self._label = ""

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self._label + message)

    def write(self, name: str, columns: Mapping[str, object], firm_ids: pa.Array,
              last: bool = True) -> None:
        """Append rows of contract table ``name`` (opening its file on first use)."""
        if name not in self.sinks:
            path = self.out / f"{name}.{self.fmt}"
            self.sinks[name] = TableSink(TABLES_BY_NAME[name], path, self.fmt, self.injector)
        sink = self.sinks[name]
        sink.write(_with_firm_ids(columns, firm_ids), last=last)
        self.say(f"{name}: {sink.rows} rows")

    def block(self, streams: Mapping[str, np.random.SeedSequence], n: int, last: bool
              ) -> None:
        """Draw ``n`` firms from ``streams`` and append every table's rows for them."""
        # The random draws of each component come from its own stream, and the tables are
        # written in one fixed order (error injection draws per row written).
        def rng(name: str) -> np.random.Generator:
            return np.random.default_rng(streams[name])

        index = len(self.taken)
        self._label = f"block {index + 1}/{self.blocks} · " if self.blocks > 1 else ""
        taken = np.concatenate(self.taken) if self.taken else np.asarray([], dtype=str)
        pop = build_population(rng("population"), n, self.timeline, self.shock,
                               n_rms=self.n_rms, taken_codes=taken,
                               require_shocked=self.blocks == 1)
        del taken
        self.taken.append(pop.firm_id)
        self.shocked += int(pop.shocked.sum())
        self.shock_start = pop.shock_start
        fin = financials.simulate(rng("financials"), pop)
        if index == 0:
            private_dir(private_dir(self.out) / "truth")
            if self.inject_errors > 0:
                self.injector = Injector(rng("injection"), self.inject_errors, pop.firm_id,
                                         self.timeline.years)
        ids = pa.array(pop.firm_id.tolist(), pa.string())
        self.write("firms", _firm_columns(pop), ids, last)
        statements = financials.statements(rng("statements"), pop, fin)
        self.write("financial_statements", statements, ids, last)
        self.write("bureau_reports", bureau.reports(rng("bureau"), pop, fin,
                                                    rng("shock_bureau")), ids, last)
        self._transactions(streams["transactions"], pop, fin, ids, last)
        contacts = campaigns.contacts(rng("campaigns"), pop)
        loans = lending.loans(rng("loans"), pop, contacts, first_id=self.numbering.loans)
        self.numbering.loans += loans["loan_id"].size
        self.write("loans", _rows(loans, loans["booked"]), ids, last)
        self.write("repayments", lending.repayments(rng("repayments"), pop, loans), ids, last)
        self.write("campaign_contacts", _rows(contacts, contacts["kept"]), ids, last)
        docs = documents.documents(rng("documents"), pop, fin, rng("shock_documents"),
                                   first_id=self.numbering.documents)
        self.numbering.documents += docs["doc_id"].size
        self.write("documents", docs, ids, last)
        self._truths(pop, statements)

    def _transactions(self, seed: np.random.SeedSequence, pop: Population,
                      fin: financials.Financials, ids: pa.Array, last: bool) -> None:
        n_chunks = len(transactions.chunk_bounds(pop, self.txn_per_firm_year))
        chunks = transactions.chunks(seed, pop, fin, self.txn_per_firm_year,
                                     first_id=self.numbering.transactions)
        for i, (chunk, next_id) in enumerate(chunks):
            self.write("transactions", chunk, ids, last and i == n_chunks - 1)
            self.numbering.transactions = next_id

    def _truths(self, pop: Population, statements: Mapping[str, np.ndarray]) -> None:
        tables = {"firms_truth": _firm_truth(pop, statements),
                  "firm_quarter_truth": _quarter_truth(pop)}
        for name, table in tables.items():
            if name not in self.truths:
                self.truths[name] = CsvSink(self.out / "truth" / f"{name}.csv",
                                            table.column_names)
            self.truths[name].write(table)

    def finish(self, seed: int) -> GenerationResult:
        """Close every file, write the bank-wide truths and say what was written."""
        files = {name: sink.close() for name, sink in self.sinks.items()}
        rows = {name: sink.rows for name, sink in self.sinks.items()}
        truth_dir = self.out / "truth"
        truth_files = {name: sink.close() for name, sink in self.truths.items()}
        truth_files["injected_errors"] = _write_injected(truth_dir, self.injector)
        truth_files.update(_write_review_truths(truth_dir, self.timeline, self.shock,
                                                self.shock_start, self.shocked))
        self._label = ""
        self.say("truth: written")
        injected = sum(self.injector.dirty_done.values()) if self.injector is not None else 0
        reviews = [d.astype(datetime.date) for d in self.timeline.reviews]
        return GenerationResult(self.out, files, rows, truth_files, injected, seed, reviews,
                                self.shock, self.blocks)


def _rows(columns: Mapping[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of every column where ``keep`` is true (the columns themselves if all are)."""
    if keep.all():
        return dict(columns)
    return {k: v[keep] for k, v in columns.items()}


def _write_review_truths(truth_dir: Path, timeline: Timeline, shock: Shock | None,
                         shock_start: np.datetime64, shocked: int) -> dict[str, Path]:
    """``quarters.csv`` (review quarters and whether the shock is in force) and
    ``shock.json``."""
    reviews = timeline.reviews
    in_force = (np.zeros(reviews.size, dtype=bool) if np.isnat(shock_start)
                else np.asarray(reviews >= shock_start))
    quarters = pa.table({
        "quarter": pa.array(np.arange(1, reviews.size + 1, dtype=np.int64)),
        "as_of": pa.array(reviews, pa.date32()),
        "shocked": pa.array(in_force),
    })
    paths = {"quarters": write_csv_table(truth_dir / "quarters.csv", quarters)}
    if shock is not None:
        facts = {
            "industry": shock.industry, "from_quarter": int(shock.from_quarter),
            "from_date": str(shock_start), "size": float(shock.size), "firms": shocked,
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


def _firm_truth(pop: Population, statements: Mapping[str, np.ndarray]) -> pa.Table:
    """``firms_truth``: persona, MIIT size class on the latest annual statement, true PD at
    the end date, default and true product needs of every firm."""
    tl = pop.timeline
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
    pd_end = np.where(defaulted, 1.0, pop.pd_between(tl.end, tl.horizon))
    firms = {
        "firm_id": pa.array(pop.firm_id.tolist(), pa.string()),
        "persona": pa.array(_PERSONA_CODES[pop.persona], pa.string()),
        "persona_zh": pa.array(_PERSONA_ZH[pop.persona], pa.string()),
        "persona_en": pa.array(_PERSONA_EN[pop.persona], pa.string()),
        "size_class": pa.array(size, pa.string()),
        "true_pd_12m": pa.array(np.round(pd_end, 8)),
        "defaulted": pa.array(defaulted),
        "default_date": pa.array(np.where(defaulted, pop.default_date,
                                          np.datetime64("NaT", "D")), pa.date32(),
                                 from_pandas=True),
    }
    for k, product in enumerate(PRODUCTS):
        firms[f"need_{product}"] = pa.array(pop.needs[:, k])
    return pa.table(firms)


def _quarter_truth(pop: Population) -> pa.Table:
    """``firm_quarter_truth``: true PD, default within 12 months and default state per firm
    and history quarter end, sorted by firm and date."""
    tl = pop.timeline
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
    firm = quarters["firm"].to_numpy()
    return pa.table({
        "firm_id": pa.array(pop.firm_id[firm].tolist(), pa.string()),
        "as_of": pa.array(quarters["as_of"].to_numpy().astype("datetime64[D]"), pa.date32()),
        "persona": pa.array(_PERSONA_CODES[pop.persona[firm]], pa.string()),
        "true_pd_12m": pa.array(quarters["true_pd_12m"].to_numpy()),
        "defaulted_within_12m": pa.array(quarters["defaulted_within_12m"]),
        "in_default": pa.array(quarters["in_default"].to_numpy()),
    })


def _write_injected(truth_dir: Path, injector: Injector | None) -> Path:
    """``injected_errors.csv``: every dirty row added (only the header without injection)."""
    records = (injector.record_table() if injector is not None
               else pd.DataFrame({c: pd.Series(dtype=object) for c in RECORD_COLUMNS}))
    record_table = pa.table({
        c: pa.array(records[c].to_numpy(), pa.int64() if c == "row_number" else pa.string())
        for c in RECORD_COLUMNS
    })
    return write_csv_table(truth_dir / "injected_errors.csv", record_table)
