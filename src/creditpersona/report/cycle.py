"""The report sections of one cycle (:func:`creditpersona.pipeline.run_cycle`), in order."""

from __future__ import annotations

import pandas as pd

from creditpersona.pipeline import CycleResult
from creditpersona.report.decisions import decisions_section
from creditpersona.report.html import _table, pd_section
from creditpersona.report.marketing import marketing_section
from creditpersona.report.personas import personas_section
from creditpersona.report.rules import rules_section


def cycle_sections(result: CycleResult) -> tuple[str, ...]:
    """HTML of every stage after the profile: PD models, personas and their strategies,
    rules, decisions, marketing."""
    return (
        pd_section(result.pd.tables, result.pd.scores),
        personas_section(result.personas),
        strategy_section(result.strategies),
        rules_section(result.rules),
        decisions_section(result.decisions),
        marketing_section(result.marketing),
    )


def strategy_section(strategies: pd.DataFrame) -> str:
    """Which credit strategy each persona follows (decisions/strategy.yaml)."""
    shown = strategies.rename(columns={"persona": "persona 客户性格", "firms": "firms",
                                       "strategy": "strategy", "strategy_zh": "策略",
                                       "rule": "rule # in strategy.yaml"})
    return ("<h3>授信策略 Credit strategy per persona</h3><p class='note'>The first rule of "
            "decisions/strategy.yaml that holds on a persona's firms attaches a strategy "
            "(spread adjustment, limit multiplier, main product, monitoring plan); rule 0 "
            "means none held and the default strategy applies.</p>" + _table(shown))
