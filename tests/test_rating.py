"""Rating philosophy (docs/rating.md): stable grades, the PIT PD kept, overrides recorded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from creditpersona.errors import ConfigurationError
from creditpersona.models.development import save_scores
from creditpersona.models.master_scale import load_master_scale
from creditpersona.models.rating import (
    RatingPhilosophy,
    grade_scores,
    load_rating,
    previous_ratings,
    rate,
)
from creditpersona.store.store import Store

SCALE = load_master_scale()
RANK = {g: i for i, g in enumerate(SCALE.names)}
PIT = RatingPhilosophy(version=1, philosophy="pit", smoothing_weight=0, anchor_weight=0,
                       hysteresis_factor=1, override_notches=None, max_gap_days=120)


def _panel(seed: int, firms: int = 3000, quarters: int = 6, noise: float = 0.6,
           shocked_share: float = 0.0, shock_from: int = 99, shock: float = 1.5,
           ) -> pd.DataFrame:
    """Latent log-odds per firm, a slow drift, and quarter-to-quarter PIT noise."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(-4.2, 1.2, firms)
    shocked = rng.random(firms) < shocked_share
    rows = []
    for q in range(quarters):
        latent = latent + rng.normal(0, 0.1, firms)
        z = latent + shock * (shocked & (q >= shock_from)) + rng.normal(0, noise, firms)
        truth_pd = 1 / (1 + np.exp(-(latent + shock * (shocked & (q >= shock_from)))))
        rows.append(pd.DataFrame({
            "firm_id": [f"F{i:05d}" for i in range(firms)], "q": q,
            "pd": 1 / (1 + np.exp(-z)), "defaulted": False, "shocked": shocked,
            "default_next": rng.random(firms) < truth_pd}))
    return pd.concat(rows, ignore_index=True)


def _rate_all(panel: pd.DataFrame, config: RatingPhilosophy) -> pd.DataFrame:
    previous, out = None, []
    for q, cur in panel.groupby("q", sort=True):
        r = rate(cur.reset_index(drop=True), previous, SCALE, config, 0.02)
        previous = r[["firm_id", "rating_score", "grade"]]
        out.append(r.assign(q=q, shocked=cur["shocked"].to_numpy(),
                            default_next=cur["default_next"].to_numpy()))
    return pd.concat(out, ignore_index=True)


def _moves(rated: pd.DataFrame, column: str) -> pd.DataFrame:
    wide = rated.pivot(index="firm_id", columns="q", values=column).map(RANK.get)
    qs = sorted(rated["q"].unique())
    return pd.concat([(wide[b] - wide[a]).rename("d").to_frame().assign(q=b)
                      for a, b in zip(qs, qs[1:], strict=False)])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ratings_are_stable_where_pit_grades_flip(seed: int) -> None:
    rated = _rate_all(_panel(seed), load_rating())
    pit = _moves(rated, "grade_pit")["d"]
    assert (pit == 0).mean() < 0.6 and (pit.abs() <= 1).mean() < 0.95  # the problem
    by_q = _moves(rated, "grade").groupby("q")["d"]
    assert by_q.apply(lambda d: (d == 0).mean()).min() >= 0.75
    assert by_q.apply(lambda d: (d.abs() <= 1).mean()).min() >= 0.95
    # The rating still ranks the risk as well as the PIT grade (within 0.01 AUC).
    y = rated["default_next"].astype(int)
    auc_pit = roc_auc_score(y, rated["grade_pit"].map(RANK))
    auc_new = roc_auc_score(y, rated["grade"].map(RANK))
    assert auc_new >= auc_pit - 0.01


def test_a_shocked_segment_still_migrates_down() -> None:
    rated = _rate_all(_panel(7, shocked_share=0.15, shock_from=3), load_rating())
    moves = _moves(rated, "grade").join(
        rated.drop_duplicates("firm_id").set_index("firm_id")["shocked"])
    after = moves[moves["q"].isin([3, 4])]
    hit, rest = after[after["shocked"]], after[~after["shocked"]]
    down_hit = hit.groupby("firm_id")["d"].sum()
    down_rest = rest.groupby("firm_id")["d"].sum()
    # Within two quarters three quarters of the shocked firms are downgraded (83 %, +1.2
    # notches on average), several times the rest's share. The heavier setting tuned on the
    # generator whose warning signs leaked the default date (smoothing 0.6, hysteresis 1.5,
    # override 4) downgraded only 57 % (+0.7): too slow once the PIT PD is steadier.
    assert (down_hit > 0).mean() >= 0.75 and down_hit.mean() >= 1.0
    assert (down_hit > 0).mean() >= 3 * (down_rest > 0).mean()


def test_pit_philosophy_is_the_master_scale_itself() -> None:
    panel = _panel(4, firms=500, quarters=3)
    rated = _rate_all(panel, PIT)
    assert (rated["grade"].to_numpy() == SCALE.assign(panel["pd"]).astype(str)).all()
    assert (rated["grade"] == rated["grade_pit"]).all()


def test_overrides_are_applied_and_recorded() -> None:
    now = pd.DataFrame({"firm_id": ["a", "b", "c"], "pd": [1.0, 0.3, 0.0102],
                        "defaulted": [True, False, False]})
    before = pd.DataFrame({"firm_id": ["a", "b", "c"], "rating_score": [-4.3, -6.5, -4.6],
                           "grade": ["5", "2", "5"]})
    cfg = load_rating()
    r = rate(now, before, SCALE, cfg, float(now["pd"][1:].mean())).set_index("firm_id")
    assert r.loc["a", "grade"] == "D" and r.loc["a", "rating_action"] == "override_default"
    # b: rated 2, PIT grade 10: the smoothed rating lags the PIT grade by override_notches
    # or more, so the override pulls it to within override_notches − 1 notches.
    assert r.loc["b", "grade_pit"] == "10"
    assert r.loc["b", "rating_action"] == "override_pit"
    assert RANK["10"] - RANK[r.loc["b", "grade"]] == cfg.override_notches - 1
    assert r.loc["c", "rating_action"] == "kept" and r.loc["c", "grade"] == "5"


def test_rating_configuration_is_validated(tmp_path: Path) -> None:
    text = Path(__file__).parents[1].joinpath(
        "src/creditpersona/models/rating.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "rating.yaml"
    bad.write_text(text + "smothing: 0.5\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="smothing"):
        load_rating(bad)
    bad.write_text(text.replace("philosophy: hybrid", "philosophy: pit"), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="pit"):
        load_rating(bad)


def test_the_previous_rating_is_read_from_the_store_per_date(store: Store) -> None:
    days = [dt.date(2025, 12, 31), dt.date(2026, 3, 31), dt.date(2026, 6, 30)]
    panel = _panel(9, firms=400, quarters=3)
    summary = {"metrics": {"champion": {"n": 1000, "defaults": 20}}}
    first: dict[dt.date, pd.DataFrame] = {}
    for q, day in enumerate(days):
        cur = panel[panel["q"] == q][["firm_id", "pd"]].reset_index(drop=True)
        cur["grade"] = SCALE.assign(cur["pd"])
        graded = grade_scores(store, day, cur, SCALE, summary)
        save_scores(store, day, graded)
        first[day] = graded
    assert previous_ratings(store, days[0], 120) is None
    assert previous_ratings(store, days[1], 10) is None  # too old: rated afresh
    # Running a date again (here the middle one, after the later one exists) gives the
    # same grades: the state comes from the date before it.
    cur = panel[panel["q"] == 1][["firm_id", "pd"]].reset_index(drop=True)
    cur["grade"] = SCALE.assign(cur["pd"])
    again = grade_scores(store, days[1], cur, SCALE, summary)
    pd.testing.assert_frame_equal(again, first[days[1]])
    assert (first[days[0]]["rating_action"] == "new").all()
    assert (first[days[1]]["rating_action"] != "new").all()
