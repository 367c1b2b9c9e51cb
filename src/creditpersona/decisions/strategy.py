"""Which credit strategy each found persona follows (``strategy.yaml``).

The segmenter finds personas in the data and names them from it; the bank's strategies
(spread adjustment, limit multiplier, main product, monitoring plan: ``personas`` in
``decisions.yaml``) are attached to them by ordered archetype rules over the persona's
members, so a re-fit that finds the same kinds of firms gets the same strategies.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from creditpersona.config import load_yaml_config
from creditpersona.decisions.config import DecisionsConfig, load_decisions
from creditpersona.errors import ConfigurationError, SchemaError

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


class Condition(BaseModel):
    """A statistic of one profile feature over a persona's firms, compared with a value."""

    model_config = ConfigDict(extra="forbid")
    feature: str
    stat: Literal["median", "share"]
    op: Literal[">=", ">", "<=", "<"]
    value: float
    equals: str | None = None


class StrategyRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategy: str
    when: list[Condition] = Field(min_length=1)


class StrategyRules(BaseModel):
    """The validated ``strategy.yaml``."""

    model_config = ConfigDict(extra="forbid")
    version: int
    rules: list[StrategyRule]

    @model_validator(mode="after")
    def _known_strategies(self) -> StrategyRules:
        known = set(load_decisions().personas)
        unknown = sorted({r.strategy for r in self.rules} - known)
        if unknown:
            raise ValueError(f"strategies {unknown} are not personas of decisions.yaml "
                             f"({sorted(known)})")
        return self


def load_strategy_rules(path: str | Path | None = None) -> StrategyRules:
    """The packaged ``strategy.yaml`` or the file at ``path``, validated."""
    return load_yaml_config(StrategyRules, __package__, "strategy.yaml", path,
                            "persona strategy rules")


def persona_strategies(
    profile: pd.DataFrame,
    personas: pd.Series,
    rules: StrategyRules | None = None,
    config: DecisionsConfig | None = None,
) -> pd.DataFrame:
    """The strategy of every persona, with the rule that chose it.

    Parameters
    ----------
    profile : pandas.DataFrame
        The profile (``firm_id`` and the features the rules name).
    personas : pandas.Series
        Persona per firm, indexed by ``firm_id``.

    Returns
    -------
    pandas.DataFrame
        ``persona_id``, ``firms``, ``strategy``, ``strategy_zh``, ``rule`` (1-based; 0 = none
        matched, ``default``).

    Examples
    --------
    >>> prof = pd.DataFrame({"firm_id": list("abcd"), "debt_to_assets": [0.9, 0.85, 0.3, 0.4],
    ...                      "current_dpd": 0, "late_share": 0.0, "revenue_growth": 0.0,
    ...                      "gross_margin": 0.2, "capex_intensity": 0.02, "revenue": 1e7,
    ...                      "total_assets": 1e7, "size_class": "small", "net_margin": 0.05})
    >>> out = persona_strategies(prof, pd.Series(["P1", "P1", "P2", "P2"], index=list("abcd")))
    >>> out[["persona_id", "strategy", "rule"]].values.tolist()
    [['P1', 'leveraged_distressed', 2], ['P2', 'stable_manufacturer', 8]]
    """
    rules = rules or load_strategy_rules()
    config = config or load_decisions()
    frame = profile.assign(asset_turnover=lambda f: f["revenue"] / f["total_assets"].where(
        f["total_assets"] > 0))
    missing = sorted({c.feature for r in rules.rules for c in r.when} - set(frame.columns))
    if missing:
        raise SchemaError(f"the profile lacks {missing}, which strategy.yaml's rules read")
    frame = frame.set_index("firm_id").join(personas.rename("persona_id"), how="inner")
    rows = []
    for persona, members in frame.groupby("persona_id", sort=True):
        chosen, number = "default", 0
        for i, rule in enumerate(rules.rules, start=1):
            if all(_holds(members, c) for c in rule.when):
                chosen, number = rule.strategy, i
                break
        rows.append({"persona_id": persona, "firms": len(members), "strategy": chosen,
                     "strategy_zh": config.personas[chosen].zh, "rule": number})
    return pd.DataFrame(rows)


def _holds(members: pd.DataFrame, c: Condition) -> bool:
    column = members[c.feature]
    if c.stat == "share":
        if c.equals is None:
            raise ConfigurationError(f"strategy.yaml: a 'share' condition on {c.feature} "
                                     "needs 'equals'")
        stat = float((column.astype("string") == c.equals).mean())
    else:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return False
        stat = float(np.median(values))
    return _OPS[c.op](stat, c.value)
