"""The ``creditpersona`` command line (Typer + Rich).

Exit codes a script can rely on: 0 done; 1 unexpected failure; 2 bad input or usage (the
message says what to fix); 3 done, but rows were quarantined and ``--fail-on-quarantine``
was given.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from creditpersona.cli.common import (
    EXIT_QUARANTINED,
    StoreOption,
    console,
    err_console,
    fail,
    parse_date,
    require_files,
)
from creditpersona.cli.decisions import decisions_app
from creditpersona.cli.marketing import campaign_app
from creditpersona.cli.pd import pd_app
from creditpersona.cli.personas import personas_app
from creditpersona.cli.rules import rules_app
from creditpersona.cli.service import audit_app, serve, users_app
from creditpersona.cli.text import text_app
from creditpersona.errors import CreditPersonaError, StoreError

if TYPE_CHECKING:
    import pandas as pd

    from creditpersona.pipeline import CycleResult
    from creditpersona.spark.cycle import SparkCycleResult
    from creditpersona.store.store import Store

app = typer.Typer(
    name="creditpersona",
    help="Corporate-borrower personas (客户性格分类) for commercial banks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(pd_app, name="pd")
app.add_typer(personas_app, name="personas")
app.add_typer(rules_app, name="rules")
app.add_typer(decisions_app)
app.add_typer(campaign_app, name="campaign")
app.add_typer(text_app, name="text")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.command()(serve)

#: The demo bank's history ends 2026-06-30; its profile is taken at the last quarter end.
DEMO_AS_OF = dt.date(2026, 6, 30)



def _frame(df: pd.DataFrame, title: str, index: bool = False) -> RichTable:
    import pandas as pd

    table = RichTable(title=title, title_justify="left", show_lines=False)
    if index:
        table.add_column(str(df.index.name or ""), justify="left")
    for c in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        table.add_column(str(c), justify="right" if numeric else "left")
    for idx, row in df.iterrows():
        cells = [_cell(v) for v in row.tolist()]
        table.add_row(*([str(idx)] if index else []), *cells)
    return table


def _cell(v: object) -> str:
    import pandas as pd

    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
        return ""
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 1e15 else f"{v:.3e}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the tables to.")],
    firms: Annotated[int, typer.Option("--firms", min=1, help="Number of firms.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same bytes.")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    inject_errors: Annotated[float, typer.Option(
        "--inject-errors", min=0.0, max=0.5,
        help="Add this share of dirty rows to every table (recorded in truth/).")] = 0.0,
    end_date: Annotated[str, typer.Option(
        "--end-date", help="Last day of the simulated history (YYYY-MM-DD).")] = "2026-06-30",
    years: Annotated[int, typer.Option(
        "--years", min=1, max=10, help="Years of history before the first quarter.")] = 3,
    quarters: Annotated[int, typer.Option(
        "--quarters", min=1, max=40,
        help="Review quarters: the last Q quarter ends up to --end-date, each to run with "
             "`creditpersona run --as-of`.")] = 1,
    shock_industry: Annotated[str | None, typer.Option(
        "--shock-industry",
        help="GB/T 4754 code prefix of an industry in a downturn (e.g. F51 wholesale).")] = None,
    shock_from: Annotated[int | None, typer.Option(
        "--shock-from", min=1, help="First review quarter of the downturn (1-based).")] = None,
    shock_size: Annotated[float, typer.Option(
        "--shock-size", help="Rise of the industry's latent risk (0 < size <= 5).")] = 1.5,
    block_firms: Annotated[int, typer.Option(
        "--block-firms", min=1,
        help="Firms simulated at a time (memory grows with this, not with --firms); a bank "
             "of more firms is drawn block by block and appended to the same files.")
    ] = 50_000,
) -> None:
    """Write a synthetic Chinese corporate bank: every contract table plus hidden truths.

    With --quarters the bank evolves over several review quarters; with --shock-industry
    and --shock-from one industry goes into a downturn from a given quarter. Banks larger
    than --block-firms are streamed to the files block by block, in bounded memory.
    """
    import pandas as pd

    from creditpersona.synth import Shock, generate_bank

    if (shock_industry is None) != (shock_from is None):
        raise fail(typer.BadParameter(
            "--shock-industry and --shock-from go together: give both (e.g. "
            "--shock-industry F51 --shock-from 6) or neither."))
    shock = None if shock_industry is None or shock_from is None else Shock(
        industry=shock_industry, from_quarter=shock_from, size=shock_size)
    with _progress() as progress:
        task = progress.add_task("generating", total=None)
        result = generate_bank(
            out, firms, seed, end_date=parse_date(end_date), years=years,
            fmt=fmt,  # type: ignore[arg-type]
            inject_errors=inject_errors, quarters=quarters, shock=shock,
            block_firms=block_firms,
            progress=lambda msg: progress.update(task, description=msg),
        )
    rows = pd.DataFrame({"table": list(result.rows), "rows": list(result.rows.values())})
    console.print(_frame(rows, f"Wrote {result.out_dir} (seed {result.seed})"))
    if result.injected:
        console.print(f"{result.injected:,} dirty rows injected; see {result.truth_files}")
    if len(result.quarters) > 1:
        console.print("Review quarters 复核季度 — ingest the tables, then run each in order:")
        for k, day in enumerate(result.quarters, start=1):
            mark = " (shock 冲击)" if shock is not None and k >= shock.from_quarter else ""
            console.print(f"  Q{k}{mark}: creditpersona run --as-of {day}")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files, or directories of table files.")],
    store: StoreOption = None,
    table: Annotated[str | None, typer.Option(
        "--table", help="Contract table of files not named after one.")] = None,
    encoding: Annotated[str | None, typer.Option(
        "--encoding", help="Force a CSV encoding (default: detect UTF-8 / GB18030).")] = None,
    fail_on_quarantine: Annotated[bool, typer.Option(
        "--fail-on-quarantine", help="Exit 3 if any row was quarantined.")] = False,
) -> None:
    """Validate files against the data contract and load them; bad rows go to quarantine."""
    require_files(*paths)
    import pandas as pd

    from creditpersona.store.ingest import ingest as run_ingest
    from creditpersona.store.ingest import plan
    from creditpersona.store.store import Store

    results = []
    try:
        planned = plan(paths, table)
        with Store(store) as st, _progress() as progress:
            task = progress.add_task("ingesting", total=len(planned))
            for path, name in planned:
                progress.update(task, description=f"{name} ← {path.name}")
                results.extend(run_ingest(st, [path], table=name, encoding=encoding))
                progress.advance(task)
            where = st.path
    except CreditPersonaError as exc:
        raise fail(exc) from None
    df = pd.DataFrame([{
        "table": r.table, "file": r.path.name, "load": r.load_id, "read": r.rows_read,
        "loaded": r.rows_loaded, "quarantined": r.rows_quarantined,
        "note": "already loaded, skipped" if r.skipped else "",
        "seconds": round(r.seconds, 2),
    } for r in results])
    console.print(_frame(df, f"Ingested into {where}"))
    quarantined = sum(r.rows_quarantined for r in results)
    if quarantined:
        console.print(f"[yellow]{quarantined:,} rows quarantined[/]: "
                      "`creditpersona quarantine` lists them with what to fix.")
        if fail_on_quarantine:
            raise typer.Exit(EXIT_QUARANTINED)


@app.command()
def status(store: StoreOption = None) -> None:
    """What the store holds: rows, loads and quarantined rows per table."""
    from creditpersona.store.store import Store

    with Store(store, read_only=True) as st:
        console.print(_frame(st.status(), f"Store {st.path}"))


@app.command()
def quarantine(
    store: StoreOption = None,
    table: Annotated[str | None, typer.Option("--table", help="Only this table.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    csv_out: Annotated[Path | None, typer.Option(
        "--csv", help="Write every quarantined row (with its raw values) to this CSV.")] = None,
) -> None:
    """Show quarantined rows and what to fix, or export them all."""
    from creditpersona.safeio import to_csv
    from creditpersona.store.store import QUARANTINE, Store

    with Store(store, read_only=True) as st:
        q = st.table(QUARANTINE)
        if table:
            q = q.filter(q.table_name == table)
        q = q.order_by(["load_id", "row_number"])
        if csv_out is not None:
            to_csv(q.to_pandas(), csv_out)
            console.print(f"Wrote {csv_out}")
            return
        df = q.limit(limit).select("load_id", "table_name", "row_number", "rule",
                                   "message").to_pandas()
    console.print(_frame(df, "Quarantined rows"))


@app.command()
def contract(
    out: Annotated[Path | None, typer.Option("--out", help="Write the Markdown here.")] = None,
) -> None:
    """Print the data contract as Markdown (the source of docs/data-contract.md)."""
    from creditpersona.contract.docs import render_markdown
    from creditpersona.safeio import write_text

    text = render_markdown()
    if out is None:
        sys.stdout.write(text)
    else:
        write_text(out, text, mode=0o644)
        console.print(f"Wrote {out}")


AsOfOption = Annotated[str, typer.Option("--as-of", help="As-of date (YYYY-MM-DD).")]
EngineOption = Annotated[str, typer.Option(
    "--engine", help="duckdb (embedded) or spark (needs the spark extra and Java 17).")]


def _profile(st: Store, as_of: dt.date, engine: str) -> pd.DataFrame:
    from creditpersona.profile.build import compute_profile, save_profile

    run = compute_profile(st, as_of, engine=engine)  # type: ignore[arg-type]
    save_profile(st, run)
    return run.frame


def _cycle(st: Store, as_of: dt.date, out_dir: Path, engine: str,
           on_stage: Callable[[str], None], refit: tuple[str, ...] = (),
           restart: bool = False) -> CycleResult:
    from creditpersona.service.live import run_cycle_live  # + outcome inbox, serving snapshot

    return run_cycle_live(st, as_of, out_dir, engine=engine, on_stage=on_stage, refit=refit,
                          restart=restart)


def _print_cycle(result: CycleResult) -> None:
    import pandas as pd

    metrics = result.pd.models.metrics
    rows = pd.DataFrame([{"model": k, "AUC": m["auc"], "Gini": m["gini"], "KS": m["ks"],
                          "Brier": m["brier"], "samples": m["n"], "defaults": m["defaults"]}
                         for k, m in metrics.items()])
    models = result.pd.models
    console.print(_frame(rows, f"PD models 违约概率模型 v{models.records['champion'].version} "
                               f"(developed for {models.fitted_for}), out of fold over "
                               f"{', '.join(result.pd.tables['dates'])}"))
    grades = result.pd.scores["grade"].value_counts().rename_axis("grade").reset_index(
        name="firms")
    console.print(_frame(grades.sort_values("grade", key=lambda g: g.map(_grade_key)),
                         "Grades 评级分布"))
    cards = result.personas.assignment.groupby(
        ["persona_id", "persona_name_zh", "persona_name_en"]).size()
    shown = cards.rename("firms").reset_index().merge(
        result.strategies[["persona_id", "strategy"]], on="persona_id", how="left")
    console.print(_frame(shown, "Personas 客户性格 and their credit strategy"))
    console.print(f"Association rules 关联规则: {len(result.rules.rules):,}; watch-list "
                  f"预警名单: {len(result.decisions.watchlist):,} firms; offers 营销推荐: "
                  f"{len(result.marketing.offers):,}")
    triggers = result.review.triggers
    if len(triggers):
        shown = triggers[["target", "trigger", "fired", "evidence", "command"]].copy()
        shown["command"] = shown["command"].fillna("")
        console.print(_frame(shown.sort_values("fired", ascending=False),
                             f"Review triggers 复核触发 as of {result.as_of}"))
    overrides = result.review.overrides
    if len(overrides):
        console.print(_frame(overrides, "Rating overrides of the quarter 评级人工调整 "
                                        "(up = better than the model's grade)"))
    timing = ", ".join(f"{k} {v:.1f} s" + (" (resumed)" if k in result.resumed else "")
                       for k, v in result.seconds.items())
    console.print(f"Stages: {timing}")
    console.print(f"Run {result.run_id} recorded with its lineage "
                  f"(creditpersona runs --as-of {result.as_of}).")


def _grade_key(grade: str) -> float:
    return float(grade) if grade.isdigit() else float("inf")


def _print_profile(frame: pd.DataFrame, as_of: dt.date) -> None:
    import pandas as pd

    from creditpersona.profile.scoring import DIMENSIONS, load_scoring

    cfg = load_scoring()
    rows = []
    for d in DIMENSIONS:
        col = frame[f"{d}_score"]
        rows.append({"dimension": f"{cfg.dimensions[d].zh} {cfg.dimensions[d].en}",
                     "mean": col.mean(), "p10": col.quantile(0.1), "median": col.median(),
                     "p90": col.quantile(0.9),
                     "all features": f"{(frame[f'{d}_coverage'] >= 0.999).mean():.0%}"})
    console.print(_frame(pd.DataFrame(rows),
                         f"Customer profile 客户画像 as of {as_of}: {len(frame):,} firms"))


@app.command()
def profile(
    as_of: AsOfOption,
    store: StoreOption = None,
    engine: EngineOption = "duckdb",
) -> None:
    """Profile every firm as of a date (客户画像) and keep it in the store."""
    date = parse_date(as_of)  # a mistyped date is answered before the heavy imports
    from creditpersona.store.store import Store

    with Store(store) as st, _progress() as progress:
        progress.add_task(f"profiling as of {date} on {engine}", total=None)
        frame = _profile(st, date, engine)
    _print_profile(frame, date)


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path(
        "creditpersona-report.html"),
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Profile date to show [default: the latest].")] = None,
    store: StoreOption = None,
    spark_results: Annotated[str | None, typer.Option(
        "--spark-results", help="For a cycle that ran on Spark: its Parquet results, when "
                                "they moved since the run [default: where it wrote them].")
    ] = None,
) -> None:
    """Write the HTML report of the store: the whole cycle of a date that ran, else its profile.

    A completed `creditpersona run` of the date is rebuilt from its checkpoints (nothing is
    computed again), whichever engine ran it: a Spark run's report is rebuilt from its
    Parquet results (no Spark needed). The report of a completed cycle is also kept beside
    the store as <store>.reports/<date>.html, where `creditpersona run` keeps it; a date
    that was only profiled gets the data and profile sections.
    """
    from creditpersona.runs import runs as ledger_runs
    from creditpersona.store.store import Store

    _not_a_results_folder(store)
    try:
        with Store(store, read_only=True) as st:
            day = parse_date(as_of) if as_of else None
            ledger = ledger_runs(st, day)
            ledger = ledger[ledger["status"] == "completed"]
            if len(ledger):
                date = _as_date(ledger["as_of"].iloc[0])
                if ledger["engine"].iloc[0] == "spark":
                    path = _spark_report(st, date, out, spark_results)
                else:
                    path = _cycle_report(st, date, out)
                kept = _keep_report(st.path, date, path)
            else:
                path, kept = _profile_report(st, day, out), None
    except CreditPersonaError as exc:
        raise fail(exc) from None
    console.print(f"Wrote {path}" + ("" if kept is None else f" (kept as {kept})"))


def _not_a_results_folder(store: Path | None) -> None:
    """Exit 2 if ``--store`` names a folder (a Spark run's Parquet results, say): a report
    needs the store file, which holds the run ledger and the models."""
    if store is None or not store.is_dir():
        return
    spark = store.name.endswith(".results") or any(store.glob("profiles/as_of=*"))
    owner = store.with_name(store.name.removesuffix(".results")) \
        if store.name.endswith(".results") else "STORE"
    hint = (f"it holds the Parquet results of a Spark run: pass the store that run used "
            f"(--store {owner}) and, if the results moved, --spark-results {store}" if spark
            else "pass the store file (a DuckDB file, creditpersona.duckdb by default)")
    raise fail(StoreError(f"{store}: a folder, not a creditpersona store; {hint}."))


def _as_date(value: Any) -> dt.date:
    import pandas as pd

    return pd.Timestamp(value).date()


def _cycle_report(st: Store, day: dt.date, out: Path) -> Path:
    """The embedded cycle of ``day`` rebuilt from its checkpoints, as its report."""
    from creditpersona.pipeline import load_cycle
    from creditpersona.report.cycle import cycle_sections
    from creditpersona.report.html import render_report
    from creditpersona.store.summary import portfolio_summary

    result = load_cycle(st, day)
    return render_report(out, title=f"creditpersona — {st.path} — {day}",
                         summary=portfolio_summary(st),
                         profile=result.profile.assign(as_of=result.as_of),
                         sections=cycle_sections(result))


def _spark_report(st: Store, day: dt.date, out: Path, results_dir: str | None) -> Path:
    """The Spark cycle of ``day`` rebuilt from its checkpoints and Parquet results."""
    from creditpersona.report.spark import spark_report
    from creditpersona.spark.cycle import load_spark_cycle

    result = load_spark_cycle(st, day, results=results_dir)
    return spark_report(out, st, result, title=f"creditpersona — {st.path} — {day} (Spark)")


def _profile_report(st: Store, day: dt.date | None, out: Path) -> Path:
    """The data and profile sections of a date that was only profiled."""
    from creditpersona.profile.build import load_profile
    from creditpersona.report.html import render_report
    from creditpersona.store.summary import portfolio_summary

    return render_report(out, title=f"creditpersona — {st.path}",
                         summary=portfolio_summary(st), profile=load_profile(st, day))


def _keep_report(store_path: Path, day: dt.date, path: Path) -> Path | None:
    """A copy of the report of ``day``'s cycle beside the store, where ``run`` keeps it
    (``<store>.reports/<date>.html``, served at ``/api/v1/runs/{run_id}/report``)."""
    from creditpersona.safeio import private_dir, write_bytes
    from creditpersona.service.snapshot import reports_dir

    if str(store_path) == ":memory:":
        return None
    kept = private_dir(reports_dir(store_path)) / f"{day.isoformat()}.html"
    if kept.resolve() == Path(path).resolve():
        return kept
    return write_bytes(kept, Path(path).read_bytes())


@app.command()
def run(
    as_of: AsOfOption,
    store: StoreOption = None,
    engine: EngineOption = "duckdb",
    out: Annotated[Path, typer.Option("--out", help="HTML report to write.")] = Path(
        "creditpersona-report.html"),
    refit: Annotated[list[str] | None, typer.Option(
        "--refit", help="Re-fit for this quarter instead of using the model in force: pd "
                        "and/or personas (repeat the option). The review says when.")] = None,
    restart: Annotated[bool, typer.Option(
        "--restart", help="Compute every stage, even if a failed run of this date could be "
                          "resumed.")] = False,
    spark_master: Annotated[str | None, typer.Option(
        "--spark-master", help="With --engine spark: the Spark master URL (default "
                               "local[N], or $CREDITPERSONA_SPARK_MASTER).")] = None,
    spark_conf: Annotated[list[str] | None, typer.Option(
        "--spark-conf", help="With --engine spark: a Spark setting KEY=VALUE (repeat the "
                             "option), e.g. spark.executor.memory=8g.")] = None,
    spark_inputs: Annotated[str | None, typer.Option(
        "--spark-inputs", help="With --engine spark: a folder or URI holding the contract "
                               "tables as <table>.parquet (default: the store's, copied "
                               "beside it).")] = None,
    spark_results: Annotated[str | None, typer.Option(
        "--spark-results", help="With --engine spark: where the result tables go as "
                                "Parquet (default <store>.results).")] = None,
    buckets: Annotated[int, typer.Option(
        "--buckets", min=1, help="With --engine spark: buckets of whole firms.")] = 16,
    sample_cap: Annotated[int, typer.Option(
        "--sample-cap", min=100, help="With --engine spark: most rows of a model's fit "
                                      "sample on the driver.")] = 20_000,
) -> None:
    """The quarterly cycle on a store as of DATE, with its review and HTML report.

    With --engine spark the per-firm work runs on Spark, the result tables are written
    as Parquet (docs/spark.md) and the report is built from them (aggregates in DuckDB
    over the files; distributions and persona cards on a sample of at most 20,000 firms).

    Input checks → profile → PD models → personas → rules → decisions → marketing →
    review. Running a date again replaces its results; after a failure, running it again
    resumes from the stage that failed. Every run is recorded with its lineage
    (creditpersona runs).
    """
    from creditpersona.pipeline import REFITS
    from creditpersona.report.cycle import cycle_sections
    from creditpersona.report.html import render_report
    from creditpersona.store.store import Store
    from creditpersona.store.summary import portfolio_summary

    date = parse_date(as_of)
    unknown = sorted(set(refit or ()) - set(REFITS))
    if unknown:
        raise fail(typer.BadParameter(
            f"--refit {', '.join(unknown)}: re-fit what? Use --refit pd and/or --refit "
            "personas."))
    if engine == "spark":
        _spark_cycle(store, date, out, tuple(refit or ()), restart, spark_master,
                     spark_conf or [], spark_inputs, spark_results, buckets, sample_cap)
        return
    if engine != "duckdb":
        raise fail(typer.BadParameter(f"--engine {engine}: choose duckdb or spark."))
    with Store(store) as st:
        with _progress() as progress:
            task = progress.add_task(f"cycle as of {date}", total=None)
            result = _cycle(st, date, out.parent, engine, lambda name: progress.update(
                task, description=f"{name} as of {date}"), tuple(refit or ()), restart)
        frame = result.profile.assign(as_of=date)
        path = render_report(out, title=f"creditpersona — {st.path}",
                             summary=portfolio_summary(st), profile=frame,
                             sections=cycle_sections(result))
    _print_profile(frame, date)
    _print_cycle(result)
    console.print(f"Report: {path}")


def _spark_cycle(store: Path | None, date: dt.date, out: Path, refit: tuple[str, ...],
                 restart: bool, master: str | None, conf: list[str], inputs: str | None,
                 results_dir: str | None, buckets: int, sample_cap: int) -> None:
    """``run --engine spark``: the cycle on Spark (resuming a failed run of the date, as the
    embedded cycle does), where each stage ran and its rows, and the HTML report ``out``
    built from the Parquet results, kept beside the store as the embedded run's is."""
    from creditpersona.spark.cycle import run_spark_cycle
    from creditpersona.spark.session import parse_conf
    from creditpersona.store.store import Store

    try:
        settings = parse_conf(conf)
        with Store(store) as st, _progress() as progress:
            task = progress.add_task(f"Spark cycle as of {date}", total=None)
            result = run_spark_cycle(
                st, date, out.parent, master=master, conf=settings, inputs=inputs,
                results=results_dir, buckets=buckets, sample_cap=sample_cap, refit=refit,
                restart=restart, on_stage=lambda name: progress.update(
                    task, description=f"{name} as of {date}"))
    except CreditPersonaError as exc:
        raise fail(exc) from None
    _print_spark_cycle(result)
    try:  # the cycle completed (the ledger says so); the report reads its results
        with Store(store, read_only=True) as st:
            path = _spark_report(st, date, out, results_dir)
            kept = _keep_report(st.path, date, path)
    except CreditPersonaError as exc:
        raise fail(CreditPersonaError(
            f"the cycle of {date} completed (run {result.run_id}), but its report was not "
            f"written: {exc}; write it with creditpersona report --as-of {date} once the "
            "results are readable.")) from None
    console.print(f"Report: {path}" + ("" if kept is None else f" (kept as {kept})"))


def _print_spark_cycle(result: SparkCycleResult) -> None:
    """Where each stage of a Spark cycle ran, its rows and seconds, as ``run`` prints them."""
    import pandas as pd

    rows = pd.DataFrame([{"stage": s.stage, "ran on 运行于": s.ran_on,
                          "seconds": round(result.seconds.get(s.stage, 0.0), 1),
                          "rows written": ", ".join(f"{k} {v:,}" for k, v in s.tables.items()),
                          "driver rows": s.driver_rows, "note": s.note}
                         for s in result.stages.values()])
    console.print(_frame(rows, f"Spark cycle 季度循环 {result.as_of} (run {result.run_id})"))
    console.print(f"Results 结果: {result.results_root}")
    timing = ", ".join(f"{k} {v:.1f} s" + (" (resumed)" if k in result.resumed else "")
                       for k, v in result.seconds.items())
    console.print(f"Stages: {timing}")
    console.print(f"Run {result.run_id} recorded with its lineage "
                  f"(creditpersona runs --as-of {result.as_of}).")


@app.command()
def runs(
    store: StoreOption = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Show this date's runs with their stages.")] = None,
) -> None:
    """The run ledger: every cycle run with its status, lineage and models (运行记录)."""
    import json

    import pandas as pd

    from creditpersona.runs import runs as ledger_runs
    from creditpersona.runs import stages
    from creditpersona.store.store import Store

    date = parse_date(as_of) if as_of else None
    with Store(store, read_only=True) as st:
        table = ledger_runs(st, date)
        if table.empty:
            console.print(f"{st.path}: no cycle has run yet: creditpersona run --as-of DATE.")
            return
        shown = pd.DataFrame({
            "as_of": table["as_of"], "run": table["run_id"], "status": table["status"],
            "failed stage": table["failed_stage"].fillna(""),
            "resumed from": table["resumed_from"].fillna(""),
            "refit": table["refit"].fillna(""),
            "models": [", ".join(f"{k} v{v['version']}" for k, v in json.loads(m).items())
                       for m in table["models"].fillna("{}")],
            "inputs": table["inputs_sha256"].str[:12],
            "started": table["started_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        })
        console.print(_frame(shown, f"Cycle runs 运行记录 — {st.path}"))
        if date is not None:
            latest = str(table["run_id"].iloc[0])
            rows = stages(st, latest)[["stage", "status", "seconds", "checkpoint_sha256"]]
            rows["checkpoint_sha256"] = rows["checkpoint_sha256"].fillna("").str[:12]
            console.print(_frame(rows, f"Stages of run {latest}"))
            errors = table.loc[table["status"].isin(["failed", "abandoned"]),
                               ["run_id", "error"]]
            for r in errors.itertuples():
                console.print(f"[red]{r.run_id}[/]: {r.error}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Working directory of the demo.")] = Path(
        "creditpersona-demo"),
    firms: Annotated[int, typer.Option(
        "--firms", min=500, help="Firms in the bank (the PD models need a few hundred "
                                 "defaults' worth of history).")] = 2000,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    inject_errors: Annotated[float, typer.Option(
        "--inject-errors", min=0.0, max=0.5,
        help="Share of dirty rows, to show the quarantine at work.")] = 0.01,
    quarters: Annotated[int, typer.Option(
        "--quarters", min=1, max=8,
        help="Quarters to run, ending 2026-06-30; from the second on, the report compares "
             "each quarter with the one before.")] = 2,
) -> None:
    """Synthetic bank → store → the quarterly cycle → report, from scratch in OUT.

    The store is OUT/creditpersona.duckdb and the report (of the last quarter, with the
    quarter-over-quarter review) OUT/report.html.
    """

    from creditpersona.report.cycle import cycle_sections
    from creditpersona.report.html import render_report
    from creditpersona.safeio import private_dir
    from creditpersona.store.ingest import ingest as run_ingest
    from creditpersona.store.ingest import plan
    from creditpersona.store.store import Store
    from creditpersona.store.summary import portfolio_summary
    from creditpersona.synth import generate_bank

    # The demo's folder holds a store and customer-like data: the user's alone (a store in
    # a folder others can write is refused, see creditpersona.store.store.check_private).
    private_dir(out)
    data_dir, store_path = out / "data", out / "creditpersona.duckdb"
    shutil.rmtree(data_dir, ignore_errors=True)
    store_path.unlink(missing_ok=True)
    with _progress() as progress:
        task = progress.add_task("generating", total=None)
        gen = generate_bank(data_dir, firms, seed, end_date=DEMO_AS_OF,
                            inject_errors=inject_errors, quarters=quarters,
                            progress=lambda msg: progress.update(task, description=msg))
        planned = plan([data_dir])
        progress.update(task, description="ingesting", total=len(planned), completed=0)
        with Store(store_path) as st:
            results = []
            for path, name in planned:
                progress.update(task, description=f"ingesting {name}")
                results.extend(run_ingest(st, [path], table=name))
                progress.advance(task)
            summary = portfolio_summary(st)
            quarantined_rows = st.table("quarantine").select(
                "table_name", "row_number").to_pandas()
            for k, day in enumerate(gen.quarters, start=1):
                label = f"Q{k} as of {day}"
                result = _cycle(st, day, out, "duckdb", lambda name, label=label:  # type: ignore[misc]
                                progress.update(task, description=f"{name} — {label}"))
            report_path = render_report(
                out / "report.html", title=f"creditpersona demo — {firms:,} firms, seed {seed}",
                summary=summary, profile=result.profile.assign(as_of=result.as_of),
                sections=cycle_sections(result))
    console.rule(f"[bold]creditpersona demo[/] — {firms:,} firms, seed {seed}")
    console.print(_frame(summary.tables, "Store contents 库内数据"))
    console.print(_frame(summary.firms_by_section_size,
                         "Firms by industry section and MIIT size class 行业×规模", index=True))
    console.print(_frame(summary.loans_by_product, "Loans by product 贷款产品"))
    if len(summary.quarantine_by_rule):
        console.print(_frame(summary.quarantine_by_rule, "Quarantined rows by rule 隔离原因"))
    _print_injected(gen.truth_files.get("injected_errors"), gen.injected, quarantined_rows)
    _print_profile(result.profile, result.as_of)
    _print_cycle(result)
    balanced = all(r.balanced for r in results)
    console.print(f"Every row read was loaded or quarantined: {'yes' if balanced else 'NO'}.")
    console.print(f"Store: {store_path} (open it with plain DuckDB: "
                  f"duckdb {store_path} \"select * from firms limit 5\")")
    console.print(f"Report: {report_path}")
    _demo_service(store_path)


def _demo_service(store_path: Path) -> None:
    from creditpersona.cli.service import demo_users

    demo_users(store_path)


def _print_injected(injected_path: Path | None, injected_rows: int,
                    quarantined_rows: pd.DataFrame) -> None:
    """Whether the quarantine holds exactly the rows the generator spoiled."""
    import pandas as pd

    if injected_path is None or not injected_rows:
        return
    injected = pd.read_csv(injected_path)
    same = (set(zip(injected["table"], injected["row_number"], strict=True))
            == set(zip(quarantined_rows["table_name"], quarantined_rows["row_number"],
                       strict=True)))
    verdict = "[green]exactly the injected rows[/]" if same else "[red]NOT the injected rows[/]"
    console.print(f"Quarantined {len(quarantined_rows):,} rows — {verdict} "
                  f"({injected_rows:,} injected).")


#: Deprecations raised inside third-party libraries by their own calls, which a user of the
#: command line can do nothing about: (message regex, module regex of the caller). Ibis 12
#: calls DuckDB's ``fetch_arrow_table`` and reads pandas' ``future.infer_string`` option.
THIRD_PARTY_DEPRECATIONS = (
    (r"fetch_arrow_table\(\) is deprecated", r"ibis\."),
    (r"The 'future\.infer_string' option is deprecated", r"ibis\."),
)


def quiet_third_party_warnings() -> None:
    """Silence the known third-party deprecations (and only those) for this process.

    Python hides deprecation warnings outside ``__main__`` by default; these filters keep
    them hidden when a library or ``PYTHONWARNINGS`` turns them on, while every other
    warning, the package's own included, still shows.
    """
    for message, module in THIRD_PARTY_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message, category=DeprecationWarning,
                                module=module)


def main() -> None:
    """Console-script entry point: errors a user can fix exit with code 2 and a message."""
    quiet_third_party_warnings()
    try:
        app()
    except CreditPersonaError as exc:
        sys.exit(fail(exc).exit_code)
    except Exception as exc:  # DuckDB's error types are not imported at start-up
        if type(exc).__name__ != "OutOfMemoryException":
            raise
        from creditpersona.store.store import out_of_memory_error

        sys.exit(fail(out_of_memory_error(exc)).exit_code)
