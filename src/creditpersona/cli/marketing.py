"""``creditpersona campaign``: precision marketing on the command line.

Mounted by the main app as ``app.add_typer(campaign_app, name="campaign")``. Errors a user
can fix (unreadable file, missing or non-binary label, no profile for the date) exit with
code 2 and a message, as everywhere in the command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from creditpersona.cli.common import (
    StoreOption,
    console,
    fail,
    parse_date,
    require_files,
)
from creditpersona.errors import CreditPersonaError

campaign_app = typer.Typer(
    help="Precision marketing (精准营销): response and uplift models, next-best offers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@campaign_app.callback()
def _group() -> None:
    """Precision marketing (精准营销): response and uplift models, next-best offers."""


@campaign_app.command("evaluate")
def evaluate_command(
    data: Annotated[Path, typer.Option(
        "--data", help="CSV (separator detected: , ; tab |), .csv.gz or Parquet file.")],
    label: Annotated[str, typer.Option(
        "--label", help="The response column: yes/no, 1/0 or true/false, or any two values "
                        "with --positive.")],
    positive: Annotated[str | None, typer.Option(
        "--positive", help="The label value that marks a response, e.g. Y or subscribed.")
    ] = None,
    treatment: Annotated[str | None, typer.Option(
        "--treatment", help="Treatment flag column; adds the uplift learners.")] = None,
    drop: Annotated[list[str] | None, typer.Option(
        "--drop", help="Column to leave out (repeatable), e.g. one known only afterwards.")]
    = None,
    cv: Annotated[int, typer.Option("--cv", min=2, help="Folds of stratified CV.")] = 5,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of folds and models.")] = 0,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the per-fold numbers and the summary to this JSON file.")] = None,
) -> None:
    """Cross-validate the response (and uplift) models on any table: AUC, Qini, uplift@k."""
    require_files(data)
    from creditpersona.marketing.evaluate import evaluate_table, read_campaign_table
    from creditpersona.safeio import write_text

    try:
        table = read_campaign_table(data)
        with console.status("fitting…") as status:
            def progress(fold: int, model: str, row: dict[str, float]) -> None:
                status.update(f"fold {fold}/{cv} {model}")

            result = evaluate_table(table, label, treatment=treatment, positive=positive,
                                    drop=tuple(drop or ()), cv=cv, seed=seed, on_fold=progress)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    import numpy as np

    summary = result.summary()
    out = Table(
        title=(f"{data}: {result.rows:,} rows, {result.features} features "
               f"({len(result.categorical)} categorical), {result.positives:,} positives "
               f"('{label}'{'' if positive is None else ' = ' + repr(positive)}); {cv}-fold "
               f"stratified CV, seed {seed}"),
        title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
        caption=f"mean ± sample standard deviation over the folds; k = {result.k:.0%}",
        caption_justify="left")
    for name in ("model", "AUC", "Qini", "uplift@k", "incremental@k / random", "fit s"):
        out.add_column(name, justify="left" if name == "model" else "right", no_wrap=True)

    def cell(model: str, metric: str, fmt: str = ".4f") -> str:
        if f"{metric}_mean" not in summary.columns:
            return ""
        m = float(summary[f"{metric}_mean"].to_numpy(dtype=float)[summary.index == model][0])
        s = float(summary[f"{metric}_sd"].to_numpy(dtype=float)[summary.index == model][0])
        return "" if np.isnan(m) else f"{m:{fmt}} ± {s:{fmt}}"

    for model in summary.index:
        out.add_row(str(model), cell(model, "auc"), cell(model, "qini"),
                    cell(model, "uplift_at_k"), cell(model, "ratio_to_random", ".2f"),
                    cell(model, "fit_seconds", ".1f"))
    console.print(out)
    for note in result.notes():
        console.print(Text("note: ", style="yellow") + Text(note))
    if json_out is not None:
        write_text(json_out, json.dumps({"data": str(data), **result.to_dict()}, indent=2,
                                        ensure_ascii=False) + "\n")
        console.print(f"per-fold numbers written to {json_out}")


@campaign_app.command("plan")
def plan_command(
    as_of: Annotated[str, typer.Option("--as-of", help="Planning date (YYYY-MM-DD); the "
                                       "profile of that date must be stored.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the campaign lists.")],
    store: StoreOption = None,
    method: Annotated[str, typer.Option(
        "--method", help="auto, milp, lagrangian or greedy.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
) -> None:
    """Plan one campaign: next-best offers per firm, lists per RM (CSV + Excel)."""
    from creditpersona.marketing.stage import marketing_stage
    from creditpersona.profile.build import load_profile
    from creditpersona.store.store import Store

    day = parse_date(as_of)
    try:
        with Store(store) as st:
            profile = load_profile(st, day)
            result = marketing_stage(st, day, profile, None, None, None, out, method=method,
                                     seed=seed, run_backtest=False)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    p = result.plan
    console.print(f"{len(result.offers):,} offers from {result.candidates:,} candidate pairs; "
                  f"expected value {p.objective:,.0f} yuan ({p.method}, bound {p.bound:,.0f}, "
                  f"gap {p.gap:.3%}); greedy {result.greedy_objective:,.0f} yuan.")
    by = result.offers.groupby("product_zh").size().rename("offers").reset_index()
    t = Table(title="Offers by product 按产品", box=box.SIMPLE_HEAD)
    t.add_column("产品 product")
    t.add_column("offers", justify="right")
    for r in by.itertuples():
        t.add_row(str(r.product_zh), f"{r.offers:,}")
    console.print(t)
    for note in result.notes:
        console.print(Text("note: ", style="yellow") + Text(note))
    if result.lists is not None and result.lists.excel is not None:
        console.print(f"campaign lists: {result.lists.excel.parent}")


@campaign_app.command("backtest")
def backtest_command(
    store: StoreOption = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Only campaigns finished by this date (YYYY-MM-DD).")] = None,
    holdout: Annotated[str, typer.Option(
        "--holdout", help="firms (a random 30 % of firms) or last (the last campaign).")]
    = "firms",
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
) -> None:
    """Model targeting against rules only and random, on held-back campaign history."""
    from creditpersona.marketing.backtest import backtest
    from creditpersona.marketing.history import campaign_history
    from creditpersona.store.store import Store

    if holdout not in ("firms", "last"):
        raise fail(CreditPersonaError(f"--holdout must be firms or last, not {holdout!r}."))
    day = parse_date(as_of) if as_of else None
    try:
        with Store(store, read_only=True) as st:
            history = campaign_history(st, before=day)
        result = backtest(history, holdout=holdout, seed=seed)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    t = Table(title=(f"Backtest ({result.holdout}): {int(result.metrics['rows']):,} held-back "
                     f"contacts; propensity AUC {result.metrics['propensity_auc']:.3f}, uplift "
                     f"Qini {result.metrics['uplift_qini']:.4f}"), box=box.SIMPLE_HEAD,
              title_justify="left")
    for c in ("policy", "budget", "response rate", "uplift", "incremental responses",
              "amount / contact"):
        t.add_column(c, justify="left" if c == "policy" else "right")
    for r in result.table.itertuples():
        t.add_row(str(r.policy), f"{r.budget:.0%}", f"{r.response_rate:.1%}", f"{r.uplift:+.1%}",
                  f"{r.incremental_responses:,.1f}", f"{r.amount_per_contact:,.0f}")
    console.print(t)
