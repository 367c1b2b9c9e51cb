"""``creditpersona rules``: association rules on loan behaviour from the command line.

Mounted by the main app as ``app.add_typer(rules_app, name="rules")``. Errors a user can fix
(no store, no profile for the date, a threshold out of range) exit with code 2 and a
message, as everywhere in the command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from creditpersona.cli.common import console, fail, parse_date
from creditpersona.errors import CreditPersonaError

if TYPE_CHECKING:
    from creditpersona.rules.mining import RuleSet

rules_app = typer.Typer(
    help="Association rules on loan behaviour (贷款行为关联规则).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@rules_app.callback()
def _group() -> None:
    """Association rules on loan behaviour (贷款行为关联规则)."""


@rules_app.command("mine")
def mine_command(
    as_of: Annotated[str, typer.Option("--as-of", help="As-of date (YYYY-MM-DD); the store "
                                                       "must hold a profile for it.")],
    store: Annotated[Path | None, typer.Option(
        "--store", envvar="CREDITPERSONA_STORE",
        help="DuckDB store file [default: ./creditpersona.duckdb].")] = None,
    min_support: Annotated[float | None, typer.Option(
        "--min-support", help="Least share of firms a rule covers [default: items.yaml].")
    ] = None,
    min_confidence: Annotated[float | None, typer.Option(
        "--min-confidence", help="Least confidence [default: items.yaml].")] = None,
    min_lift: Annotated[float | None, typer.Option(
        "--min-lift", help="Least lift [default: items.yaml].")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Rules to print.")] = 20,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write every rule and the thresholds to this JSON file.")] = None,
    csv_out: Annotated[Path | None, typer.Option(
        "--csv", help="Write every rule to this CSV file (UTF-8 with BOM for Excel).")] = None,
) -> None:
    """Mine behaviour rules portfolio-wide as of a date, store them, print the strongest."""
    from creditpersona.rules.store import rules_stage
    from creditpersona.safeio import to_csv, write_text
    from creditpersona.store.store import Store, resolve_path

    date = parse_date(as_of)
    try:
        if not resolve_path(store).exists():
            from creditpersona.errors import StoreError

            raise StoreError(f"{resolve_path(store)}: no store here; run `creditpersona "
                             "ingest` first.")
        with Store(store) as st, console.status("mining…"):
            ruleset = rules_stage(st, date, None, min_support=min_support,
                                  min_confidence=min_confidence, min_lift=min_lift)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    console.print(render(ruleset, top))
    if json_out is not None:
        payload = {"as_of": date.isoformat(), "params": ruleset.params,
                   "scopes": ruleset.scopes.to_dict(orient="records"),
                   "rules": ruleset.to_records()}
        write_text(json_out, json.dumps(payload, indent=2, ensure_ascii=False, default=str)
                   + "\n")
        console.print(f"rules written to {json_out}")
    if csv_out is not None:
        frame = ruleset.rules.assign(
            antecedents=[" & ".join(a) for a in ruleset.rules["antecedents"]],
            consequents=[" & ".join(c) for c in ruleset.rules["consequents"]])
        to_csv(frame, csv_out)
        console.print(f"rules written to {csv_out}")


def render(ruleset: RuleSet, top: int = 20) -> Table:
    """The ``top`` rules by lift as a Rich table, with both sentences."""
    p = ruleset.params
    table = Table(
        title=(f"Association rules 关联规则 as of {ruleset.as_of}: {len(ruleset.rules):,} rules "
               f"(support ≥ {p.get('min_support', 0):g}, confidence ≥ "
               f"{p.get('min_confidence', 0):g}, lift ≥ {p.get('min_lift', 0):g}, redundant "
               "rules pruned); strongest by lift"),
        title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_lines=True,
    )
    table.add_column("scope", no_wrap=True)
    for name in ("support", "conf.", "lift", "conviction"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("rule 规则", overflow="fold")
    for _, r in ruleset.top(top).iterrows():
        table.add_row(str(r["scope"]), f"{r['support']:.1%}", f"{r['confidence']:.0%}",
                      f"{r['lift']:.2f}", f"{r['conviction']:.2f}",
                      f"{r['sentence_zh']}\n{r['sentence_en']}")
    return table
