"""Persona cards: size, five-dimension profile, distinguishing features, names, rules.

Everything here is computed from the assignment and the profile, never looked up: a persona's
name and description are generated from the features on which it differs most from the rest
of the portfolio (with the policy's naming lexicon), and a shallow surrogate decision tree
turns the model's assignment into rules a business user can read, with its fidelity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from creditpersona import artefacts
from creditpersona.domain.industry import SECTION_BY_LETTER
from creditpersona.personas.policy import PersonaModel, PersonaPolicy
from creditpersona.personas.segment import SCORE_COLUMNS, add_derived_features

#: The readable column behind a transformed segmentation feature (trees split the same way).
READABLE = {"log_revenue": "revenue", "log_employees": "employees",
            "log_total_assets": "total_assets"}
_MAX_TREE_ROWS = 200_000


@artefacts.trusted("persona_surrogate_rules")
@dataclass(frozen=True)
class SurrogateRules:
    """A depth-limited decision tree that imitates the model's assignment.

    Attributes
    ----------
    rules : pandas.DataFrame
        One row per leaf: ``persona_id``, ``rule_zh``, ``rule_en``, ``firms`` (training
        firms in the leaf) and ``purity`` (share of them the model puts in that persona).
    fidelity : float
        Share of held-out firms (30 %) the tree assigns to the model's persona.
    fidelity_train : float
        The same on the firms the tree was grown on.
    depth : int
        Depth of the tree.
    features : list of str
        The tree's inputs (numeric columns, and ``<category>=<level>`` indicators).
    """

    rules: pd.DataFrame
    fidelity: float
    fidelity_train: float
    depth: int
    features: list[str]
    tree: DecisionTreeClassifier


@artefacts.trusted("persona_cards")
@dataclass(frozen=True)
class PersonaCards:
    """Everything that describes the personas.

    Attributes
    ----------
    cards : pandas.DataFrame
        One row per persona (``persona_id`` index): ``name_zh``, ``name_en``,
        ``description_zh``, ``description_en``, ``source``, ``firms``, ``share``, the five
        ``*_score`` means, ``default_rate``, ``mean_pd``, ``top_section``, ``median_revenue``
        and ``distinguishing_zh`` / ``distinguishing_en``.
    distinguishing : pandas.DataFrame
        Per persona and feature: ``persona_median``, ``rest_median``, ``effect``
        (standardised difference of mean percentile ranks) — the strongest first.
    products : pandas.DataFrame
        Share of the persona's firms holding each product (empty without loan data).
    surrogate : SurrogateRules or None
        The readable assignment rules of the model personas (None if there is only one).
    """

    cards: pd.DataFrame
    distinguishing: pd.DataFrame
    products: pd.DataFrame
    surrogate: SurrogateRules | None


def distinguishing_features(frame: pd.DataFrame, persona: pd.Series,
                            features: list[str]) -> pd.DataFrame:
    """How far each persona stands from the rest on each feature.

    The effect is the difference between the persona's mean percentile rank and the rest's,
    over the standard deviation of percentile ranks (a robust standardised difference: it
    ignores scale and outliers). Missing values are left out.

    Examples
    --------
    >>> f = pd.DataFrame({"x": [1.0, 2.0, 3.0, 10.0, 11.0, 12.0]})
    >>> d = distinguishing_features(f, pd.Series(list("aaabbb")), ["x"])
    >>> d.set_index("persona_id")["effect"].round(2).to_dict()
    {'a': -1.76, 'b': 1.76}
    """
    rows = []
    labels = persona.to_numpy()
    for f in features:
        values = pd.to_numeric(frame[f], errors="coerce").replace([np.inf, -np.inf], np.nan)
        ranks = values.rank(pct=True).to_numpy()
        sd = np.nanstd(ranks)
        have = ~np.isnan(ranks)
        for pid in pd.unique(labels):
            mine = (labels == pid) & have
            rest = (labels != pid) & have
            if not mine.any() or not rest.any() or not sd > 0:
                continue
            rows.append({
                "persona_id": pid, "feature": f,
                "persona_median": float(np.median(values.to_numpy()[mine])),
                "rest_median": float(np.median(values.to_numpy()[rest])),
                "effect": float((ranks[mine].mean() - ranks[rest].mean()) / sd),
            })
    out = pd.DataFrame(rows, columns=["persona_id", "feature", "persona_median", "rest_median",
                                      "effect"])
    order = out["effect"].abs().sort_values(ascending=False).index
    return out.loc[order].reset_index(drop=True)


def _fmt(feature: str, value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    if feature in {"debt_to_assets", "gross_margin", "net_margin", "revenue_growth",
                   "capex_intensity", "late_share", "early_share", "top3_share",
                   "leverage_trend"}:
        return f"{value:.0%}"
    if feature.startswith("log_"):
        return f"{np.expm1(value):,.0f}"
    if abs(value) >= 1e6:
        return f"{value / 1e4:,.0f}万"
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.0f}"


def _names(dist: pd.DataFrame, sections: pd.DataFrame, policy: PersonaPolicy,
           ids: list[str]) -> dict[str, tuple[str, str, list[str], list[str]]]:
    """Generated zh and en name of each model persona, and the words it is built from."""
    naming = policy.naming
    words: dict[str, list[tuple[str, str]]] = {}
    for pid in ids:
        mine = dist[(dist["persona_id"] == pid) & (dist["effect"].abs() >= naming.min_effect)]
        picked: list[tuple[str, str]] = []
        for _, r in mine.iterrows():
            d = naming.descriptors.get(str(r["feature"]))
            if d is None:
                continue
            w = d.high if r["effect"] > 0 else d.low
            if (w.zh, w.en) not in picked:
                picked.append((w.zh, w.en))
        words[pid] = picked
    nouns: dict[str, tuple[str, str]] = {}
    for pid in ids:
        noun = (naming.default_noun.zh, naming.default_noun.en)
        if pid in sections.index:
            top = sections.loc[pid]
            if top["share"] >= naming.dominant_section and top["section"] in naming.sections:
                s = naming.sections[str(top["section"])]
                noun = (s.zh, s.en)
        nouns[pid] = noun
    out: dict[str, tuple[str, str, list[str], list[str]]] = {}
    used: set[str] = set()
    for pid in ids:
        n_words = naming.top_descriptors
        while True:
            chosen = words[pid][:n_words]
            zh = "".join(w[0] for w in chosen) + nouns[pid][0]
            en = (", ".join(w[1] for w in chosen) + " " if chosen else "") + nouns[pid][1]
            if zh not in used or n_words >= len(words[pid]):
                break
            n_words += 1
        if zh in used:
            zh, en = f"{zh}（{pid}）", f"{en} ({pid})"
        used.add(zh)
        out[pid] = (zh, en[:1].upper() + en[1:], [w[0] for w in chosen], [w[1] for w in chosen])
    return out


def surrogate_rules(frame: pd.DataFrame, persona: pd.Series, features: list[str],
                    categories: list[str], policy: PersonaPolicy,
                    random_state: int = 0) -> SurrogateRules:
    """Grow a shallow tree that imitates ``persona`` and print its leaves as rules.

    Parameters
    ----------
    frame : pandas.DataFrame
        The firms (profile rows, derived features added or not).
    persona : pandas.Series
        Persona id of each firm (same index).
    features, categories : list of str
        Numeric features (transformed ones are replaced by their readable source) and
        categorical columns (one indicator per level).
    policy : PersonaPolicy
        ``surrogate.max_depth``, ``surrogate.min_leaf_share`` and the feature labels.
    random_state : int
        Seed of the held-out split and of the tree.
    """
    frame = add_derived_features(frame)
    numeric = list(dict.fromkeys(READABLE.get(f, f) for f in features))
    numeric = [f for f in numeric if f in frame.columns]
    X = frame[numeric].apply(pd.to_numeric, errors="coerce").astype("float64")
    X = X.replace([np.inf, -np.inf], np.nan)
    for c in categories:
        levels = frame[c].astype("object").astype(str).where(frame[c].notna(), "")
        for level in sorted(set(levels) - {""}):
            X[f"{c}={level}"] = (levels == level).astype("float64")
    y = persona.astype(str).to_numpy()
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(len(X), _MAX_TREE_ROWS, replace=False)) \
        if len(X) > _MAX_TREE_ROWS else np.arange(len(X))
    Xs, ys = X.iloc[rows], y[rows]
    counts = pd.Series(ys).value_counts()
    stratify = ys if counts.min() >= 2 else None
    X_tr, X_te, y_tr, y_te = train_test_split(Xs, ys, test_size=0.3, stratify=stratify,
                                              random_state=random_state)
    tree = DecisionTreeClassifier(
        max_depth=policy.surrogate.max_depth,
        min_samples_leaf=max(1, int(policy.surrogate.min_leaf_share * len(X_tr))),
        random_state=random_state).fit(X_tr, y_tr)
    return SurrogateRules(
        _leaf_rules(tree, list(X.columns), policy), float(tree.score(X_te, y_te)),
        float(tree.score(X_tr, y_tr)), int(tree.get_depth()), list(X.columns), tree)


def _leaf_rules(tree: DecisionTreeClassifier, names: list[str],
                policy: PersonaPolicy) -> pd.DataFrame:
    t = tree.tree_
    rows = []

    def condition(feature: str, threshold: float, left: bool) -> tuple[str, str]:
        if "=" in feature:
            column, value = feature.split("=", 1)
            label = policy.naming.label(column)
            section = SECTION_BY_LETTER.get(value)
            named = section is not None and column.startswith("industry")
            zh_level = f"{value} {section.zh}" if named and section else value
            en_level = f"{value} {section.en}" if named and section else value
            return ((f"{label.zh}{'不是' if left else '是'}{zh_level}"),
                    (f"{label.en} {'is not' if left else 'is'} {en_level}"))
        label = policy.naming.label(feature)
        shown = _fmt(feature, threshold)
        return ((f"{label.zh} {'≤' if left else '>'} {shown}"),
                (f"{label.en} {'≤' if left else '>'} {shown}"))

    def walk(node: int, path: list[tuple[str, str]]) -> None:
        if t.children_left[node] == -1:
            counts = t.value[node][0]
            k = int(np.argmax(counts))
            rows.append({
                "persona_id": str(tree.classes_[k]),
                "rule_zh": "如果 " + ("，且 ".join(p[0] for p in path) or "（全部）"),
                "rule_en": "IF " + (" AND ".join(p[1] for p in path) or "(all)"),
                "firms": int(t.n_node_samples[node]),
                "purity": float(counts[k] / counts.sum()),
            })
            return
        name, threshold = names[t.feature[node]], float(t.threshold[node])
        walk(int(t.children_left[node]), [*path, condition(name, threshold, True)])
        walk(int(t.children_right[node]), [*path, condition(name, threshold, False)])

    walk(0, [])
    return pd.DataFrame(rows).sort_values(["persona_id", "firms"], ascending=[True, False],
                                          ignore_index=True)


def describe_personas(
    frame: pd.DataFrame,
    assignment: pd.DataFrame,
    model: PersonaModel,
    *,
    pd_scores: pd.Series | None = None,
    defaulted: pd.Series | None = None,
    holdings: pd.DataFrame | None = None,
) -> PersonaCards:
    """Cards of every persona of an assignment.

    Parameters
    ----------
    frame : pandas.DataFrame
        The profile (same index as ``assignment``).
    assignment : pandas.DataFrame
        :meth:`PersonaModel.assign` output.
    model : PersonaModel
        The model and policy (naming lexicon, renames, rules, frozen cards).
    pd_scores : pandas.Series, optional
        12-month PD per firm (same index) for ``mean_pd``.
    defaulted : pandas.Series of bool, optional
        Observed default per firm; default: 90 days past due in the last 12 months here or
        at another lender (``current_dpd`` or ``bureau_max_dpd_12m`` ≥ 90).
    holdings : pandas.DataFrame, optional
        One row per firm (same index), one boolean column per product held.
    """
    policy = model.policy
    frame = add_derived_features(frame)
    persona = assignment["persona_id"].astype(str)
    ids = model.persona_ids
    ids = [p for p in ids if (persona == p).any()]
    if defaulted is None:
        defaulted = observed_default(frame)
    seg = model.segmenter
    # Ranks are the same on a feature and its log, and the raw value reads better.
    feats = list(dict.fromkeys(READABLE.get(f, f) for f in seg.features_))
    feats = [f for f in feats if f in frame.columns]
    model_rows = assignment["source"].to_numpy() != "rule"
    # Only the features are cut to the model-assigned firms, not every profile column.
    dist = distinguishing_features(frame[feats][model_rows], persona[model_rows], feats)
    sections = _top_sections(persona, frame)
    rules = {r.id: r for r in policy.rules}
    model_ids = [p for p in ids if p not in rules]
    generated = _names(dist, sections, policy, model_ids)
    cards = []
    for pid in ids:
        row = _card_facts(pid, (persona == pid).to_numpy(), frame, defaulted, pd_scores,
                          sections, dist, policy)
        if pid in rules:
            r = rules[pid]
            row.update(source="rule", name_zh=r.zh, name_en=r.en,
                       description_zh=r.description_zh or f"规则：{r.text()}",
                       description_en=r.description_en or f"Rule: {r.text()}")
        else:
            zh, en, _, _ = generated[pid]
            row.update(source="frozen" if pid in model.frozen else "model", name_zh=zh,
                       name_en=en)
            row["description_zh"], row["description_en"] = _description(row, policy)
        if pid in model.cards:
            row.update(model.cards[pid])
        _apply_rename(row, policy, pid)
        cards.append(row)
    table = pd.DataFrame(cards).set_index("persona_id")
    first = ["name_zh", "name_en", "source", "firms", "share"]
    table = table[first + [c for c in table.columns if c not in first]]
    products = pd.DataFrame()
    if holdings is not None and len(holdings.columns):
        products = holdings.astype(float).groupby(persona.to_numpy()).mean().reindex(ids)
        products.index.name = "persona_id"
    surrogate = None
    if len(model_ids) > 1 and model_rows.sum() > 20:
        surrogate = surrogate_rules(frame[model_rows], persona[model_rows], seg.features_,
                                    list(seg.categories_), policy, seg.random_state)
    return PersonaCards(table, dist, products, surrogate)


def _top_sections(persona: pd.Series, frame: pd.DataFrame) -> pd.DataFrame:
    """The most common industry section of each persona and its share."""
    if "industry_section" not in frame.columns:
        return pd.DataFrame(columns=["section", "share"])
    share = pd.crosstab(persona, frame["industry_section"].fillna("?"), normalize="index")
    return pd.DataFrame({"section": share.idxmax(axis=1), "share": share.max(axis=1)})


def _card_facts(pid: str, mine: np.ndarray, frame: pd.DataFrame, defaulted: pd.Series,
                pd_scores: pd.Series | None, sections: pd.DataFrame, dist: pd.DataFrame,
                policy: PersonaPolicy) -> dict[str, object]:
    """Size, scores, default rate, PD, top section and distinguishing features of a persona."""
    n = len(frame)
    row: dict[str, object] = {"persona_id": pid, "firms": int(mine.sum()),
                              "share": float(mine.mean()) if n else 0.0}
    for s in SCORE_COLUMNS:
        row[s] = float(pd.to_numeric(frame.loc[mine, s], errors="coerce").mean()) \
            if s in frame.columns else float("nan")
    row["default_rate"] = float(defaulted[mine].mean())
    row["mean_pd"] = float(pd_scores[mine].mean()) if pd_scores is not None else np.nan
    row["top_section"] = str(sections.loc[pid, "section"]) if pid in sections.index else ""
    row["median_revenue"] = float(pd.to_numeric(frame.loc[mine, "revenue"],
                                                errors="coerce").median()) \
        if "revenue" in frame.columns else float("nan")
    top = dist[dist["persona_id"] == pid].head(4)
    row["distinguishing_zh"] = "；".join(
        f"{policy.naming.label(f).zh} {_fmt(f, m)}（其余 {_fmt(f, r)}）"
        for f, m, r in zip(top["feature"], top["persona_median"], top["rest_median"],
                           strict=True))
    row["distinguishing_en"] = "; ".join(
        f"{policy.naming.label(f).en} {_fmt(f, m)} (rest {_fmt(f, r)})"
        for f, m, r in zip(top["feature"], top["persona_median"], top["rest_median"],
                           strict=True))
    return row


def _apply_rename(row: dict[str, object], policy: PersonaPolicy, pid: str) -> None:
    """The policy's own name (and description) of a persona, when it gives one."""
    if pid in policy.renames:
        rename = policy.renames[pid]
        row.update(name_zh=rename.zh, name_en=rename.en)
        if rename.description_zh:
            row["description_zh"] = rename.description_zh
        if rename.description_en:
            row["description_en"] = rename.description_en


def observed_default(frame: pd.DataFrame) -> pd.Series:
    """90 days past due in the last 12 months, with us or at another lender.

    Examples
    --------
    >>> observed_default(pd.DataFrame({"current_dpd": [0, 95], "bureau_max_dpd_12m": [120, 0]}
    ...                               )).tolist()
    [True, True]
    """
    flag = pd.Series(False, index=frame.index)
    for c in ("current_dpd", "bureau_max_dpd_12m"):
        if c in frame.columns:
            flag |= pd.to_numeric(frame[c], errors="coerce").fillna(0) >= 90
    return flag


def _description(row: dict[str, object], policy: PersonaPolicy) -> tuple[str, str]:
    """One paragraph per language from a card's numbers."""
    dims = policy.naming
    scores_zh = "、".join(f"{dims.label(s).zh.replace('得分', '')} {row[s]:.0f}"
                         for s in SCORE_COLUMNS if np.isfinite(float(str(row[s]))))
    scores_en = ", ".join(f"{dims.label(s).en.replace(' score', '')} {row[s]:.0f}"
                          for s in SCORE_COLUMNS if np.isfinite(float(str(row[s]))))
    section = SECTION_BY_LETTER.get(str(row["top_section"]))
    share = float(str(row["share"]))
    default_rate = float(str(row["default_rate"]))
    zh = (f"{row['name_zh']}共 {row['firms']} 家，占组合 {share:.0%}。"
          f"与其他客户相比：{row['distinguishing_zh']}。五维画像（0–100）：{scores_zh}。"
          f"{'主要行业为' + section.zh + '，' if section else ''}"
          f"近12个月观察违约率 {default_rate:.1%}。")
    en = (f"{row['name_en']}: {row['firms']} firms, {share:.0%} of the portfolio. "
          f"Compared with the rest: {row['distinguishing_en']}. Five-dimension profile "
          f"(0–100): {scores_en}. {'Mostly ' + section.en + '; ' if section else ''}"
          f"observed 12-month default rate {default_rate:.1%}.")
    return zh, en
