"""Post-loan early warning (贷后预警): configurable rules, a watch-list with bilingual reasons.

Rules live in ``warning_rules.yaml`` (validated here): each tests one profile feature — its
level on the as-of date, or its change against the profile of an earlier quarter — against
a threshold, with a severity; some apply to given personas only (persona-specific triggers).
A firm's points are the sum of its rules' severity points; enough points put it on the
watch-list (amber, or red), with the reasons in Chinese and English.

Evaluation is one vectorised comparison per rule over all firms; reasons are assembled per
rule, never per firm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field, model_validator

from creditpersona.config import StrictModel, load_yaml_config
from creditpersona.decisions.config import DEFAULT_PERSONA, DecisionsConfig, lookup
from creditpersona.decisions.value import require_columns
from creditpersona.errors import SchemaError

Severity = Literal["low", "medium", "high"]
Op = Literal[">", ">=", "<", "<=", "==", "true"]


class Rule(StrictModel):
    """One early-warning rule."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    category: str
    severity: Severity
    feature: str
    kind: Literal["level", "change", "pct_change"] = "level"
    lookback_quarters: int = Field(default=1, ge=1, le=8)
    op: Op
    threshold: float | None = None
    at_least: float | None = None
    personas: list[str] | None = None
    zh: str
    en: str
    fmt: str | None = None
    scale: float = 1.0

    @model_validator(mode="after")
    def _threshold(self) -> Rule:
        if self.op != "true" and self.threshold is None:
            raise ValueError(f"rule {self.id!r}: op {self.op!r} needs a threshold")
        if self.op == "true" and self.kind != "level":
            raise ValueError(f"rule {self.id!r}: op 'true' tests a flag's level only")
        return self


class WarningRules(StrictModel):
    """The rule set, versioned."""

    version: int
    severity_points: dict[Severity, float]
    watch_points: float = Field(gt=0)
    red_points: float = Field(gt=0)
    rules: list[Rule]

    @model_validator(mode="after")
    def _consistent(self) -> WarningRules:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids {dupes}")
        if set(self.severity_points) != {"low", "medium", "high"}:
            raise ValueError("severity_points needs low, medium and high")
        if self.red_points < self.watch_points:
            raise ValueError("red_points must not be below watch_points")
        return self

    def lookbacks(self) -> list[int]:
        """The quarters back that change rules compare with."""
        return sorted({r.lookback_quarters for r in self.rules if r.kind != "level"})

    def compared(self) -> list[str]:
        """The features the change rules compare with an earlier profile (the only ones
        read from the earlier quarters)."""
        return sorted({r.feature for r in self.rules if r.kind != "level"})


def load_warning_rules(path: str | Path | None = None) -> WarningRules:
    """Read and validate the rules (default: the packaged ``warning_rules.yaml``).

    Raises
    ------
    ConfigurationError
        Naming the file and the offending rule when the rules are invalid.

    Examples
    --------
    >>> rules = load_warning_rules()
    >>> rules.watch_points, [r.id for r in rules.rules][:2]
    (4.0, ['overdue_now', 'frequent_late'])
    """
    return load_yaml_config(WarningRules, "creditpersona.decisions", "warning_rules.yaml",
                            path, "early-warning rules")


@dataclass(frozen=True)
class WarningResult:
    """Rule hits and the per-firm verdict.

    Attributes
    ----------
    hits : pandas.DataFrame
        Boolean, one column per rule id, one row per firm (index ``firm_id``).
    firms : pandas.DataFrame
        ``firm_id``, ``persona_policy``, ``n_hits``, ``points``, ``level`` (none / amber /
        red), ``on_watch``, ``top_rule``, ``categories``, ``reasons_zh``, ``reasons_en``.
    skipped : list of str
        Change rules skipped because the earlier profile was not given.
    """

    hits: pd.DataFrame
    firms: pd.DataFrame
    skipped: list[str] = field(default_factory=list)

    @property
    def watchlist(self) -> pd.DataFrame:
        """Firms on the watch-list, most points first."""
        w = self.firms[self.firms["on_watch"]]
        return w.sort_values(["points", "firm_id"], ascending=[False, True], ignore_index=True)


def _compare(x: npt.NDArray[np.float64], op: str, t: float) -> npt.NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        if op == ">":
            return x > t
        if op == ">=":
            return x >= t
        if op == "<":
            return x < t
        if op == "<=":
            return x <= t
        return x == t


def evaluate_warnings(
    current: pd.DataFrame,
    previous: Mapping[int, pd.DataFrame] | None = None,
    rules: WarningRules | None = None,
    persona: pd.Series | None = None,
) -> WarningResult:
    """Evaluate the rules on a profile.

    Parameters
    ----------
    current : pandas.DataFrame
        The profile on the as-of date (``firm_id`` and the rules' features).
    previous : mapping of int to pandas.DataFrame, optional
        Earlier profiles by quarters back (``{1: last quarter's profile}``); change rules
        whose look-back is missing are skipped.
    rules : WarningRules, optional
        Default: :func:`load_warning_rules`.
    persona : pandas.Series, optional
        Persona code per row of ``current`` (persona-specific rules fire only for theirs);
        default: ``current["persona_strategy"]`` if present.

    Returns
    -------
    WarningResult

    Raises
    ------
    SchemaError
        If the profile lacks a feature a rule reads.

    Examples
    --------
    >>> prof = pd.DataFrame({"firm_id": ["A", "B"], "current_dpd": [12.0, 0.0]})
    >>> rules = WarningRules(version=1, severity_points={"low": 1, "medium": 2, "high": 4},
    ...     watch_points=4, red_points=8, rules=[Rule(id="overdue_now", category="repayment",
    ...     severity="high", feature="current_dpd", op=">", threshold=0, zh="当前逾期(天)",
    ...     en="overdue (days)", fmt="%.0f")])
    >>> res = evaluate_warnings(prof, rules=rules)
    >>> res.watchlist[["firm_id", "level", "reasons_zh", "reasons_en"]].values.tolist()
    [['A', 'amber', '当前逾期(天) 12', 'overdue (days) 12']]
    """
    rs = rules or load_warning_rules()
    require_columns(current, ["firm_id"], "the profile")
    needed = sorted({r.feature for r in rs.rules})
    missing = [c for c in needed if c not in current.columns]
    if missing:
        raise SchemaError(
            f"the profile lacks feature(s) {', '.join(missing)} that the early-warning rules "
            "read; profile the as-of date again with this version or remove those rules.")
    n = len(current)
    ids = current["firm_id"].astype(str).to_numpy()
    if persona is None and "persona_strategy" in current.columns:
        persona = current["persona_strategy"]
    codes = (pd.Series(persona).astype(object).fillna(DEFAULT_PERSONA).to_numpy()
             if persona is not None else np.full(n, DEFAULT_PERSONA, dtype=object))
    hits, values, skipped = _rule_hits(rs, current, previous, ids, codes)
    applied = [r for r in rs.rules if r.id in hits]
    matrix = (np.column_stack([hits[r.id] for r in applied]) if applied
              else np.zeros((n, 0), dtype=bool))
    points_per_rule = np.array([rs.severity_points[r.severity] for r in applied], dtype=float)
    points = matrix.astype(float) @ points_per_rule if applied else np.zeros(n)
    level = np.where(points >= rs.red_points, "red",
                     np.where(points >= rs.watch_points, "amber", "none")).astype(object)
    reasons_zh, reasons_en = _reasons(applied, matrix, values, points_per_rule,
                                      np.flatnonzero(points >= rs.watch_points))
    # The top rule: the first of the most severe rules hit (rules in file order).
    weighted = np.where(matrix, points_per_rule, 0.0) if applied else np.zeros((n, 1))
    rule_ids = np.array([r.id for r in applied] or [""], dtype=object)
    top = np.where(points > 0, rule_ids[weighted.argmax(axis=1)], "")
    firms = pd.DataFrame({
        "firm_id": ids, "persona_policy": codes, "n_hits": matrix.sum(axis=1),
        "points": points, "level": level, "on_watch": points >= rs.watch_points,
        "top_rule": top, "categories": _categories(applied, matrix), "reasons_zh": reasons_zh,
        "reasons_en": reasons_en,
    })
    hit_frame = pd.DataFrame(matrix, columns=[r.id for r in applied],
                             index=pd.Index(ids, name="firm_id"))
    return WarningResult(hit_frame, firms, skipped)


def _rule_hits(rs: WarningRules, current: pd.DataFrame,
               previous: Mapping[int, pd.DataFrame] | None, ids: npt.NDArray[Any],
               codes: npt.NDArray[Any]) -> tuple[dict[str, npt.NDArray[np.bool_]],
                                                 dict[str, npt.NDArray[np.float64]], list[str]]:
    """Which firms each rule hits, the value it compared, and the change rules skipped."""
    # Only the features the change rules compare travel from the earlier profiles.
    compared = rs.compared()
    earlier = {}
    for q, frame in (previous or {}).items():
        if len(frame):
            cols = [c for c in compared if c in frame.columns]
            slim = frame[["firm_id", *cols]].drop_duplicates("firm_id").set_index("firm_id")
            earlier[q] = slim.reindex(pd.Index(ids))
    persona_index = {c: i for i, c in enumerate(dict.fromkeys(
        c for r in rs.rules for c in (r.personas or [])))}
    code_index = lookup(codes, persona_index, -1).astype(np.int64)
    cache: dict[str, npt.NDArray[np.float64]] = {}
    hits: dict[str, npt.NDArray[np.bool_]] = {}
    values: dict[str, npt.NDArray[np.float64]] = {}
    skipped: list[str] = []
    for r in rs.rules:
        if r.feature not in cache:
            cache[r.feature] = pd.to_numeric(current[r.feature], errors="coerce").to_numpy(
                dtype=float)
        now = cache[r.feature]
        if r.kind != "level":
            before_frame = earlier.get(r.lookback_quarters)
            if before_frame is None or r.feature not in before_frame.columns:
                skipped.append(r.id)
                continue
            before = pd.to_numeric(before_frame[r.feature], errors="coerce").to_numpy(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                x = now - before if r.kind == "change" else np.where(
                    before > 0, now / np.where(before > 0, before, 1.0) - 1.0, np.nan)
        else:
            x = now
        hit = (x == 1.0) if r.op == "true" else _compare(x, r.op, float(r.threshold or 0.0))
        if r.at_least is not None:  # a band: the rule below takes the lower values
            hit = hit & _compare(x, ">=", r.at_least)
        hit = hit & ~np.isnan(x)
        if r.personas is not None:
            hit = hit & np.isin(code_index, [persona_index.get(c, -2) for c in r.personas])
        hits[r.id] = hit
        values[r.id] = x
    return hits, values, skipped


def _reasons(applied: list[Rule], matrix: npt.NDArray[np.bool_],
             values: dict[str, npt.NDArray[np.float64]], points_per_rule: npt.NDArray[Any],
             watched: npt.NDArray[np.intp]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Reasons (zh, en) of the firms on the watch-list, most severe rule first.

    A firm below the watch threshold keeps its hits but no text: text is the costly part.
    """
    n = len(matrix)
    sub = matrix[watched]
    zh = np.full(len(watched), "", dtype=object)
    en = np.full(len(watched), "", dtype=object)
    order = sorted(range(len(applied)), key=lambda i: -points_per_rule[i])
    for i in order:
        r = applied[i]
        idx = np.flatnonzero(sub[:, i])
        if not len(idx):
            continue
        if r.fmt is not None:
            shown = np.char.mod(r.fmt, values[r.id][watched[idx]] * r.scale).astype(object)
            text_zh, text_en = r.zh + " " + shown, r.en + " " + shown
        else:
            text_zh = np.full(len(idx), r.zh, dtype=object)
            text_en = np.full(len(idx), r.en, dtype=object)
        first = zh[idx] == ""
        zh[idx] = np.where(first, text_zh, zh[idx] + "；" + text_zh)
        en[idx] = np.where(first, text_en, en[idx] + "; " + text_en)
    reasons_zh = np.full(n, "", dtype=object)
    reasons_en = np.full(n, "", dtype=object)
    reasons_zh[watched], reasons_en[watched] = zh, en
    return reasons_zh, reasons_en


def _categories(applied: list[Rule], matrix: npt.NDArray[np.bool_]) -> npt.NDArray[Any]:
    """The categories each firm hits, comma-separated."""
    # A bit mask per firm; the few distinct masks are spelled out once.
    categories = list(dict.fromkeys(r.category for r in applied))
    mask = np.zeros(len(matrix), dtype=np.int64)
    for bit, category in enumerate(categories):
        in_cat = matrix[:, [j for j, r in enumerate(applied) if r.category == category]]
        mask |= in_cat.any(axis=1).astype(np.int64) << bit
    distinct, back = np.unique(mask, return_inverse=True)
    spelled = np.array([",".join(c for b, c in enumerate(categories) if m >> b & 1)
                        for m in distinct], dtype=object)
    return np.asarray(spelled[back.ravel()])



def monitoring_plans(
    firms: pd.DataFrame, as_of: dt.date, config: DecisionsConfig, rules: WarningRules
) -> pd.DataFrame:
    """Monitoring plan per firm from its persona policy and its warning level.

    Parameters
    ----------
    firms : pandas.DataFrame
        :attr:`WarningResult.firms` (``firm_id``, ``persona_policy``, ``level``,
        ``on_watch``).

    Returns
    -------
    pandas.DataFrame
        ``firm_id``, ``persona_policy``, ``level``, ``review_months`` (shorter on the
        watch-list), ``next_review``, ``persona_triggers`` (the persona-specific rules that
        apply), ``actions_zh``, ``actions_en``.

    Examples
    --------
    >>> from creditpersona.decisions.config import load_decisions
    >>> f = pd.DataFrame({"firm_id": ["A", "B"], "persona_policy": ["growth_tech", "default"],
    ...                   "level": ["amber", "none"], "on_watch": [True, False]})
    >>> plan = monitoring_plans(f, dt.date(2026, 6, 30), load_decisions(), load_warning_rules())
    >>> plan[["review_months", "next_review", "persona_triggers"]].values.tolist()
    [[1, datetime.date(2026, 7, 30), 'cash_runway_short'], [6, datetime.date(2026, 12, 30), '']]
    """
    on_watch = firms["on_watch"].to_numpy(dtype=bool)
    codes = config.persona_code(firms["persona_policy"], len(firms))
    months = np.where(on_watch, config.persona_values(codes, "watch_review_months"),
                      config.persona_values(codes, "review_months")).astype(int)
    next_dates = {int(m): (pd.Timestamp(as_of) + pd.DateOffset(months=int(m))).date()
                  for m in np.unique(months)}
    specific = {code: ",".join(r.id for r in rules.rules if r.personas and code in r.personas)
                for code in config.personas}
    return pd.DataFrame({
        "firm_id": firms["firm_id"].to_numpy(), "persona_policy": codes,
        "level": firms["level"].to_numpy(), "review_months": months,
        "next_review": lookup(months.astype(str), {str(k): v for k, v in next_dates.items()},
                              None),
        "persona_triggers": lookup(codes, specific, ""),
        "actions_zh": np.where(on_watch, config.persona_values(codes, "watch_actions_zh"),
                               config.persona_values(codes, "actions_zh")),
        "actions_en": np.where(on_watch, config.persona_values(codes, "watch_actions_en"),
                               config.persona_values(codes, "actions_en")),
    })
