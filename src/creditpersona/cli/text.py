"""``creditpersona text``: score Chinese documents and evaluate the text-risk model.

Mounted by the main app as ``app.add_typer(text_app, name="text")``. Errors a user can fix
exit with code 2 and a message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from creditpersona.cli.common import console, fail
from creditpersona.errors import CreditPersonaError

text_app = typer.Typer(
    help="Chinese text risk: score documents, evaluate the packaged model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_DATA = typer.Option("--data", help="CSV (UTF-8 or GB18030), Parquet or Excel file.")
_TEXT = typer.Option("--text", help="The text column.")


@text_app.callback()
def _group() -> None:
    """Chinese text risk: score documents, evaluate the packaged model."""


@text_app.command("score")
def score_command(
    data: Annotated[Path, _DATA],
    text: Annotated[str, _TEXT],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    id_col: Annotated[str | None, typer.Option("--id", help="An id column to carry.")] = None,
    entity: Annotated[str | None, typer.Option(
        "--entity", help="A firm-name column: adds entity_risk, the risk that the text is "
                         "negative about that firm.")] = None,
) -> None:
    """Risk (0–1), risk events (Chinese and English) and driving words per row."""
    from creditpersona.safeio import replace_from, to_csv
    from creditpersona.text.evaluate import read_texts
    from creditpersona.text.package import load_packaged

    try:
        cols = [text, *([id_col] if id_col else []), *([entity] if entity else [])]
        frame = read_texts(data, cols)
        pkg = load_packaged()
        scored = pkg.score_frame(frame[text].tolist(),
                                 frame[entity].tolist() if entity else None)
        if id_col:
            scored.insert(0, id_col, frame[id_col].to_numpy())
        if out.suffix.lower() in (".parquet", ".pq"):
            replace_from(out, lambda tmp: scored.to_parquet(tmp, index=False))
        else:
            to_csv(scored, out)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    console.print(f"{len(scored)} rows scored; {int(scored['risk_doc'].sum())} at or above the "
                  f"threshold {pkg.threshold:.2f}; written to {out}")


@text_app.command("evaluate")
def evaluate_command(
    data: Annotated[Path, _DATA],
    text: Annotated[str, _TEXT],
    label: Annotated[str, typer.Option("--label", help="The label column.")],
    positive: Annotated[str | None, typer.Option(
        "--positive", help="The label value of a risk text (default: 1/true/yes).")] = None,
    entity: Annotated[str | None, typer.Option(
        "--entity", help="Firm-name column: rows are (text, firm) pairs, folds grouped by "
                         "text, scored by the attribution model.")] = None,
    cv: Annotated[int, typer.Option("--cv", min=2, help="Folds.")] = 5,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the folds.")] = 0,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the per-fold numbers and the summary to this JSON file.")] = None,
) -> None:
    """Cross-validate: the packaged model as shipped and the same method retrained per fold."""
    from creditpersona.text.evaluate import evaluate_text, read_texts

    try:
        cols = [text, label, *([entity] if entity else [])]
        frame = read_texts(data, cols)
        with console.status("fitting…") as status:
            def progress(fold: int, model: str, row: dict[str, Any]) -> None:
                status.update(f"fold {fold}/{cv} {model}: AUC {row['auc']:.4f}")

            result = evaluate_text(frame, text, label, positive=positive, entity=entity,
                                   cv=cv, seed=seed, on_fold=progress)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    table = Table(title=f"{data}: {result['rows']} rows, {result['positives']} positive, "
                        f"{cv}-fold", box=box.SIMPLE, title_justify="left")
    for col in ("model", "AUC", "± sd", "avg precision", f"F1 @ {result['threshold']:.2f}"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, part in result["models"].items():
        s = part["summary"]
        table.add_row(name, f"{s['auc_mean']:.4f}", f"{s['auc_sd']:.4f}",
                      f"{s['average_precision_mean']:.4f}", f"{s['f1_mean']:.4f}")
    console.print(table)
    if json_out is not None:
        payload = {"data": str(data), **result}
        from creditpersona.safeio import write_text

        write_text(json_out, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        console.print(f"per-fold numbers written to {json_out}")
