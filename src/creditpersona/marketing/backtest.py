"""Backtest of targeting on held-back campaign history (营销回测).

The models are fitted on part of the campaign history and rank the contacts held back from
it (a random share of the firms, or whole later campaigns). Each targeting policy picks the
same number of held-back contacts — the top share ``budget`` — and is judged on what those
firms actually did:

- ``uplift``: the two-model uplift learner (rank by P(respond | contacted) − P(respond | not));
- ``propensity``: the response model (rank by P(respond | contacted));
- ``rules``: rules only — the number of signalled needs the product serves, then peer
  adoption (:func:`~creditpersona.marketing.history.peer_share`); no model;
- ``random``: the expectation of a random pick (the campaign's averages).

Per policy and budget: the response rate of the contacted firms picked (treated rows), the
incremental response rate (treated minus control among the picked firms, i.e. uplift@k),
the incremental responses (Qini) and the amount taken up per contact. Historical campaigns
chose whom to contact; the backtest can only re-rank the firms each campaign targeted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditpersona import artefacts
from creditpersona.errors import InsufficientDataError, SchemaError, parameter_error
from creditpersona.marketing.history import feature_columns
from creditpersona.marketing.propensity import PropensityModel, ranking_auc
from creditpersona.marketing.uplift import (
    TwoModelUplift,
    incremental_at_k,
    qini_coefficient,
    qini_curve,
)

POLICIES = ("uplift", "propensity", "rules", "random")
BUDGETS = (0.1, 0.2, 0.3, 0.5)
#: Responses each arm of the training part needs (the learners' four inner folds).
TRAIN_ARM_RESPONSES = 4


@artefacts.trusted("marketing_backtest")
@dataclass(frozen=True)
class BacktestResult:
    """Targeting policies compared on held-back campaigns.

    Attributes
    ----------
    holdout : str
        How the test rows were held back.
    train_campaigns, test_campaigns : tuple of str
    table : pandas.DataFrame
        One row per policy and budget: ``policy, budget, picked, contacted, response_rate,
        uplift, incremental_responses, amount_per_contact``.
    gains : pandas.DataFrame
        ``policy, share, responses_share``: share of the contacted responders found in the
        top share of the ranking (cumulative gains).
    qini : pandas.DataFrame
        ``policy, share, incremental``: Qini curves.
    metrics : dict
        ``propensity_auc`` (on the contacted held-back rows), ``uplift_qini``, ``rows``.
    """

    holdout: str
    train_campaigns: tuple[str, ...]
    test_campaigns: tuple[str, ...]
    table: pd.DataFrame
    gains: pd.DataFrame = field(repr=False)
    qini: pd.DataFrame = field(repr=False)
    metrics: dict[str, float] = field(default_factory=dict)


def rule_score(frame: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """The rules-only ranking: signalled needs served, then peer adoption, ties at random."""
    rng = np.random.default_rng(seed)
    need = frame["product_need"].fillna(0).to_numpy(dtype=float) if "product_need" in \
        frame.columns else np.zeros(len(frame))
    peer = frame["peer_share"].fillna(0).to_numpy(dtype=float) if "peer_share" in \
        frame.columns else np.zeros(len(frame))
    return need + 0.5 * peer + 1e-6 * rng.random(len(frame))


def backtest(
    history: pd.DataFrame,
    *,
    holdout: str | Sequence[str] = "firms",
    test_share: float = 0.3,
    budgets: Sequence[float] = BUDGETS,
    seed: int = 0,
    n_jobs: int = 1,
) -> BacktestResult:
    """Fit on earlier campaigns, compare targeting policies on the held-back ones.

    Parameters
    ----------
    history : pandas.DataFrame
        From :func:`~creditpersona.marketing.history.campaign_history`.
    holdout : "firms", "last" or sequence of str
        ``"firms"``: hold back every contact of a random ``test_share`` of the firms (all
        campaigns; the models never see those firms). ``"last"``: the last campaign (by
        first contact date), fitted on the campaigns before it — with one product per
        campaign this also tests how the models carry over to a product they have not
        seen. Or the campaign ids to hold back (fitted on the campaigns before them).
    test_share : float
        Share of firms held back with ``holdout="firms"``.
    budgets : sequence of float
        Shares of the held-back campaign's firms each policy may pick.
    seed, n_jobs : int
        Seed of the models and the tie-breaks; LightGBM threads.

    Raises
    ------
    SchemaError
        If the history has fewer than two campaigns or the held-back ones are unknown.
    """
    for b in budgets:
        if not 0 < b <= 1:
            raise parameter_error("budgets", "backtest", "shares in (0, 1]", list(budgets))
    if history.empty or history["campaign_id"].nunique() < 2:
        raise SchemaError("campaign_contacts: the backtest needs at least two campaigns "
                          "(one to learn from, one to hold back).")
    train_ids, test_ids, train, test = _split(history, holdout, test_share, seed)
    scores = _scores(history, train, test, seed, n_jobs)
    y = test["responded"].astype(int).to_numpy()
    t = test["treated"].astype(bool).to_numpy()
    amount = test["amount_taken"].fillna(0).to_numpy(dtype=float)
    rows = []
    for b in budgets:
        for policy in POLICIES:
            rows.append({"policy": policy, "budget": b,
                         **_pick_metrics(y, t, amount, scores.get(policy), b)})
    gains, qinis = _curves(y, t, scores)
    metrics = {
        "rows": float(len(test)),
        "propensity_auc": ranking_auc(y[t], scores["propensity"][t]),
        "uplift_qini": qini_coefficient(y, t, scores["uplift"]),
    }
    how = holdout if isinstance(holdout, str) else "campaigns"
    return BacktestResult(how, train_ids, test_ids, pd.DataFrame(rows), gains, qinis, metrics)


def _split(history: pd.DataFrame, holdout: str | Sequence[str], test_share: float,
           seed: int) -> tuple[tuple[str, ...], tuple[str, ...], pd.DataFrame, pd.DataFrame]:
    """Training and held-back campaign ids and rows (see :func:`backtest`'s ``holdout``)."""
    starts = history.groupby("campaign_id")["contact_date"].min().sort_values()
    if isinstance(holdout, str) and holdout == "firms":
        if not 0 < test_share < 1:
            raise parameter_error("test_share", "backtest", "a share in (0, 1)", test_share)
        firms = np.sort(history["firm_id"].astype(str).unique())
        rng = np.random.default_rng(seed)
        held = set(firms[rng.random(firms.size) < test_share])
        is_test = history["firm_id"].astype(str).isin(held).to_numpy()
        ids = tuple(str(c) for c in starts.index)
        return ids, ids, history[~is_test], history[is_test].reset_index(drop=True)
    if isinstance(holdout, str) and holdout == "last":
        test_ids: tuple[str, ...] = (str(starts.index[-1]),)
    else:
        test_ids = tuple(str(h) for h in ([holdout] if isinstance(holdout, str) else holdout))
        unknown = sorted(set(test_ids) - set(starts.index))
        if unknown:
            raise SchemaError(f"campaign_contacts has no campaigns {unknown}; the "
                              f"campaigns are {list(starts.index)}.")
    first_test = min(starts[list(test_ids)])
    train_ids = tuple(str(c) for c in starts.index if starts[c] < first_test
                      and c not in test_ids)
    if not train_ids:
        raise SchemaError(f"no campaign started before the held-back {list(test_ids)}; "
                          "hold back a later campaign.")
    return (train_ids, test_ids, history[history["campaign_id"].isin(train_ids)],
            history[history["campaign_id"].isin(test_ids)].reset_index(drop=True))


def _scores(history: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, seed: int,
            n_jobs: int) -> dict[str, np.ndarray]:
    """Fit the learners on ``train``; each policy's score of the ``test`` rows."""
    feats = feature_columns(history, pooled=True)
    params = {"random_state": seed, "n_jobs": n_jobs}
    y_tr = train["responded"].astype(int).to_numpy()
    t_tr = train["treated"].astype(bool).to_numpy()
    fewest = min(int(y_tr[t_tr].sum()), int(y_tr[~t_tr].sum()))
    if fewest < TRAIN_ARM_RESPONSES:
        raise InsufficientDataError(
            f"campaign_contacts: the backtest's training part has {fewest} responses in its "
            f"smaller arm (treated or control); the uplift learners need "
            f"{TRAIN_ARM_RESPONSES}: hold back fewer firms or load more campaign history.")
    uplift = TwoModelUplift(params=params).fit(train[feats], y_tr, t_tr)
    propensity = PropensityModel(**params).fit(train.loc[t_tr, feats], y_tr[t_tr])
    return {
        "uplift": uplift.predict_uplift(test[feats]),
        "propensity": propensity.predict_proba(test[feats])[:, 1],
        "rules": rule_score(test, seed),
    }


def _curves(y: np.ndarray, t: np.ndarray,
            scores: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cumulative gains and Qini curves of every policy and of random targeting."""
    gains, qinis = [], []
    shares = np.linspace(0, 1, 21)
    for policy, s in scores.items():
        order = np.argsort(-s, kind="stable")
        hit = np.cumsum((y * t)[order])
        total = max(hit[-1], 1)
        at = np.round(shares * len(s)).astype(int)
        gains.append(pd.DataFrame({"policy": policy, "share": shares,
                                   "responses_share": np.r_[0, hit][at] / total}))
        q = qini_curve(y, t, s, points=20)
        qinis.append(q.assign(policy=policy)[["policy", "share", "incremental"]])
    gains.append(pd.DataFrame({"policy": "random", "share": shares, "responses_share": shares}))
    q_all = qini_curve(y, t, np.zeros(len(y)), points=20)
    qinis.append(pd.DataFrame({"policy": "random", "share": q_all["share"],
                               "incremental": q_all["random"]}))
    return pd.concat(gains, ignore_index=True), pd.concat(qinis, ignore_index=True)


def _pick_metrics(y: np.ndarray, t: np.ndarray, amount: np.ndarray, score: np.ndarray | None,
                  budget: float) -> dict[str, float]:
    n = y.size
    size = max(1, int(np.ceil(budget * n)))
    if score is None:  # random: the expectation of a random pick of the same size
        pick = np.ones(n, dtype=bool)
        treated_rate = y[t].mean() if t.any() else np.nan
        control_rate = y[~t].mean() if (~t).any() else np.nan
        inc = (treated_rate - control_rate) * t.sum() * budget
        return {"picked": float(size), "contacted": float(t.sum() * budget),
                "response_rate": float(treated_rate),
                "uplift": float(treated_rate - control_rate),
                "incremental_responses": float(inc),
                "amount_per_contact": float(amount[pick & t].mean()) if t.any() else np.nan}
    top = np.argsort(-score, kind="stable")[:size]
    tt = t[top]
    yt, yc = y[top][tt], y[top][~tt]
    inc, _ = incremental_at_k(y, t, score, budget)
    return {"picked": float(size), "contacted": float(tt.sum()),
            "response_rate": float(yt.mean()) if yt.size else np.nan,
            "uplift": float(yt.mean() - yc.mean()) if yt.size and yc.size else np.nan,
            "incremental_responses": float(inc),
            "amount_per_contact": float(amount[top][tt].mean()) if yt.size else np.nan}
