"""Personas in the store: assignments per as-of date, the model in the registry, the stage.

Assignments live in the store table ``personas`` (one row per firm and as-of date; assigning
a date again replaces that date's rows). The fitted :class:`PersonaModel` is registered as
model ``personas`` in :mod:`creditpersona.models.registry`, so a later quarter is assigned
with the model in force, and a re-fit keeps the persona ids (identity matching).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from creditpersona import artefacts
from creditpersona.errors import SchemaError, StoreError
from creditpersona.models import registry
from creditpersona.personas.describe import PersonaCards, describe_personas
from creditpersona.personas.evaluation import PersonaEvaluation, evaluate_personas
from creditpersona.personas.identity import IdentityMatch
from creditpersona.personas.policy import PersonaModel, PersonaPolicy, fit_personas, load_policy
from creditpersona.store import results
from creditpersona.store.store import Store

PERSONAS = results.PERSONAS
MODEL_NAME = "personas"
#: Loan prime rates by tenor (PBoC LPR, 1Y 3.00 %, 5Y 3.50 %) for the interest income of a
#: loan priced at LPR + spread; pass the rates in force to ``persona_stage``.
DEFAULT_LPR = {"1Y": 0.030, "5Y": 0.035}
#: Loss given default used for expected loss when nothing better is known (Basel foundation
#: IRB, senior unsecured claims on corporates).
DEFAULT_LGD = 0.45
_COLUMNS = results.TABLES[PERSONAS].columns


@artefacts.trusted("persona_result")
@dataclass(frozen=True)
class PersonaResult:
    """One run of the persona stage.

    Attributes
    ----------
    as_of : datetime.date
    assignment : pandas.DataFrame
        One row per firm: ``firm_id``, ``persona_id``, ``persona_name_zh``,
        ``persona_name_en``, ``source``,
        ``cluster``, ``confidence``.
    cards : PersonaCards
    evaluation : PersonaEvaluation
    model : PersonaModel
    model_version : int
        Version of model ``personas`` in the registry that made the assignment.
    fitted : bool
        True if the model was fitted for this as-of date (by this run, or by an earlier run
        of the same date), False if it was fitted for an earlier date.
    identity : IdentityMatch or None
        How a re-fit's personas match the previous model's (None otherwise).
    """

    as_of: dt.date
    assignment: pd.DataFrame
    cards: PersonaCards
    evaluation: PersonaEvaluation
    model: PersonaModel
    model_version: int
    fitted: bool
    identity: IdentityMatch | None


def save_assignments(store: Store, as_of: dt.date, assignment: pd.DataFrame,
                     model_version: int, run_id: str | None = None) -> None:
    """Store an assignment, replacing any earlier rows with the same as-of date."""
    frame = assignment.assign(as_of=as_of, model_version=int(model_version),
                              run_id=run_id or uuid.uuid4().hex[:12])[_COLUMNS]
    results.replace_date(store, PERSONAS, as_of, frame)


def load_assignments(store: Store, as_of: dt.date | None = None, *,
                     before: bool = False) -> pd.DataFrame:
    """The stored assignment of an as-of date (default: the latest).

    With ``before=True``, the latest assignment strictly before ``as_of`` (for
    quarter-to-quarter comparison). Empty if there is none.
    """
    if before and as_of is not None:
        date = results.latest(store, PERSONAS, before=as_of)
        if date is None:
            return results.empty(PERSONAS)
        return results.read(store, PERSONAS, date)
    return results.read(store, PERSONAS, as_of)


def register_model(store: Store, model: PersonaModel, training: pd.DataFrame,
                   metrics: dict[str, float], as_of: dt.date | None = None
                   ) -> registry.ModelRecord:
    """Register a fitted persona model as the version of ``personas`` fitted for ``as_of``."""
    features = list(model.segmenter.features_) + list(model.segmenter.categories_)
    present = [c for c in features if c in training.columns]
    return registry.register(
        store, model, name=MODEL_NAME, kind="persona_segmenter", training=training[present],
        features=features, params=model.policy.segmentation.model_dump(),
        metrics={"n_personas": model.segmenter.n_personas_, **metrics}, as_of=as_of)


def load_model(store: Store, version: int | None = None, *,
               as_of: dt.date | None = None) -> tuple[PersonaModel, int]:
    """The registered persona model and its version.

    The latest unless ``version`` is given; with ``as_of``, the model in force on that
    date (fitted for it or for an earlier one).

    Raises
    ------
    StoreError
        If none is registered (run ``creditpersona personas fit`` first).
    """
    model, record = _load(store, version, as_of)
    return model, record.version


def _load(store: Store, version: int | None = None,
          as_of: dt.date | None = None) -> tuple[PersonaModel, registry.ModelRecord]:
    try:
        model, record = registry.load(store, MODEL_NAME, version, as_of=as_of)
    except StoreError as exc:
        raise StoreError(f"{exc} Fit the personas first: creditpersona personas fit.") from None
    if not isinstance(model, PersonaModel):
        raise StoreError(f"{store.path}: registry entry {MODEL_NAME!r} v{record.version} is not "
                         "a persona model.")
    return model, record


def has_model(store: Store, as_of: dt.date | None = None) -> bool:
    """Whether a persona model is registered (in force on ``as_of`` when given)."""
    return registry.has(store, MODEL_NAME, as_of=as_of)


def _loan_inputs(store: Store, as_of: dt.date, firms: pd.Series,
                 lpr: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Products held (one boolean column per product) and loan value per firm on ``as_of``.

    Value: ``exposure`` (principal of loans running on ``as_of``) and ``revenue``, their
    annual interest income at LPR + spread on the principal.
    """
    index = pd.Index(firms.astype(str).to_numpy(), name="firm_id")
    if not results.has_table(store, "loans"):
        return pd.DataFrame(index=index), pd.DataFrame(index=index)
    loans = store.table("loans")
    day = ibis.literal(as_of, type="date")
    active = loans.filter((loans.start_date <= day) & (loans.maturity_date > day))
    rate = active.lpr_tenor.cases(*[(k, v) for k, v in lpr.items()], else_=max(lpr.values()))
    held = active.group_by(["firm_id", "product"]).agg(
        amount=active.amount.sum(),
        income=(active.amount * (rate + active.spread_bp / 10_000)).sum()).to_pandas()
    holdings = (held.pivot_table(index="firm_id", columns="product", values="amount",
                                 aggfunc="size").notna()
                .reindex(index, fill_value=False).astype(bool)) if len(held) else \
        pd.DataFrame(index=index)
    per_firm = held.groupby("firm_id")[["amount", "income"]].sum()
    value = pd.DataFrame({"exposure": per_firm["amount"], "revenue": per_firm["income"]})
    return holdings.reindex(index, fill_value=False), value.reindex(index).fillna(0.0)


def _contacts(store: Store, as_of: dt.date) -> pd.DataFrame | None:
    if not results.has_table(store, "campaign_contacts"):
        return None
    c = store.table("campaign_contacts")
    c = c.filter(c.contact_date <= ibis.literal(as_of, type="date"))
    return c.select("firm_id", "treated", "responded").to_pandas()


def _model(store: Store, as_of: dt.date, frame: pd.DataFrame,
           policy: PersonaPolicy | str | Path | None, refit: bool | None,
           in_force: tuple[PersonaModel, registry.ModelRecord] | None
           ) -> tuple[PersonaModel, bool, IdentityMatch | None]:
    """The persona model of the stage, whether it was fitted for ``as_of``, and the identity
    match of a re-fit.

    Raises
    ------
    StoreError
        If ``refit`` is False and no model is in force.
    """
    chosen = policy if isinstance(policy, PersonaPolicy) else (
        load_policy(policy) if policy is not None else None)
    fit = refit if refit is not None else in_force is None
    if fit:
        # A re-fit keeps the ids of the model in force before this date (a model fitted
        # for this very date earlier is the one being replaced).
        day_before = as_of - dt.timedelta(days=1)
        before = _load(store, as_of=day_before)[0] if has_model(store, day_before) else None
        model, identity = fit_personas(frame, chosen or load_policy(), before)
        return model, True, identity
    if in_force is None:
        raise StoreError(f"{store.path}: no persona model in force on {as_of}; fit first "
                         f"(creditpersona personas fit --as-of {as_of}).")
    model, record = in_force
    if chosen is not None:
        chosen.check_ids(model.persona_ids)
        model = PersonaModel(model.segmenter, model.cluster_ids, chosen, model.frozen,
                             model.cards, model.identity)
    # The model fitted for this very date: running the date again shows it as fitted.
    return model, record.as_of == as_of, model.identity


def _pd_by_row(pd_scores: pd.DataFrame | None, frame: pd.DataFrame) -> pd.Series | None:
    """The 12-month PD of every profile row (None without scores).

    Raises
    ------
    SchemaError
        If ``pd_scores`` has no ``firm_id`` or no PD column.
    """
    if pd_scores is None:
        return None
    column = next((c for c in ("pd", "pd_12m", "pd_score") if c in pd_scores.columns), None)
    if column is None or "firm_id" not in pd_scores.columns:
        raise SchemaError("persona stage: pd_scores needs firm_id and a pd, pd_12m or "
                          f"pd_score column; it has {list(pd_scores.columns)}.")
    by_firm = pd_scores.drop_duplicates("firm_id").set_index("firm_id")[column]
    return pd.Series(by_firm.reindex(frame["firm_id"].astype(str)).to_numpy(),
                     index=frame.index, dtype="float64")


def persona_stage(
    store: Store,
    as_of: dt.date,
    profile: pd.DataFrame,
    pd_scores: pd.DataFrame | None = None,
    *,
    policy: PersonaPolicy | str | Path | None = None,
    refit: bool | None = None,
    lgd: float = DEFAULT_LGD,
    lpr: dict[str, float] | None = None,
) -> PersonaResult:
    """Fit (or assign with the registered model), describe, evaluate and save personas.

    Parameters
    ----------
    store : Store
        The assignment is stored when it is open for writing
        (:func:`creditpersona.store.results.should_save`).
    as_of : datetime.date
        The profile date.
    profile : pandas.DataFrame
        The profile of ``as_of`` (``load_profile``), one row per firm with ``firm_id``.
    pd_scores : pandas.DataFrame, optional
        ``firm_id`` and a 12-month PD column (``pd``, ``pd_12m`` or ``pd_score``): mean PD
        by persona and expected loss.
    policy : PersonaPolicy or path, optional
        Default: the registered model's policy when assigning, else the packaged policy.
    refit : bool, optional
        Fit even if a model is in force (True: a re-fit, registered for ``as_of`` with the
        previous model's persona ids kept by identity matching), never fit (False: fails
        without a model in force), or fit only when none is in force on ``as_of`` (None,
        the default). Assigning a date again with the model fitted for it gives the same
        result as the run that fitted it.
    lgd : float
        Loss given default for the expected loss.
    lpr : dict, optional
        LPR by tenor for the interest income (default :data:`DEFAULT_LPR`).

    Returns
    -------
    PersonaResult

    Raises
    ------
    SchemaError
        If the profile is empty or has no ``firm_id``.
    StoreError
        If ``refit`` is False and no model is registered.
    ConfigurationError
        If the policy is invalid.
    """
    if profile.empty or "firm_id" not in profile.columns:
        raise SchemaError(f"persona stage: no profile for {as_of}; run `creditpersona profile "
                          f"--as-of {as_of}` first.")
    frame = profile.reset_index(drop=True)
    in_force = _load(store, as_of=as_of) if has_model(store, as_of) else None
    model, fit, identity = _model(store, as_of, frame, policy, refit, in_force)
    assignment = model.assign(frame)
    pd_series = _pd_by_row(pd_scores, frame)
    holdings, value = _loan_inputs(store, as_of, frame["firm_id"], lpr or DEFAULT_LPR)
    holdings.index, value.index = frame.index, frame.index
    cards = describe_personas(frame, assignment, model, pd_scores=pd_series,
                              holdings=holdings if len(holdings.columns) else None)
    _keep_frozen_cards(model, cards)
    if pd_series is not None:
        value = value.assign(pd=pd_series, lgd=lgd)
    evaluation = evaluate_personas(frame, assignment, model, surrogate=cards.surrogate,
                                   contacts=_contacts(store, as_of), value=value,
                                   previous=_previous(store, as_of))
    if in_force is None or refit:
        version = register_model(store, model, frame, evaluation.summary(), as_of).version
    else:
        version = in_force[1].version
    out = _named(frame, assignment, cards)
    if results.should_save(store):
        save_assignments(store, as_of, out, version)
    return PersonaResult(as_of, out, cards, evaluation, model, version, fit, identity)


def _keep_frozen_cards(model: PersonaModel, cards: PersonaCards) -> None:
    """A frozen persona keeps the card it had when it was frozen (kept in the model)."""
    for pid in model.frozen:
        if pid not in model.cards and pid in cards.cards.index:
            card = cards.cards.loc[pid]
            model.cards[pid] = {k: str(card[k]) for k in ("name_zh", "name_en",
                                                          "description_zh", "description_en")}


def _previous(store: Store, as_of: dt.date) -> pd.Series | None:
    """Persona by firm of the latest stored date before ``as_of`` (None if there is none)."""
    rows = load_assignments(store, as_of, before=True)
    return None if rows.empty else pd.Series(rows["persona_id"].astype(str).to_numpy(),
                                             index=rows["firm_id"].astype(str).to_numpy())


def _named(frame: pd.DataFrame, assignment: pd.DataFrame, cards: PersonaCards) -> pd.DataFrame:
    """One row per firm: its persona id, the persona's names (zh, en) and the assignment."""
    names = cards.cards[["name_zh", "name_en"]]
    out = pd.DataFrame({"firm_id": frame["firm_id"].astype(str).to_numpy()}, index=frame.index)
    out = out.join(assignment)
    out["persona_name_zh"] = names["name_zh"].reindex(out["persona_id"]).to_numpy()
    out["persona_name_en"] = names["name_en"].reindex(out["persona_id"]).to_numpy()
    return out[["firm_id", "persona_id", "persona_name_zh", "persona_name_en", "source",
                "cluster", "confidence"]].reset_index(drop=True)


def persona_counts(result: PersonaResult) -> pd.DataFrame:
    """Firms per persona with names, largest first (for the command line)."""
    c = result.cards.cards
    return c[["name_zh", "name_en", "source", "firms", "share"]].sort_values(
        "firms", ascending=False).assign(share=lambda d: np.round(d["share"], 4))
