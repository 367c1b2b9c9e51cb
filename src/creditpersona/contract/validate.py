"""Enforce the data contract on a raw table, as Ibis expressions.

Every check of :mod:`creditpersona.contract.schema` becomes one boolean column over the raw
text of a file, so the work runs inside the query engine (DuckDB by default) in one pass and
the same expressions can run on Spark. :func:`checked` returns the parsed columns plus one
flag per check; :func:`describe_violations` turns the (few) flagged rows into the messages a
person reads in the quarantine table.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from creditpersona.contract.schema import (
    BALANCE_SHEET_ABS_TOLERANCE,
    BALANCE_SHEET_TOLERANCE,
    CrossRule,
    Field,
    Table,
)
from creditpersona.domain import industry, regions, uscc

ROW = "_row"
FIRST_ROW = "_first_row"
EXISTING_LOAD = "_existing_load"
RAW_PREFIX = "_raw_"
TRUE_WORDS = ("true", "t", "1", "yes", "y", "是")
FALSE_WORDS = ("false", "f", "0", "no", "n", "否")
_ARROW_FAMILY: dict[str, Callable[[pa.DataType], bool]] = {
    "int": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t),
    "float": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t),
    "date": lambda t: pa.types.is_date(t) or pa.types.is_timestamp(t),
    "bool": pa.types.is_boolean,
    "string": pa.types.is_string,
}
_IBIS_TYPE = {"int": "int64", "float": "float64", "date": "date", "bool": "boolean",
              "string": "string"}


@dataclass(frozen=True)
class Check:
    """One flag column: which rule and field it enforces, in the order messages are given."""

    column: str
    rule: str
    field: str
    detail: str = ""


def conform(data: pa.Table, table: Table) -> pa.Table:
    """Keep the contract's columns and make each either text or a type of its own family.

    A Parquet column typed as the contract expects is kept as it is; any other type becomes
    text, so that the validator can say which values do not parse rather than failing. Text
    is trimmed and an empty value becomes missing.
    Columns the contract does not name are ignored.

    Raises
    ------
    SchemaError
        If a contract column is missing.
    """
    from creditpersona.errors import SchemaError

    present = {name.strip(): name for name in data.column_names}
    missing = [f.name for f in table.fields if f.name not in present]
    if missing:
        raise SchemaError(
            f"{table.name}: the file lacks the column(s) {', '.join(missing)}; the contract "
            f"(docs/data-contract.md) requires {', '.join(table.field_names)}. Rename or add "
            "the columns and ingest again."
        )
    arrays, names = [], []
    for f in table.fields:
        col = data.column(present[f.name])
        if not _ARROW_FAMILY[f.dtype](col.type) and not pa.types.is_string(col.type):
            col = pc.cast(col, pa.string())
        elif pa.types.is_large_string(col.type):
            col = pc.cast(col, pa.string())
        if pa.types.is_string(col.type):
            # Trimming in Arrow costs a fraction of a second per column of twenty million
            # values; the same TRIM in the query engine costs several seconds.
            col = pc.utf8_trim_whitespace(col)
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
        arrays.append(col)
        names.append(f.name)
    arrays.append(data.column(ROW))
    names.append(ROW)
    return pa.Table.from_arrays(arrays, names=names)


def _parse(col: ir.Column, f: Field) -> ir.Value:
    if not col.type().is_string():
        return col.try_cast(_IBIS_TYPE[f.dtype]) if f.dtype != "string" else col
    if f.dtype == "string":
        return col
    if f.dtype in ("int", "float"):
        # The plain cast first: the rewrite is only evaluated where it fails.
        target = _IBIS_TYPE[f.dtype]
        return col.try_cast(target).coalesce(col.replace(",", "").try_cast(target))
    if f.dtype == "date":
        return col.try_cast("date").coalesce(col.replace("/", "-").try_cast("date"))
    low = col.lower()
    return ibis.cases((low.isin(TRUE_WORDS), True), (low.isin(FALSE_WORDS), False),
                      else_=ibis.null("boolean"))


def _uscc_valid(v: ir.StringValue) -> ir.BooleanValue:
    alphabet = ibis.literal(uscc.ALPHABET)
    total = functools.reduce(
        operator.add, [alphabet.find(v.substr(i, 1)) * w for i, w in enumerate(uscc.WEIGHTS)]
    )
    expected = (31 - total % 31) % 31
    well_formed = v.re_search("^[0-9A-HJ-NP-RTUWXY]{18}$")
    return well_formed & (alphabet.find(v.substr(17, 1)) == expected)


def _flag(pred: ir.BooleanValue) -> ir.BooleanValue:
    return pred.fill_null(False)


def parse(raw: ir.Table, table: Table) -> tuple[ir.Table, tuple[Check, ...]]:
    """Parse a conformed raw table and flag every row-local contract violation.

    Parameters
    ----------
    raw : ibis.Table
        The conformed source (see :func:`conform`), with its ``_row`` column.
    table : Table
        The contract table.

    Returns
    -------
    (ibis.Table, tuple of Check)
        The typed contract columns, ``_row`` and one flag column per check; the checks in
        message order. Materialise the table once: the cross-row checks and the load read it.
    """
    values: dict[str, ir.Value] = {f.name: _parse(raw[f.name], f) for f in table.fields}
    flags: dict[str, ir.BooleanValue] = {}
    checks: list[Check] = []

    def add(rule: str, fname: str, pred: ir.BooleanValue, detail: str = "") -> None:
        column = f"_v{len(checks)}"
        flags[column] = _flag(pred)
        checks.append(Check(column, rule, fname, detail))

    for f in table.fields:
        text, value = raw[f.name], values[f.name]
        if f.required:
            add("required", f.name, text.isnull())
        if f.dtype != "string":
            add("unparseable", f.name, text.notnull() & value.isnull(), f.dtype)
    for f in table.fields:
        value = values[f.name]
        if f.check == "uscc":
            add("uscc", f.name, value.notnull() & ~_uscc_valid(value))
        elif f.check == "industry":
            add("industry", f.name, value.notnull() & ~(
                value.re_search(industry.CODE_PATTERN)
                & value.substr(0, 3).isin(sorted(industry.VALID_PREFIXES))
            ))
        elif f.check == "region":
            add("region", f.name, value.notnull() & ~(
                value.re_search(regions.CODE_PATTERN)
                & value.substr(0, 2).isin(sorted(regions.PROVINCES))
            ))
        if f.choices:
            add("choice", f.name, value.notnull() & ~value.isin(f.choices))
        if f.min is not None:
            add("range", f.name, value < f.min, f"min {f.min:g}")
        if f.max is not None:
            add("range", f.name, value > f.max, f"max {f.max:g}")
    for i, rule in enumerate(table.cross_rules):
        add(rule.rule, ",".join(rule.fields), _cross(rule, values), str(i))
    return raw.select(**values, **{ROW: raw[ROW]}, **flags), tuple(checks)


def any_flag(parsed: ir.Table, checks: Sequence[Check]) -> ir.BooleanValue:
    """True for rows of ``parsed`` that break one of ``checks``."""
    return functools.reduce(operator.or_, [parsed[c.column] for c in checks])


def cross_row_checks(
    parsed: ir.Table,
    table: Table,
    parents: dict[str, ir.Table],
    existing: ir.Table | None,
    first_column: int,
) -> tuple[tuple[Check, ...], dict[str, ir.Table]]:
    """Checks across rows: references to parent tables and duplicate keys.

    Each is a narrow query on key columns that returns the offending row numbers, so it
    costs a hash join or aggregation, not another pass over the wide rows.

    Parameters
    ----------
    parsed : ibis.Table
        The (materialised) output of :func:`parse`.
    table : Table
        The contract table.
    parents : dict of str to ibis.Table
        For each referenced ``table.field``, the loaded parent table.
    existing : ibis.Table or None
        The rows already in the store, for duplicates against earlier loads.
    first_column : int
        Number of the first new flag column (after the row-local checks).

    Returns
    -------
    (tuple of Check, dict of str to ibis.Table)
        The checks, and per check column a table of ``_row`` (for duplicates also
        ``_first_row``, the row read first, or ``_existing_load``, the load holding the key).
    """
    checks: list[Check] = []
    sets: dict[str, ir.Table] = {}

    def add(rule: str, fname: str, rows: ir.Table) -> None:
        column = f"_v{first_column + len(checks)}"
        sets[column] = rows
        checks.append(Check(column, rule, fname))

    for f in table.fields:
        if f.references:
            parent = parents[f.references]
            known = parent.select(_ref=parent[f.references.split(".")[1]])
            refs = parsed.select(ROW, _ref=parsed[f.name]).filter(lambda t: t._ref.notnull())
            add("unknown_reference", f.name, refs.anti_join(known, "_ref").select(ROW))

    key = list(table.key)
    keyed = parsed.select(*key, ROW)
    repeated = (keyed.group_by(key)
                .agg(**{FIRST_ROW: keyed[ROW].min(), "_n": keyed.count()})
                .filter(lambda t: t._n > 1).select(*key, FIRST_ROW))
    later = keyed.inner_join(repeated, key).filter(lambda t: t[ROW] > t[FIRST_ROW])
    dups = later.select(ROW, FIRST_ROW, **{EXISTING_LOAD: ibis.null("int64")})
    if existing is not None:
        prior = existing.select(*key, **{EXISTING_LOAD: existing["load_id"]})
        loaded = keyed.inner_join(prior, key).select(
            ROW, **{FIRST_ROW: ibis.null("int64")}, **{EXISTING_LOAD: prior[EXISTING_LOAD]}
        )
        dups = dups.union(loaded)
    add("duplicate_key", ",".join(key), dups)
    return tuple(checks), sets


def raw_text(data: pa.Table, table: Table, rows: Sequence[int], first_row: int) -> pd.DataFrame:
    """The raw text of some rows of a conformed batch, as ``_raw_<field>`` columns.

    Parameters
    ----------
    data : pyarrow.Table
        A conformed batch whose first row is number ``first_row``.
    table : Table
        The contract table.
    rows : sequence of int
        Row numbers within the batch.
    first_row : int
        The row number of the batch's first row.
    """
    index = pa.array(np.asarray(rows, dtype=np.int64) - first_row)
    taken = data.select(list(table.field_names)).take(index)
    out = pd.DataFrame({ROW: np.asarray(rows, dtype=np.int64)})
    for name in table.field_names:
        column = taken.column(name)
        text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        out[RAW_PREFIX + name] = text.to_pylist()
    return out


def collect_violations(
    parsed: ir.Table,
    local: Sequence[Check],
    sets: dict[str, ir.Table],
    local_raw: pd.DataFrame,
    table: Table,
) -> pd.DataFrame:
    """Run the cross-row checks and return the bad rows with every flag and their raw text.

    Parameters
    ----------
    parsed : ibis.Table
        The materialised output of :func:`parse` for the whole file.
    local : sequence of Check
        The row-local checks.
    sets : dict of str to ibis.Table
        The cross-row checks of :func:`cross_row_checks`.
    local_raw : pandas.DataFrame
        Raw text (:func:`raw_text`) of the rows that break a row-local check. Rows that only
        break a cross-row check parsed cleanly, so their text is their parsed value.
    table : Table
        The contract table.

    Returns
    -------
    pandas.DataFrame
        One row per bad input row, in file order: the columns of ``parsed``, a boolean column
        per cross-row check, ``_first_row``, ``_existing_load`` and ``_raw_<field>``.
    """
    bad = parsed.filter(any_flag(parsed, local)).to_pandas().merge(local_raw, on=ROW)
    found = {column: rows.to_pandas() for column, rows in sets.items()}
    flagged: set[int] = set().union(*(set(df[ROW]) for df in found.values()))
    extra = flagged - set(bad[ROW])
    if extra:
        wanted = ibis.memtable(pd.DataFrame({ROW: sorted(extra)}, dtype="int64"))
        rows = parsed.semi_join(wanted, ROW)
        more = rows.mutate(
            **{RAW_PREFIX + n: rows[n].cast("string") for n in table.field_names}
        ).to_pandas()
        bad = pd.concat([bad, more], ignore_index=True) if len(bad) else more
    for column, rows_found in found.items():
        bad[column] = bad[ROW].isin(rows_found[ROW])
    details = pd.concat([df for df in found.values() if FIRST_ROW in df.columns])
    bad = bad.merge(details.drop_duplicates(ROW), how="left", on=ROW)
    return bad.sort_values(ROW, ignore_index=True)


def good_rows(parsed: ir.Table, local: Sequence[Check], bad: pd.DataFrame) -> ir.Table:
    """The rows to load: no row-local flag and not among ``bad``."""
    good = parsed.filter(~any_flag(parsed, local))
    cross_only = bad.loc[~bad[[c.column for c in local]].any(axis=1), ROW]
    if len(cross_only):
        drop = ibis.memtable(pd.DataFrame({ROW: cross_only.to_numpy()}, dtype="int64"))
        good = good.anti_join(drop, ROW)
    return good


def _cross(rule: CrossRule, values: dict[str, ir.Value]) -> ir.BooleanValue:
    if rule.kind == "le":
        a, b = (values[n] for n in rule.fields)
        return a.notnull() & b.notnull() & (a > b)
    ta, tl, eq = (values[n] for n in rule.fields)
    gap = (ta - tl - eq).abs()
    return gap > ibis.greatest(ta.abs() * BALANCE_SHEET_TOLERANCE, BALANCE_SHEET_ABS_TOLERANCE)


QUARANTINE_COLUMNS = (
    "table_name", "source_file", "row_number", "line", "row_key", "rule", "rules", "field",
    "message", "raw_json",
)


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "empty"
    return repr(value) if isinstance(value, str) else f"{value}"


def _message(check: Check, row: pd.Series, table: Table) -> str:
    """One problem of one row, phrased for the person who must fix it."""
    name = check.field
    raw = row.get(RAW_PREFIX + name)
    shown = _fmt(raw)
    if check.rule == "required":
        return f"{name} is empty but required; fill it in the source and ingest the file again"
    if check.rule == "unparseable":
        expected = {"date": "a date YYYY-MM-DD", "int": "a whole number",
                    "float": "a number", "bool": "true or false"}[check.detail]
        return f"{name} = {shown} is not {expected}; correct the value in the source"
    if check.rule == "uscc":
        code = str(raw).strip()
        body_ok = len(code) == 18 and all(ch in uscc.ALPHABET for ch in code)
        why = (f"its check character should be {uscc.check_character(code[:17])!r}"
               if body_ok else "it is not 18 characters of the GB 32100 alphabet")
        return f"{name} = {shown} is not a valid unified social credit code ({why}); " \
               "check the code against the business registry"
    if check.rule == "industry":
        return f"{name} = {shown} is not a GB/T 4754-2017 code; use the section letter and " \
               "division, e.g. C38 or C3811"
    if check.rule == "region":
        return f"{name} = {shown} is not a GB/T 2260 region code; use six digits, e.g. 310115"
    if check.rule == "choice":
        allowed = ", ".join(table.field(name).choices or ())
        return f"{name} = {shown} is not one of {allowed}; map it to a contract code"
    if check.rule == "range":
        bound = check.detail.replace("min", "below the minimum").replace("max", "above the maximum")
        return f"{name} = {shown} is {bound}; fix the source or drop the row"
    if check.rule in ("date_order", "window_order", "component_exceeds_total"):
        rule = table.cross_rules[int(check.detail)]
        a, b = rule.fields
        return f"{a} = {_fmt(row.get(RAW_PREFIX + a))} but {b} = " \
               f"{_fmt(row.get(RAW_PREFIX + b))}: {rule.text}; correct the source"
    if check.rule == "balance_sheet":
        ta, tl, eq = (float(row[n]) for n in table.cross_rules[int(check.detail)].fields)
        gap = ta - tl - eq
        return (f"total_assets {ta:,.2f} ≠ total_liabilities {tl:,.2f} + equity {eq:,.2f} "
                f"(off by {gap:,.2f}, {abs(gap) / max(abs(ta), 1):.1%}; tolerance "
                f"{BALANCE_SHEET_TOLERANCE:.1%}); correct the statement")
    if check.rule == "unknown_reference":
        parent = table.field(name).references or ""
        return f"{name} = {shown} is not in {parent}; load that record first or correct " \
               "the reference"
    if check.rule == "duplicate_key":
        if pd.notna(row.get(EXISTING_LOAD)):
            return f"this key is already loaded (load {int(row[EXISTING_LOAD])}); correct the " \
                   "key, or remove the row if it is a resend"
        return f"row {int(row[FIRST_ROW])} of this file has the same key and was read first; " \
               "remove the duplicate or correct its key"
    raise AssertionError(f"no message for rule {check.rule!r}")


def describe_violations(
    bad: pd.DataFrame, checks: Sequence[Check], table: Table, source: str, fmt: str
) -> pd.DataFrame:
    """Quarantine records, one per bad row, with every problem of the row in its message.

    Parameters
    ----------
    bad : pandas.DataFrame
        The flagged rows of :func:`checked`.
    checks : sequence of Check
        As returned by :func:`checked`.
    table : Table
        The contract table.
    source : str
        The source file, as it should appear in the quarantine.
    fmt : str
        The reader format (``csv``, ``parquet``, ``excel``); CSV and Excel rows get a line.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`QUARANTINE_COLUMNS`, in file order.
    """
    records = []
    for _, row in bad.sort_values(ROW).iterrows():
        failed = [c for c in checks if bool(row[c.column])]
        key = "; ".join(f"{k}={row.get(RAW_PREFIX + k)}" for k in table.key)
        number = int(row[ROW])
        where = f"line {number + 1}" if fmt in ("csv", "excel") else f"row {number}"
        problems = "; ".join(_message(c, row, table) for c in failed)
        raw = {f.name: row.get(RAW_PREFIX + f.name) for f in table.fields}
        records.append({
            "table_name": table.name,
            "source_file": source,
            "row_number": number,
            "line": number + 1 if fmt in ("csv", "excel") else None,
            "row_key": key,
            "rule": failed[0].rule,
            "rules": ",".join(dict.fromkeys(c.rule for c in failed)),
            "field": failed[0].field,
            "message": f"{table.name} row {key} ({source} {where}): {problems}.",
            "raw_json": json.dumps(
                {k: (None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
                 for k, v in raw.items()}, ensure_ascii=False),
        })
    return pd.DataFrame.from_records(records, columns=list(QUARANTINE_COLUMNS))
