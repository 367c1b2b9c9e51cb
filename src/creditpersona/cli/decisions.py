"""``creditpersona price | limit | monitor``: credit decisions on the command line.

The main app mounts :data:`decisions_app` at top level (``app.add_typer(decisions_app)``).
Each command calls a plain function of :mod:`creditpersona.decisions.stage` and only formats
what it returns. Errors a user can fix (no profile for the date, unknown firm, no PD score,
bad configuration) exit with code 2 and a message saying what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from creditpersona.cli.common import (
    StoreOption,
    console,
    fail,
    parse_date,
)
from creditpersona.errors import CreditPersonaError

if TYPE_CHECKING:
    from creditpersona.store.store import Store

#: Reasons per firm shown on screen (the files carry them all).
REASONS_SHOWN = 3

decisions_app = typer.Typer(
    help="Credit decisions: pricing, limits and monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

AsOfOption = Annotated[str, typer.Option("--as-of", help="As-of date YYYY-MM-DD (profiled).")]
FirmOption = Annotated[str, typer.Option("--firm", help="The firm's id (USCC).")]
PdOption = Annotated[float | None, typer.Option(
    "--pd", help="Use this PD instead of the stored pd_scores (e.g. before scoring).")]
PersonaOption = Annotated[str | None, typer.Option(
    "--persona", help="Persona code (default: the stored one, else the default policy).")]
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="A decisions.yaml to use instead of the packaged one.")]

_LABELS = {
    "ftp_bp": ("资金成本 FTP", "funds-transfer price"),
    "operating_cost_bp": ("运营成本", "operating cost"),
    "expected_loss_bp": ("预期损失 PD×LGD", "expected loss"),
    "capital_charge_bp": ("资本成本 hurdle×K", "capital charge"),
    "target_margin_bp": ("目标利润", "target margin"),
    "fee_credit_bp": ("中间业务收入抵减", "fee income credit"),
    "tax_bp": ("增值税及附加 6.72%", "VAT and surcharges on interest"),
    "strategy_bp": ("客群策略调整", "persona strategy"),
}


def _open(store: Path | None) -> Store:
    from creditpersona.store.store import Store

    try:
        return Store(store, read_only=True)
    except CreditPersonaError as exc:
        raise fail(exc) from None


@decisions_app.command("price")
def price(
    as_of: AsOfOption,
    firm: FirmOption,
    amount: Annotated[float | None, typer.Option(
        "--amount", help="Amount requested (yuan; default: the cycle's indicative quote, "
        "the firm's recommended limit or 1,000,000 without one).")] = None,
    term_months: Annotated[int | None, typer.Option(
        "--term-months", min=1, max=360,
        help="Term in months (default: the product's term).")] = None,
    product: Annotated[str | None, typer.Option(
        "--product", help="Product (default: the persona's main product).")] = None,
    collateral: Annotated[str | None, typer.Option(
        "--collateral", help="Collateral type (default: the product's usual one).")] = None,
    pd_value: PdOption = None,
    persona: PersonaOption = None,
    exception: Annotated[str | None, typer.Option(
        "--exception", help="A pricing exception (who approved it, why): allows a rate "
        "below FTP + operating cost; it is logged and shown.")] = None,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Recommended rate for a requested loan: LPR + spread, with every component."""
    from creditpersona.decisions.config import load_decisions
    from creditpersona.decisions.pricing import COMPONENTS
    from creditpersona.decisions.stage import price_request

    day = parse_date(as_of)
    try:
        cfg = load_decisions(config)
        with _open(store) as st:
            row = price_request(st, day, firm, amount, term_months, product=product,
                                collateral_type=collateral, pd_value=pd_value,
                                persona=persona, exception=exception, config=cfg).iloc[0]
    except CreditPersonaError as exc:
        raise fail(exc) from None
    table = Table(title=(f"{firm} · {row['product']} {row['amount']:,.0f} yuan · "
                         f"{row['term_months']} "
                         f"months · PD {row['pd']:.2%} (grade {row['grade']}) · persona "
                         f"{row['persona_policy']} · LGD {row['lgd']:.0%}"),
                  title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("component 构成")
    table.add_column("bp", justify="right")
    for c in COMPONENTS:
        zh, en = _LABELS[c]
        table.add_row(f"{zh} / {en}", f"{row[c]:+.1f}")
    table.add_row("= recommended rate 建议利率", f"{row['rate'] * 1e4:.1f}", style="bold")
    console.print(table)
    console.print(f"LPR {row['lpr_tenor']} {row['lpr']:.2%} + spread {row['spread_bp']:+.0f} bp "
                  f"= {row['rate']:.2%};  RAROC {row['raroc']:.1%} (hurdle "
                  f"{row['hurdle_rate']:.0%})")
    if row["cost_floor_applied"]:
        console.print(f"[yellow]raised to the cost floor {row['cost_floor_rate']:.2%} (FTP + "
                      "operating cost + tax): give --exception to quote below it.[/yellow]")
    if row["below_cost"]:
        console.print(f"[red]below the cost floor {row['cost_floor_rate']:.2%} by exception: "
                      f"{row['exception']}[/red]")
    if row["declined"]:
        console.print("[red]declined: the firm is in default (grade D) — no new credit.[/red]")
    if row["floor_above_max"]:
        console.print("[red]the cost-plus floor exceeds the maximum spread: the loan cannot "
                      "earn the hurdle at any allowed price.[/red]")
    if row["below_hurdle"]:
        console.print("[yellow]RAROC at the offered rate is below the hurdle "
                      "(RAROC 低于门槛收益率).[/yellow]")


@decisions_app.command("limit")
def limit(
    as_of: AsOfOption,
    firm: FirmOption,
    product: Annotated[str | None, typer.Option(
        "--product", help="Product (default: the persona's main product).")] = None,
    pd_value: PdOption = None,
    persona: PersonaOption = None,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Recommended credit limit with every constraint and the binding one."""
    import pandas as pd

    from creditpersona.decisions.config import load_decisions
    from creditpersona.decisions.limits import CONSTRAINTS_ZH
    from creditpersona.decisions.stage import firm_limit

    day = parse_date(as_of)
    try:
        cfg = load_decisions(config)
        with _open(store) as st:
            row = firm_limit(st, day, firm, product=product, pd_value=pd_value,
                             persona=persona, config=cfg).iloc[0]
    except CreditPersonaError as exc:
        raise fail(exc) from None
    table = Table(title=f"{firm} · {row['product']} · grade {row['grade']} · persona "
                        f"{row['persona_policy']}", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("item 项目")
    table.add_column("yuan / ×", justify="right")
    for label, key in (("营运资金量 working-capital need", "wc_need"),
                       ("− own working capital 自有营运资金", "own_working_capital"),
                       ("= total working-capital line 流动资金贷款总需求", "wc_line"),
                       ("− short-term borrowings 现有短期借款", "existing_short_term_debt"),
                       ("= new lending supported 新增流贷测算额度", "wc_capacity"),
                       ("our exposure now 本行现有授信余额", "our_exposure"),
                       ("CFADS (operating cash flow) 可用于偿债的现金流", "cfads"),
                       ("existing debt service 现有还本付息", "existing_service"),
                       ("DSCR capacity 偿债备付率测算额度", "dscr_capacity"),
                       ("capacity used 采用的测算额度", "capacity"),
                       ("× grade multiplier 评级系数", "grade_multiplier"),
                       ("× persona multiplier 客群系数", "persona_multiplier"),
                       ("= adjusted capacity 调整后额度", "adjusted_capacity"),
                       ("single-borrower cap 单一客户集中度上限", "single_borrower_cap"),
                       ("leverage cap 负债/收入上限", "leverage_cap"),
                       ("product cap 产品上限", "product_cap")):
        v = row[key]
        shown = ("" if pd.isna(v) else "none 无" if v == float("inf")
                 else f"{v:.2f}" if "multiplier" in key else f"{v:,.0f}")
        table.add_row(label, shown)
    table.add_row("= recommended limit (our total line) 建议授信总额",
                  f"{row['recommended_limit']:,.0f}", style="bold")
    table.add_row("  of which new lending 其中新增额度", f"{row['new_lending']:,.0f}")
    console.print(table)
    console.print(f"binding constraint 约束条件: {row['binding']} "
                  f"({CONSTRAINTS_ZH.get(row['binding'], '')})")


@decisions_app.command("monitor")
def monitor(
    as_of: AsOfOption,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write the watch-list here.")] = None,
    excel: Annotated[Path | None, typer.Option(
        "--excel", help="Write watch-list, classification and plans to this .xlsx.")] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Rows of the watch-list shown.")] = 20,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Five-tier classification, early warnings and the watch-list (bilingual reasons)."""
    from creditpersona.decisions.config import TIERS, TIERS_ZH, load_decisions
    from creditpersona.decisions.stage import monitor_portfolio
    from creditpersona.safeio import to_csv, to_excel

    day = parse_date(as_of)
    try:
        cfg = load_decisions(config)
        with _open(store) as st:
            result = monitor_portfolio(st, day, config=cfg)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    counts = result.classification["tier"].value_counts()
    tiers = Table(title=f"五级分类 five-tier classification, {day} (firms with loans)",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("tier", "中文", "firms", "outstanding"):
        tiers.add_column(col, justify="left" if col in ("tier", "中文") else "right")
    bal = result.classification.groupby("tier")["outstanding"].sum()
    for t, zh in zip(TIERS, TIERS_ZH, strict=True):
        tiers.add_row(t, zh, f"{int(counts.get(t, 0)):,}", f"{float(bal.get(t, 0.0)):,.0f}")
    console.print(tiers)
    w = result.watchlist
    watch = Table(title=f"预警名单 watch-list: {len(w):,} firms "
                        f"({int((w['level'] == 'red').sum()):,} red)",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("firm_id", "level", "points", "tier", "main reasons 主要原因"):
        watch.add_column(col, justify="right" if col == "points" else "left")
    for _, r in w.head(top).iterrows():
        zh = "；".join(r["reasons_zh"].split("；")[:REASONS_SHOWN])
        en = "; ".join(r["reasons_en"].split("; ")[:REASONS_SHOWN])
        watch.add_row(r["firm_id"], r["level"], f"{r['points']:.0f}", r["tier"],
                      f"{zh}\n{en}")
    console.print(watch)
    if result.skipped_rules:
        console.print(f"change rules skipped (no earlier profile stored): "
                      f"{', '.join(result.skipped_rules)}")
    if csv is not None:
        to_csv(w, csv)
        console.print(f"watch-list written to {csv}")
    if excel is not None:
        to_excel(excel, {"watchlist": w, "classification": result.classification,
                         "plans": result.plans})
        console.print(f"watch-list, classification and plans written to {excel}")
