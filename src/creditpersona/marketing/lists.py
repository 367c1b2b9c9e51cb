"""Campaign lists per relationship manager (客户经理营销清单), as CSV and Excel.

Rendering only: the offers come from the planner; this module lays them out with bilingual
headers (Chinese first), one CSV per RM (UTF-8 with BOM, so Excel opens the Chinese right)
and one workbook with a summary sheet and a sheet per RM (a single sheet for all RMs when
there are more than ``MAX_SHEETS``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from creditpersona.errors import SchemaError
from creditpersona.models import artefacts

#: (column, 中文, English) of a campaign list, in order.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rm_id", "客户经理", "RM"),
    ("firm_id", "统一社会信用代码", "Firm id"),
    ("firm_name", "企业名称", "Firm"),
    ("persona", "客户性格", "Persona"),
    ("product", "产品代码", "Product code"),
    ("product_zh", "推荐产品", "Product"),
    ("journey_zh", "客户旅程", "Journey"),
    ("channel_zh", "触达渠道", "Channel"),
    ("reason_zh", "推荐理由", "Reason"),
    ("p_accept", "预计接受概率", "P(accept)"),
    ("expected_value", "预期价值(元)", "Expected value (yuan)"),
    ("suggested_rate", "建议利率(%)", "Suggested rate (%)"),
    ("suggested_limit", "建议额度(元)", "Suggested limit (yuan)"),
)
MAX_SHEETS = 200


@artefacts.trusted("campaign_list_files")
@dataclass(frozen=True)
class CampaignListFiles:
    """Where the lists were written."""

    csv_files: tuple[Path, ...]
    excel: Path | None


def headers() -> list[str]:
    """Bilingual column headers, e.g. ``推荐产品 Product``.

    Examples
    --------
    >>> headers()[5]
    '推荐产品 Product'
    """
    return [f"{zh} {en}" for _, zh, en in COLUMNS]


def list_frame(offers: pd.DataFrame) -> pd.DataFrame:
    """The offers as a campaign list: the list columns with bilingual headers, sorted by RM
    and expected value (highest first).

    Raises
    ------
    SchemaError
        If ``rm_id``, ``firm_id`` or ``product`` is missing.
    """
    missing = [c for c in ("rm_id", "firm_id", "product") if c not in offers.columns]
    if missing:
        raise SchemaError(f"offers lack {missing}; campaign lists need the RM, the firm and "
                          "the product of every offer.")
    frame = offers.reindex(columns=[c for c, _, _ in COLUMNS])
    if "expected_value" in offers.columns:
        frame = frame.sort_values(["rm_id", "expected_value"], ascending=[True, False])
    frame = frame.round({"p_accept": 4, "expected_value": 2, "suggested_rate": 4,
                         "suggested_limit": 2})
    frame.columns = headers()
    return frame.reset_index(drop=True)


def _safe(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]", "_", name) or "unassigned"


def write_campaign_lists(offers: pd.DataFrame, out_dir: str | Path, *, csv: bool = True,
                         excel: bool = True) -> CampaignListFiles:
    """Write one CSV per RM and one Excel workbook into ``out_dir``.

    Examples
    --------
    >>> import tempfile
    >>> o = pd.DataFrame({"rm_id": ["RM1", "RM2"], "firm_id": ["a", "b"], "product":
    ...                   ["green", "equipment"], "expected_value": [10.0, 20.0]})
    >>> files = write_campaign_lists(o, tempfile.mkdtemp())
    >>> [p.name for p in files.csv_files], files.excel.name
    (['RM1.csv', 'RM2.csv'], 'campaign_lists.xlsx')
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = list_frame(offers)
    rm_col = headers()[0]
    written: list[Path] = []
    groups = list(table.groupby(rm_col, sort=True, dropna=False))
    if csv:
        for rm, part in groups:
            path = out / f"{_safe(str(rm))}.csv"
            part.to_csv(path, index=False, encoding="utf-8-sig")
            written.append(path)
    book = None
    if excel:
        book = out / "campaign_lists.xlsx"
        summary = table.groupby(rm_col, dropna=False).agg(
            offers=(headers()[1], "size"),
            expected_value=(headers()[10], "sum")).reset_index()
        summary.columns = [rm_col, "推荐数 Offers", "预期价值合计(元) Expected value (yuan)"]
        with pd.ExcelWriter(book, engine="xlsxwriter") as writer:
            summary.to_excel(writer, sheet_name="汇总 Summary", index=False)
            _widths(writer, "汇总 Summary", summary)
            if len(groups) <= MAX_SHEETS:
                for rm, part in groups:
                    name = _safe(str(rm))[:31]
                    part.to_excel(writer, sheet_name=name, index=False)
                    _widths(writer, name, part)
            else:
                table.to_excel(writer, sheet_name="全部 All", index=False)
                _widths(writer, "全部 All", table)
    return CampaignListFiles(tuple(written), book)


def _widths(writer: pd.ExcelWriter, sheet: str, frame: pd.DataFrame) -> None:
    ws = writer.sheets[sheet]
    for i, col in enumerate(frame.columns):
        longest = max([len(str(col))] + [len(str(v)) for v in frame[col].head(200)])
        ws.set_column(i, i, min(60, max(10, longest + 2)))
    ws.freeze_panes(1, 0)
