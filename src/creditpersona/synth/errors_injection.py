"""Dirty rows for testing a validator: added copies of clean rows with one defect each.

Dirty rows never modify clean rows and draw from their own random stream, so the clean rows
of a file are the same bytes with or without injection. Each dirty row copies a random
clean row of the same chunk, gives it a new key (a fresh USCC, a new id, or a key date moved
so it cannot collide) and breaks exactly one contract rule; duplicates are exact copies
inserted after their original. Every dirty row is logged with its 1-based row number in the
written file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from creditpersona.contract.schema import TABLES, Table
from creditpersona.domain.regions import DISTRICTS
from creditpersona.domain.uscc import ALPHABET
from creditpersona.synth.population import unique_codes

Strings = npt.NDArray[np.object_]
#: A defect: (rule broken, function that applies it to a frame of copied rows and returns
#: the field it changed and a description).
Defect = tuple[str, Callable[["Injector", pd.DataFrame, str], tuple[str, str]]]

_BAD_NUMBERS = ("1,2x4.00", "12.3.4", "#VALUE!", "约100万", "1O0.00")
_BAD_INTS = ("一百二十", "120人", "约200", "12O")
_BAD_INDUSTRIES = ("C99", "Z12", "F53", "C10", "K80", "I66")
_BAD_CHANNELS = ("atm", "wechat_pay", "alipay", "pos", "柜面")
_BAD_PRODUCTS = ("consumer_loan", "mortgage", "credit_card", "bill_discount")
_BAD_SOURCES = ("weibo", "wechat", "forum", "tv")
RECORD_COLUMNS = ("table", "row_number", "rule", "field", "value", "description")


def corrupt_dates(rng: np.random.Generator, dates: pd.Series) -> npt.NDArray[np.object_]:
    """Unparseable versions of ISO dates; distinct dates stay distinct.

    Month past 12 (``2019-13-05``), day past 31 (``2019-05-36``) or letters for digits
    (``2O19-O5-Ol``).

    Examples
    --------
    >>> out = corrupt_dates(np.random.default_rng(0), pd.Series(["2019-05-01"] * 3))
    >>> all(d != "2019-05-01" for d in out)
    True
    """
    s = dates.astype(str)
    y, m, d = s.str[:4], s.str[5:7].astype(int), s.str[8:10].astype(int)
    month = y + "-" + (m + 12).astype(str) + "-" + s.str[8:10]
    day = s.str[:8] + (d + 31).astype(str)
    letters = s.str.replace("0", "O").str.replace("1", "l")
    pick = rng.integers(0, 3, s.size)
    return np.where(pick == 0, month, np.where(pick == 1, day, letters)).astype(object)


def _shift_days(dates: pd.Series, days: npt.ArrayLike) -> pd.Series:
    moved = pd.to_datetime(dates) + pd.to_timedelta(np.asarray(days), unit="D")
    return pd.Series(moved.dt.strftime("%Y-%m-%d").to_numpy(), index=dates.index)


def _money(values: npt.ArrayLike) -> npt.NDArray[np.object_]:
    return np.array([f"{v:.2f}" for v in np.asarray(values, dtype=float)], dtype=object)


@dataclass
class Injector:
    """Adds dirty rows to every table it is handed; see :func:`Injector.inject`.

    Parameters
    ----------
    rng : numpy.random.Generator
        The injection stream (never shared with the clean data).
    rate : float
        Dirty rows per clean row.
    firm_ids : numpy.ndarray
        The clean firm ids, so fresh codes avoid them.
    years : int
        Years of history; statements copied with a new key are moved back beyond it.
    """

    rng: np.random.Generator
    rate: float
    firm_ids: npt.NDArray[np.str_]
    years: int
    clean_seen: dict[str, int] = field(default_factory=dict)
    dirty_done: dict[str, int] = field(default_factory=dict)
    records: list[pd.DataFrame] = field(default_factory=list)
    _issued: list[str] = field(default_factory=list)
    _counters: dict[str, int] = field(default_factory=dict)
    _kind_order: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    _issued_pairs: set[str] = field(default_factory=set)
    _chunk: pa.Table | None = None

    # ----- helpers -------------------------------------------------------------------------
    def fresh_codes(self, n: int, regions: npt.ArrayLike | None = None) -> npt.NDArray[np.str_]:
        """Valid USCCs held by no clean firm and not issued before (random districts unless
        ``regions`` gives one per code)."""
        if regions is None:
            districts = np.array(list(DISTRICTS), dtype=str)
            regions = districts[self.rng.integers(0, districts.size, n)]
        exclude = np.concatenate([self.firm_ids, np.asarray(self._issued, dtype=str)])
        codes = unique_codes(self.rng, regions, exclude)
        self._issued.extend(codes.tolist())
        return codes

    def _fresh_for_firms(self, df: pd.DataFrame) -> npt.NDArray[np.str_]:
        """Fresh codes whose region part is each copied firm's own region code."""
        return self.fresh_codes(len(df), df["region_code"].astype(str).to_numpy())

    def new_ids(self, prefix: str, width: int, start: int, n: int) -> npt.NDArray[np.object_]:
        """``n`` new ids ``prefix`` + zero-padded number, continuing a per-prefix counter."""
        first = self._counters.get(prefix, start)
        self._counters[prefix] = first + n
        numbers = np.arange(first, first + n).astype(str)
        return np.char.add(prefix, np.char.zfill(numbers, width)).astype(object)

    def _pick(self, options: tuple[str, ...], n: int) -> npt.NDArray[np.object_]:
        return np.asarray(options, dtype=object)[self.rng.integers(0, len(options), n)]

    def _next_number_id(self, df: pd.DataFrame, key: str, prefix: str, clean: int) -> None:
        width = len(str(df[key].iloc[0])) - len(prefix)
        df[key] = self.new_ids(prefix, width, clean + 1, len(df))

    def _replacement_firms(self, df: pd.DataFrame) -> None:
        """Move campaign rows to firms the campaign did not target (a new, unused key)."""
        assert self._chunk is not None
        clean = (pd.Series(self._chunk.column("campaign_id").to_numpy(zero_copy_only=False),
                           dtype=object) + "|"
                 + pd.Series(self._chunk.column("firm_id").to_numpy(zero_copy_only=False),
                             dtype=object))
        taken = set(clean.tolist()) | self._issued_pairs
        campaign = df["campaign_id"].to_numpy(dtype=object)
        firms = df["firm_id"].to_numpy(dtype=object).copy()
        todo = np.ones(len(df), dtype=bool)
        while todo.any():
            firms[todo] = self.firm_ids[self.rng.integers(0, self.firm_ids.size, todo.sum())]
            pairs = pd.Series(campaign + "|" + firms, dtype=object)
            todo = (pairs.isin(taken) | pairs.duplicated()).to_numpy()
        self._issued_pairs.update((campaign + "|" + firms).tolist())
        df["firm_id"] = firms

    # ----- defects -------------------------------------------------------------------------
    def _firm_uscc(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        codes = self._fresh_for_firms(df)
        body = np.array([c[:17] for c in codes], dtype=object)
        check = np.array([ALPHABET.index(c[17]) for c in codes])
        wrong = np.asarray(list(ALPHABET))[(check + self.rng.integers(1, 31, len(df))) % 31]
        df["firm_id"] = body + wrong.astype(object)
        return "firm_id", "wrong USCC check character"

    def _firm_industry(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        df["firm_id"] = self._fresh_for_firms(df)
        df["industry_code"] = self._pick(_BAD_INDUSTRIES, len(df))
        return "industry_code", "industry code not in GB/T 4754-2017"

    def _firm_founded(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        df["firm_id"] = self._fresh_for_firms(df)
        df["founded_on"] = corrupt_dates(self.rng, df["founded_on"])
        return "founded_on", "founding date cannot be parsed"

    def _firm_employees(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        df["firm_id"] = self._fresh_for_firms(df)
        df["employees"] = self._pick(_BAD_INTS, len(df))
        return "employees", "employee count cannot be parsed"

    def _duplicate(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        return "+".join(_KEYS[table]), "exact copy of an earlier row (same key)"

    def _statement_new_key(self, df: pd.DataFrame) -> None:
        """Move the period back beyond the history, keeping publication lag and period type."""
        period = pd.to_datetime(df["period_end"])
        moved = period - pd.DateOffset(years=self.years + 2)
        lag = (pd.to_datetime(df["published_on"]) - period).dt.days
        df["period_end"] = moved.dt.strftime("%Y-%m-%d").to_numpy()
        df["published_on"] = _shift_days(df["period_end"], lag.to_numpy())

    def _stmt_negative_assets(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._statement_new_key(df)
        ta = pd.to_numeric(df["total_assets"]).to_numpy()
        tl = pd.to_numeric(df["total_liabilities"]).to_numpy()
        neg = -np.maximum(np.abs(ta), 1.0)
        df["total_assets"] = _money(neg)
        df["current_assets"] = _money(neg)  # kept ≤ total assets
        df["equity"] = _money(neg - tl)
        return "total_assets", ("total assets negative (equity restated so the identity "
                                "holds; current assets set equal)")

    def _stmt_balance(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._statement_new_key(df)
        ta = pd.to_numeric(df["total_assets"]).to_numpy()
        tl = pd.to_numeric(df["total_liabilities"]).to_numpy()
        gap = np.maximum(0.06 * np.abs(ta), 5000.0) * self.rng.uniform(1.0, 3.0, len(df))
        df["equity"] = _money(ta - tl + gap)
        return "equity", "total assets differ from liabilities + equity by 6 % or more"

    def _stmt_date_order(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._statement_new_key(df)
        df["published_on"] = _shift_days(df["period_end"], -self.rng.integers(1, 61, len(df)))
        return "published_on", "published before the period ended"

    def _stmt_unparseable(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._statement_new_key(df)
        df["revenue"] = self._pick(_BAD_NUMBERS, len(df))
        return "revenue", "revenue cannot be parsed as a number"

    def _unknown_firm(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        df["firm_id"] = self.fresh_codes(len(df))
        if table in _NEW_ID:
            key, prefix = _NEW_ID[table]
            self._new_id(df, table, key, prefix)
        return "firm_id", "firm id is a valid USCC that is not in firms"

    def _new_id(self, df: pd.DataFrame, table: str, key: str, prefix: str) -> None:
        if table == "transactions":
            df[key] = self.new_ids("T9", 11, 1, len(df))
        else:
            self._next_number_id(df, key, prefix, self.clean_seen[table])

    def _bureau_negative(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        df["report_date"] = _shift_days(df["report_date"], np.ones(len(df)))
        df["lenders"] = (-self.rng.integers(1, 6, len(df))).astype(str)
        return "lenders", "negative number of lenders"

    def _bureau_window(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        df["report_date"] = _shift_days(df["report_date"], np.ones(len(df)))
        od24 = pd.to_numeric(df["overdue_count_24m"]).to_numpy()
        df["overdue_count_12m"] = (od24 + self.rng.integers(1, 4, len(df))).astype(str)
        return "overdue_count_12m", "12-month overdue count exceeds the 24-month count"

    def _bad_date(self, df: pd.DataFrame, table: str, column: str) -> tuple[str, str]:
        if table in _NEW_ID:
            key, prefix = _NEW_ID[table]
            self._new_id(df, table, key, prefix)
        df[column] = corrupt_dates(self.rng, df[column])
        return column, f"{column} cannot be parsed as a date"

    def _bureau_date(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        return self._bad_date(df, table, "report_date")

    def _txn_date(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        return self._bad_date(df, table, "txn_date")

    def _repayment_date(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        return self._bad_date(df, table, "due_date")

    def _txn_amount(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._new_id(df, table, "txn_id", "T")
        df["amount"] = self._pick(_BAD_NUMBERS, len(df))
        return "amount", "amount cannot be parsed as a number"

    def _txn_channel(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._new_id(df, table, "txn_id", "T")
        df["channel"] = self._pick(_BAD_CHANNELS, len(df))
        return "channel", "channel is not an allowed code"

    def _loan_amount(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._new_id(df, table, "loan_id", "L")
        df["amount"] = _money(-np.maximum(pd.to_numeric(df["amount"]).to_numpy(), 1.0))
        return "amount", "negative loan amount"

    def _loan_dates(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._new_id(df, table, "loan_id", "L")
        df["maturity_date"] = _shift_days(df["start_date"], -self.rng.integers(1, 366, len(df)))
        return "maturity_date", "matures before it starts"

    def _loan_product(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._new_id(df, table, "loan_id", "L")
        df["product"] = self._pick(_BAD_PRODUCTS, len(df))
        return "product", "product is not an allowed code"

    def _repayment_unknown(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        width = len(str(df["loan_id"].iloc[0])) - 1
        df["loan_id"] = self.new_ids("L", width, self.clean_seen.get("loans", 0) + 1, len(df))
        return "loan_id", "loan id not in loans"

    def _repayment_negative(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        df["due_date"] = _shift_days(df["due_date"], np.ones(len(df)))
        df["amount_due"] = _money(-np.maximum(pd.to_numeric(df["amount_due"]).to_numpy(), 1.0))
        return "amount_due", "negative amount due"

    def _campaign_product(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._replacement_firms(df)
        df["product"] = self._pick(_BAD_PRODUCTS, len(df))
        return "product", "product is not an allowed code"

    def _campaign_date(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._replacement_firms(df)
        df["contact_date"] = ""
        return "contact_date", "required contact date is empty"

    def _doc_source(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._new_id(df, table, "doc_id", "D")
        df["source"] = self._pick(_BAD_SOURCES, len(df))
        return "source", "source is not an allowed code"

    def _doc_text(self, df: pd.DataFrame, table: str) -> tuple[str, str]:
        self._new_id(df, table, "doc_id", "D")
        df["text"] = ""
        return "text", "required text is empty"

    # ----- the public step -----------------------------------------------------------------
    def inject(self, table: Table, chunk: pa.Table, row_offset: int, last: bool) -> pa.Table:
        """Add this chunk's share of dirty rows at random positions.

        Parameters
        ----------
        table : Table
            The contract table.
        chunk : pyarrow.Table
            Clean rows, every column as text.
        row_offset : int
            Data rows already written to the file.
        last : bool
            Whether this is the table's final chunk.

        Returns
        -------
        pyarrow.Table
            Clean and dirty rows interleaved, every column a plain string column.
        """
        name = table.name
        chunk = chunk.cast(pa.schema([(f, pa.string()) for f in table.field_names]))
        m = chunk.num_rows
        seen = self.clean_seen.get(name, 0) + m
        done = self.dirty_done.get(name, 0)
        self.clean_seen[name] = seen
        target = round(self.rate * seen)
        if last and target == 0 and seen > 0:
            target = 1
        d = int(min(max(target - done, 0), m))
        if d == 0:
            return chunk
        defects = _DEFECTS[name]
        if name not in self._kind_order:
            self._kind_order[name] = self.rng.permutation(len(defects))
        kinds = self._kind_order[name][(done + np.arange(d)) % len(defects)]
        self.dirty_done[name] = done + d
        src = self.rng.choice(m, size=d, replace=False)
        self._chunk = chunk
        frames, logs = [], []
        for k in np.unique(kinds):
            rows = src[kinds == k]
            rule, apply = defects[k]
            df = chunk.take(pa.array(rows)).to_pandas().astype(object)
            df = df.where(df.notna(), None)
            fld, description = apply(self, df, name)
            if rule == "duplicate_key":
                value = df[list(_KEYS[name])].astype(str).agg("+".join, axis=1)
            else:
                value = df[fld].astype(object).where(df[fld].notna(), "")
            frames.append(df)
            logs.append(pd.DataFrame({"source": rows, "rule": rule, "field": fld,
                                      "value": value.to_numpy(), "description": description}))
        dirty = pd.concat(frames, ignore_index=True)
        log = pd.concat(logs, ignore_index=True)
        u = self.rng.random(d)
        dup = (log["rule"] == "duplicate_key").to_numpy()
        source = log["source"].to_numpy()
        slot = np.where(dup, source + 1 + np.floor(u * (m - source)),
                        np.floor(u * (m + 1))).astype(np.int64)
        keys = np.concatenate([2 * np.arange(m) + 1, 2 * slot])
        order = np.argsort(keys, kind="stable")
        dirty_table = pa.Table.from_pandas(dirty, schema=chunk.schema, preserve_index=False)
        combined = pa.concat_tables([chunk, dirty_table]).take(pa.array(order))
        position = np.empty(m + d, dtype=np.int64)
        position[order] = np.arange(m + d)
        log.insert(0, "row_number", row_offset + position[m:] + 1)
        log.insert(0, "table", name)
        self.records.append(log.drop(columns="source"))
        return combined

    def record_table(self) -> pd.DataFrame:
        """Every dirty row written so far (columns :data:`RECORD_COLUMNS`)."""
        if not self.records:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in RECORD_COLUMNS})
        out = pd.concat(self.records, ignore_index=True)
        return out.sort_values(["table", "row_number"], kind="stable")[list(RECORD_COLUMNS)]


_KEYS: dict[str, tuple[str, ...]] = {t.name: t.key for t in TABLES}
#: Tables whose dirty copies get a fresh id: table → (id column, prefix).
_NEW_ID: dict[str, tuple[str, str]] = {
    "transactions": ("txn_id", "T"), "loans": ("loan_id", "L"), "documents": ("doc_id", "D"),
}
_DEFECTS: dict[str, list[Defect]] = {
    "firms": [
        ("uscc", Injector._firm_uscc), ("industry", Injector._firm_industry),
        ("unparseable", Injector._firm_founded), ("unparseable", Injector._firm_employees),
        ("duplicate_key", Injector._duplicate),
    ],
    "financial_statements": [
        ("range", Injector._stmt_negative_assets), ("balance_sheet", Injector._stmt_balance),
        ("date_order", Injector._stmt_date_order), ("unparseable", Injector._stmt_unparseable),
        ("unknown_reference", Injector._unknown_firm), ("duplicate_key", Injector._duplicate),
    ],
    "bureau_reports": [
        ("unknown_reference", Injector._unknown_firm), ("range", Injector._bureau_negative),
        ("window_order", Injector._bureau_window),
        ("unparseable", Injector._bureau_date),
        ("duplicate_key", Injector._duplicate),
    ],
    "transactions": [
        ("unknown_reference", Injector._unknown_firm), ("unparseable", Injector._txn_amount),
        ("unparseable", Injector._txn_date),
        ("choice", Injector._txn_channel), ("duplicate_key", Injector._duplicate),
    ],
    "loans": [
        ("unknown_reference", Injector._unknown_firm), ("range", Injector._loan_amount),
        ("date_order", Injector._loan_dates), ("choice", Injector._loan_product),
        ("duplicate_key", Injector._duplicate),
    ],
    "repayments": [
        ("unknown_reference", Injector._repayment_unknown),
        ("unparseable", Injector._repayment_date),
        ("range", Injector._repayment_negative), ("duplicate_key", Injector._duplicate),
    ],
    "campaign_contacts": [
        ("unknown_reference", Injector._unknown_firm), ("choice", Injector._campaign_product),
        ("required", Injector._campaign_date), ("duplicate_key", Injector._duplicate),
    ],
    "documents": [
        ("unknown_reference", Injector._unknown_firm), ("choice", Injector._doc_source),
        ("required", Injector._doc_text), ("duplicate_key", Injector._duplicate),
    ],
}

