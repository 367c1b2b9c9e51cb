"""Keep association rules in the store, one set per as-of date, and the pipeline stage.

Rules live in the store's ``association_rules`` table: mining a date again replaces that
date's rows, other dates stay (as profiles do).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import ibis
import pandas as pd
import pyarrow as pa

from creditpersona.errors import StoreError
from creditpersona.rules.items import ItemVocabulary, behaviour_items, load_items
from creditpersona.rules.mining import RULE_COLUMNS, RuleSet, mine_rules
from creditpersona.store.store import Store

__all__ = ["RULES_TABLE", "load_rules", "rules_stage", "save_rules"]

RULES_TABLE = "association_rules"
_SCHEMA = pa.schema([
    ("scope", pa.string()), ("antecedents", pa.list_(pa.string())),
    ("consequents", pa.list_(pa.string())), ("antecedent_support", pa.float64()),
    ("consequent_support", pa.float64()), ("support", pa.float64()),
    ("confidence", pa.float64()), ("lift", pa.float64()), ("conviction", pa.float64()),
    ("firms", pa.int64()), ("count", pa.int64()), ("sentence_zh", pa.string()),
    ("sentence_en", pa.string()), ("as_of", pa.date32()), ("run_id", pa.string()),
    ("params", pa.string()),
])


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
        consequents=ruleset.rules["consequents"].map(list),
        as_of=date, run_id=run_id, params=json.dumps(ruleset.params, sort_keys=True))
    data = pa.Table.from_pandas(frame, schema=_SCHEMA, preserve_index=False)
    if RULES_TABLE not in store.con.list_tables():
        store.con.create_table(RULES_TABLE, data.slice(0, 0))
    stored = list(store.table(RULES_TABLE).columns)
    if stored != data.column_names:
        raise StoreError(
            f"{store.path}: table {RULES_TABLE} holds rules with other columns (another "
            f"version); export it and drop it (DROP TABLE {RULES_TABLE}) before mining again.")
    store.con.raw_sql(f"DELETE FROM {RULES_TABLE} WHERE as_of = DATE '{date.isoformat()}'")
    store.con.insert(RULES_TABLE, data)
    return run_id


def load_rules(store: Store, as_of: dt.date | None = None) -> RuleSet:
    """The rules stored for an as-of date (default: the latest); empty if there are none."""
    empty = RuleSet(pd.DataFrame(columns=list(RULE_COLUMNS)), as_of=as_of)
    if RULES_TABLE not in store.con.list_tables():
        return empty
    t = store.table(RULES_TABLE)
    date = as_of or t.as_of.max().execute()
    if date is None or pd.isna(date):
        return empty
    date = pd.Timestamp(date).date()
    frame = t.filter(t.as_of == ibis.literal(date, type="date")).to_pandas()
    if frame.empty:
        return empty
    params = json.loads(frame["params"].iloc[0])
    frame["antecedents"] = [tuple(a) for a in frame["antecedents"]]
    frame["consequents"] = [tuple(c) for c in frame["consequents"]]
    frame = frame.sort_values(["lift", "support"], ascending=False, kind="stable")
    portfolio_first = frame["scope"].ne("portfolio").to_numpy().argsort(kind="stable")
    frame = frame.iloc[portfolio_first].reset_index(drop=True)
    return RuleSet(frame[list(RULE_COLUMNS)], params, as_of=date)


def rules_stage(
    store: Store,
    as_of: dt.date,
    profile: pd.DataFrame | None,
    personas: pd.Series | None = None,
    *,
    vocabulary: ItemVocabulary | None = None,
    min_support: float | None = None,
    min_confidence: float | None = None,
    min_lift: float | None = None,
    max_len: int | None = None,
) -> RuleSet:
    """The pipeline stage: behaviour items, rules (portfolio and per persona), stored.

    Parameters
    ----------
    store : Store
        Opened for writing; the rules replace those stored for ``as_of``.
    as_of : datetime.date
    profile : pandas.DataFrame or None
        The profile as of ``as_of`` (None: the stored one).
    personas : pandas.Series, optional
        Persona name per firm; adds persona items and one scope per persona.
    vocabulary : ItemVocabulary, optional
        Default: the packaged ``items.yaml``, whose ``mining`` section also gives the
        thresholds not passed here.
    min_support, min_confidence, min_lift, max_len : optional
        Mining thresholds.

    Returns
    -------
    RuleSet
    """
    vocab = vocabulary or load_items()
    basket = behaviour_items(store, as_of, profile, personas, vocabulary=vocab)
    ruleset = mine_rules(basket, min_support, min_confidence, min_lift, max_len,
                         by=personas, vocabulary=vocab, as_of=as_of)
    save_rules(store, ruleset, as_of)
    return ruleset
