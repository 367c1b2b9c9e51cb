"""Re-fit triggers of the quarterly review (动态调整触发条件).

Each trigger compares one number with its threshold in ``review.yaml`` and becomes one row:
whether it fired, whether there was enough data to judge, the recommendation in Chinese and
English, the evidence with the numbers, and — when it fired — the command that performs the
re-fit. The functions here only judge numbers the review computed; they read no store.
"""

from __future__ import annotations

import datetime as dt
import math
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from creditpersona.review.annual import AnnualReview
from creditpersona.review.config import PDReviewConfig, PersonaReviewConfig

#: Columns of a trigger table (``review_triggers`` adds ``as_of``).
COLUMNS = ["trigger", "target", "fired", "evaluated", "value", "threshold",
           "recommendation_zh", "recommendation_en", "evidence", "command", "model_version"]

_KEEP = ("维持现行模型，无需调整。", "No action: keep the model in force.")
_UNJUDGED = ("本季无法评估（见依据），维持现行模型。",
             "Not evaluated this quarter (see the evidence); keep the model in force.")
_REFIT_PD = ("重新开发违约概率模型（评分卡冠军模型与LightGBM挑战者模型），验证通过后投产。",
             "Re-develop the PD models (scorecard champion and LightGBM challenger) on the "
             "latest matured outcomes and validate them before use.")
_REFIT_PERSONAS = ("重新拟合客户性格模型；新类别按匈牙利算法与原类别一一匹配，"
                   "沿用原编号、名称与授信策略。",
                   "Re-fit the persona model; the re-fit keeps persona identities (ids, names "
                   "and strategies) by Hungarian matching of the new personas to the old ones.")
_CONFIRMED = ("年度检视确认现行客户性格分类，无需重新拟合。",
              "The annual review confirms the personas in force; no re-fit needed.")


@dataclass(frozen=True)
class Context:
    """What every trigger row needs: the review date, the store and the models in force."""

    as_of: dt.date
    store_path: str
    versions: dict[str, int]

    def command(self, target: str) -> str:
        """The command that re-fits ``target`` (``pd`` or ``personas``) for this date."""
        return (f"creditpersona run --as-of {self.as_of.isoformat()} --refit {target} "
                f"--store {shlex.quote(self.store_path)}")


@dataclass(frozen=True)
class Trigger:
    """One row of the trigger table."""

    trigger: str
    target: str
    fired: bool
    evaluated: bool
    value: float
    threshold: float
    recommendation_zh: str
    recommendation_en: str
    evidence: str
    command: str
    model_version: int | None


def _make(ctx: Context, trigger: str, target: str, *, evaluated: bool, fired: bool,
          value: float, threshold: float, evidence: str,
          recommendation: tuple[str, str] | None = None) -> Trigger:
    model = "pd_champion" if target == "pd" else "personas"
    if recommendation is None:
        recommendation = ((_REFIT_PD if target == "pd" else _REFIT_PERSONAS) if fired
                          else _KEEP if evaluated else _UNJUDGED)
    return Trigger(trigger, target, bool(fired and evaluated), bool(evaluated), float(value),
                   float(threshold), recommendation[0], recommendation[1], evidence,
                   ctx.command(target) if fired and evaluated else "",
                   ctx.versions.get(model))


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def pd_auc_drop(ctx: Context, performance: pd.DataFrame, cohort: dt.date | None,
                cfg: PDReviewConfig) -> Trigger:
    """Matured AUC of the champion more than ``auc_drop`` below its development AUC."""
    name = "pd_auc_drop"
    row = performance[performance["model"] == "pd_champion"] if len(performance) else None
    if cohort is None or row is None or row.empty:
        return _make(ctx, name, "pd", evaluated=False, fired=False, value=math.nan,
                     threshold=cfg.auc_drop,
                     evidence=f"No scored cohort has matured yet (needs PD scores at least "
                              f"{cfg.horizon_months} months before {ctx.as_of}).")
    r = row.iloc[0]
    auc, dev = float(r["auc"]), float(r["dev_auc"])
    drop = dev - auc if _finite(auc) and _finite(dev) else math.nan
    base = (f"Cohort {cohort}: {int(r['firms']):,} firms, {int(r['defaults'])} matured "
            f"defaults; AUC {auc:.3f} (95 % CI {float(r['auc_low']):.3f}–"
            f"{float(r['auc_high']):.3f}) against {dev:.3f} at development")
    if not bool(r["judged"]) or not _finite(drop):
        why = (f"fewer than {cfg.min_matured_defaults} matured defaults"
               if int(r["defaults"]) < cfg.min_matured_defaults else "no development AUC")
        return _make(ctx, name, "pd", evaluated=False, fired=False, value=drop,
                     threshold=cfg.auc_drop, evidence=f"{base}; not judged: {why}.")
    fired = drop > cfg.auc_drop
    return _make(ctx, name, "pd", evaluated=True, fired=fired, value=drop,
                 threshold=cfg.auc_drop,
                 evidence=f"{base}: a drop of {drop:.3f} {'>' if fired else '≤'} "
                          f"{cfg.auc_drop:.2f}.")


def pd_score_psi(ctx: Context, psi: float | None, reference: dt.date | None,
                 cfg: PDReviewConfig) -> Trigger:
    """PSI of the champion PD against the quarter the model was fitted for."""
    name = "pd_score_psi"
    if reference is None or not _finite(psi):
        return _make(ctx, name, "pd", evaluated=False, fired=False, value=math.nan,
                     threshold=cfg.score_psi,
                     evidence="No baseline: the PD scores of the quarter the model in force "
                              "was fitted for are not in the store (or it was fitted for this "
                              "quarter).")
    assert psi is not None
    fired = psi > cfg.score_psi
    return _make(ctx, name, "pd", evaluated=True, fired=fired, value=psi,
                 threshold=cfg.score_psi,
                 evidence=f"PSI of the PD {ctx.as_of} against {reference} (fit quarter) is "
                          f"{psi:.3f} {'>' if fired else '≤'} {cfg.score_psi:.2f}.")


def persona_share_psi(ctx: Context, psi: float | None, reference: dt.date | None,
                      psi_qoq: float | None, previous: dt.date | None,
                      cfg: PersonaReviewConfig) -> Trigger:
    """PSI of the persona shares against the fit quarter (else the previous quarter)."""
    name = "persona_share_psi"
    qoq = (f"; quarter on quarter ({previous}) {psi_qoq:.3f}"
           if previous is not None and _finite(psi_qoq) else "")
    if reference is None or not _finite(psi):
        if previous is None or not _finite(psi_qoq):
            return _make(ctx, name, "personas", evaluated=False, fired=False, value=math.nan,
                         threshold=cfg.share_psi,
                         evidence="No earlier persona assignment to compare with (first "
                                  "quarter, or the fit quarter's assignment is missing).")
        psi, reference, qoq = psi_qoq, previous, ""
    assert psi is not None
    fired = psi > cfg.share_psi
    return _make(ctx, name, "personas", evaluated=True, fired=fired, value=psi,
                 threshold=cfg.share_psi,
                 evidence=f"PSI of the persona shares against {reference} is {psi:.3f} "
                          f"{'>' if fired else '≤'} {cfg.share_psi:.2f}{qoq}.")


def persona_feature_drift(ctx: Context, drift: pd.DataFrame, reference: dt.date | None,
                          cfg: PersonaReviewConfig) -> Trigger:
    """Share of the segmenter's features whose CSI against the fit quarter has drifted.

    ``drift`` holds one row per segmenter feature (:func:`creditpersona.review.drift.compare`
    output): a feature has drifted when its CSI reaches ``feature_csi`` beyond sampling noise.
    """
    name = "persona_feature_drift"
    compared = drift[drift["psi"].notna()] if len(drift) else drift
    if reference is None or compared.empty:
        return _make(ctx, name, "personas", evaluated=False, fired=False, value=math.nan,
                     threshold=cfg.feature_share,
                     evidence="No baseline: the profile of the quarter the persona model was "
                              "fitted for is not in the store (or it was fitted for this "
                              "quarter).")
    moved = compared[(compared["psi"] >= cfg.feature_csi) & compared["beyond_noise"]]
    share = len(moved) / len(compared)
    fired = share > cfg.feature_share
    top = moved.sort_values("psi", ascending=False).head(5)
    names = ", ".join(f"{v} {p:.2f}" for v, p in zip(top["variable"], top["psi"], strict=True))
    return _make(ctx, name, "personas", evaluated=True, fired=fired, value=share,
                 threshold=cfg.feature_share,
                 evidence=f"{len(moved)} of {len(compared)} segmentation features have a CSI "
                          f"≥ {cfg.feature_csi:.2f} against {reference} ({share:.0%} "
                          f"{'>' if fired else '≤'} {cfg.feature_share:.0%})"
                          + (f": {names}." if names else "."))


def persona_agreement(ctx: Context, agreement: float | None, firms: int,
                      previous: dt.date | None, versions: Sequence[int],
                      cfg: PersonaReviewConfig) -> Trigger:
    """Share of the firms of both quarters that kept their persona under the same model.

    ``versions`` are the persona model versions of the previous and the current assignment;
    across a re-fit the agreement measures the re-fit, not the firms, and is not judged.
    """
    name = "persona_agreement"
    if previous is None or not _finite(agreement) or firms == 0:
        return _make(ctx, name, "personas", evaluated=False, fired=False, value=math.nan,
                     threshold=cfg.min_agreement,
                     evidence="No previous quarter with personas of the same firms.")
    assert agreement is not None
    if len(set(versions)) != 1:
        return _make(ctx, name, "personas", evaluated=False, fired=False, value=agreement,
                     threshold=cfg.min_agreement,
                     evidence=f"The persona model changed between {previous} and {ctx.as_of} "
                              f"(versions {', '.join(map(str, sorted(set(versions))))}): "
                              f"{agreement:.1%} of {firms:,} firms kept their persona id, "
                              "which measures the re-fit; not judged.")
    fired = agreement < cfg.min_agreement
    return _make(ctx, name, "personas", evaluated=True, fired=fired, value=agreement,
                 threshold=cfg.min_agreement,
                 evidence=f"{agreement:.1%} of {firms:,} firms in both {previous} and "
                          f"{ctx.as_of} kept their persona ({'<' if fired else '≥'} "
                          f"{cfg.min_agreement:.0%}).")


def persona_annual_review(ctx: Context, review: AnnualReview | None,
                          cfg: PersonaReviewConfig) -> Trigger:
    """The annual review: a re-fit when a challenger fitted now disagrees with the model."""
    name = "persona_annual_review"
    if review is None:
        return _make(ctx, name, "personas", evaluated=False, fired=False, value=math.nan,
                     threshold=cfg.min_ari,
                     evidence="No persona model in force with a known fit date.")
    head = (f"Persona model v{review.model_version}, fitted for {review.fitted_for}"
            + (f", last confirmed {review.last_confirmed}" if review.last_confirmed else ""))
    if not review.performed:
        return _make(ctx, name, "personas", evaluated=False, fired=False, value=math.nan,
                     threshold=cfg.min_ari,
                     evidence=f"{head}: the annual review is due on {review.due_on}.",
                     recommendation=_KEEP)
    at = ("" if review.personas_challenger == review.personas_in_force else
          f"; fitted with the {review.personas_in_force} in force")
    facts = (f"{head}: a challenger fitted on {ctx.as_of} chooses "
             f"{review.personas_challenger} personas (in force {review.personas_in_force}"
             f"{at}), {review.unmatched} unmatched; identity-matched ARI {review.ari:.3f}")
    if review.refit:
        return _make(ctx, name, "personas", evaluated=True, fired=True, value=review.ari,
                     threshold=cfg.min_ari,
                     evidence=f"{facts} (re-fit when < {cfg.min_ari:.2f} or a persona "
                              "is unmatched).")
    return _make(ctx, name, "personas", evaluated=True, fired=False, value=review.ari,
                 threshold=cfg.min_ari,
                 evidence=f"{facts} ≥ {cfg.min_ari:.2f}: the annual review confirms the "
                          "personas.", recommendation=_CONFIRMED)


def trigger_table(triggers: Sequence[Trigger]) -> pd.DataFrame:
    """The triggers as a table, fired ones first.

    Examples
    --------
    >>> ctx = Context(dt.date(2026, 3, 31), "bank.duckdb", {"pd_champion": 2})
    >>> t = trigger_table([pd_score_psi(ctx, 0.05, dt.date(2025, 12, 31), PDReviewConfig()),
    ...                    pd_score_psi(ctx, 0.4, dt.date(2025, 12, 31), PDReviewConfig())])
    >>> t["fired"].tolist(), t["command"].iloc[0]
    ([True, False], 'creditpersona run --as-of 2026-03-31 --refit pd --store bank.duckdb')
    """
    frame = pd.DataFrame([asdict(t) for t in triggers], columns=COLUMNS)
    frame["model_version"] = frame["model_version"].astype("Int64")
    order = (~frame["fired"].astype(bool)).astype(int) * 2 + (~frame["evaluated"].astype(bool)
                                                               ).astype(int)
    return frame.iloc[order.argsort(kind="stable")].reset_index(drop=True)
