"""Persona evaluation (分类效果评估): is the segmentation separated, stable, useful, valuable?

- **separation**: silhouette and Calinski–Harabasz of the model personas in the
  segmentation space;
- **stability**: bootstrap adjusted Rand index (from the fit), and agreement between two
  assignments of the same firms (e.g. quarter to quarter);
- **business differentiation**: spread of default rates and of campaign response rates
  across personas, each with a chi-square test of independence;
- **actionability**: fidelity of the readable surrogate rules;
- **value**: revenue and expected loss (PD × LGD × exposure) by persona, when given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, silhouette_score

from creditpersona import artefacts
from creditpersona.personas.describe import SurrogateRules, observed_default
from creditpersona.personas.policy import PersonaModel
from creditpersona.personas.segment import PersonaSegmenter


@artefacts.trusted("persona_rate_test")
@dataclass(frozen=True)
class RateTest:
    """A rate by persona and the chi-square test that it does not depend on the persona.

    Attributes
    ----------
    table : pandas.DataFrame
        Per persona: ``n``, ``events``, ``rate``.
    spread : float
        Highest minus lowest rate among personas with at least ``min_n`` observations.
    chi2, p_value : float
        Pearson chi-square test of independence of persona and event (NaN if untestable).
    """

    table: pd.DataFrame
    spread: float
    chi2: float
    p_value: float


@artefacts.trusted("persona_evaluation")
@dataclass(frozen=True)
class PersonaEvaluation:
    """The evaluation system's results; every field is data, rendering is elsewhere."""

    silhouette: float
    calinski_harabasz: float
    bootstrap_ari: float
    selection: pd.DataFrame
    default: RateTest
    response: RateTest | None
    fidelity: float | None
    value: pd.DataFrame
    agreement: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Headline numbers (for JSON and the report)."""
        out = {
            "silhouette": self.silhouette, "calinski_harabasz": self.calinski_harabasz,
            "bootstrap_ari": self.bootstrap_ari,
            "default_rate_spread": self.default.spread,
            "default_chi2_p_value": self.default.p_value,
            "surrogate_fidelity": np.nan if self.fidelity is None else self.fidelity,
        }
        if self.response is not None:
            out["response_rate_spread"] = self.response.spread
            out["response_chi2_p_value"] = self.response.p_value
        out.update({f"previous_{k}": v for k, v in self.agreement.items()})
        return {k: float(v) for k, v in out.items()}


def rate_test(persona: pd.Series, event: pd.Series, min_n: int = 30) -> RateTest:
    """Event rate by persona with a chi-square test of independence.

    Examples
    --------
    >>> p = pd.Series(["a"] * 100 + ["b"] * 100)
    >>> e = pd.Series([True] * 5 + [False] * 95 + [True] * 30 + [False] * 70)
    >>> t = rate_test(p, e)
    >>> round(t.spread, 2), t.p_value < 0.001
    (0.25, True)
    """
    ev = event.astype(bool).to_numpy()
    table = pd.DataFrame({"persona_id": persona.astype(str).to_numpy(), "event": ev})
    g = pd.DataFrame(table.groupby("persona_id")["event"].agg(n="size", events="sum"))
    g["rate"] = g["events"] / g["n"]
    big = g[g["n"] >= min_n]
    spread = float(big["rate"].max() - big["rate"].min()) if len(big) > 1 else float("nan")
    counts = np.column_stack([g["events"], g["n"] - g["events"]])
    counts = counts[counts.sum(axis=1) > 0]
    if len(counts) > 1 and (counts.sum(axis=0) > 0).all():
        chi2, p, _, _ = chi2_contingency(counts)
    else:
        chi2, p = float("nan"), float("nan")
    return RateTest(g, spread, float(chi2), float(p))


def assignment_agreement(previous: pd.Series, current: pd.Series) -> dict[str, float]:
    """Agreement of two assignments on the firms both hold (index = firm).

    Returns ``firms`` (in both), ``same_persona`` (share with the same persona id) and
    ``ari`` (adjusted Rand index, which ignores how the personas are named).

    Examples
    --------
    >>> a = pd.Series(["P1", "P1", "P2", "P2"], index=list("wxyz"))
    >>> b = pd.Series(["P1", "P2", "P2", "P2", "P3"], index=list("wxyzv"))
    >>> assignment_agreement(a, b)["same_persona"]
    0.75
    """
    both = previous.index.intersection(current.index)
    if len(both) == 0:
        return {"firms": 0.0, "same_persona": float("nan"), "ari": float("nan")}
    a, b = previous.loc[both].astype(str), current.loc[both].astype(str)
    return {"firms": float(len(both)), "same_persona": float((a == b).mean()),
            "ari": float(adjusted_rand_score(a, b))}


def _separation(frame: pd.DataFrame, model_rows: np.ndarray, labels: np.ndarray,
                seg: PersonaSegmenter, sample_size: int) -> tuple[float, float]:
    """Silhouette and Calinski–Harabasz on a sample of the model-assigned firms
    (``model_rows``: their positions in ``frame``; ``labels``: their clusters)."""
    sil = ch = float("nan")
    if len(np.unique(labels)) > 1:
        rng = np.random.default_rng(seg.random_state)
        n = len(model_rows)
        rows = np.sort(rng.choice(n, min(sample_size, n), replace=False))
        # Only the sampled rows are taken from the profile (not every model-assigned firm).
        embedded = seg.embed(frame.iloc[model_rows[rows]])
        if len(np.unique(labels[rows])) > 1:
            sil = float(silhouette_score(embedded, labels[rows]))
            ch = float(calinski_harabasz_score(embedded, labels[rows]))
    return sil, ch


def _response_test(persona: pd.Series, frame: pd.DataFrame,
                   contacts: pd.DataFrame | None) -> RateTest | None:
    """Campaign response rate by persona (treated contacts only), tested for differences."""
    if contacts is None or not len(contacts) or "firm_id" not in frame.columns:
        return None
    c = contacts
    if "treated" in c.columns:
        c = c[c["treated"].astype(bool)]
    by_firm = pd.Series(persona.to_numpy(), index=frame["firm_id"].astype(str).to_numpy())
    by_firm = by_firm[~by_firm.index.duplicated()]
    who = by_firm.reindex(c["firm_id"].astype(str).to_numpy())
    keep = who.notna().to_numpy()
    if not keep.any():
        return None
    return rate_test(pd.Series(who.to_numpy()[keep]),
                     pd.Series(c["responded"].astype(bool).to_numpy()[keep]))


def _persona_values(persona: pd.Series, frame: pd.DataFrame,
                    value: pd.DataFrame | None) -> pd.DataFrame:
    """Firms, income, exposure and expected loss per persona."""
    values = pd.DataFrame(index=sorted(persona.unique()))
    values.index.name = "persona_id"
    values["firms"] = persona.value_counts()
    if value is None:
        return values
    v = value.reindex(frame.index)
    grouped = v.groupby(persona.to_numpy())
    if "revenue" in v.columns:
        values["revenue"] = grouped["revenue"].sum()
        values["revenue_per_firm"] = values["revenue"] / values["firms"]
    if "exposure" in v.columns:
        values["exposure"] = grouped["exposure"].sum()
    if {"pd", "lgd", "exposure"} <= set(v.columns):
        el = (v["pd"] * v["lgd"] * v["exposure"]).groupby(persona.to_numpy()).sum()
        values["expected_loss"] = el
        if "exposure" in values.columns:
            values["el_rate"] = values["expected_loss"] / values["exposure"].replace(0, np.nan)
        if "revenue" in values.columns:
            values["revenue_less_el"] = values["revenue"] - values["expected_loss"]
    return values


def evaluate_personas(
    frame: pd.DataFrame,
    assignment: pd.DataFrame,
    model: PersonaModel,
    *,
    surrogate: SurrogateRules | None = None,
    defaulted: pd.Series | None = None,
    contacts: pd.DataFrame | None = None,
    value: pd.DataFrame | None = None,
    previous: pd.Series | None = None,
    sample_size: int = 5000,
) -> PersonaEvaluation:
    """Evaluate an assignment.

    Parameters
    ----------
    frame : pandas.DataFrame
        The profile (same index as ``assignment``; ``firm_id`` used to join ``contacts``).
    assignment : pandas.DataFrame
        :meth:`PersonaModel.assign` output.
    model : PersonaModel
        The fitted model (its segmenter's space and bootstrap stability).
    surrogate : SurrogateRules, optional
        For the actionability (fidelity) measure.
    defaulted : pandas.Series of bool, optional
        Observed default per firm; default: 90 days past due in the last 12 months
        (``current_dpd`` or ``bureau_max_dpd_12m``).
    contacts : pandas.DataFrame, optional
        Campaign contacts with ``firm_id`` and ``responded`` (and ``treated``: only treated
        contacts count) for the response-rate test.
    value : pandas.DataFrame, optional
        Same index as ``frame``, any of ``revenue`` (income to the bank), ``pd``, ``lgd``,
        ``exposure``; expected loss is ``pd × lgd × exposure`` when all three are there.
    previous : pandas.Series, optional
        An earlier assignment (persona id by ``firm_id``) to measure agreement with.
    sample_size : int
        Firms used for the silhouette.
    """
    persona = assignment["persona_id"].astype(str)
    model_rows = (assignment["source"] == "model").to_numpy()
    seg = model.segmenter
    sil, ch = _separation(frame, np.flatnonzero(model_rows),
                          assignment["cluster"].to_numpy()[model_rows],
                          seg, sample_size)
    default = rate_test(persona, defaulted if defaulted is not None
                        else observed_default(frame))
    response = _response_test(persona, frame, contacts)
    values = _persona_values(persona, frame, value)
    agreement = {}
    if previous is not None and "firm_id" in frame.columns:
        current = pd.Series(persona.to_numpy(), index=frame["firm_id"].astype(str).to_numpy())
        agreement = assignment_agreement(previous, current)
    return PersonaEvaluation(sil, ch, seg.stability_, seg.selection_, default, response,
                             None if surrogate is None else surrogate.fidelity, values,
                             agreement)
