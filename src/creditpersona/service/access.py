"""Data access of the service: the one module that reads results, and the scoping rule.

**The scoping rule lives here and only here** (:func:`scope_of` and :meth:`Snapshot.visible`):
a relationship manager sees the firms whose ``rm_id`` is theirs; every other role that may
see customer data sees every firm. Every method that returns firm data takes a
:class:`Scope` and filters through :meth:`Snapshot.visible` before anything else, and a firm
outside the scope raises the same :class:`FirmNotFound` as a firm that does not exist, so the
API cannot tell them apart (existence does not leak).

Results come from the serving snapshot (:mod:`creditpersona.service.snapshot`). The latest
completed quarter is held in memory, indexed by firm, so a firm's 360 view is a handful of
positional look-ups rather than a dozen queries; when the cycle publishes a new snapshot,
the next request notices (at most once a second) and one thread loads it while the others
keep answering from the previous quarter.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from creditpersona.errors import CreditPersonaError, StoreError
from creditpersona.profile.scoring import DIMENSIONS
from creditpersona.store import results
from creditpersona.store.store import Store

TEXT_COLUMNS = ("text_risk_score", "text_positive_score", "text_top_event",
                "text_risk_documents", "text_max_document_risk", "text_top_document",
                "text_top_document_date", "text_top_document_risk")
#: Per-firm result tables of a quarter: table → columns the service shows (None: all).
PER_FIRM = {
    "profiles": ("revenue", "bureau_outstanding", "size_class", "industry_section",
                 "summary_zh", "summary_en", *TEXT_COLUMNS,
                 *(f"{d}_{part}" for d in DIMENSIONS
                   for part in ("score", "coverage", "driver_zh", "driver_en"))),
    "personas": ("persona_id", "persona_name_zh", "persona_name_en", "source", "confidence"),
    "pd_scores": None, "decision_limits": None, "decision_pricing": None,
    "decision_classification": None, "decision_watchlist": None, "decision_plans": None,
    "decision_value": ("raroc", "economic_profit", "value_3y_pv", "revenue_contribution"),
    "offers": None, "decision_loans": None,
}
RECENT_DOCUMENTS = 5
#: Repayments shown in a 360 view: the most recent instalments due by the as-of date (the
#: rest through ``GET /api/v1/firms/{firm_id}/repayments``, :func:`repayment_page`).
REPAYMENTS_SHOWN = 24
RELOAD_CHECK_S = 1.0


class FirmNotFound(CreditPersonaError, LookupError):
    """No firm of that id *that the caller may see* (the two are never told apart)."""


class NoResults(CreditPersonaError, LookupError):
    """No completed cycle has been published yet."""


@dataclass(frozen=True)
class Scope:
    """Which firms a caller may see: those of one RM's book, or (``rm_id`` None) all."""

    rm_id: str | None


def scope_of(role: str, rm_id: str | None) -> Scope:
    """THE scoping rule: an RM sees their own book, credit and risk staff see all firms.

    Examples
    --------
    >>> scope_of("rm", "RM0001"), scope_of("risk_manager", None)
    (Scope(rm_id='RM0001'), Scope(rm_id=None))
    """
    if role == "rm":
        if not rm_id:
            # An RM without a book sees nothing, never everything.
            return Scope(rm_id="\x00no-book")
        return Scope(rm_id=rm_id)
    return Scope(rm_id=None)


def jsonable(value: object) -> Any:
    """A value JSON can carry: NaN and NaT become None, numpy scalars Python ones."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date().isoformat() if (value.hour, value.minute, value.second) == (
            0, 0, 0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready dicts."""
    cols = list(frame.columns)
    return [{c: jsonable(v) for c, v in zip(cols, row, strict=True)}
            for row in frame.itertuples(index=False, name=None)]


def json_cells(frame: pd.DataFrame) -> np.ndarray:
    """``frame``'s values as a 2-D object array of what :func:`jsonable` makes of each.

    Done once per column when a quarter is loaded, so that a firm's rows are served without
    converting each value on every request. Numbers, text and dates take vectorised paths; any
    other column (nullable types, mixed objects) goes through :func:`jsonable`.

    Examples
    --------
    >>> frame = pd.DataFrame({"x": [1.5, np.nan], "n": [1, 2], "s": ["a", None],
    ...                       "d": pd.to_datetime(["2026-06-30", None]),
    ...                       "t": pd.to_datetime(["2026-06-30 09:30", "2026-07-01 00:00"])})
    >>> json_cells(frame).tolist()
    [[1.5, 1, 'a', '2026-06-30', '2026-06-30T09:30:00'], [None, 2, None, None, '2026-07-01']]
    >>> [[jsonable(v) for v in row] for row in frame.itertuples(index=False)] == _
    True
    """
    cells = np.empty(frame.shape, dtype=object)
    for k in range(frame.shape[1]):
        values = frame.iloc[:, k]
        dtype = values.dtype
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            floats = values.to_numpy()
            out = floats.astype(object)
            out[~np.isfinite(floats)] = None
        elif isinstance(dtype, np.dtype) and dtype.kind in "iub":
            out = values.to_numpy(dtype=object)  # Python ints and bools
        elif isinstance(dtype, np.dtype) and dtype.kind == "M":
            out = _json_dates(values.to_numpy())
        elif pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            out = values.to_numpy(dtype=object)
            out[values.isna().to_numpy()] = None
        else:
            out = np.fromiter((jsonable(v) for v in values.to_numpy(dtype=object)),
                              dtype=object, count=len(values))
        cells[:, k] = out
    return cells


def _json_dates(stamps: np.ndarray) -> np.ndarray:
    """:func:`jsonable` of each datetime64 value: a date when its time of day is 00:00:00
    (to the second), else the timestamp's ISO form, None for NaT; dates vectorised."""
    day = stamps.astype("datetime64[D]")
    midnight = stamps.astype("datetime64[s]") == day
    out = np.datetime_as_string(day, unit="D").astype(object)
    out[np.isnat(stamps)] = None
    for k in np.flatnonzero(~midnight & ~np.isnat(stamps)):
        out[k] = jsonable(pd.Timestamp(stamps[k]))
    return out


def _read(store: Store, table: str, as_of: dt.date | None = None,
          columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Every read of a stored table goes through here.

    Result tables of the cycle are read through the result store
    (:func:`creditpersona.store.results.read`, one as-of date); the inputs, the ledger and
    the snapshot's own tables are read whole.
    """
    if not results.has_table(store, table):
        return pd.DataFrame()
    if table in results.TABLES:
        return results.read(store, table, as_of, columns=columns)
    frame = store.table(table).to_pandas()
    return frame if columns is None else frame[list(columns)]


class Quarter:
    """The latest completed quarter of a snapshot, in memory and indexed by firm."""

    def __init__(self, con: Store) -> None:
        runs = _read(con, "cycle_runs")
        done = runs[runs["status"] == "completed"] if len(runs) else runs
        if not len(done):
            raise NoResults("no completed cycle in the store yet: run `creditpersona run "
                            "--as-of DATE` (the service answers once a quarter is published).")
        self.runs = runs.sort_values("started_at", ascending=False, ignore_index=True)
        self.as_of: dt.date = pd.Timestamp(done["as_of"].max()).date()
        self.firms = _read(con, "firms").drop(columns="load_id", errors="ignore")
        self.firms = self.firms.sort_values("firm_id", ignore_index=True)
        self.firm_pos = pd.Index(self.firms["firm_id"])
        # A dict answers one firm's position in a fraction of a microsecond; pandas'
        # get_indexer builds an Index from its argument on every call (see docs/service.md).
        self.position_of: dict[str, int] = {
            str(f): k for k, f in enumerate(self.firms["firm_id"].tolist())}
        self.rm_ids = self.firms["rm_id"].to_numpy(dtype=object)
        self.tables: dict[str, pd.DataFrame] = {}
        self.rows: dict[str, dict[Any, Any]] = {}
        self.cells: dict[str, tuple[list[str], np.ndarray]] = {}
        self._index("firms", self.firms)
        for name, cols in PER_FIRM.items():
            frame = _read(con, name, self.as_of,
                          None if cols is None else ("firm_id", *cols))
            self._index(name, frame)
        docs = _read(con, "documents").drop(columns="load_id", errors="ignore")
        docs = docs.sort_values("doc_date", ascending=False).groupby("firm_id").head(
            RECENT_DOCUMENTS)
        self._index("documents", docs)
        loans = _read(con, "loans").drop(columns="load_id", errors="ignore")
        self._index("loans", loans)
        self.repayments = Repayments(_read(con, "repayments"), loans, self.firm_pos, self.as_of)
        self._index("statements", _read(con, "service_statements"))
        rules = _read(con, "service_persona_rules")
        self.persona_rules = {str(k): records(g.drop(columns="persona_id")) for k, g in
                              rules.groupby("persona_id")} if len(rules) else {}
        self.migration = _read(con, "review_migration", self.as_of)
        self.triggers = _read(con, "review_triggers", self.as_of)

    def _index(self, name: str, frame: pd.DataFrame) -> None:
        frame = frame.reset_index(drop=True)
        self.tables[name] = frame
        self.rows[name] = (frame.groupby("firm_id", sort=False).indices
                           if "firm_id" in frame.columns and len(frame) else {})
        # Rows as JSON-ready Python objects, converted once here, so that a firm's rows are
        # read without pandas' per-call overhead or a conversion per value (a 360 view reads
        # a dozen tables; see bench/bench_service.py).
        self.cells[name] = (list(frame.columns), json_cells(frame))

    def records_of(self, name: str, firm_id: str) -> list[dict[str, Any]]:
        """The rows of ``name`` for one firm as JSON-ready dicts (callers scope first).

        The same dicts as :func:`records` of :meth:`of`, from the cells converted at load.
        """
        pos = self.rows[name].get(firm_id)
        if pos is None:
            return []
        cols, cells = self.cells[name]
        return [dict(zip(cols, cells[i].tolist(), strict=True)) for i in pos]

    def of(self, name: str, firm_id: str) -> pd.DataFrame:
        """The rows of ``name`` for one firm (no scoping: callers scope first)."""
        pos = self.rows[name].get(firm_id)
        frame = self.tables[name]
        return frame.iloc[pos] if pos is not None else frame.iloc[0:0]

    def column(self, name: str, column: str) -> pd.Series:
        """One value per firm of a per-firm table, aligned with :attr:`firms`."""
        frame = self.tables[name]
        if column not in frame.columns:
            return pd.Series(np.nan, index=self.firms.index)
        values = frame.drop_duplicates("firm_id").set_index("firm_id")[column]
        return self.firms["firm_id"].map(values)

    def visible(self, scope: Scope, positions: np.ndarray | None = None) -> np.ndarray:
        """Boolean mask of the firms ``scope`` may see: all of :attr:`firms`, or ``positions``.

        This is the one place the scoping rule is applied to data.
        """
        rm = self.rm_ids if positions is None else self.rm_ids[positions]
        if scope.rm_id is None:
            return np.ones(len(rm), dtype=bool)
        return rm == scope.rm_id

    def position(self, scope: Scope, firm_id: str) -> int:
        """The firm's position in :attr:`firms`, or :class:`FirmNotFound` if absent *or* out
        of scope (the scoping rule of :meth:`visible`, for one firm)."""
        pos = self.position_of.get(firm_id, -1)
        if pos < 0 or not self.visible(scope, np.array([pos]))[0]:
            raise FirmNotFound(f"firm {firm_id}: not found.")
        return pos

    def firm_row(self, scope: Scope, firm_id: str) -> dict[str, Any]:
        """The firm's master row, or :class:`FirmNotFound` if absent *or* out of scope."""
        self.position(scope, firm_id)
        return self.records_of("firms", firm_id)[0]


class Repayments:
    """Every instalment of every loan, as typed columns sorted by firm and due date.

    A 100,000-firm book has over a million instalments: held as Python objects (as the other
    tables are) they would cost hundreds of megabytes per worker, so they are kept as numpy
    columns (about 40 bytes a row) and a firm's rows are a slice (its bounds found once, at
    load), turned into records only when they are asked for. Only what is known on the as-of
    date is shown: an instalment paid later counts as unpaid, and those due later are
    counted, not listed.
    """

    def __init__(self, frame: pd.DataFrame, loans: pd.DataFrame, firms: pd.Index,
                 as_of: dt.date) -> None:
        self.as_of = np.datetime64(as_of, "D")
        need = {"loan_id", "due_date", "amount_due", "paid_date", "amount_paid"}
        if not len(frame) or not need <= set(frame.columns) or not len(loans):
            frame = pd.DataFrame({c: [] for c in sorted(need)})
        loan_ids = pd.Index(loans["loan_id"]) if len(loans) else pd.Index([])
        loan = loan_ids.get_indexer(pd.Index(frame["loan_id"]))
        firm = firms.get_indexer(pd.Index(loans["firm_id"].to_numpy()[np.maximum(loan, 0)])) \
            if len(loans) else np.full(len(frame), -1)
        keep = (loan >= 0) & (firm >= 0)
        due = pd.to_datetime(frame["due_date"]).to_numpy(dtype="datetime64[D]")[keep]
        # By firm, latest due first, then by loan id: a total order, so that every worker
        # process pages alike whatever order the snapshot's rows were read in.
        loan_rank = np.argsort(np.argsort(loan_ids.to_numpy(dtype=str), kind="stable"))
        order = np.lexsort((loan_rank[loan[keep]], -due.astype(np.int64), firm[keep]))
        self.loan_ids = loan_ids.to_numpy(dtype=object)
        self.firm = firm[keep][order].astype(np.int32)
        # Firm k's rows are start[k]:start[k + 1] (one search here, none per request).
        self.start = np.searchsorted(self.firm, np.arange(len(firms) + 1, dtype=np.int32))
        self.loan = loan[keep][order].astype(np.int32)
        self.due = due[order]
        self.paid = pd.to_datetime(frame["paid_date"]).to_numpy(
            dtype="datetime64[D]")[keep][order]
        self.amount_due = frame["amount_due"].to_numpy(dtype=float)[keep][order]
        self.amount_paid = frame["amount_paid"].to_numpy(dtype=float)[keep][order]

    def page(self, firm_pos: int, limit: int, offset: int = 0) -> dict[str, Any]:
        """The firm's instalments due by the as-of date, latest first, from ``offset`` (at
        most ``limit``), with days past due and status; ``total`` of them and ``upcoming``
        (due later)."""
        lo, hi = int(self.start[firm_pos]), int(self.start[firm_pos + 1])
        past = self.due[lo:hi] <= self.as_of
        rows = np.flatnonzero(past)
        shown = rows[offset:offset + limit] + lo
        paid = self.paid[shown]
        known = ~np.isnat(paid) & (paid <= self.as_of)  # paid by the as-of date
        end = np.where(known, paid, self.as_of)
        dpd = np.maximum((end - self.due[shown]).astype(np.int64), 0)
        status = np.where(known, np.where(dpd > 0, "paid_late", "paid"),
                          np.where(dpd > 0, "overdue", "due"))
        items = [{"loan_id": self.loan_ids[self.loan[i]],
                  "due_date": str(self.due[i]), "amount_due": jsonable(self.amount_due[i]),
                  "paid_date": str(paid[k]) if known[k] else None,
                  "amount_paid": jsonable(self.amount_paid[i]) if known[k] else None,
                  "dpd": int(dpd[k]), "status": str(status[k])}
                 for k, i in enumerate(shown.tolist())]
        return {"total": int(len(rows)), "upcoming": int((~past).sum()), "items": items}

    def of(self, firm_pos: int, limit: int = REPAYMENTS_SHOWN) -> dict[str, Any]:
        """The 360's part: the latest ``limit`` instalments of :meth:`page`, and how many
        of the ``total`` are ``shown``."""
        page = self.page(firm_pos, limit)
        return {"total": page["total"], "shown": len(page["items"]),
                "upcoming": page["upcoming"], "items": page["items"]}


class Results:
    """The service's view of the results: the current quarter, reloaded when re-published.

    Parameters
    ----------
    snapshot : Path
        The serving snapshot file (:func:`creditpersona.service.snapshot.snapshot_path`).
    """

    def __init__(self, snapshot: Path) -> None:
        self.snapshot = snapshot
        self._lock = threading.Lock()
        self._quarter: Quarter | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._loading = False

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.snapshot)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def _load(self, stamp: tuple[int, int]) -> None:
        try:
            with Store(self.snapshot, read_only=True) as snapshot:
                quarter = Quarter(snapshot)
        except (duckdb.Error, StoreError) as exc:
            raise StoreError(f"{self.snapshot}: cannot read the serving snapshot ({exc}); "
                             "run the cycle again to publish a new one.") from exc
        self._quarter, self._stamp = quarter, stamp

    def current(self) -> Quarter:
        """The quarter to answer from.

        The first call loads the snapshot; afterwards, at most once a second, a request looks
        whether a new one was published and, if so, starts loading it on a background thread
        while every request keeps answering from the quarter in memory.
        """
        quarter = self._quarter
        if quarter is None:
            with self._lock:
                if self._quarter is None:
                    stamp = self._file_stamp()
                    if stamp is None:
                        raise NoResults(f"{self.snapshot}: no serving snapshot; run "
                                        "`creditpersona run --as-of DATE` (or `creditpersona "
                                        "serve`, which publishes one from a store no process "
                                        "is writing).")
                    self._load(stamp)
            assert self._quarter is not None
            return self._quarter
        now = time.monotonic()
        if now - self._checked >= RELOAD_CHECK_S and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                stamp = self._file_stamp()
                if stamp is not None and stamp != self._stamp and not self._loading:
                    self._loading = True
                    threading.Thread(target=self._reload, args=(stamp,), daemon=True,
                                     name="snapshot-reload").start()
            finally:
                self._lock.release()
        return quarter

    def _reload(self, stamp: tuple[int, int]) -> None:
        try:
            self._load(stamp)
        except (NoResults, StoreError):
            self._stamp = stamp  # keep answering from the last good quarter; try the next one
        finally:
            self._loading = False


def _one(quarter: Quarter, name: str, firm_id: str) -> dict[str, Any] | None:
    rows = quarter.records_of(name, firm_id)
    return rows[0] if rows else None


def firm_view(quarter: Quarter, scope: Scope, firm_id: str,
              override: dict[str, Any] | None = None) -> dict[str, Any]:
    """A firm's 360 view (客户全景) as of the quarter; :class:`FirmNotFound` if not visible."""
    profile = _one(quarter, "profiles", firm_id) or {}
    firm = {**quarter.firm_row(scope, firm_id),
            **{k: profile.get(k) for k in ("size_class", "industry_section")}}
    scores = [{"dimension": d, "score": profile.get(f"{d}_score"),
               "coverage": profile.get(f"{d}_coverage"),
               "driver_zh": profile.get(f"{d}_driver_zh"),
               "driver_en": profile.get(f"{d}_driver_en")} for d in DIMENSIONS]
    persona = _one(quarter, "personas", firm_id)
    if persona is not None:
        persona["rules"] = quarter.persona_rules.get(str(persona.get("persona_id")), [])
    rating = _one(quarter, "pd_scores", firm_id)
    if rating is not None:
        rating["reasons"] = [
            {"feature": rating.pop(f"reason_{k}_feature", None),
             "zh": rating.pop(f"reason_{k}_zh", None), "en": rating.pop(f"reason_{k}_en", None),
             "contribution": rating.pop(f"reason_{k}_contribution", None)}
            for k in (1, 2, 3)]
        rating["override"] = override
    status = {r["loan_id"]: r for r in quarter.records_of("decision_loans", firm_id)}
    loans = [{**loan, **{k: status.get(loan["loan_id"], {}).get(k) for k in (
        "dpd", "outstanding", "tier", "tier_zh")}} for loan in quarter.records_of("loans",
                                                                                 firm_id)]
    return {
        "as_of": quarter.as_of.isoformat(), "firm": firm, "scores": scores,
        "persona": persona, "rating": rating,
        "limit": _one(quarter, "decision_limits", firm_id),
        "prices": quarter.records_of("decision_pricing", firm_id),
        "classification": _one(quarter, "decision_classification", firm_id),
        "warning": _one(quarter, "decision_watchlist", firm_id),
        "monitoring": _one(quarter, "decision_plans", firm_id),
        "value": _one(quarter, "decision_value", firm_id),
        "offers": quarter.records_of("offers", firm_id),
        "loans": loans,
        "summary": {"zh": profile.get("summary_zh"), "en": profile.get("summary_en")},
        "text_risk": {c: profile.get(c) for c in TEXT_COLUMNS},
        "documents": quarter.records_of("documents", firm_id),
        "repayments": quarter.repayments.of(quarter.position(scope, firm_id)),
    }


def repayment_page(quarter: Quarter, scope: Scope, firm_id: str, *, limit: int,
                   offset: int = 0) -> dict[str, Any]:
    """A page of the firm's repayments, latest first; :class:`FirmNotFound` if not visible.

    The 360 view (:func:`firm_view`) carries the latest :data:`REPAYMENTS_SHOWN`; this
    pages through them all, in the same order.
    """
    page = quarter.repayments.page(quarter.position(scope, firm_id), limit, offset)
    return {"as_of": quarter.as_of.isoformat(), "limit": limit, "offset": offset, **page}


def search(quarter: Quarter, scope: Scope, *, q: str | None = None,
           persona: str | None = None, grade: str | None = None,
           industry: str | None = None, rm_id: str | None = None,
           watch: bool | None = None) -> pd.DataFrame:
    """Firms in scope matching every filter given (name, USCC, persona, grade, …)."""
    mask = quarter.visible(scope)
    firms = quarter.firms
    if q:
        needle = q.strip()
        mask &= (firms["name"].str.contains(needle, regex=False, na=False)
                 | firms["firm_id"].str.startswith(needle.upper())).to_numpy()
    if industry:
        mask &= firms["industry_code"].str.startswith(industry, na=False).to_numpy()
    if rm_id:
        mask &= (firms["rm_id"] == rm_id).to_numpy()
    out = firms.loc[mask, ["firm_id", "name", "industry_code", "region_code", "rm_id"]]
    idx = out.index
    out = out.assign(
        persona_id=quarter.column("personas", "persona_id")[idx],
        persona_name_zh=quarter.column("personas", "persona_name_zh")[idx],
        persona_name_en=quarter.column("personas", "persona_name_en")[idx],
        pd=quarter.column("pd_scores", "pd")[idx],
        grade=quarter.column("pd_scores", "grade")[idx],
        watch_level=quarter.column("decision_watchlist", "level")[idx],
        on_watch=quarter.column("decision_watchlist", "on_watch")[idx].fillna(False)
        .astype(bool))
    if persona:
        out = out[out["persona_id"] == persona]
    if grade:
        out = out[out["grade"] == grade]
    if watch is not None:
        out = out[out["on_watch"] == watch]
    return out


def watchlist(quarter: Quarter, scope: Scope) -> pd.DataFrame:
    """The quarter's watch-list (firms on watch) in scope, most points first."""
    frame = quarter.tables["decision_watchlist"]
    if not len(frame):
        return frame
    frame = frame[frame["on_watch"].fillna(False).astype(bool)]
    pos = quarter.firm_pos.get_indexer(frame["firm_id"])
    keep = (pos >= 0) & quarter.visible(scope, np.maximum(pos, 0))
    frame = frame[keep]
    names = quarter.firms.set_index("firm_id")["name"]
    frame = frame.assign(name=frame["firm_id"].map(names))
    return frame.sort_values(["points", "firm_id"], ascending=[False, True])


def portfolio(quarter: Quarter, scope: Scope) -> dict[str, Any]:
    """Persona mix, grades, migration, triggers, industry flags and watch counts in scope."""
    mask = quarter.visible(scope)
    firms = quarter.firms[mask]
    idx = firms.index
    persona = quarter.column("personas", "persona_id")[idx]
    grade = quarter.column("pd_scores", "grade")[idx]
    level = quarter.column("decision_watchlist", "level")[idx]
    on_watch = quarter.column("decision_watchlist", "on_watch")[idx].fillna(False).astype(bool)
    section = firms["industry_code"].str[:1]
    industry = pd.DataFrame({"section": section, "on_watch": on_watch,
                             "pd": quarter.column("pd_scores", "pd")[idx]}).groupby(
        "section").agg(firms=("on_watch", "size"), on_watch=("on_watch", "sum"),
                       mean_pd=("pd", "mean")).reset_index()
    migration = quarter.migration
    if len(migration) and scope.rm_id is not None:
        # Migration counts are book-wide aggregates: an RM sees those of their own book only
        # when the review kept them per segment, so they are left out for a single book.
        migration = migration.iloc[0:0]
    return {
        "as_of": quarter.as_of.isoformat(), "firms": int(mask.sum()),
        "personas": _counts(persona), "grades": _counts(grade),
        "watch_levels": _counts(level), "on_watch": int(on_watch.sum()),
        "industries": records(industry),
        "migration": records(migration.drop(columns=["as_of"], errors="ignore")),
        "triggers": records(quarter.triggers.drop(columns=["as_of"], errors="ignore")),
    }


def _counts(values: pd.Series) -> dict[str, int]:
    counts = values.dropna().astype(str).value_counts().sort_index()
    return {str(k): int(v) for k, v in counts.items()}
