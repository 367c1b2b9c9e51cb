"""``creditpersona personas``: customer personas (客户性格分类) on the command line.

Mounted by the main app as ``app.add_typer(personas_app, name="personas")``. ``fit`` fits
and registers the persona model on a profiled date, ``assign`` assigns a date with the
registered model, ``describe`` prints the persona cards and rules of an assigned date. Errors
a user can fix (no profile, no model, invalid policy) exit with code 2 and a message.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from creditpersona.cli.common import StoreOption, console, fail
from creditpersona.errors import CreditPersonaError, SchemaError

if TYPE_CHECKING:
    import pandas as pd

personas_app = typer.Typer(
    help="Customer personas 客户性格分类: fit, assign, describe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

AsOfOption = Annotated[dt.datetime, typer.Option(
    "--as-of", formats=["%Y-%m-%d"], help="The profile date (YYYY-MM-DD).")]
PolicyOption = Annotated[Path | None, typer.Option(
    "--policy", help="Persona policy YAML [default: the packaged policy.yaml].")]
JsonOption = Annotated[Path | None, typer.Option(
    "--json", help="Also write the results to this JSON file.")]


@personas_app.callback()
def _group() -> None:
    """Customer personas 客户性格分类: fit, assign, describe."""


def _run(store_path: Path | None, as_of: dt.date, policy: Path | None,
         refit: bool, json_out: Path | None) -> None:
    import pandas as pd

    from creditpersona.personas.store import persona_stage
    from creditpersona.profile.build import load_profile
    from creditpersona.store.store import Store

    try:
        with Store(store_path) as st:
            profile = load_profile(st, as_of)
            if profile.empty:
                raise SchemaError(f"{st.path}: no profile as of {as_of}; run `creditpersona "
                                  f"profile --as-of {as_of}` first.")
            with console.status("fitting personas…" if refit else "assigning personas…"):
                result = persona_stage(st, as_of, profile, policy=policy, refit=refit)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    verb = "fitted and registered" if result.fitted else "assigned with"
    console.print(f"{len(result.assignment):,} firms as of {as_of}: persona model "
                  f"v{result.model_version} {verb}.")
    if result.fitted:
        console.print(_frame_table(result.evaluation.selection,
                                   "Choice of the number of personas 类别数选择"))
        if result.identity is not None:
            console.print(_frame_table(result.identity.pairs,
                                       "Identity: new personas matched to the previous model"))
    console.print(_frame_table(_cards_overview(result.cards.cards),
                               "Personas 客户性格", index=True))
    console.print(_frame_table(pd.DataFrame([result.evaluation.summary()]).T.rename(
        columns={0: "value"}), "Evaluation 分类效果评估", index=True))
    if json_out is not None:
        _write_json(json_out, result_payload(result))


def _cards_overview(cards: pd.DataFrame) -> pd.DataFrame:
    cols = ["name_zh", "name_en", "source", "firms", "share", "default_rate", "mean_pd"]
    return cards[[c for c in cols if c in cards.columns]]


@personas_app.command("fit")
def fit_command(
    as_of: AsOfOption,
    store: StoreOption = None,
    policy: PolicyOption = None,
    json_out: JsonOption = None,
) -> None:
    """Fit the personas on a profiled date, register the model and assign the firms."""
    _run(store, as_of.date(), policy, True, json_out)


@personas_app.command("assign")
def assign_command(
    as_of: AsOfOption,
    store: StoreOption = None,
    policy: PolicyOption = None,
    json_out: JsonOption = None,
) -> None:
    """Assign the firms of a profiled date with the registered persona model."""
    _run(store, as_of.date(), policy, False, json_out)


@personas_app.command("describe")
def describe_command(
    as_of: AsOfOption,
    store: StoreOption = None,
    policy: PolicyOption = None,
    json_out: JsonOption = None,
) -> None:
    """Persona cards, distinguishing features and readable rules of an assigned date."""
    from creditpersona.personas.describe import describe_personas
    from creditpersona.personas.policy import PersonaModel, load_policy
    from creditpersona.personas.store import load_assignments, load_model
    from creditpersona.profile.build import load_profile
    from creditpersona.store.store import Store

    day = as_of.date()
    try:
        with Store(store, read_only=True) as st:
            profile = load_profile(st, day)
            stored = load_assignments(st, day)
            model, version = load_model(st)
        if profile.empty or stored.empty:
            raise SchemaError(f"no {'profile' if profile.empty else 'persona assignment'} as "
                              f"of {day}; run `creditpersona personas assign --as-of {day}`.")
        if policy is not None:
            chosen = load_policy(policy)
            chosen.check_ids(model.persona_ids)
            model = PersonaModel(model.segmenter, model.cluster_ids, chosen, model.frozen,
                                 model.cards)
        frame = profile.merge(stored[["firm_id", "persona_id", "source", "cluster",
                                      "confidence"]], on="firm_id", how="inner")
        cards = describe_personas(frame, frame[["persona_id", "source", "cluster",
                                                "confidence"]], model)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    console.print(f"Persona model v{version}, {len(frame):,} firms as of {day}.")
    for pid, card in cards.cards.iterrows():
        console.print(Text(f"\n{pid} {card['name_zh']} / {card['name_en']}", style="bold"))
        console.print(str(card["description_zh"]))
        console.print(str(card["description_en"]))
    if cards.surrogate is not None:
        s = cards.surrogate
        console.print(_frame_table(
            s.rules, f"Assignment rules 分类规则 (decision tree, depth {s.depth}; fidelity "
                     f"{s.fidelity:.1%} on held-out firms)"))
    if json_out is not None:
        payload = {"as_of": day.isoformat(), "model_version": version,
                   "cards": _records(cards.cards.reset_index()),
                   "rules": _records(cards.surrogate.rules) if cards.surrogate else [],
                   "fidelity": cards.surrogate.fidelity if cards.surrogate else None}
        _write_json(json_out, payload)


def result_payload(result: Any) -> dict[str, Any]:
    """A persona stage result as JSON-ready data (the tables the report also shows)."""
    ev = result.evaluation
    return {
        "as_of": result.as_of.isoformat(), "model_version": result.model_version,
        "fitted": result.fitted,
        "cards": _records(result.cards.cards.reset_index()),
        "selection": _records(ev.selection),
        "evaluation": ev.summary(),
        "default_rates": _records(ev.default.table.reset_index()),
        "response_rates": _records(ev.response.table.reset_index()) if ev.response else [],
        "value": _records(ev.value.reset_index()),
        "rules": _records(result.cards.surrogate.rules) if result.cards.surrogate else [],
        "identity": _records(result.identity.pairs) if result.identity else None,
    }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    import numpy as np

    clean = df.astype(object).where(df.notna(), None)
    return [{str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in clean.to_dict(orient="records")]


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    from creditpersona.safeio import write_text

    write_text(path, json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    console.print(f"written to {path}")


def _frame_table(df: pd.DataFrame, title: str, index: bool = False) -> Table:
    import numpy as np
    import pandas as pd

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    if index:
        table.add_column(str(df.index.name or ""))
    for c in df.columns:
        table.add_column(str(c), justify="right" if pd.api.types.is_numeric_dtype(df[c])
                         and not pd.api.types.is_bool_dtype(df[c]) else "left")
    for idx, row in df.iterrows():
        cells = [f"{v:,.3f}" if isinstance(v, float | np.floating) else str(v)
                 for v in row.tolist()]
        table.add_row(*([str(idx)] if index else []), *cells)
    return table
