"""What the store holds, in a few tables a person can read at a glance."""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import pandas as pd

from creditpersona.domain import industry, size_class
from creditpersona.store import results
from creditpersona.store.store import QUARANTINE, Store


@dataclass(frozen=True)
class PortfolioSummary:
    """Headline tables of a store."""

    tables: pd.DataFrame
    quarantine_by_rule: pd.DataFrame  # per table: rows, and rows by rule as text
    firms_by_section_size: pd.DataFrame
    loans_by_product: pd.DataFrame
    #: Firm name by firm id (tables of firms show the name next to the code).
    firm_names: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))


def latest_size_class(store: Store) -> pd.DataFrame:
    """MIIT size class of each firm from its latest annual statement.

    Firms without an annual statement get ``None`` (documented: the size class needs revenue
    or assets the bank has not seen).
    """
    st = store.table("financial_statements")
    annual = st.filter(st.period_type == "annual")
    last = annual.group_by("firm_id").agg(period_end=annual.period_end.max())
    latest = annual.semi_join(last, ["firm_id", "period_end"]).select(
        "firm_id", "revenue", "total_assets"
    )
    firms = store.table("firms").select("firm_id", "industry_code", "employees")
    df = firms.left_join(latest, "firm_id").select(
        "firm_id", "industry_code", "employees", "revenue", "total_assets"
    ).to_pandas()
    df["section"] = industry.section_of(df["industry_code"])
    df["size_class"] = size_class.classify(
        df["industry_code"], df["employees"], df["revenue"], df["total_assets"]
    )
    return df[["firm_id", "section", "size_class"]]


def portfolio_summary(store: Store, *, names: bool = True) -> PortfolioSummary:
    """Rows per table, quarantine by rule, firms by industry section and size class, loans,
    and (with ``names``) every firm's name."""
    q = store.table(QUARANTINE)
    counts = (q.group_by(["table_name", "rule"]).agg(rows=q.count())
              .order_by(["table_name", ibis.desc("rows"), "rule"]).to_pandas())
    by_rule = pd.DataFrame({
        "table": name,
        "rows": int(grp["rows"].sum()),
        "rules": " · ".join(f"{r} {n:,}" for r, n in zip(grp["rule"], grp["rows"], strict=True)),
    } for name, grp in counts.groupby("table_name", sort=False))
    sizes = latest_size_class(store)
    sizes["size_class"] = sizes["size_class"].fillna("unknown")
    grid = pd.crosstab(sizes["section"].fillna("?"), sizes["size_class"])
    order = [c for c in (*size_class.SIZE_CLASSES, size_class.OUTSIDE_MIIT, "unknown")
             if c in grid.columns]
    grid = grid[order]
    grid.index = [
        f"{s} {industry.SECTION_BY_LETTER[s].zh}" if s in industry.SECTION_BY_LETTER else s
        for s in grid.index
    ]
    loans = store.table("loans")
    by_product = (loans.group_by("product")
                  .agg(loans=loans.count(), amount_yuan=loans.amount.sum(),
                       mean_spread_bp=loans.spread_bp.mean())
                  .order_by("product").to_pandas())
    return PortfolioSummary(store.status(), by_rule, grid, by_product,
                            firm_names(store) if names else pd.Series(dtype=object))


def firm_names(store: Store) -> pd.Series:
    """Firm name by firm id, from the ``firms`` table (empty without it)."""
    if not results.has_table(store, "firms"):
        return pd.Series(dtype=object)
    frame = store.table("firms").select("firm_id", "name").to_pandas()
    return frame.drop_duplicates("firm_id").set_index("firm_id")["name"]
