"""Campaign snapshots' profiles, computed once (营销历史快照画像缓存).

The campaign history (:func:`~creditpersona.marketing.history.campaign_history`) joins every
campaign to the profile of its contacted firms as of the campaign's *snapshot* (the quarter
end before its first contact). Those profiles are point in time: once computed, they change
only when the profile's definition changes or when data dated on or before the snapshot
arrives. Profiling them again every quarter was the largest part of the marketing stage
(docs/marketing-speed.md), so :func:`snapshot_profiles` keeps them in the result table
``history_profiles`` (declared in :mod:`creditpersona.store.results`, keyed by the snapshot
as ``as_of`` and ``firm_id``) and reads them back while they are valid.

A snapshot's stored rows are valid when

1. their ``definition`` equals :func:`definition_digest` — the package version and the
   bytes of every file of the packages a profile is computed by (``profile``, ``text`` with
   its model, ``contract``, ``domain``), so a changed feature, configuration or text model
   recomputes; and
2. the store's inputs still say what they said: the loads up to ``loads_through`` have the
   digest ``loads_sha256`` (none removed or replaced), and every load since holds no row a
   profile as of the snapshot reads — campaign contacts (not a profile input) and rows
   dated after the snapshot (:data:`PIT_DATES`) leave it valid; a load of ``firms`` (names
   are read for the named-firm attribution of every document) or of a table without a date
   invalidates it.

An invalid snapshot is computed again for all its firms; firms missing from a valid one are
computed and added. Either way the rows are read back from the store, so a quarter that
computes a snapshot and one that reads it use the same rows (``tests/test_marketing.py``
checks that the history equals the one computed without the table). A store opened
read-only is never written: its snapshots are computed every time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona import __version__
from creditpersona.store import results
from creditpersona.store.store import LOAD_LOG, Store

HISTORY_PROFILES = results.HISTORY_PROFILES
#: The packages whose files define a profile (their bytes are digested).
DEFINITION_PACKAGES = ("profile", "text", "contract", "domain")
#: Per input table, the column that dates a row for a profile as of a day (a profile as of
#: ``D`` reads only rows dated on or before ``D``); ``None``: not a profile input.
PIT_DATES: dict[str, str | None] = {
    "financial_statements": "published_on", "bureau_reports": "report_date",
    "transactions": "txn_date", "loans": "start_date", "repayments": "due_date",
    "documents": "doc_date", "campaign_contacts": None,
}
_META = ("definition", "loads_through", "loads_sha256")


def definition_digest() -> str:
    """SHA-256 of the package version and of every file of :data:`DEFINITION_PACKAGES`.

    Examples
    --------
    >>> len(definition_digest()), definition_digest() == definition_digest()
    (64, True)
    """
    digest = hashlib.sha256(__version__.encode())
    root = resources.files("creditpersona")

    def walk(node: Any, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            name = f"{prefix}{child.name}"
            if child.is_dir():
                if child.name != "__pycache__":
                    walk(child, f"{name}/")
            elif not child.name.endswith((".pyc", ".pyo")):
                digest.update(name.encode() + b"\0" + child.read_bytes() + b"\0")

    for package in DEFINITION_PACKAGES:
        walk(root / package, f"{package}/")
    return digest.hexdigest()


def _loads(store: Store) -> pd.DataFrame:
    """The completed loads: id, table, file digest and rows, in load order."""
    log = store.table(LOAD_LOG)
    if "status" in log.columns:
        log = log.filter(log.status == "loaded")
    keep = [c for c in ("load_id", "table_name", "sha256", "rows_loaded") if c in log.columns]
    return log.select(*keep).order_by("load_id").to_pandas()


def _loads_sha256(loads: pd.DataFrame, through: int) -> str:
    rows = loads[loads["load_id"] <= through]
    records = json.loads(rows.to_json(orient="records"))
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


def _later_loads_valid(store: Store, loads: pd.DataFrame, through: int,
                       day: dt.date) -> bool:
    """Whether every load after ``through`` leaves a profile as of ``day`` unchanged."""
    for load_id, name in loads.loc[loads["load_id"] > through,
                                   ["load_id", "table_name"]].itertuples(index=False):
        if name not in PIT_DATES:
            return False                        # firms, or a table without a date
        column = PIT_DATES[name]
        if column is None:
            continue
        t = store.table(str(name))
        early = t.filter((t.load_id == int(load_id))
                         & (t[column] <= results._day(day))).count().execute()
        if int(early):
            return False
    return True


def _valid_days(store: Store, definition: str, loads: pd.DataFrame) -> set[dt.date]:
    """The snapshots whose stored rows are valid (module docstring)."""
    if not results.has_table(store, HISTORY_PROFILES):
        return set()
    t = store.table(HISTORY_PROFILES)
    meta = t.select("as_of", *_META).distinct().to_pandas()
    out: set[dt.date] = set()
    for day, group in meta.groupby("as_of"):
        if len(group) != 1:
            continue                            # rows of two computations: recompute
        row = group.iloc[0]
        through = int(row["loads_through"])
        snap = pd.Timestamp(day).date()
        if (row["definition"] == definition
                and row["loads_sha256"] == _loads_sha256(loads, through)
                and _later_loads_valid(store, loads, through, snap)):
            out.add(snap)
    return out


def snapshot_profiles(store: Store, day: dt.date, firm_ids: npt.ArrayLike,
                      valid: set[dt.date] | None = None) -> pd.DataFrame:
    """The profiles of some firms as of a campaign snapshot, computed once.

    Parameters
    ----------
    store : Store
    day : datetime.date
        The snapshot.
    firm_ids : array-like of str
        The firms wanted (every contacted firm of the snapshot's campaigns, so that a later
        sample of them finds them stored).
    valid : set of datetime.date, optional
        The snapshots known valid (:func:`valid_snapshots`); default checked here.

    Returns
    -------
    pandas.DataFrame
        One row per firm of ``firm_ids`` founded by ``day``: the profile's columns
        (:func:`~creditpersona.marketing.history.profile_of_firms`), as stored. The
        bank's stored profile of ``day`` when it has one, and on a read-only store the
        profile computed, as before.
    """
    from creditpersona.marketing.history import profile_of_firms

    ids = pd.Index(pd.unique(np.asarray(firm_ids, dtype=object).astype(str)))
    if not results.should_save(store) or results.exists(store, results.PROFILES, day):
        return profile_of_firms(store, day, ids)   # the bank's own profile, or read-only
    loads = _loads(store)
    definition = definition_digest()
    ok = day in (valid if valid is not None else _valid_days(store, definition, loads))
    stored = (results.read(store, HISTORY_PROFILES, day) if ok
              else results.empty(HISTORY_PROFILES))
    missing = ids.difference(pd.Index(stored["firm_id"].astype(str)))
    parts = []
    if len(stored):
        mine = stored[stored["profiled"].astype(bool).to_numpy()
                      & stored["firm_id"].astype(str).isin(ids).to_numpy()]
        parts.append(_restore(mine.reset_index(drop=True),
                              json.loads(stored["columns"].iloc[0])))
    if len(missing) or not ok:
        computed = profile_of_firms(store, day, missing if ok else ids)
        _store_day(store, day, stored, computed, missing if ok else ids, definition, loads)
        parts.append(computed)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _kind(col: pd.Series) -> str:
    """A column's dtype, and for text objects whether a missing value is None or NaN."""
    if col.dtype != object:
        return str(col.dtype)
    missing = [v for v in col.tolist() if v is None or (isinstance(v, float) and v != v)]
    return "object:none" if missing and missing[0] is None else "object:nan"


def _restore(rows: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """The profile's columns, in its order and with its dtypes (the table declares every
    profile column, typed for the database: a flag of a left join is a nullable bool, an
    integer count a number)."""
    out = {}
    for name, kind in kinds.items():
        col = rows[name]
        if kind.startswith("object:"):
            col = col.astype(object)
            col = col.where(col.notna(), None if kind == "object:none" else np.nan)
        elif str(col.dtype) != kind:
            col = col.astype(kind)  # type: ignore[call-overload]  # a dtype as stored
        out[name] = col
    return pd.DataFrame(out, index=rows.index)


def _store_day(store: Store, day: dt.date, stored: pd.DataFrame, computed: pd.DataFrame,
               asked: pd.Index, definition: str, loads: pd.DataFrame) -> None:
    """Store a snapshot's rows: the valid ones kept, the computed added, and a row
    ``profiled = False`` for each firm asked that has no profile on the day (not founded
    yet), so that it is not asked again."""
    through = int(loads["load_id"].max()) if len(loads) else 0
    meta: dict[str, str | int] = {"definition": definition, "loads_through": through,
                                  "loads_sha256": _loads_sha256(loads, through)}
    if len(computed) or not len(stored):   # the profile's columns and dtypes, as computed
        meta["columns"] = json.dumps({str(c): _kind(computed[c]) for c in computed.columns})
    absent = asked.difference(pd.Index(computed["firm_id"].astype(str)))
    computed = pd.concat([computed.assign(profiled=True),
                          pd.DataFrame({"firm_id": absent.to_numpy(), "profiled": False})],
                         ignore_index=True)
    computed = computed.assign(run_id=uuid.uuid4().hex[:12], engine="duckdb", **meta)
    # the valid rows kept are valid now: the loads since were checked (_later_loads_valid)
    keep = stored.drop(columns=["as_of"]).assign(**meta)
    frame = pd.concat([keep, computed], ignore_index=True) if len(keep) else computed
    results.replace_date(store, HISTORY_PROFILES, day, frame)


def valid_snapshots(store: Store) -> set[dt.date]:
    """The snapshots whose stored profiles are valid now (empty on a read-only store)."""
    if not results.should_save(store):
        return set()
    return _valid_days(store, definition_digest(), _loads(store))
