"""Analysis of the quarterly review: stability, migration, matured performance, triggers.

Everything here works on the inputs gathered by :mod:`creditpersona.review.inputs` (the
registry's matured outcomes aside) and returns a :class:`ReviewResult`; nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditpersona import artefacts
from creditpersona.contract.schema import TABLES
from creditpersona.domain.industry import SECTION_BY_LETTER
from creditpersona.errors import CreditPersonaError
from creditpersona.models.target import labels
from creditpersona.profile.build import load_profile
from creditpersona.review import triggers as trig
from creditpersona.review.annual import AnnualReview, annual_review, months_later
from creditpersona.review.config import (
    IndustryReviewConfig,
    PersonaReviewConfig,
    ReviewConfig,
    StabilityConfig,
)
from creditpersona.review.drift import (
    Variable,
    flag_segments,
)
from creditpersona.review.history import History, portfolio_history
from creditpersona.review.inputs import (
    DIVISION,
    SECTION,
    ModelsInForce,
    Quarters,
    ReviewInputs,
    Watched,
    _by_firm,
    _last_confirmed,
    _Records,
    zh_en,
)
from creditpersona.review.kernels import (
    ReviewStatistics,
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
    LONG_COLUMNS,
    PORTFOLIO,
    Migration,
    change_summary,
)
from creditpersona.review.performance import COLUMNS as PERFORMANCE_COLUMNS
from creditpersona.review.performance import MODELS, matured_performance
from creditpersona.store.store import Store

_DRIFT_COLUMNS = ["segment", "comparison", "reference_as_of", "variable", "kind", "models",
                  "psi", "band", "noise_bound", "beyond_noise", "drifted", "bins",
                  "firms_reference", "firms_current", "missing_reference", "missing_current"]


@artefacts.trusted("review_result")
@dataclass(frozen=True)
class ReviewResult:
    """One quarterly review.

    Attributes
    ----------
    as_of : datetime.date
    previous : datetime.date or None
        The latest earlier date with PD scores and personas (None: first quarter).
    cohort : datetime.date or None
        The matured cohort (scored ``horizon_months`` or more before ``as_of``).
    store_path : str
    config : ReviewConfig
    drift : pandas.DataFrame
        PSI / CSI per ``segment`` (``portfolio``, a section letter or a division such as
        ``F51``), ``comparison`` (``qoq``, ``pd_baseline``, ``persona_baseline``),
        ``reference_as_of`` and
        ``variable`` (columns of :func:`creditpersona.review.drift.compare`).
    industries : pandas.DataFrame
        Per industry section and division: PD PSI and feature drift quarter on quarter,
        downgrade share, ``flagged`` and a bilingual ``reason``
        (:func:`~creditpersona.review.drift.flag_segments`).
    flagged_industries : pandas.DataFrame
        The flagged rows of ``industries``.
    persona_migration, persona_migration_rates : pandas.DataFrame
        Previous persona (rows, then ``(new)``) × current persona (columns, then ``(left)``).
    rating_migration, rating_migration_rates : pandas.DataFrame
        The same for master-scale grades, best first and the default grade last.
    rating_summary : pandas.DataFrame
        First row (``basis`` ``rating``) the master-scale grade, second row (``basis``
        ``pit``, when stored) the point-in-time grade: ``firms`` graded in both quarters,
        ``upgrade_share``, ``stable_share``, ``downgrade_share``, ``mean_notches``, and the
        stability of the firms performing in the earlier quarter (``performing``,
        ``stay_share``, ``within_one_share``; docs/rating.md).
    downgrades_by_section : pandas.DataFrame
        Per section and division: firms, upgrades, stable, downgrades and their shares,
        worst first.
    rating_by_section : pandas.DataFrame
        Every section's rating migration (long format: ``segment``, ``from_state``,
        ``to_state``, ``firms``).
    migration : pandas.DataFrame
        All matrices in the long format ``review_migration`` stores (``kind`` persona,
        rating or rating_by_section).
    performance : pandas.DataFrame
        Per PD model on the matured cohort against development
        (:func:`~creditpersona.review.performance.matured_performance`).
    performance_grades : pandas.DataFrame
        Jeffreys test per grade of the champion on the matured cohort.
    persona_agreement : dict
        ``firms`` in both quarters, ``same_persona`` share and ``ari``.
    annual : AnnualReview or None
        The annual review of the persona model (None without a model and fit date).
    triggers : pandas.DataFrame
        One row per trigger (:mod:`creditpersona.review.triggers`), fired first.
    history, history_personas, history_grades : pandas.DataFrame
        Every stored quarter up to ``as_of`` (:class:`~creditpersona.review.history.History`).
    notes : list of str
        What the review could not do or the reader should know, in Chinese and English.
    model_versions : dict
        Registry name → version in force on ``as_of``.
    baselines : dict
        ``pd`` and ``personas`` → the as-of date their model in force was fitted for.
    overrides : pandas.DataFrame
        Credit officers' rating overrides of the quarter, counted overall, per persona and
        per model grade (:func:`~creditpersona.review.inputs.override_counts`).
    """

    as_of: dt.date
    previous: dt.date | None
    cohort: dt.date | None
    store_path: str
    config: ReviewConfig
    drift: pd.DataFrame
    industries: pd.DataFrame
    flagged_industries: pd.DataFrame
    persona_migration: pd.DataFrame
    persona_migration_rates: pd.DataFrame
    rating_migration: pd.DataFrame
    rating_migration_rates: pd.DataFrame
    rating_summary: pd.DataFrame
    downgrades_by_section: pd.DataFrame
    rating_by_section: pd.DataFrame
    migration: pd.DataFrame
    performance: pd.DataFrame
    performance_grades: pd.DataFrame
    persona_agreement: dict[str, float]
    annual: AnnualReview | None
    triggers: pd.DataFrame
    history: pd.DataFrame
    history_personas: pd.DataFrame
    history_grades: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    model_versions: dict[str, int] = field(default_factory=dict)
    baselines: dict[str, dt.date | None] = field(default_factory=dict)
    overrides: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def fired(self) -> pd.DataFrame:
        """The triggers that fired."""
        return self.triggers[self.triggers["fired"].astype(bool)]


def compare(reference: pd.DataFrame, current: pd.DataFrame, variables: Sequence[Variable],
            cfg: StabilityConfig, segment: str | None = None,
            min_firms: int = 0) -> pd.DataFrame:
    """:func:`~creditpersona.review.drift.compare` (or ``compare_by_segment`` with a
    ``segment``) as the review's kernels compute it: the fit, one partial over every firm,
    the combination (a Spark engine sums its buckets' partials instead)."""
    model = fit_stability(reference, list(current.columns), variables, cfg, segment)
    return combine_stability(model, [partial_stability(model, reference, current)], cfg,
                             min_firms)


#: The persona shares, compared as a categorical variable of the assignments.
PERSONA_SHARES = Variable("persona_id", "score", "personas", categorical=True)


class FrameStatistics:
    """The review's statistics over all firms, from the quarters' frames (the embedded
    engine): each is the combination of one partial over every firm
    (:class:`~creditpersona.review.kernels.ReviewStatistics`)."""

    def __init__(self, quarters: Quarters, cfg: StabilityConfig) -> None:
        self._q, self._cfg = quarters, cfg

    def _frame(self, source: str, day: dt.date | None) -> pd.DataFrame | None:
        return {"profile": self._q.profile, "scores": self._q.scores,
                "personas": self._q.personas}[source](day)

    def columns(self, source: str, day: dt.date | None) -> tuple[str, ...] | None:
        frame = self._frame(source, day)
        return None if frame is None else tuple(map(str, frame.columns))

    def stability(self, source: str, reference: dt.date, current: dt.date,
                  variables: Sequence[Variable], segment: str | None = None,
                  min_firms: int = 0) -> pd.DataFrame:
        ref, cur = self._frame(source, reference), self._frame(source, current)
        assert ref is not None and cur is not None, "columns() says what is held"
        return compare(ref, cur, variables, self._cfg, segment, min_firms)

    def migration(self, source: str, column: str, previous: dt.date,
                  current: dt.date) -> list[pd.DataFrame]:
        before, after = self._frame(source, previous), self._frame(source, current)
        assert before is not None and after is not None, "columns() says what is held"
        return [partial_migration(_by_firm(before, column), _by_firm(after, column))]

    def changes(self, column: str, previous: dt.date, current: dt.date, order: Sequence[str],
                levels: Sequence[str] = ()) -> list[pd.DataFrame]:
        before, after = self._q.scores(previous), self._q.scores(current)
        assert before is not None and after is not None, "columns() says what is held"
        segments = {level: _by_firm(after, level).combine_first(_by_firm(before, level))
                    for level in levels}
        return [partial_changes(_by_firm(before, column), _by_firm(after, column), order,
                                segments)]

    def versions(self, previous: dt.date, current: dt.date) -> list[int]:
        frames = [self._q.personas(previous), self._q.personas(current)]
        return sorted({int(v) for f in frames if f is not None
                       for v in f["model_version"].dropna()})


@dataclass
class _Stability:
    drift: pd.DataFrame
    sections: pd.DataFrame           # quarter on quarter per section
    pd_psi: float | None             # champion PD against the PD model's fit quarter
    share_psi: float | None          # persona shares against the persona model's fit quarter
    share_psi_qoq: float | None
    persona_features: pd.DataFrame   # segmenter features against its fit quarter


def _stability(stats: ReviewStatistics, w: Watched, as_of: dt.date,
               previous: dt.date | None, baselines: dict[str, dt.date | None],
               cfg: ReviewConfig, notes: list[str]) -> _Stability:
    def held(source: str, day: dt.date | None) -> bool:
        return day is not None and stats.columns(source, day) is not None

    assert held("profile", as_of) and held("scores", as_of) and held("personas", as_of)
    parts: list[pd.DataFrame] = []

    def add(frame: pd.DataFrame, comparison: str, reference: dt.date,
            segment: str | None = PORTFOLIO) -> None:
        if segment is not None:
            frame = frame.assign(segment=segment)
        parts.append(frame.assign(comparison=comparison, reference_as_of=reference))

    def psi_of(frame: pd.DataFrame) -> float | None:
        return float(frame["psi"].iloc[0]) if len(frame) else float("nan")

    out = _Stability(pd.DataFrame(columns=_DRIFT_COLUMNS),
                     pd.DataFrame(columns=["segment", "variable", "psi", "band", "beyond_noise",
                                           "drifted", "firms_reference", "firms_current"]),
                     None, None, None, pd.DataFrame(columns=["variable", "psi", "beyond_noise"]))
    min_firms = cfg.industry.min_firms
    if previous is not None and held("scores", previous):
        add(stats.stability("scores", previous, as_of, w.scores), "qoq", previous)
        sections = [stats.stability("scores", previous, as_of, w.scores, level, min_firms)
                    for level in (SECTION, DIVISION)]
        if held("profile", previous):
            add(stats.stability("profile", previous, as_of, w.profile), "qoq", previous)
            sections += [stats.stability("profile", previous, as_of,
                                         [*w.dimensions, *w.features], level, min_firms)
                         for level in (SECTION, DIVISION)]
        else:
            notes.append(zh_en(f"{previous}的客户画像不在库中，跳过特征的环比比较。",
                               f"The profile of {previous} is not in the store; the "
                               "quarter-on-quarter feature comparison is skipped."))
        out.sections = pd.concat(sections, ignore_index=True)
        add(out.sections, "qoq", previous, segment=None)
        if held("personas", previous):
            out.share_psi_qoq = psi_of(stats.stability("personas", previous, as_of,
                                                       [PERSONA_SHARES]))

    base = baselines.get("pd")
    if base is not None and base < as_of:
        if held("scores", base):
            rows = stats.stability("scores", base, as_of, w.scores)
            add(rows, "pd_baseline", base)
            hit = rows.loc[rows["variable"] == "pd", "psi"]
            out.pd_psi = float(hit.iloc[0]) if len(hit) else None
        if held("profile", base):
            pd_features = [v for v in w.features if "pd" in v.models.split("+")]
            add(stats.stability("profile", base, as_of, pd_features), "pd_baseline", base)
        if not (held("scores", base) and held("profile", base)):
            notes.append(zh_en(f"违约概率模型的基准期{base}的评分或画像不在库中。",
                               f"The PD scores or profile of the PD model's fit quarter {base} "
                               "are not in the store."))

    base = baselines.get("personas")
    if base is not None and base < as_of:
        if held("profile", base):
            segmenter = [v for v in w.profile if v.name in w.segmenter]
            out.persona_features = stats.stability("profile", base, as_of, segmenter)
            add(out.persona_features, "persona_baseline", base)
        if held("personas", base):
            out.share_psi = psi_of(stats.stability("personas", base, as_of, [PERSONA_SHARES]))
        if not (held("profile", base) and held("personas", base)):
            notes.append(zh_en(f"客户性格模型的基准期{base}的画像或分类不在库中。",
                               f"The profile or persona assignment of the persona model's fit "
                               f"quarter {base} is not in the store."))
    if parts:
        out.drift = pd.concat(parts, ignore_index=True)[_DRIFT_COLUMNS]
    return out


@dataclass
class _Migrations:
    persona: Migration
    rating: Migration
    summary: pd.DataFrame
    by_section: pd.DataFrame
    rating_by_section: pd.DataFrame
    agreement: dict[str, float]
    persona_versions: list[int]

    def long(self) -> pd.DataFrame:
        pieces = [frame for frame in (
            self.persona.long("persona") if len(self.persona.counts) else None,
            self.rating.long("rating") if len(self.rating.counts) else None,
            self.rating_by_section if len(self.rating_by_section) else None)
            if frame is not None]
        return (pd.concat(pieces, ignore_index=True) if pieces
                else pd.DataFrame(columns=LONG_COLUMNS))


def _migrations(stats: ReviewStatistics, as_of: dt.date, previous: dt.date | None,
                order: list[str]) -> _Migrations:
    empty = Migration(pd.DataFrame(), pd.DataFrame())
    out = _Migrations(
        empty, empty,
        pd.DataFrame([{"basis": "rating", **change_summary(pd.DataFrame({"notches": []}))}]),
        pd.DataFrame(columns=["segment", "name_zh", "name_en", "firms", "upgrades", "stable",
                              "downgrades", "upgrade_share", "stable_share",
                              "downgrade_share", "mean_notches"]),
        pd.DataFrame(columns=LONG_COLUMNS),
        {"firms": 0.0, "same_persona": float("nan"), "ari": float("nan")}, [])
    if previous is None:
        return out
    prev_scores, cur_scores = stats.columns("scores", previous), stats.columns("scores", as_of)
    if (prev_scores is None or cur_scores is None or stats.columns("personas", previous) is None
            or stats.columns("personas", as_of) is None):
        return out
    cells = stats.migration("personas", "persona_id", previous, as_of)
    out.persona = combine_migration(cells)
    out.agreement = agreement_of(cells)
    out.persona_versions = stats.versions(previous, as_of)
    out.rating = combine_migration(stats.migration("scores", "grade", previous, as_of), order)
    levels = (SECTION, DIVISION)
    changes = stats.changes("grade", previous, as_of, order, levels)
    rows = [{"basis": "rating", **summary_of(changes, order, order[-1])}]
    if "grade_pit" in prev_scores and "grade_pit" in cur_scores:
        pit = stats.changes("grade_pit", previous, as_of, order)
        rows.append({"basis": "pit", **summary_of(pit, order, order[-1])})
    out.summary = pd.DataFrame(rows)
    by_section = pd.concat([by_segment_of(changes, level, order) for level in levels],
                           ignore_index=True).sort_values(
        ["downgrade_share", "segment"], ascending=[False, True], ignore_index=True)
    by_section.insert(1, "name_zh", [_section_name(s)[0] for s in by_section["segment"]])
    by_section.insert(2, "name_en", [_section_name(s)[1] for s in by_section["segment"]])
    out.by_section = by_section
    out.rating_by_section = pd.concat(
        [cells_of(changes, level, "rating_by_section", order) for level in levels],
        ignore_index=True)
    return out


def _downgrade_concentration(industries: pd.DataFrame, by_section: pd.DataFrame,
                             summary: pd.DataFrame, cfg: IndustryReviewConfig) -> pd.DataFrame:
    """Add each segment's downgrade share against the rest of the portfolio, and flag the
    segments where downgrades concentrate (``cfg.downgrade_excess`` and ``downgrade_z``)."""
    out = industries.copy()
    out["downgrade_share"] = np.nan
    out["downgrade_share_rest"] = np.nan
    out["downgrade_z"] = np.nan
    if by_section.empty or summary.empty or out.empty:
        return out
    total = float(summary["firms"].iloc[0])
    down_total = float(summary["downgrade_share"].iloc[0]) * total
    firms = by_section.set_index("segment")["firms"].astype("float64").to_dict()
    downs = by_section.set_index("segment")["downgrades"].astype("float64").to_dict()
    for i, seg in out["segment"].items():
        if seg not in firms:
            continue
        n, d = firms[seg], downs[seg]
        rest_n, rest_d = total - n, down_total - d
        if n <= 0 or rest_n <= 0:
            continue
        p1, p0 = d / n, rest_d / rest_n
        pooled = (d + rest_d) / (n + rest_n)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / rest_n))
        z = (p1 - p0) / se if se > 0 else 0.0
        out.at[i, "downgrade_share"] = p1
        out.at[i, "downgrade_share_rest"] = p0
        out.at[i, "downgrade_z"] = float(z)
        concentrated = (n >= cfg.min_firms and p1 - p0 >= cfg.downgrade_excess
                        and z >= cfg.downgrade_z)
        if concentrated:
            text = (f"评级下迁集中 downgrades concentrate: {p1:.0%} of its firms downgraded "
                    f"against {p0:.0%} in the rest of the portfolio (z = {z:.1f})")
            reason = str(out.at[i, "reason"])
            if not reason:
                zh, en = _section_name(str(seg))
                reason = f"{seg} {zh} {en}: {text}".replace("  ", " ")
            else:
                reason = f"{reason}; {text}"
            out.at[i, "flagged"] = True
            out.at[i, "reason"] = reason
    return out


def _section_name(segment: str) -> tuple[str, str]:
    """Names of a section (``F``) or, with its section's, a division (``F51``)."""
    s = SECTION_BY_LETTER.get(segment[:1])
    if s is None:
        return ("", "")
    if len(segment) == 1:
        return (s.zh, s.en)
    return (f"{s.zh}·{segment}大类", f"{s.en}, division {segment}")


def _matured(store: Store, q: Quarters, registered: _Records, as_of: dt.date,
             score_dates: set[dt.date], cfg: ReviewConfig, grade_order: list[str],
             notes: list[str]) -> tuple[dt.date | None, pd.DataFrame, pd.DataFrame]:
    """The matured cohort, its performance per model and its Jeffreys test per grade."""
    matured = months_later(as_of, -cfg.pd.horizon_months)
    candidates = [d for d in score_dates if d <= matured]
    if not candidates:
        notes.append(zh_en(f"尚无成熟样本：{matured}及以前没有评分记录。",
                           f"No cohort has matured yet: no PD scores on or before {matured}."))
        return None, pd.DataFrame(columns=PERFORMANCE_COLUMNS), pd.DataFrame()
    cohort = max(candidates)
    scores = q.scores(cohort)
    assert scores is not None
    development, scored_by = {}, {}
    for name in MODELS:
        rec = registered.get(name, cohort)
        if rec is not None:
            development[name], scored_by[name] = rec.metrics, rec.version
    if not development:
        notes.append(zh_en(f"{cohort}评分所用模型不在注册表中，无开发期AUC可比。",
                           f"The models that scored {cohort} are not in the registry; no "
                           "development AUC to compare with."))
    outcomes = labels({t.name: store.table(t.name) for t in TABLES}, cohort,
                      horizon_months=cfg.pd.horizon_months)
    performance, grades = matured_performance(
        scores, outcomes, development, scored_by, grade_order=grade_order,
        min_defaults=cfg.pd.min_matured_defaults)
    if len(performance) and int(performance["firms"].max()) == 0:
        notes.append(zh_en(f"{cohort}的评分客户在库中没有结果数据。",
                           f"No outcome is known for the firms scored on {cohort}."))
    return cohort, performance, grades


def _annual(store: Store, as_of: dt.date, models: ModelsInForce, cfg: PersonaReviewConfig,
            notes: list[str], profile: pd.DataFrame | None) -> AnnualReview | None:
    model, rec = models.persona, models.persona_record
    if model is None or rec is None or rec.as_of is None:
        return None
    confirmed = _last_confirmed(store, as_of, rec.version)
    due_on = months_later(max(rec.as_of, confirmed) if confirmed else rec.as_of,
                          cfg.annual_review_months)
    if as_of >= due_on:
        try:
            return annual_review(load_profile(store, as_of) if profile is None else profile,
                                 model, model_version=rec.version,
                                 fitted_for=rec.as_of, as_of=as_of, cfg=cfg,
                                 last_confirmed=confirmed)
        except CreditPersonaError as exc:
            notes.append(zh_en("年度检视未能拟合挑战者模型，请人工复核。",
                               f"The annual review could not fit a challenger ({exc}); "
                               "review the personas by hand."))
    return AnnualReview(rec.version, rec.as_of, confirmed, due_on, False,
                        personas_in_force=model.segmenter.n_personas_)



@dataclass(frozen=True)
class EngineReads:
    """What an engine reads for a review besides the statistics over all firms: each is
    called once, in this order, after the stability and migration statistics.

    Attributes
    ----------
    matured : callable
        ``matured(notes) -> (cohort, performance, performance_grades)``.
    annual : callable
        ``annual(notes) -> AnnualReview | None``.
    history : callable
        ``history(notes) -> History`` (the portfolio history of every stored quarter).
    overrides : callable
        ``overrides() -> DataFrame`` (the rating overrides per segment).
    """

    matured: Callable[[list[str]], tuple[dt.date | None, pd.DataFrame, pd.DataFrame]]
    annual: Callable[[list[str]], AnnualReview | None]
    history: Callable[[list[str]], History]
    overrides: Callable[[], pd.DataFrame]


def assemble_review(store_path: str, inputs: ReviewInputs, statistics: ReviewStatistics,
                    reads: EngineReads) -> ReviewResult:
    """The :class:`ReviewResult` of ``inputs``: stability and migration from
    ``statistics``, the industries flagged, then the engine's ``reads`` (matured cohort,
    annual review), the triggers, the history and the overrides.

    The one assembly of both engines (:func:`review_analysis` on the store,
    :func:`creditpersona.spark.review.spark_review` on the Spark results).
    """
    i, cfg, notes = inputs, inputs.config, inputs.notes
    stability = _stability(statistics, i.watched, i.as_of, i.previous, i.models.baselines,
                           cfg, notes)
    moves = _migrations(statistics, i.as_of, i.previous, i.scale.names)
    names = {str(seg): _section_name(str(seg)) for seg in stability.sections["segment"].unique()
             } if len(stability.sections) else {}
    industries = flag_segments(stability.sections, "pd", [v.name for v in i.watched.features],
                               cfg.industry, names)
    industries = _downgrade_concentration(industries, moves.by_section,
                                          moves.summary, cfg.industry)
    flagged = industries[industries["flagged"].astype(bool)].reset_index(drop=True)
    notes += [f"行业漂移 Industry drift — {reason}" for reason in flagged["reason"]]
    cohort, performance, grades = reads.matured(notes)
    annual = reads.annual(notes)
    triggers = _triggers(trig.Context(i.as_of, store_path, i.models.versions), i, stability,
                         moves, performance, cohort, annual)
    history = reads.history(notes)
    return ReviewResult(
        as_of=i.as_of, previous=i.previous, cohort=cohort, store_path=store_path,
        config=cfg, drift=stability.drift, industries=industries, flagged_industries=flagged,
        persona_migration=moves.persona.counts, persona_migration_rates=moves.persona.rates,
        rating_migration=moves.rating.counts, rating_migration_rates=moves.rating.rates,
        rating_summary=moves.summary, downgrades_by_section=moves.by_section,
        rating_by_section=moves.rating_by_section, migration=moves.long(),
        performance=performance, performance_grades=grades, persona_agreement=moves.agreement,
        annual=annual, triggers=triggers, history=history.summary,
        history_personas=history.personas, history_grades=history.grades, notes=notes,
        model_versions=i.models.versions, baselines=i.models.baselines,
        overrides=reads.overrides())


def review_analysis(store: Store, inputs: ReviewInputs,
                    statistics: ReviewStatistics | None = None) -> ReviewResult:
    """Analyse the inputs of a review: stability, migration, industries, the matured
    cohort, the annual persona review, the triggers and the history (nothing is written).

    The statistics over all firms (stability, migration, rating changes) come from
    ``statistics`` (default: :class:`FrameStatistics` over the inputs' quarters); a
    distributed engine passes its own, combining its buckets' partials.

    The store is read for the matured cohort's outcomes, the last annual confirmation and
    the history of every stored quarter.
    """
    i, cfg = inputs, inputs.config
    stats = statistics or FrameStatistics(i.quarters, cfg.stability)
    return assemble_review(str(store.path), i, stats, EngineReads(
        matured=lambda notes: _matured(store, i.quarters, i.models.registered, i.as_of,
                                       i.score_dates, cfg, i.scale.names[:-1], notes),
        annual=lambda notes: _annual(store, i.as_of, i.models, cfg.personas, notes,
                                     i.profile),
        history=lambda notes: portfolio_history(store, i.as_of, i.scale.default_grade),
        overrides=lambda: i.overrides))


def _triggers(ctx: trig.Context, i: ReviewInputs, stability: _Stability, moves: _Migrations,
              performance: pd.DataFrame, cohort: dt.date | None,
              annual: AnnualReview | None) -> pd.DataFrame:
    """The re-fit triggers of ``review.yaml``, evaluated on the analysis."""
    cfg, previous = i.config, i.previous
    pd_base, persona_base = i.models.baselines.get("pd"), i.models.baselines.get("personas")
    return trig.trigger_table([
        trig.pd_auc_drop(ctx, performance, cohort, cfg.pd),
        trig.pd_score_psi(ctx, stability.pd_psi,
                          pd_base if stability.pd_psi is not None else None, cfg.pd),
        trig.persona_share_psi(ctx, stability.share_psi,
                               persona_base if stability.share_psi is not None else None,
                               stability.share_psi_qoq, previous, cfg.personas),
        trig.persona_feature_drift(ctx, stability.persona_features,
                                   persona_base if len(stability.persona_features) else None,
                                   cfg.personas),
        trig.persona_agreement(ctx, moves.agreement["same_persona"],
                               int(moves.agreement["firms"]), previous, moves.persona_versions,
                               cfg.personas),
        trig.persona_annual_review(ctx, annual, cfg.personas),
    ])
