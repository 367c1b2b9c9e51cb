"""The report sections of one cycle (:func:`creditpersona.pipeline.run_cycle`), in order."""

from __future__ import annotations

from creditpersona.pipeline import CycleResult
from creditpersona.report.decisions import decisions_section
from creditpersona.report.html import pd_section
from creditpersona.report.marketing import marketing_section
from creditpersona.report.rules import rules_section


def cycle_sections(result: CycleResult) -> tuple[str, ...]:
    """HTML of every stage after the profile: PD models, rules, decisions, marketing."""
    return (
        pd_section(result.pd.tables, result.pd.scores),
        rules_section(result.rules),
        decisions_section(result.decisions),
        marketing_section(result.marketing),
    )
