"""``creditpersona pd``: the default-probability (PD) models on the command line.

Mounted by the main app as ``app.add_typer(pd_app, name="pd")``. Errors a user can fix
(unreadable file, missing or non-binary label, a column of numbers with bad values) exit with
code 2 and a message, as everywhere in the command line.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from creditpersona.cli.common import console, fail, require_files
from creditpersona.errors import CreditPersonaError

if TYPE_CHECKING:
    from creditpersona.models.evaluate import EvaluationResult

pd_app = typer.Typer(
    help="Default-probability (PD) models: points scorecard and LightGBM challenger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@pd_app.callback()
def _group() -> None:
    """Default-probability (PD) models: points scorecard and LightGBM challenger."""


@pd_app.command("evaluate")
def evaluate_command(
    data: Annotated[Path, typer.Option(
        "--data", help="CSV (separator detected: , ; tab |), Parquet or ARFF file: numeric "
                       "and text (categorical) features and a binary label; '?' or an "
                       "empty field is a missing value.")],
    label: Annotated[str, typer.Option(
        "--label", help="The label column: 1/0, true/false or yes/no (1 = default), or any "
                        "two values with --positive.")],
    positive: Annotated[str | None, typer.Option(
        "--positive", help="The label value that marks a default, e.g. 2, Y or bad.")] = None,
    drop: Annotated[list[str] | None, typer.Option(
        "--drop", help="Column to leave out (repeatable): an id, or one known only after "
                       "the outcome.")] = None,
    cv: Annotated[int, typer.Option("--cv", min=2, help="Folds of stratified CV.")] = 5,
    seed: Annotated[int, typer.Option("--seed", min=0,
                                      help="Seed of the folds and the models.")] = 0,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the per-fold numbers and the summary to this JSON file.")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", min=1, help="Fits run side by side in this many processes "
                              "[default: one per core]; results do not depend on it.")] = None,
) -> None:
    """Cross-validate the scorecard and the challenger on a table: AUC, KS, Brier."""
    require_files(data)
    from creditpersona.models.evaluate import evaluate, read_table
    from creditpersona.safeio import write_text

    try:
        table = read_table(data, label=label, positive=positive)
        with console.status("fitting…") as status:
            def progress(fold: int, model: str, row: dict[str, float]) -> None:
                status.update(f"fold {fold}/{cv} {model}: AUC {row['auc']:.4f}")

            # read_table already coded the label 0/1 from --positive: record it only.
            result = replace(evaluate(table, label, cv=cv, seed=seed, drop=tuple(drop or ()),
                                      on_fold=progress, n_jobs=jobs), positive=positive)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    console.print(render(result, data))
    for note in result.notes():
        console.print(Text("note: ", style="yellow") + Text(note))
    if json_out is not None:
        payload = {"data": str(data), **result.to_dict()}
        write_text(json_out, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        console.print(f"per-fold numbers written to {json_out}")


def render(result: EvaluationResult, source: Path | str) -> Table:
    """The summary of an evaluation as a Rich table (mean ± sample standard deviation)."""
    table = Table(
        title=(f"{source}: {result.rows:,} rows, {result.features} features, "
               f"{result.defaults:,} defaults ('{result.label}'"
               f"{'' if result.positive is None else ' = ' + repr(result.positive)}); "
               f"{result.cv}-fold stratified "
               f"CV, seed {result.seed}"),
        title_justify="left",
        caption="mean ± sample standard deviation over the folds; fit seconds per fold",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("model", no_wrap=True)
    for name in ("AUC", "KS", "Brier"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("fit s", justify="right", no_wrap=True)
    for model, row in result.summary().iterrows():
        table.add_row(
            str(model),
            f"{row['auc_mean']:.4f} ± {row['auc_sd']:.4f}",
            f"{row['ks_mean']:.4f} ± {row['ks_sd']:.4f}",
            f"{row['brier_mean']:.4f} ± {row['brier_sd']:.4f}",
            f"{row['fit_seconds']:.1f}",
        )
    return table
