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

from creditpersona.contract.readers import RejectedRow
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
#: NUL and the other C0 control characters and DEL; tab and line breaks are allowed in text.
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
#: Every character a message shows escaped (control characters, tab and line breaks too).
CONTROL_CHARACTERS_ALL = r"[\x00-\x1f\x7f]"
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


def conform(data: pa.Table, table: Table, source: str | None = None) -> pa.Table:
    """Keep the contract's columns and make each either text or a type of its own family.

    A Parquet column typed as the contract expects is kept as it is; any other type becomes
    text, so that the validator can say which values do not parse rather than failing. Text
    is trimmed and an empty value becomes missing.
    Columns the contract does not name are ignored. ``source`` names the file in messages.

    Raises
    ------
    SchemaError
        If a contract column is missing.
    """
    from creditpersona.errors import SchemaError

    present = {name.strip(): name for name in data.column_names}
    missing = [f.name for f in table.fields if f.name not in present and not f.added]
    if missing:
        raise SchemaError(
            f"{source or table.name}: the file lacks the column(s) {', '.join(missing)} of "
            f"table {table.name}; the contract "
            f"(docs/data-contract.md) requires {', '.join(table.field_names)}. Rename or add "
            "the columns and ingest again."
        )
    arrays, names = [], []
    for f in table.fields:
        if f.name not in present:  # an optional field added later: the file predates it
            arrays.append(pa.nulls(data.num_rows, pa.string()))
            names.append(f.name)
            continue
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
        if f.dtype in ("int", "float"):
            # Read every number as a double too: DuckDB reads 'inf', 'nan' and '1e309' as
            # doubles and rounds 3.7 to 4 when it casts to an integer, so both are caught
            # here and the value is left empty rather than loaded wrong.
            number = value if f.dtype == "float" else _parse(text, Field(f.name, "float", "", ""))
            finite = ~(number.isinf() | number.isnan())
            non_finite = number.notnull() & ~finite
            odd = non_finite
            add("non_finite", f.name, non_finite)
            if f.dtype == "int":
                not_whole = number.notnull() & finite & (
                    ibis.ifelse(finite, number % 1, 0.0) != 0)
                add("not_whole", f.name, not_whole)
                odd = odd | not_whole
            add("unparseable", f.name, text.notnull() & value.isnull() & ~_flag(odd), f.dtype)
            values[f.name] = ibis.ifelse(_flag(odd), ibis.null(_IBIS_TYPE[f.dtype]), value)
        elif f.dtype != "string":
            add("unparseable", f.name, text.notnull() & value.isnull(), f.dtype)
        else:
            add("control_character", f.name, text.re_search(CONTROL_CHARACTERS))
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
    *,
    earlier: ir.Table | None = None,
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
    earlier : ibis.Table, optional
        When a file is checked in chunks, :func:`chunk_keys` of its earlier chunks: a key
        seen there is a duplicate whose ``_first_row`` is the earlier row.

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
    if earlier is not None:
        again = keyed.inner_join(earlier, key).select(
            ROW, FIRST_ROW, **{EXISTING_LOAD: ibis.null("int64")})
        dups = dups.union(again)
    add("duplicate_key", ",".join(key), dups)
    return tuple(checks), sets


def chunk_keys(parsed: ir.Table, table: Table) -> ir.Table:
    """The key and row number (as ``_first_row``) of every row of a checked chunk, for the
    duplicate check of the file's later chunks (see :func:`cross_row_checks`)."""
    return parsed.select(*table.key, **{FIRST_ROW: parsed[ROW]})


def raw_text(data: pa.Table, table: Table, rows: np.ndarray) -> pa.Table:
    """The raw text of some rows of a conformed batch: ``_row`` and ``_raw_<field>`` columns.

    Parameters
    ----------
    data : pyarrow.Table
        A conformed batch with its ``_row`` column in file order.
    table : Table
        The contract table.
    rows : numpy.ndarray
        Row numbers (``_row`` values) of rows in the batch.
    """
    rows = np.asarray(rows, dtype=np.int64)
    index = pa.array(np.searchsorted(data.column(ROW).to_numpy(), rows))
    taken = data.select(list(table.field_names)).take(index)
    columns = {ROW: pa.array(rows)}
    for name in table.field_names:
        column = taken.column(name)
        columns[RAW_PREFIX + name] = (column if pa.types.is_string(column.type)
                                      else pc.cast(column, pa.string()))
    return pa.table(columns)


def raw_schema(table: Table) -> ibis.Schema:
    """The schema of :func:`raw_text` tables."""
    return ibis.schema({ROW: "int64", **{RAW_PREFIX + n: "string" for n in table.field_names}})


def good_rows_sql(table: Table, local: Sequence[Check], parsed: str,
                  flagged: Sequence[str]) -> str:
    """One ``INSERT … SELECT`` that loads a chunk's good rows (no row-local flag, in
    none of the cross-row sets) into the contract table, the load id as parameter ``$1``.

    Parameters
    ----------
    table : Table
        The contract table (also the name of the store table written).
    local : sequence of Check
        The row-local checks (flag columns of ``parsed``).
    parsed : str
        The table of :func:`parse` output.
    flagged : sequence of str
        The tables of the ``_row`` each cross-row check flags.
    """
    wanted = " OR ".join(_q(c.column) for c in local) or "false"
    joins = " ".join(f"ANTI JOIN {_q(name)} s{i} ON p.{ROW} = s{i}.{ROW}"
                     for i, name in enumerate(flagged))
    columns = [_q(n) for n in table.field_names]
    return (f"INSERT INTO {_q(table.name)} ({', '.join(columns)}, load_id) "
            f"SELECT {', '.join('p.' + c for c in columns)}, $1::BIGINT "
            f"FROM (SELECT * FROM {_q(parsed)} WHERE NOT ({wanted})) p {joins}")


def _cross(rule: CrossRule, values: dict[str, ir.Value]) -> ir.BooleanValue:
    if rule.kind == "response":
        response, responded, treated = (values[n] for n in rule.fields)
        taken = response == "taken"
        return response.notnull() & ((taken != responded) | ~treated)
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


def _lit(text: str) -> str:
    """A SQL string literal (for the contract's own words, never for data)."""
    return "'" + text.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """A quoted SQL identifier (for names the code makes, never for data)."""
    return '"' + name.replace('"', '""') + '"'


#: The short name the SQL builders below use.
_q = quote_identifier


_QUOTE = _lit("'")
#: SQL: ``x`` with every control character written as ``\\xNN``.
_ESCAPED = ("list_aggregate(list_transform(string_split({x}, ''), lambda c: CASE WHEN ord(c) < 32 "
            "OR ord(c) = 127 THEN " + _lit("\\x") + " || lower(lpad(hex(ord(c)), 2, '0')) ELSE c "
            "END), 'string_agg', '')")


def _shown(x: str) -> str:
    """SQL: a value as a message quotes it — in quotes, backslashes, quotes and control
    characters escaped, ``empty`` for a missing value."""
    plain = f"replace(replace({x}, {_lit(chr(92))}, {_lit(chr(92) * 2)}), {_QUOTE}, " \
            f"{_lit(chr(92) + chr(39))})"
    escaped = _ESCAPED.format(x=plain)
    return (f"CASE WHEN {x} IS NULL THEN 'empty' ELSE {_QUOTE} || CASE WHEN "
            f"regexp_matches({x}, {_lit(CONTROL_CHARACTERS_ALL)}) THEN {escaped} ELSE {plain} "
            f"END || {_QUOTE} END")


def _uscc_check_character(x: str) -> str:
    """SQL: the GB 32100 check character of the first 17 characters of ``x``."""
    alphabet = _lit(uscc.ALPHABET)
    total = " + ".join(f"(strpos({alphabet}, substr({x}, {i + 1}, 1)) - 1) * {w}"
                       for i, w in enumerate(uscc.WEIGHTS))
    return f"substr({alphabet}, ((31 - ({total}) % 31) % 31) + 1, 1)"


def _message_sql(check: Check, table: Table) -> str:
    """SQL: one problem of a row breaking ``check``, phrased for the person who must fix it."""
    name = check.field
    raw = _q(RAW_PREFIX + name)
    shown = _shown(raw)

    def says(before: str, after: str) -> str:
        return f"{_lit(before)} || {shown} || {_lit(after)}"

    if check.rule == "required":
        return _lit(f"{name} is empty but required; fill it in the source and ingest the file "
                    "again")
    if check.rule == "unparseable":
        expected = {"date": "a date YYYY-MM-DD", "int": "a whole number",
                    "float": "a number", "bool": "true or false"}[check.detail]
        return says(f"{name} = ", f" is not {expected}; correct the value in the source")
    if check.rule == "non_finite":
        return says(f"{name} = ", " is not a finite number (infinity or not-a-number); write "
                    "the real amount, or leave it empty if the field is optional")
    if check.rule == "not_whole":
        return says(f"{name} = ", " is not a whole number but the field counts whole units; "
                    "correct the value in the source")
    if check.rule == "control_character":
        return says(f"{name} = ", " holds a control character (NUL or another invisible code, "
                    "shown escaped); remove it in the source")
    if check.rule == "uscc":
        code = f"trim({raw})"
        expected = _uscc_check_character(code)
        why = (f"CASE WHEN regexp_full_match({code}, '[0-9A-HJ-NP-RTUWXY]{{18}}') THEN "
               f"{_lit('its check character should be ')} || {_QUOTE} || {expected} || {_QUOTE} "
               f"ELSE {_lit('it is not 18 characters of the GB 32100 alphabet')} END")
        return (f"{_lit(f'{name} = ')} || {shown} || "
                f"{_lit(' is not a valid unified social credit code (')} || {why} || "
                f"{_lit('); check the code against the business registry')}")
    if check.rule == "industry":
        return says(f"{name} = ", " is not a GB/T 4754-2017 code; use the section letter and "
                    "division, e.g. C38 or C3811")
    if check.rule == "region":
        return says(f"{name} = ", " is not a GB/T 2260 region code; use six digits, e.g. 310115")
    if check.rule == "choice":
        allowed = ", ".join(table.field(name).choices or ())
        return says(f"{name} = ", f" is not one of {allowed}; map it to a contract code")
    if check.rule == "range":
        bound = check.detail.replace("min", "below the minimum").replace("max", "above the maximum")
        return says(f"{name} = ", f" is {bound}; fix the source or drop the row")
    if check.rule in ("date_order", "window_order", "component_exceeds_total"):
        rule = table.cross_rules[int(check.detail)]
        a, b = rule.fields
        return (f"{_lit(f'{a} = ')} || {_shown(_q(RAW_PREFIX + a))} || {_lit(f' but {b} = ')} "
                f"|| {_shown(_q(RAW_PREFIX + b))} || {_lit(f': {rule.text}; correct the source')}")
    if check.rule == "response_mismatch":
        rule = table.cross_rules[int(check.detail)]
        r, resp, tr = (_shown(_q(RAW_PREFIX + n)) for n in rule.fields)
        why = _lit(f": {rule.text}; correct the source")
        return (f"{_lit('response = ')} || {r} || {_lit(' but responded = ')} || {resp} || "
                f"{_lit(' and treated = ')} || {tr} || {why}")
    if check.rule == "balance_sheet":
        ta, tl, eq = (_q(n) for n in table.cross_rules[int(check.detail)].fields)
        gap = f"({ta} - {tl} - {eq})"
        money = _lit("{:,.2f}")
        return (f"'total_assets ' || format({money}, {ta}) || ' ≠ total_liabilities ' || "
                f"format({money}, {tl}) || ' + equity ' || format({money}, {eq}) || "
                f"' (off by ' || format({money}, {gap}) || ', ' || format({_lit('{:.1f}%')}, "
                f"abs({gap}) / greatest(abs({ta}), 1) * 100) || "
                f"{_lit(f'; tolerance {BALANCE_SHEET_TOLERANCE:.1%}); correct the statement')}")
    if check.rule == "unknown_reference":
        parent = table.field(name).references or ""
        return says(f"{name} = ", f" is not in {parent}; load that record first or correct the "
                    "reference")
    if check.rule == "duplicate_key":
        loaded = _lit("this key is already loaded (load ")
        resend = _lit("); correct the key, or remove the row if it is a resend")
        first = _lit(" of this file has the same key and was read first; remove the duplicate "
                     "or correct its key")
        return (f"CASE WHEN {EXISTING_LOAD} IS NOT NULL THEN {loaded} || {EXISTING_LOAD} || "
                f"{resend} ELSE 'row ' || {FIRST_ROW} || {first} END")
    raise AssertionError(f"no message for rule {check.rule!r}")


def _bad_rows_sql(table: Table, local: Sequence[Check], cross: Sequence[Check], parsed: str,
                  raw: str, sets: dict[str, str]) -> str:
    """The bad rows of ``parsed``: their raw text, cross-row flags and duplicate origins."""
    joins, marks, cross_flags = [], [], []
    extra = [f"NULL::BIGINT AS {FIRST_ROW}", f"NULL::BIGINT AS {EXISTING_LOAD}"]
    for i, check in enumerate(cross):
        alias = f"s{i}"
        if check.rule == "duplicate_key":
            joins.append(f"LEFT JOIN (SELECT {ROW}, min({FIRST_ROW}) AS {FIRST_ROW}, "
                         f"min({EXISTING_LOAD}) AS {EXISTING_LOAD} FROM {_q(sets[check.column])}"
                         f" GROUP BY {ROW}) {alias} ON {alias}.{ROW} = p.{ROW}")
            extra = [f"{alias}.{FIRST_ROW}", f"{alias}.{EXISTING_LOAD}"]
        else:
            joins.append(f"LEFT JOIN (SELECT DISTINCT {ROW} FROM {_q(sets[check.column])}) "
                         f"{alias} ON {alias}.{ROW} = p.{ROW}")
        marks.append(f"{alias}.{ROW} IS NOT NULL")
        cross_flags.append(f"{alias}.{ROW} IS NOT NULL AS {_q(check.column)}")
    raws = [f"CASE WHEN r.{ROW} IS NOT NULL THEN r.{_q(RAW_PREFIX + n)} ELSE "
            f"CAST(p.{_q(n)} AS VARCHAR) END AS {_q(RAW_PREFIX + n)}" for n in table.field_names]
    wanted = " OR ".join([*(f"p.{_q(c.column)}" for c in local), *marks]) or "false"
    return (f"SELECT p.*, {', '.join([*raws, *cross_flags, *extra])} FROM {_q(parsed)} p "
            f"LEFT JOIN {_q(raw)} r ON r.{ROW} = p.{ROW} {' '.join(joins)} WHERE {wanted}")


def quarantine_sql(
    table: Table,
    local: Sequence[Check],
    cross: Sequence[Check],
    parsed: str,
    raw: str,
    sets: dict[str, str],
    fmt: str,
) -> str:
    """One ``INSERT … SELECT`` that writes every bad row's quarantine record inside DuckDB.

    The message of a row lists every problem it has, in check order. Built as column
    expressions, a million records cost the engine seconds and little memory, where a loop
    over rows took minutes and gigabytes.

    Parameters
    ----------
    table : Table
        The contract table.
    local, cross : sequence of Check
        The row-local checks (flag columns of ``parsed``) and the cross-row checks.
    parsed : str
        The table of :func:`parse` output for the whole file.
    raw : str
        The table of :func:`raw_text` rows: every row breaking a row-local check.
    sets : dict of str to str
        For each cross-row check column, the table of the ``_row`` it flags (for duplicates
        also ``_first_row`` and ``_existing_load``).
    fmt : str
        The reader format; CSV and Excel rows get a line.

    Returns
    -------
    str
        SQL with two parameters: ``$1`` the load id, ``$2`` the source file as it should
        appear in the quarantine.
    """
    wide = _bad_rows_sql(table, local, cross, parsed, raw, sets)
    checks = [*local, *cross]
    flag = [_q(c.column) for c in checks]
    pairs = list(zip(flag, checks, strict=True))
    problems = ", ".join(f"CASE WHEN {f} THEN {_message_sql(c, table)} END" for f, c in pairs)
    first_rule = " ".join(f"WHEN {f} THEN {_lit(c.rule)}" for f, c in pairs)
    first_field = " ".join(f"WHEN {f} THEN {_lit(c.field)}" for f, c in pairs)
    rules = []
    for i, c in enumerate(checks):
        earlier = [flag[j] for j in range(i) if checks[j].rule == c.rule]
        unseen = f" AND NOT ({' OR '.join(earlier)})" if earlier else ""
        rules.append(f"CASE WHEN {flag[i]}{unseen} THEN {_lit(c.rule)} END")
    key = " || '; ' || ".join(f"{_lit(k + '=')} || coalesce({_q(RAW_PREFIX + k)}, '')"
                              for k in table.key)
    lined = fmt in ("csv", "excel")
    line = f"{ROW} + 1" if lined else "NULL::BIGINT"
    where = f"'line ' || ({ROW} + 1)" if lined else f"'row ' || {ROW}"
    raw_json = ", ".join(f"{_lit(n)}: {_q(RAW_PREFIX + n)}" for n in table.field_names)
    return f"""
        INSERT INTO quarantine (load_id, {', '.join(QUARANTINE_COLUMNS)})
        SELECT $1::BIGINT, {_lit(table.name)}, $2::VARCHAR, {ROW}, {line}, {key},
               CASE {first_rule} END, concat_ws(',', {', '.join(rules)}),
               CASE {first_field} END,
               {_lit(table.name + ' row ')} || {key} || ' (' || $2::VARCHAR || ' ' || {where}
                   || '): ' || concat_ws('; ', {problems}) || '.',
               to_json({{{raw_json}}})::VARCHAR
        FROM ({wide}) AS bad
    """


def describe_rejected(
    rejected: Sequence[RejectedRow], table: Table, source: str, fmt: str
) -> pd.DataFrame:
    """Quarantine records for rows the reader set aside (wrong number of fields, bytes in no
    known encoding), with their line and the row's text.

    Examples
    --------
    >>> from creditpersona.contract.readers import RejectedRow
    >>> from creditpersona.contract.schema import FIRMS
    >>> q = describe_rejected([RejectedRow(7, 8, "ragged_row", "has 12 fields but the header "
    ...                        "has 11", "a,b")], FIRMS, "firms.csv", "csv")
    >>> print(q.loc[0, "message"])  # doctest: +NORMALIZE_WHITESPACE
    firms row 7 (firms.csv line 8): the row has 12 fields but the header has 11; split it into
    the header's 11 fields (quote a value that holds the separator) and ingest the file again.
    """
    advice = {
        "ragged_row": f"split it into the header's {len(table.fields)} fields (quote a value "
                      "that holds the separator) and ingest the file again",
        "undecodable": "save the file in one encoding, UTF-8 (or GBK throughout), and ingest "
                       "it again (without --encoding, or with the file's own)",
    }
    where = "line" if fmt in ("csv", "excel") else "row"
    return pd.DataFrame.from_records([{
        "table_name": table.name,
        "source_file": source,
        "row_number": r.row,
        "line": r.line,
        "row_key": "",
        "rule": r.rule,
        "rules": r.rule,
        "field": "",
        "message": f"{table.name} row {r.row} ({source} {where} {r.line}): the row {r.reason}; "
                   f"{advice[r.rule]}.",
        "raw_json": json.dumps({"text": r.text}, ensure_ascii=False),
    } for r in rejected], columns=list(QUARANTINE_COLUMNS))
