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
    alpha: Annotated[float | None, typer.Option(
        "--alpha", help="Error rate the multiple-testing correction keeps [default: "
                        "items.yaml].")] = None,
    control: Annotated[bool, typer.Option(
        "--control/--no-control", help="Also run the shuffle control.")] = True,
    top: Annotated[int, typer.Option("--top", min=1, help="Rules to print per question.")
                   ] = 20,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write every rule, the settings and the control to this JSON file.")
    ] = None,
    csv_out: Annotated[Path | None, typer.Option(
        "--csv", help="Write every rule to this CSV file (UTF-8 with BOM for Excel).")] = None,
) -> None:
    """Mine and test the rules of each question as of a date, store them, print them."""
    from creditpersona.rules.store import rules_stage
    from creditpersona.safeio import to_csv, write_text
    from creditpersona.store.store import Store, resolve_path

    date = parse_date(as_of)
    try:
        if not resolve_path(store).exists():
            from creditpersona.errors import StoreError

            raise StoreError(f"{resolve_path(store)}: no store here; run `creditpersona "
                             "ingest` first.")
        with Store(store) as st, console.status("mining and testing…"):
            ruleset = rules_stage(st, date, None, min_support=min_support, alpha=alpha,
                                  control=control)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    for table in render(ruleset, top):
        console.print(table)
    shuffle = ruleset.params.get("shuffle_control")
    if shuffle:
        console.print(f"Shuffle control ({shuffle['question']} outcomes permuted, seed "
                      f"{shuffle['seed']}): {shuffle['shuffled']} rules survive against "
                      f"{shuffle['real']} on the real data.")
    if json_out is not None:
        payload = {"as_of": date.isoformat(), "params": ruleset.params,
                   "scopes": ruleset.scopes.to_dict(orient="records"),
                   "rules": ruleset.to_records()}
        write_text(json_out, json.dumps(payload, indent=2, ensure_ascii=False, default=str)
                   + "\n")
        console.print(f"rules written to {json_out}")
    if csv_out is not None:
        frame = ruleset.rules.assign(
            antecedents=[" & ".join(a) for a in ruleset.rules["antecedents"]])
        to_csv(frame, csv_out)
        console.print(f"rules written to {csv_out}")


def render(ruleset: RuleSet, top: int = 20) -> list[Table]:
    """One Rich table per question (the repayment question first): rules with sentences."""
    from creditpersona.rules.items import load_items

    p = ruleset.params
    questions = load_items().questions
    tables = []
    asked = list(dict.fromkeys([*questions, *ruleset.rules["question"]]))
    for question in asked:
        rules = ruleset.rules[ruleset.rules["question"] == question].head(top)
        spec = questions.get(question)
        table = Table(
            title=(f"{spec.zh} · {spec.en}" if spec else question)
            + f" — as of {ruleset.as_of}, {len(rules)} rules shown (Fisher's exact test, "
              f"{p.get('correction', '')} at {p.get('alpha', 0):g} over "
              f"{p.get('tested', 0):,} rules tested; ranked by leverage)",
            title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_lines=True,
        )
        table.add_column("scope", no_wrap=True)
        for name in ("#", "firms", "rate", "others", "lift", "q"):
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("rule 规则", overflow="fold")
        for _, r in rules.iterrows():
            others = r["others_rate"]
            table.add_row(str(r["scope"]), str(r["rank"]), f"{r['antecedent_count']:,}",
                          f"{r['confidence']:.0%}",
                          "" if others != others else f"{others:.0%}",
                          f"{r['lift']:.1f}", f"{r['q_value']:.1e}",
                          f"{r['sentence_zh']}\n{r['sentence_en']}")
        if not len(rules):
            table.add_row("", "", "", "", "", "", "", "no rule beats chance 无显著规则")
        tables.append(table)
    return tables
