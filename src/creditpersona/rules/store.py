"""Keep association rules in the store, one set per as-of date, and the pipeline stage.

Rules live in the store's ``association_rules`` table, one row per rule of the answer (the
columns of :data:`~creditpersona.rules.mining.RULE_COLUMNS`, then ``as_of``, ``run_id``,
``params`` — settings, hypotheses tested and shuffle control as JSON — and ``scopes``, the
per-scope counts as JSON). Mining a date again replaces that date's rows, other dates stay
(as profiles do).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING

import pandas as pd

from creditpersona.errors import StoreError
from creditpersona.rules.items import ITEM_TABLES, ItemVocabulary, load_items, stored_profile
from creditpersona.rules.kernels import (
    apply_rules,
    combine_rules,
    fit_rules,
    mine_sample,
    partial_rules,
)
from creditpersona.rules.mining import RULE_COLUMNS, RuleSet
from creditpersona.store import results
from creditpersona.store.store import Store

if TYPE_CHECKING:
    from creditpersona.store.parquet import ParquetResults

__all__ = ["RULES_TABLE", "load_rules", "rules_stage", "save_rules"]

RULES_TABLE = results.ASSOCIATION_RULES
def save_rules(store: Store, ruleset: RuleSet, as_of: dt.date | None = None) -> str:
    """Store a rule set, replacing the rules stored for the same as-of date.

    Parameters
    ----------
    store : Store
        A store opened for writing.
    ruleset : RuleSet
        The rules; its ``as_of`` is used unless ``as_of`` is given.
    as_of : datetime.date, optional

    Returns
    -------
    str
        The run id written with the rows.

    Raises
    ------
    StoreError
        If the rule set has no as-of date, or the stored table has other columns.
    """
    date = as_of or ruleset.as_of
    if date is None:
        raise StoreError("save_rules needs the as-of date of the rules; pass as_of.")
    run_id = uuid.uuid4().hex[:12]
    frame = ruleset.rules.assign(
        antecedents=ruleset.rules["antecedents"].map(list),
        as_of=date, run_id=run_id, params=json.dumps(ruleset.params, sort_keys=True),
        scopes=ruleset.scopes.to_json(orient="records"))
    results.replace_date(store, RULES_TABLE, date, frame)
    return run_id


def load_rules(store: Store | ParquetResults, as_of: dt.date | None = None) -> RuleSet:
    """The rules stored for an as-of date (default: the latest); empty if there are none.

    ``store`` may be the Parquet results of a Spark cycle
    (:class:`~creditpersona.store.parquet.ParquetResults`)."""
    frame = results.read(store, RULES_TABLE, as_of)
    if frame.empty:
        return RuleSet(pd.DataFrame(columns=list(RULE_COLUMNS)), as_of=as_of)
    date = pd.Timestamp(frame["as_of"].iloc[0]).date()
    params = json.loads(frame["params"].iloc[0])
    scopes = pd.DataFrame(json.loads(frame["scopes"].iloc[0]))
    frame["antecedents"] = [tuple(a) for a in frame["antecedents"]]
    # Back in the order mine_rules gives: question, scope (portfolio first), rank.
    questions = {q: k for k, q in enumerate(dict.fromkeys(scopes.get("question", [])))}
    scope_order = {s: k for k, s in enumerate(dict.fromkeys(scopes.get("scope", [])))}
    frame = frame.assign(_q=frame["question"].map(questions), _s=frame["scope"].map(
        scope_order)).sort_values(["_q", "_s", "rank"], kind="stable").reset_index(drop=True)
    return RuleSet(frame[list(RULE_COLUMNS)], params, scopes, as_of=date)


def rules_stage(
    store: Store,
    as_of: dt.date,
    profile: pd.DataFrame | None,
    personas: pd.Series | None = None,
    *,
    vocabulary: ItemVocabulary | None = None,
    min_support: float | None = None,
    max_len: int | None = None,
    alpha: float | None = None,
    control: bool = True,
) -> RuleSet:
    """The pipeline stage: behaviour items, tested rules per question and scope, stored.

    Parameters
    ----------
    store : Store
        The rules replace those stored for ``as_of`` when it is open for writing
        (:func:`creditpersona.store.results.should_save`).
    as_of : datetime.date
    profile : pandas.DataFrame or None
        The profile as of ``as_of`` (None: the stored one).
    personas : pandas.Series, optional
        Persona name per firm; adds persona items and one scope per persona.
    vocabulary : ItemVocabulary, optional
        Default: the packaged ``items.yaml``, whose ``mining`` section also gives the
        settings not passed here.
    min_support, max_len, alpha : optional
        Search and test settings (:func:`~creditpersona.rules.mining.mine_rules`).
    control : bool, default True
        Also run the shuffle control (repayment outcomes permuted across firms) and record
        it in ``params["shuffle_control"]``; it mines the shuffled basket once more.

    Returns
    -------
    RuleSet
    """
    if profile is None:
        profile = stored_profile(store, as_of)
    # The embedded engine is the kernels on every firm (rules/kernels.py).
    model = fit_rules(as_of, personas, vocabulary=vocabulary or load_items())
    basket = apply_rules(model, {t: store.table(t) for t in ITEM_TABLES}, profile, personas)
    sample = combine_rules(model, [partial_rules(model, basket, personas)])
    ruleset = mine_sample(model, sample, control=control, min_support=min_support,
                          max_len=max_len, alpha=alpha)
    if results.should_save(store):
        save_rules(store, ruleset, as_of)
    return ruleset

