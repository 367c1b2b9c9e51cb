"""The text-risk section of the HTML report: each watched firm's top risk document, with the
words that drove its score highlighted.

Rendering only: the documents and scores come from the profile (``text_top_document`` …,
see :func:`creditpersona.profile.text.text_signals`); the driving words from the packaged
model (:meth:`creditpersona.text.model.TextRiskModel.drivers`).
"""

from __future__ import annotations

import html

import pandas as pd

from creditpersona.text.features import normalise, vocabulary
from creditpersona.text.package import TextRiskPackage, document_events, load_packaged

#: Firms shown.
ROWS = 20


def highlight(text: str, words: list[str]) -> str:
    """``text`` as HTML with every occurrence of ``words`` in ``<mark>``, the rest escaped.

    Words are found in the normalised text (digits as 0, NFKC), which has the same length as
    the original for Chinese text; where it does not, the text is shown without marks.

    Examples
    --------
    >>> highlight("A公司<被列为>失信被执行人", ["失信被执行人"])
    'A公司&lt;被列为&gt;<mark>失信被执行人</mark>'
    """
    norm = normalise(text)
    if len(norm) != len(text) or not words:
        return html.escape(text)
    marked = [False] * len(text)
    for w in words:
        start = norm.find(w)
        while w and start >= 0:
            for i in range(start, start + len(w)):
                marked[i] = True
            start = norm.find(w, start + 1)
    out: list[str] = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and marked[j] == marked[i]:
            j += 1
        piece = html.escape(text[i:j])
        out.append(f"<mark>{piece}</mark>" if marked[i] else piece)
        i = j
    return "".join(out)


def _day(value: object) -> str:
    """A date as ``YYYY-MM-DD`` ('' when missing)."""
    if value is None or isinstance(value, float) or value is pd.NaT:
        return ""
    stamp = pd.Timestamp(str(value))
    return "" if pd.isna(stamp) else str(stamp.date())


def text_section(profile: pd.DataFrame, package: TextRiskPackage | None = None,
                 names: pd.Series | None = None, *, risky: int | None = None) -> str:
    """The firms with the highest ``text_risk_score`` and their top risk document, with the
    firm's name (``names`` by firm id) and the events in Chinese and English.

    ``profile`` holds every firm, or only the rows shown when ``risky`` gives the number of
    firms with a risk document (counted elsewhere: the Spark run's report, in SQL)."""
    parts = ["<h2>文本风险 Text risk — news, court, registry and visit notes</h2>"]
    need = {"firm_id", "text_risk_score", "text_top_document"}
    if not need <= set(profile.columns):
        return parts[0] + "<p class='note'>The profile has no text-risk columns.</p>"
    pkg = package or load_packaged()
    shown = profile[profile["text_top_document"].notna()].sort_values(
        ["text_risk_score", "firm_id"], ascending=[False, True]).head(ROWS)
    n_risky = int((profile.get("text_risk_documents", pd.Series(dtype=float)) > 0).sum()) \
        if risky is None else risky
    parts.append(
        f"<p class='note'>{n_risky:,} firms have at least one document of the past year "
        f"that the text-risk model scores at or above {pkg.threshold:.2f}. The model reads "
        "character n-grams, the event lexicon and a financial sentiment dictionary; a "
        "document that names other known firms counts only if it is about this firm. "
        "Highlighted: the words that raised the document's score most.</p>")
    if shown.empty:
        return "\n".join(parts)
    labels = {e.code: e for e in vocabulary().lexicon.events}
    rows = []
    for _, r in shown.iterrows():
        doc = str(r["text_top_document"])
        words = [w for w, _ in pkg.text.drivers(doc, 6)]
        events = document_events([doc])[0]
        named = "" if names is None else str(names.get(r["firm_id"], ""))
        rows.append(
            "<tr>" + "".join(f"<td class='text'>{c}</td>" for c in (
                html.escape(str(r["firm_id"])), html.escape(named),
                f"{float(r['text_risk_score']):.0f}",
                html.escape(_day(r.get("text_top_document_date"))),
                f"{float(r.get('text_top_document_risk', float('nan'))):.2f}",
                "<br>".join(html.escape(f"{labels[c].zh} {labels[c].en}") for c in events),
                highlight(doc, words))) + "</tr>")
    parts.append(
        "<table class='dataframe'><thead><tr><th>firm_id</th><th>name 名称</th>"
        "<th>text risk score 文本风险分</th><th>date 日期</th><th>document risk 文档风险</th>"
        "<th>events 事件</th>"
        "<th>top risk document 最高风险文本</th></tr></thead><tbody>" + "".join(rows)
        + "</tbody></table>")
    return "\n".join(parts)
