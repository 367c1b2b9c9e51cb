"""The stage kernels (issue 19): a global fit, then per-firm work on buckets of whole firms.

Each kernel run on three random buckets of the firms and concatenated must give exactly the
result on every firm; the mergeable statistics combined from the buckets' partials must
equal those computed on every firm. The session's small cycled bank (conftest.py) supplies
the inputs; the seed of each split is printed on failure.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditpersona.decisions.kernels import (
    DecisionFrames,
    apply_decisions,
    concat_decisions,
    decision_frames,
    fit_decisions,
)
from creditpersona.profile.build import load_profile
from creditpersona.store.store import Store
from conftest import CYCLE_Q1, CYCLE_Q2, CycledBank

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
        cycle.strategies.set_index("persona")["strategy"])  # type: ignore[attr-defined]
    return scores[["firm_id", "pd", "grade"]].assign(
        persona=lambda f: f["firm_id"].map(strategy).fillna("default"))


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
        parts.append(apply_decisions(model, decision_frames(
            bucket, CYCLE_Q2, own.profile, own.scores, own.previous)))
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
