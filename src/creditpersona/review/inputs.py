"""Inputs of the quarterly review: what it reads, and the cycle's frames of the date.

The review compares the as-of date with the previous quarter and with the quarters the
models in force were fitted for. In the cycle, the as-of date's profile, PD scores and
personas are handed over as :class:`ReviewFrames` (the stages have just computed them);
earlier dates, the models in force and the registry records are read from the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import pandas as pd

from creditpersona.errors import InsufficientDataError
from creditpersona.models import registry
from creditpersona.models.development import FEATURES
from creditpersona.models.master_scale import MasterScale, load_master_scale
from creditpersona.personas.policy import PersonaModel, load_policy
from creditpersona.personas.segment import SCORE_COLUMNS, add_derived_features
from creditpersona.personas.store import load_assignments
from creditpersona.profile.build import PROFILES
from creditpersona.review.config import (
    ReviewConfig,
)
from creditpersona.review.drift import (
    Variable,
)
from creditpersona.review.history import PD_SCORES, PERSONAS
from creditpersona.review.performance import MODELS
from creditpersona.review.storage import REVIEW_TRIGGERS
from creditpersona.store import results
from creditpersona.store.ops import ops_path, read_only
from creditpersona.store.store import Store

SECTION = "industry_section"
#: GB/T 4754 division (大类, e.g. ``F51``): a downturn often hits one division of a section.
DIVISION = "industry_division"


# -- reading the store -------------------------------------------------------------------


def _day(d: dt.date) -> ibis.Scalar:
    return ibis.literal(d, type="date")


def _dates_of(store: Store, name: str) -> set[dt.date]:
    return set(results.dates(store, name))


_SCORE_COLUMNS = ["firm_id", "pd", "pd_challenger", "grade", "grade_pit"]


def _profile(store: Store, as_of: dt.date | None, wanted: list[str]) -> pd.DataFrame | None:
    """The stored profile of a date: only the columns the review reads, derived ones added."""
    if as_of is None:
        return None
    declared = results.TABLES[PROFILES].columns
    frame = results.read(store, PROFILES, as_of, columns=[c for c in dict.fromkeys(wanted)
                                                           if c in declared])
    return _prepare_profile(frame, wanted)


def _prepare_profile(frame: pd.DataFrame, wanted: list[str]) -> pd.DataFrame | None:
    if frame.empty:
        return None
    frame = frame[[c for c in dict.fromkeys(wanted) if c in frame.columns]]
    frame = results.without_empty_optional(PROFILES, frame)
    frame = frame.drop_duplicates("firm_id").reset_index(drop=True)
    if "industry_code" in frame.columns:
        frame[DIVISION] = frame["industry_code"].astype("string").str[:3]
    return add_derived_features(frame)


def _scores(store: Store, as_of: dt.date | None) -> pd.DataFrame | None:
    if as_of is None:
        return None
    return _prepare_scores(results.read(store, PD_SCORES, as_of, columns=_SCORE_COLUMNS))


def _prepare_scores(frame: pd.DataFrame) -> pd.DataFrame | None:
    if frame.empty:
        return None
    frame = results.without_empty_optional(
        PD_SCORES, frame[[c for c in _SCORE_COLUMNS if c in frame.columns]])
    return frame.drop_duplicates("firm_id").reset_index(drop=True)


def _assignments(store: Store, as_of: dt.date | None) -> pd.DataFrame | None:
    if as_of is None:
        return None
    return _prepare_assignments(load_assignments(store, as_of))


def _prepare_assignments(frame: pd.DataFrame) -> pd.DataFrame | None:
    return None if frame.empty else frame.drop_duplicates("firm_id").reset_index(drop=True)


def _in_force(store: Store, name: str, as_of: dt.date
              ) -> tuple[object | None, registry.ModelRecord | None]:
    """The model ``name`` in force on ``as_of`` and its record (None, None without one)."""
    if not registry.has(store, name, as_of=as_of):
        return None, None
    return registry.load(store, name, as_of=as_of)


class _Records:
    """Registry records of the models in force on given dates (:func:`registry.record`:
    the PD models' records are all the review needs of them, so no model is loaded)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, name: str, as_of: dt.date) -> registry.ModelRecord | None:
        return registry.record(self._store, name, as_of=as_of)


def _by_firm(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.Series(frame[column].to_numpy(), index=pd.Index(frame["firm_id"]), name=column)


def _with_section(scores: pd.DataFrame, profile: pd.DataFrame | None) -> pd.DataFrame:
    """Scores with the firm's industry section and division of the same date."""
    out = scores
    for column in (SECTION, DIVISION):
        values = (_by_firm(profile, column) if profile is not None and column in profile.columns
                  else pd.Series(dtype=object))
        out = out.assign(**{column: values.reindex(scores["firm_id"].astype(str)).to_numpy()})
    return out


# -- the stage ---------------------------------------------------------------------------


def _last_confirmed(store: Store, as_of: dt.date, version: int) -> dt.date | None:
    """The latest earlier review on which the annual review confirmed persona model ``version``."""
    if not results.has_table(store, REVIEW_TRIGGERS):
        return None
    t = store.table(REVIEW_TRIGGERS)
    hit = t.filter((t.trigger == "persona_annual_review") & t.evaluated & ~t.fired
                   & (t.model_version == version) & (t.as_of < _day(as_of))).as_of.max()
    value = hit.execute()
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def zh_en(zh: str, en: str) -> str:
    """A note of the review in both languages.

    Examples
    --------
    >>> zh_en("首个季度。", "First quarter.")
    '首个季度。 / First quarter.'
    """
    return f"{zh} / {en}"


@dataclass
class ModelsInForce:
    """The models in force on the review date, their versions and fit dates."""

    registered: _Records
    persona: PersonaModel | None
    persona_record: registry.ModelRecord | None
    versions: dict[str, int]
    baselines: dict[str, dt.date | None]


def models_in_force(store: Store, as_of: dt.date, previous: dt.date | None,
                    notes: list[str]) -> ModelsInForce:
    """The models in force on ``as_of`` (registry records, the persona model), with a note
    in ``notes`` for each model missing or without a fit date and for a PD model re-developed
    since ``previous``."""
    registered = _Records(store)
    persona_obj, persona_rec = _in_force(store, "personas", as_of)
    recs = {name: registered.get(name, as_of) for name in MODELS}
    recs["personas"] = persona_rec
    baselines: dict[str, dt.date | None] = {}
    for key, rec, what in (("pd", recs["pd_champion"], ("违约概率模型", "PD model")),
                           ("personas", persona_rec, ("客户性格模型", "persona model"))):
        baselines[key] = rec.as_of if rec is not None else None
        if rec is None:
            notes.append(zh_en(f"{as_of}没有生效的{what[0]}。",
                               f"No {what[1]} in force on {as_of}."))
        elif rec.as_of is None:
            notes.append(zh_en(f"{what[0]} v{rec.version} 未记录拟合日期，无法与基准比较。",
                               f"The {what[1]} v{rec.version} has no fit date in the registry; "
                               "no baseline comparison."))
    now = recs["pd_champion"]
    before = registered.get("pd_champion", previous) if previous is not None else None
    if now is not None and before is not None and before.version != now.version:
        notes.append(zh_en(
            f"违约概率模型在两期之间重新开发（v{before.version} → v{now.version}），"
            "评级迁移与PD环比PSI同时反映模型变化。",
            f"The PD model was re-developed between the quarters (v{before.version} → "
            f"v{now.version}): rating migration and the PD PSI quarter on quarter reflect the "
            "new model as well as the firms."))
    persona = persona_obj if isinstance(persona_obj, PersonaModel) else None
    return ModelsInForce(registered, persona, persona_rec,
                         {n: r.version for n, r in recs.items() if r is not None}, baselines)


@dataclass(frozen=True)
class Watched:
    """The variables the review watches, by source and by the model that reads them."""

    scores: list[Variable]        # columns of pd_scores
    dimensions: list[Variable]    # the five dimension scores of the profile
    features: list[Variable]      # numeric features of the PD model and the segmenter
    categories: list[Variable]    # the segmenter's categorical features
    segmenter: list[str]          # every feature of the segmenter (numeric and categorical)

    @property
    def profile(self) -> list[Variable]:
        return [*self.dimensions, *self.features, *self.categories]

    @property
    def columns(self) -> list[str]:
        """Profile columns to read (with the sources of the derived features)."""
        return ["firm_id", SECTION, "industry_code", "revenue", "total_assets", "employees",
                *(v.name for v in self.profile), *self.segmenter]


def watched_variables(model: PersonaModel | None) -> Watched:
    """The variables the review watches: the PD scores, the profile's dimension scores, the
    PD features and the segmenter's features of ``model`` (of the persona policy without
    one)."""
    if model is not None:
        numeric, categorical = list(model.segmenter.features_), list(model.segmenter.categories_)
    else:
        policy = load_policy().segmentation
        numeric, categorical = list(policy.features), list(policy.categories)
    names = list(dict.fromkeys([*FEATURES, *(f for f in numeric if f not in SCORE_COLUMNS)]))
    features = [Variable(f, "feature", "pd+personas" if f in FEATURES and f in numeric
                         else "pd" if f in FEATURES else "personas") for f in names]
    return Watched(
        scores=[Variable("pd", "score", "pd"), Variable("pd_challenger", "score", "pd"),
                Variable("grade", "score", "pd", categorical=True)],
        dimensions=[Variable(c, "score", "personas") for c in SCORE_COLUMNS],
        features=features,
        categories=[Variable(c, "feature", "personas", categorical=True) for c in categorical],
        segmenter=[*numeric, *categorical])


class Quarters:
    """Profiles, PD scores and persona assignments of the dates the review reads, read once."""

    def __init__(self, store: Store, columns: list[str]) -> None:
        self._store, self._columns = store, columns
        self._profiles: dict[dt.date, pd.DataFrame | None] = {}
        self._scores: dict[dt.date, pd.DataFrame | None] = {}
        self._personas: dict[dt.date, pd.DataFrame | None] = {}

    def profile(self, day: dt.date | None) -> pd.DataFrame | None:
        if day is None:
            return None
        if day not in self._profiles:
            self._profiles[day] = _profile(self._store, day, self._columns)
        return self._profiles[day]

    def scores(self, day: dt.date | None) -> pd.DataFrame | None:
        """PD scores with the firm's industry section of the same date."""
        if day is None:
            return None
        if day not in self._scores:
            raw = _scores(self._store, day)
            self._scores[day] = None if raw is None else _with_section(raw, self.profile(day))
        return self._scores[day]

    def personas(self, day: dt.date | None) -> pd.DataFrame | None:
        if day is None:
            return None
        if day not in self._personas:
            self._personas[day] = _assignments(self._store, day)
        return self._personas[day]

    def hand_over(self, day: dt.date, frames: ReviewFrames) -> None:
        """Use the cycle's frames of ``day`` instead of reading them from the store."""
        self._profiles[day] = _prepare_profile(frames.profile, self._columns)
        scores = _prepare_scores(frames.scores)
        self._scores[day] = None if scores is None else _with_section(scores,
                                                                      self._profiles[day])
        self._personas[day] = _prepare_assignments(frames.personas)


@dataclass(frozen=True)
class ReviewFrames:
    """The cycle's frames of the review date, handed to the review instead of re-read.

    Attributes
    ----------
    profile : pandas.DataFrame
        The profile as stored (:func:`creditpersona.store.results.as_stored`).
    scores : pandas.DataFrame
        ``firm_id``, ``pd``, ``grade`` and, when computed, ``pd_challenger``, ``grade_pit``.
    personas : pandas.DataFrame
        ``firm_id``, ``persona_id``, ``model_version``.
    """

    profile: pd.DataFrame
    scores: pd.DataFrame
    personas: pd.DataFrame


@dataclass
class ReviewInputs:
    """What the review analyses: the dates compared, the models in force, the quarters."""

    as_of: dt.date
    config: ReviewConfig
    scale: MasterScale
    previous: dt.date | None
    score_dates: set[dt.date]
    models: ModelsInForce
    watched: Watched
    quarters: Quarters
    #: The full profile of ``as_of`` when the cycle handed it over (else read when needed).
    profile: pd.DataFrame | None
    notes: list[str]
    #: Rating overrides of the quarter counted by direction, persona and grade
    #: (:func:`override_counts`; empty without an operational store).
    overrides: pd.DataFrame


def review_inputs(store: Store, as_of: dt.date, cfg: ReviewConfig,
                  current: ReviewFrames | None = None) -> ReviewInputs:
    """The inputs of the review of ``as_of``: the cycle's frames of the date when given,
    the store for earlier dates and the models in force.

    Raises
    ------
    InsufficientDataError
        If the profile, PD scores or personas of ``as_of`` are neither given nor stored.
    """
    notes: list[str] = []
    score_dates, persona_dates = _dates_of(store, PD_SCORES), _dates_of(store, PERSONAS)
    if current is not None:
        score_dates.add(as_of)
        persona_dates.add(as_of)
    profiled = current is not None or as_of in _dates_of(store, PROFILES)
    previous = previous_quarter(as_of, cfg, score_dates, persona_dates, profiled, notes,
                                holder="the store", command=f"creditpersona run --as-of {as_of}")
    models = models_in_force(store, as_of, previous, notes)
    watched = watched_variables(models.persona)
    quarters = Quarters(store, watched.columns)
    if current is not None:
        quarters.hand_over(as_of, current)
    scale = load_master_scale()
    overrides = override_counts(
        read_overrides(store, previous, as_of), quarters.scores(previous),
        quarters.personas(previous), scale.names)
    return ReviewInputs(as_of, cfg, scale, previous, score_dates, models,
                        watched, quarters, None if current is None else current.profile,
                        notes, overrides)


# -- rating overrides (the service's operational store) ----------------------------------

OVERRIDE_COLUMNS = ("by", "segment", "firms", "overrides", "share", "up", "down")


def read_overrides(store: Store, since: dt.date | None, until: dt.date) -> pd.DataFrame:
    """Credit officers' rating overrides of the quarters from ``since`` up to ``until``.

    The service keeps them beside the model grade in the operational store
    (``<store>.ops.sqlite``, table ``rating_overrides``), each against the grade of the quarter
    it was serving (``as_of``). The review of ``until`` counts those against grades of the
    previous review date ``since`` or later and before ``until`` — the quarter just
    worked — so each override is counted by one review. The latest override of a firm and
    quarter is the one in force. Read only; no operational store, no overrides.
    """
    empty = pd.DataFrame(columns=["firm_id", "as_of", "model_grade", "grade"])
    if str(store.path) == ":memory:":
        return empty
    with read_only(ops_path(store.path)) as con:
        if con is None or con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                      "name = 'rating_overrides'").fetchone() is None:
            return empty
        rows = con.execute(
            "SELECT firm_id, as_of, model_grade, grade FROM rating_overrides o WHERE as_of < ? "
            "AND as_of >= ? AND override_id = (SELECT max(override_id) FROM rating_overrides "
            "WHERE firm_id = o.firm_id AND as_of = o.as_of) ORDER BY as_of, firm_id",
            (until.isoformat(), (since or dt.date.min).isoformat())).fetchall()
    return pd.DataFrame(rows, columns=list(empty.columns))


def override_counts(overrides: pd.DataFrame, scores: pd.DataFrame | None,
                    personas: pd.DataFrame | None, grades: list[str]) -> pd.DataFrame:
    """Overrides counted for the whole book (``by`` = ``all``), per persona and per model grade.

    ``firms`` are the firms graded in the quarter overridden (``scores``, the previous
    quarter's PD scores), ``share`` = overrides / firms, ``up`` the overrides to a better
    grade than the model's, ``down`` to a worse one (master-scale order, best first).

    Examples
    --------
    >>> o = pd.DataFrame({"firm_id": ["A", "B"], "as_of": ["2026-03-31"] * 2,
    ...                   "model_grade": ["5", "3"], "grade": ["4", "6"]})
    >>> s = pd.DataFrame({"firm_id": ["A", "B", "C", "D"], "grade": ["5", "3", "5", "7"]})
    >>> counts = override_counts(o, s, None, ["3", "4", "5", "6", "7", "D"])
    >>> counts[["by", "segment", "firms", "overrides", "up", "down"]].values.tolist()
    [['all', 'all', 4, 2, 1, 1], ['grade', '3', 1, 1, 0, 1], ['grade', '5', 2, 1, 1, 0]]
    """
    if overrides.empty:
        return pd.DataFrame(columns=list(OVERRIDE_COLUMNS))
    rank = {g: i for i, g in enumerate(grades)}
    o = overrides.assign(
        up=[rank.get(str(g), 0) < rank.get(str(m), 0) for g, m in
            zip(overrides["grade"], overrides["model_grade"], strict=True)],
        down=[rank.get(str(g), 0) > rank.get(str(m), 0) for g, m in
              zip(overrides["grade"], overrides["model_grade"], strict=True)])
    book = scores[["firm_id", "grade"]] if scores is not None else pd.DataFrame(
        {"firm_id": o["firm_id"].unique(), "grade": None})
    if personas is not None:
        book = book.merge(personas[["firm_id", "persona_id"]], on="firm_id", how="left")
        o = o.merge(personas[["firm_id", "persona_id"]], on="firm_id", how="left")
    parts = []
    for by, o_col, b_col in (("all", None, None), ("persona", "persona_id", "persona_id"),
                             ("grade", "model_grade", "grade")):
        if o_col is not None and (o_col not in o.columns or b_col not in book.columns):
            continue
        keys_o = o[o_col].astype(str) if o_col else pd.Series("all", index=o.index)
        keys_b = book[b_col].astype(str) if b_col else pd.Series("all", index=book.index)
        counted = o.groupby(keys_o.to_numpy()).agg(
            overrides=("firm_id", "size"), up=("up", "sum"), down=("down", "sum"))
        firms = keys_b.value_counts()
        counted["firms"] = [int(firms.get(k, 0)) for k in counted.index]
        counted = counted.rename_axis("segment").reset_index().assign(by=by)
        if by == "grade":
            counted = counted.sort_values("segment", key=lambda g: g.map(rank))
        parts.append(counted)
    out = pd.concat(parts, ignore_index=True)
    out["share"] = out["overrides"] / out["firms"].where(out["firms"] > 0)
    for c in ("firms", "overrides", "up", "down"):
        out[c] = out[c].astype(int)
    return out[list(OVERRIDE_COLUMNS)]


def previous_quarter(as_of: dt.date, cfg: ReviewConfig, score_dates: set[dt.date],
                     persona_dates: set[dt.date], profiled: bool, notes: list[str], *,
                     holder: str, command: str) -> dt.date | None:
    """The review's previous date: the latest earlier date with PD scores and personas.

    Notes a first quarter or a gap that is not one quarter (``notes``, appended).

    Raises
    ------
    InsufficientDataError
        If ``as_of`` has no profile, PD scores or personas in ``holder`` (the message says
        to run ``command`` first).
    """
    missing = [n for n, ok in (("profile", profiled), ("PD scores", as_of in score_dates),
                               ("personas", as_of in persona_dates)) if not ok]
    if missing:
        raise InsufficientDataError(
            f"review of {as_of}: {holder} holds no {', '.join(missing)} for this date; run "
            f"`{command}` first.")
    earlier = [d for d in score_dates & persona_dates if d < as_of]
    previous = max(earlier) if earlier else None
    if previous is None:
        notes.append(zh_en("首个季度：库中没有更早的评分与客户性格分类，跳过环比比较。",
                           "First quarter: no earlier PD scores and personas in the store; "
                           "the quarter-on-quarter comparisons are skipped."))
    elif not cfg.quarter.min_gap_days <= (as_of - previous).days <= cfg.quarter.max_gap_days:
        gap = (as_of - previous).days
        notes.append(zh_en(f"上期为{previous}，相隔{gap}天，并非一个季度。",
                           f"The previous review date {previous} is {gap} days earlier, not "
                           "one quarter."))
    return previous
