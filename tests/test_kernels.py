"""The stage kernels (issue 19): a global fit, then per-firm work on buckets of whole firms.

Each kernel run on three random buckets of the firms and concatenated must give exactly the
result on every firm; the mergeable statistics combined from the buckets' partials must
equal those computed on every firm. The session's small cycled bank (conftest.py) supplies
the inputs; the seed of each split is printed on failure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from conftest import CYCLE_Q1, CYCLE_Q2, CycledBank

from creditpersona.decisions.kernels import (
    DecisionFrames,
    apply_decisions,
    concat_decisions,
    decision_frames,
    fit_decisions,
)
from creditpersona.personas.evaluation import assignment_agreement
from creditpersona.pipeline import rule_inputs
from creditpersona.profile.build import load_profile
from creditpersona.review.analysis import FrameStatistics, review_analysis
from creditpersona.review.config import load_review_config
from creditpersona.review.drift import Variable, compare, compare_by_segment
from creditpersona.review.inputs import DIVISION, SECTION, ReviewInputs, review_inputs
from creditpersona.review.kernels import (
    agreement_of,
    by_segment_of,
    cells_of,
    combine_migration,
    combine_stability,
    fit_stability,
    partial_changes,
    partial_migration,
    partial_stability,
    summary_of,
)
from creditpersona.review.migration import (
    change_summary,
    changes_by_segment,
    matrices_by_segment,
    migration_matrix,
    rating_changes,
)
from creditpersona.rules.items import ITEM_TABLES
from creditpersona.rules.kernels import (
    RulesModel,
    apply_rules,
    combine_rules,
    fit_rules,
    mine_sample,
    partial_rules,
)
from creditpersona.store.store import Store

SEEDS = (0, 1)
DECISION_TABLES = ("value", "pricing", "limits", "classification", "loans", "watchlist",
                   "plans")


def buckets(ids: pd.Series, seed: int, k: int = 3) -> list[np.ndarray]:
    """``ids`` split at random into ``k`` buckets (seeded)."""
    label = np.random.default_rng(seed).integers(0, k, len(ids))
    return [ids.to_numpy()[label == b] for b in range(k)]


def graded(cycle: object) -> pd.DataFrame:
    """The PD scores with each firm's strategy, as the cycle hands them to the decisions."""
    scores = cycle.pd.scores  # type: ignore[attr-defined]
    assigned = cycle.personas.assignment.set_index("firm_id")  # type: ignore[attr-defined]
    strategy = assigned["persona_id"].map(
        cycle.strategies.set_index("persona_id")["strategy"])  # type: ignore[attr-defined]
    return scores[["firm_id", "pd", "grade"]].assign(
        persona_strategy=lambda f: f["firm_id"].map(strategy).fillna("default"))


@pytest.fixture(scope="module")
def decision_inputs(cycled_bank: CycledBank) -> tuple[DecisionFrames, dict[str, pd.DataFrame]]:
    """The second quarter's decision inputs from the store, and the raw contract rows."""
    q2 = cycled_bank.q2
    with Store(cycled_bank.clean, read_only=True) as st:
        raw = {n: st.table(n).to_pandas()
               for n in ("loans", "repayments", "financial_statements")}
        previous = {1: load_profile(st, CYCLE_Q1)}
        frames = decision_frames({n: st.table(n) for n in raw}, CYCLE_Q2, q2.profile,
                                 graded(q2), previous)
    return frames, raw


def test_decision_kernels_on_the_store_give_the_cycles_decisions(
        decision_inputs: tuple[DecisionFrames, dict[str, pd.DataFrame]],
        cycled_bank: CycledBank) -> None:
    frames, _ = decision_inputs
    whole = apply_decisions(fit_decisions(frames, CYCLE_Q2), frames)
    cycle = cycled_bank.q2.decisions
    for name in DECISION_TABLES:
        pd.testing.assert_frame_equal(getattr(whole, name), getattr(cycle, name), obj=name)
    assert whole.skipped_rules == cycle.skipped_rules


@pytest.mark.parametrize("seed", SEEDS)
def test_decision_kernels_are_chunk_invariant(
        decision_inputs: tuple[DecisionFrames, dict[str, pd.DataFrame]], seed: int) -> None:
    frames, raw = decision_inputs
    model = fit_decisions(frames, CYCLE_Q2)
    whole = concat_decisions([apply_decisions(model, frames)])
    parts = []
    for ids in buckets(frames.profile["firm_id"], seed):
        # A bucket as the Spark engine feeds it: the contract rows of its firms as pandas.
        loans = raw["loans"][raw["loans"]["firm_id"].isin(ids)]
        bucket = {"loans": loans,
                  "repayments": raw["repayments"][raw["repayments"]["loan_id"].isin(
                      loans["loan_id"])],
                  "financial_statements": raw["financial_statements"][
                      raw["financial_statements"]["firm_id"].isin(ids)]}
        own = frames.only(ids)
        # ... and its profile as Spark's workers hand it over: one block per column (pandas
        # warns when columns are added to a frame of more than 100 blocks)
        spread = pd.concat([own.profile[c] for c in own.profile.columns], axis=1)
        assert spread._mgr.nblocks > 100
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.PerformanceWarning)
            parts.append(apply_decisions(model, decision_frames(
                bucket, CYCLE_Q2, spread, own.scores, own.previous)))
    chunked = concat_decisions(parts)
    assert len(whole.loans) and len(whole.watchlist), "the bank must exercise every table"
    for name in DECISION_TABLES:
        pd.testing.assert_frame_equal(getattr(chunked, name), getattr(whole, name),
                                      obj=f"{name} (seed {seed})")
    assert chunked.skipped_rules == whole.skipped_rules


def test_decision_fit_on_a_sample_is_used_for_every_bucket(
        decision_inputs: tuple[DecisionFrames, dict[str, pd.DataFrame]]) -> None:
    frames, _ = decision_inputs
    ids = frames.profile["firm_id"]
    sample = frames.only(ids.sample(frac=0.6, random_state=3))
    model = fit_decisions(sample, CYCLE_Q2, previous_columns={
        q: tuple(p.columns) for q, p in frames.previous.items()})
    assert model.prospect is not None and 0 < model.customers
    value = apply_decisions(model, frames).value
    assert value["predicted_contribution"].notna().all()
    # A bucket whose firms have no earlier profile still compares (with nothing).
    bucket = frames.only(ids.iloc[:5])
    lonely = DecisionFrames(bucket.profile, bucket.scores, bucket.book, bucket.statements, {})
    assert apply_decisions(model, lonely).skipped_rules == apply_decisions(
        model, frames).skipped_rules
    assert dt.date(2026, 6, 30) == model.as_of


def bucket_rows(raw: dict[str, pd.DataFrame], ids: np.ndarray) -> dict[str, pd.DataFrame]:
    """The contract rows of the firms ``ids`` (repayments through their loans)."""
    out = {n: f[f["firm_id"].isin(ids)] for n, f in raw.items() if "firm_id" in f.columns}
    out["repayments"] = raw["repayments"][raw["repayments"]["loan_id"].isin(
        out["loans"]["loan_id"])]
    return out


@dataclasses.dataclass(frozen=True)
class RuleBank:
    model: RulesModel
    basket: pd.DataFrame
    personas: pd.Series
    profile: pd.DataFrame
    raw: dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def rule_bank(cycled_bank: CycledBank) -> RuleBank:
    """The second quarter's rules model, basket (from the store), personas and raw rows."""
    q2 = cycled_bank.q2
    personas, vocabulary = rule_inputs(q2.personas.assignment.set_index("firm_id"))
    model = fit_rules(CYCLE_Q2, personas, vocabulary=vocabulary)
    with Store(cycled_bank.clean, read_only=True) as st:
        basket = apply_rules(model, {t: st.table(t) for t in ITEM_TABLES}, q2.profile,
                             personas)
        raw = {t: st.table(t).to_pandas() for t in ITEM_TABLES}
    return RuleBank(model, basket, personas, q2.profile, raw)


@pytest.mark.parametrize("seed", SEEDS)
def test_rule_items_are_chunk_invariant(rule_bank: RuleBank, seed: int) -> None:
    b = rule_bank
    assert len(b.model.personas) >= 2 and b.basket.any().any()
    parts = [apply_rules(b.model, bucket_rows(b.raw, ids),
                         b.profile[b.profile["firm_id"].isin(ids)],
                         b.personas[b.personas.index.isin(ids)])
             for ids in buckets(b.raw["firms"]["firm_id"], seed)]
    chunked = pd.concat(parts).sort_index()
    pd.testing.assert_frame_equal(chunked, b.basket, obj=f"basket (seed {seed})")


@pytest.mark.parametrize("seed", SEEDS)
def test_rule_sample_is_chunk_invariant_and_whole_below_the_cap(rule_bank: RuleBank,
                                                                seed: int) -> None:
    model, basket, personas = rule_bank.model, rule_bank.basket, rule_bank.personas
    whole = combine_rules(model, [partial_rules(model, basket, personas)])
    assert not whole.sampled and whole.firms == len(basket)
    pd.testing.assert_frame_equal(whole.basket, basket)
    capped = dataclasses.replace(model, sample_cap=len(basket) // 3)
    one = combine_rules(capped, [partial_rules(capped, basket, personas)])
    parts = [partial_rules(capped, basket.loc[basket.index.isin(ids)], personas)
             for ids in buckets(pd.Series(basket.index), seed)]
    assert all(len(p) <= capped.sample_cap for p in parts)
    chunked = combine_rules(capped, [*parts, partial_rules(capped, basket.iloc[:0], personas)])
    assert chunked.sampled and chunked.firms == len(basket)
    assert len(chunked.basket) == capped.sample_cap
    pd.testing.assert_frame_equal(chunked.basket, one.basket)
    assert chunked.by is not None and one.by is not None
    pd.testing.assert_series_equal(chunked.by, one.by)
    pd.testing.assert_series_equal(chunked.by, personas.reindex(chunked.basket.index),
                                   check_names=False, check_dtype=False)


def test_rules_mined_on_the_combined_sample_are_the_cycles(rule_bank: RuleBank,
                                                           cycled_bank: CycledBank) -> None:
    model, basket, personas = rule_bank.model, rule_bank.basket, rule_bank.personas
    parts = [partial_rules(model, basket.loc[basket.index.isin(ids)], personas)
             for ids in buckets(pd.Series(basket.index), 7)]
    ruleset = mine_sample(model, combine_rules(model, parts))
    cycle = cycled_bank.q2.rules
    pd.testing.assert_frame_equal(ruleset.rules, cycle.rules)
    pd.testing.assert_frame_equal(ruleset.scopes, cycle.scopes)
    assert ruleset.params == cycle.params and "sample" not in ruleset.params


@pytest.fixture(scope="module")
def review_quarters(cycled_bank: CycledBank) -> ReviewInputs:
    """The review inputs of the second quarter (both quarters' frames read once)."""
    with Store(cycled_bank.clean, read_only=True) as st:
        inputs = review_inputs(st, CYCLE_Q2, load_review_config())
        q = inputs.quarters
        for day in (CYCLE_Q1, CYCLE_Q2):
            q.profile(day), q.scores(day), q.personas(day)
    return inputs


def split(frames: tuple[pd.DataFrame, pd.DataFrame], seed: int
          ) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Two quarters' frames cut into three random buckets of whole firms."""
    ids = pd.Series(sorted(set(frames[0]["firm_id"]) | set(frames[1]["firm_id"])))
    return [(frames[0][frames[0]["firm_id"].isin(b)], frames[1][frames[1]["firm_id"].isin(b)])
            for b in buckets(ids, seed)]


@pytest.mark.parametrize("seed", SEEDS)
def test_stability_from_partials_is_compare_on_every_firm(review_quarters: ReviewInputs,
                                                          seed: int) -> None:
    i = review_quarters
    stab, q, w = i.config.stability, i.quarters, i.watched
    checks = [((q.scores(CYCLE_Q1), q.scores(CYCLE_Q2)), w.scores),
              ((q.profile(CYCLE_Q1), q.profile(CYCLE_Q2)), w.profile)]
    for (ref, cur), variables in checks:
        assert ref is not None and cur is not None
        for segment in (None, SECTION, DIVISION):
            model = fit_stability(ref, list(cur.columns), variables, stab, segment)
            parts = [partial_stability(model, r, c) for r, c in split((ref, cur), seed)]
            got = combine_stability(model, parts, stab, i.config.industry.min_firms)
            want = (compare(ref, cur, variables, stab) if segment is None else
                    compare_by_segment(ref, cur, segment, variables, stab,
                                       i.config.industry.min_firms))
            assert len(want) and (segment == DIVISION or want["psi"].notna().any())
            pd.testing.assert_frame_equal(got, want, obj=f"{segment} (seed {seed})")


@pytest.mark.parametrize("seed", SEEDS)
def test_migration_from_partials_is_the_matrix_on_every_firm(review_quarters: ReviewInputs,
                                                             seed: int) -> None:
    q, order = review_quarters.quarters, review_quarters.scale.names
    before, after = q.personas(CYCLE_Q1), q.personas(CYCLE_Q2)
    s0, s1 = q.scores(CYCLE_Q1), q.scores(CYCLE_Q2)
    assert before is not None and after is not None and s0 is not None and s1 is not None

    def by_firm(frame: pd.DataFrame, column: str) -> pd.Series:
        return frame.set_index("firm_id")[column]

    parts = [partial_migration(by_firm(b, "persona_id"), by_firm(a, "persona_id"))
             for b, a in split((before, after), seed)]
    want = migration_matrix(by_firm(before, "persona_id"), by_firm(after, "persona_id"))
    got = combine_migration(parts)
    pd.testing.assert_frame_equal(got.counts, want.counts)
    pd.testing.assert_frame_equal(got.rates, want.rates)
    agreement = assignment_agreement(by_firm(before, "persona_id"), by_firm(after, "persona_id"))
    assert agreement_of(parts) == pytest.approx(agreement, rel=1e-12)
    grades = [partial_migration(by_firm(b, "grade"), by_firm(a, "grade"))
              for b, a in split((s0, s1), seed)]
    pd.testing.assert_frame_equal(combine_migration(grades, order).counts,
                                  migration_matrix(by_firm(s0, "grade"), by_firm(s1, "grade"),
                                                   order=order).counts)
    section = by_firm(s1, SECTION).combine_first(by_firm(s0, SECTION))
    changes = rating_changes(by_firm(s0, "grade"), by_firm(s1, "grade"), order)
    cells = [partial_changes(by_firm(b, "grade"), by_firm(a, "grade"), order,
                             {SECTION: section}) for b, a in split((s0, s1), seed)]
    assert summary_of(cells, order, order[-1]) == pytest.approx(
        change_summary(changes, order[-1]), rel=1e-12, nan_ok=True)
    pd.testing.assert_frame_equal(by_segment_of(cells, SECTION, order),
                                  changes_by_segment(changes, section))
    pd.testing.assert_frame_equal(cells_of(cells, SECTION, "rating_by_section", order),
                                  matrices_by_segment(changes, section, "rating_by_section"))


class BucketStatistics(FrameStatistics):
    """The review's statistics as a distributed engine computes them: the partials of three
    random buckets of whole firms (both quarters' rows of a firm in one bucket), combined."""

    def __init__(self, inputs: ReviewInputs, seed: int) -> None:
        super().__init__(inputs.quarters, inputs.config.stability)
        self._seed = seed

    def _split(self, source: str, a: dt.date, b: dt.date
               ) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
        before, after = self._frame(source, a), self._frame(source, b)
        assert before is not None and after is not None
        return split((before, after), self._seed)

    def stability(self, source: str, reference: dt.date, current: dt.date,
                  variables: Sequence[Variable], segment: str | None = None,
                  min_firms: int = 0) -> pd.DataFrame:
        ref, cur = self._frame(source, reference), self._frame(source, current)
        assert ref is not None and cur is not None
        model = fit_stability(ref, list(cur.columns), variables, self._cfg, segment)
        return combine_stability(model, [partial_stability(model, r, c) for r, c in
                                         self._split(source, reference, current)],
                                 self._cfg, min_firms)

    def migration(self, source: str, column: str, previous: dt.date,
                  current: dt.date) -> list[pd.DataFrame]:
        return [partial_migration(r.set_index("firm_id")[column], c.set_index("firm_id")[column])
                for r, c in self._split(source, previous, current)]

    def changes(self, column: str, previous: dt.date, current: dt.date, order: Sequence[str],
                levels: Sequence[str] = ()) -> list[pd.DataFrame]:
        out = []
        for r, c in self._split("scores", previous, current):
            r, c = r.set_index("firm_id"), c.set_index("firm_id")
            segments = {level: c[level].combine_first(r[level]) for level in levels}
            out.append(partial_changes(r[column], c[column], order, segments))
        return out


def test_review_from_bucket_partials_is_the_review_on_every_firm(
        review_quarters: ReviewInputs, cycled_bank: CycledBank) -> None:
    with Store(cycled_bank.clean, read_only=True) as st:
        whole = review_analysis(st, review_quarters)
        buckets_ = review_analysis(st, review_quarters, BucketStatistics(review_quarters, 5))
    assert len(whole.drift) and len(whole.migration)
    for f in dataclasses.fields(whole):
        a, b = getattr(whole, f.name), getattr(buckets_, f.name)
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(b, a, obj=f.name)
        elif f.name == "persona_agreement":
            assert b == pytest.approx(a, rel=1e-12, nan_ok=True)
        else:
            assert b == a, f.name
