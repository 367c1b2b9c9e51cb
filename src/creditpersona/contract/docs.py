"""Render the data contract as Markdown (``docs/data-contract.md`` is this output)."""

from __future__ import annotations

from creditpersona.contract.schema import (
    BALANCE_SHEET_ABS_TOLERANCE,
    BALANCE_SHEET_TOLERANCE,
    RULES,
    TABLES,
    Table,
)

_TYPES = {"string": "text", "int": "integer", "float": "number", "date": "date (YYYY-MM-DD)",
          "bool": "boolean"}

INTRO = f"""# Data contract 数据契约

Generated from `src/creditpersona/contract/schema.py` by `creditpersona contract`; a test keeps
this file in step with the code. Do not edit it by hand.

**Amounts are RMB yuan (人民币元)**, not 万元, in every table. Firms are keyed by their unified
social credit code (统一社会信用代码, GB 32100-2015), called `firm_id` everywhere.

## How files are read
- One file feeds one table and is named after it (`firms.csv`, `transactions.parquet`,
  `loans.xlsx`), or `creditpersona ingest --table NAME FILE` says which table it feeds.
- CSV in UTF-8 (with or without BOM) or GBK/GB18030, Parquet, Excel (first sheet). The
  encoding is decided line by line: a line that is valid UTF-8 is read as UTF-8, any other as
  GB18030, so a file mixing both is read without mojibake; a line valid in neither is
  quarantined (`undecodable`). `--encoding` forces one encoding.
- CSV fields are separated by `,` `;` tab or `|` (detected from the first lines); a value that
  holds the separator, a quote or a line break is quoted (`"`), a quote inside it doubled.
  A row with more or fewer fields than the header is quarantined (`ragged_row`); a quote that
  is never closed, a header naming a column twice, a damaged Parquet or Excel file and an
  empty folder reject the load (exit code 2) with the file, the line and what to do.
- Text is trimmed; an empty value is missing. Dates: `YYYY-MM-DD` or `YYYY/MM/DD`. Numbers may
  use `,` as a thousands separator. Booleans: `true/false`, `1/0`, `yes/no`, `是/否`.
- Columns the contract does not name are ignored; a missing contract column rejects the file.
- Tables are loaded parents first: firms, then statements, bureau reports, transactions and
  loans, then repayments, campaign contacts and documents.

## Validation and quarantine
Every row read is either loaded or quarantined (table `quarantine`) with its table, source file,
row number (and line, for CSV and Excel), key, the rules it breaks and a message that says what
to fix. Loaded + quarantined = read, for every load (table `load_log`). A file whose bytes were
already loaded into the same table is skipped. Within a file the first row with a key wins; a
later row with the same key, or a key already in the store, is a duplicate.

The balance-sheet identity is checked with a tolerance of {BALANCE_SHEET_TOLERANCE:.1%} of total
assets or {BALANCE_SHEET_ABS_TOLERANCE:,.0f} yuan, whichever is larger.

| rule | meaning |
|---|---|
""" + "".join(f"| `{k}` | {v} |\n" for k, v in RULES.items())


def render_table(t: Table) -> str:
    """One table's section of the contract."""
    lines = [
        f"## `{t.name}` — {t.zh} / {t.en}",
        "",
        f"Key: {', '.join(f'`{k}`' for k in t.key)}.",
        "",
        "| field | type | unit | 中文 | meaning | constraints |",
        "|---|---|---|---|---|---|",
    ]
    for f in t.fields:
        lines.append(
            f"| `{f.name}` | {_TYPES[f.dtype]} | {f.unit or ''} | {f.zh} | {f.en} | "
            f"{f.constraint_text()} |"
        )
    if t.cross_rules:
        lines += ["", "Row rules:", ""]
        lines += [f"- `{r.rule}`: {r.text}." for r in t.cross_rules]
    return "\n".join(lines) + "\n"


def render_markdown() -> str:
    """The whole contract as Markdown.

    Examples
    --------
    >>> render_markdown().startswith("# Data contract")
    True
    """
    return INTRO + "\n" + "\n".join(render_table(t) for t in TABLES)
