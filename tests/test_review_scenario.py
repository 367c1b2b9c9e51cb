"""The review on an evolving bank: a wholesale (F51) downturn from quarter 6 of 8.

The full validation (`bench/validate_review_synthetic.py`, 3,000 firms, every stage of the
cycle) is in the README. Here a smaller bank runs the stages the review reads (profile, PD
scores with the models in force, personas) and the review itself, quarter by quarter, to
keep the suite fast; the quarters are exactly what `run_cycle` stores for them.

800 firms (it was 1,500; 2026-12-05): the module's time is mostly fixed (the PD development's
five profiles and fits, the annual review's challenger), so fewer firms save a few seconds
without thinning what the review is asked. Measured on this draw: the annual review's
identity-matched ARI 0.85 (0.83 at 1,500 firms; threshold 0.70); the wholesale industry
(119 firms) flagged in quarter 7 with 26 % downgraded against 3.4 % elsewhere (29 % against
7.2 % at 1,500 firms); no trigger fired before the downturn at either size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest

from creditpersona import pipeline
from creditpersona.profile.build import load_profile
from creditpersona.review import ReviewResult, review_stage
from creditpersona.store.ingest import ingest
from creditpersona.store.store import Store
from creditpersona.synth import Shock, generate_bank

SHOCKED, FROM_QUARTER = "F51", 6


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, ReviewResult]]:
    work = tmp_path_factory.mktemp("scenario")
    gen = generate_bank(work / "data", 800, 7, quarters=7, end_date=dt.date(2026, 3, 31),
                        shock=Shock(SHOCKED, FROM_QUARTER), txn_per_firm_year=20,
                        fmt="parquet")
    out: dict[int, ReviewResult] = {}
    with Store(work / "s.duckdb") as st:
        ingest(st, [gen.out_dir])
        for k, day in enumerate(gen.quarters, start=1):
            computed: dict[str, pd.DataFrame] = {}
            run_id = pipeline._profile(st, day, "duckdb", computed)
            assert set(load_profile(st, day)["run_id"]) == {run_id}
            profile = computed["profile"].drop(columns=["as_of", "run_id", "engine"])
            scores = pipeline._pd_models(st, day, profile, refit=False).scores
            pipeline._personas(st, day, profile, scores, refit=False)
            out[k] = review_stage(st, day)
    yield out


def test_no_refit_trigger_before_the_downturn(reviews: dict[int, ReviewResult]) -> None:
    for k in range(1, FROM_QUARTER):
        fired = reviews[k].triggers.loc[reviews[k].triggers["fired"].astype(bool), "trigger"]
        assert fired.empty, (k, list(fired))
    assert reviews[1].previous is None  # the first quarter has nothing to compare with
    # The annual review came due in quarter 5 and confirmed the personas (a challenger with
    # 6 personas, identity-matched ARI 0.85). It fits its challenger with a free number of
    # personas and recommends a re-fit whenever that number changes, so it depends on the
    # draw: on another draw of the same generator (commit 1b8b35f) the challenger chose 8
    # personas (2 unmatched, ARI 0.77) while persona shares (PSI 0.002), features (no CSI
    # ≥ 0.25) and assignments (98 % kept) had not moved: the choice of k, not a drift.
    annual = reviews[5].triggers.set_index("trigger").loc["persona_annual_review"]
    assert bool(annual["evaluated"]) and not bool(annual["fired"])


def test_the_downturn_is_flagged_with_its_downgrades(reviews: dict[int, ReviewResult]) -> None:
    flagged = {k: set(reviews[k].flagged_industries["segment"]) for k in reviews}
    assert not any(SHOCKED in flagged[k] for k in range(1, FROM_QUARTER)), flagged
    hit = [k for k in (FROM_QUARTER, FROM_QUARTER + 1) if SHOCKED in flagged[k]]
    assert hit, flagged
    review = reviews[hit[0]]
    moves = review.downgrades_by_section.set_index("segment")
    rest = moves.loc[[s for s in moves.index if len(s) == 1 and s != SHOCKED[:1]]]
    assert moves.at[SHOCKED, "downgrade_share"] > rest["downgrades"].sum() / rest[
        "firms"].sum() + 0.10
    # The rating migration of the flagged industry is kept for the report's heatmap.
    cells = review.rating_by_section[review.rating_by_section["segment"] == SHOCKED]
    assert cells["firms"].sum() == moves.at[SHOCKED, "firms"]
