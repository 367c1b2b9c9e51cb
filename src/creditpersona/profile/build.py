"""Build, store and read customer profiles (客户画像) for an as-of date.

A profile run computes one row per firm from every source the store holds, as it stood on the
as-of date: the features of :mod:`~creditpersona.profile.features` (on DuckDB or Spark), the
MIIT size class and GB/T 4754 section, the text signals of
:mod:`~creditpersona.profile.text`, and the five dimension scores of
:mod:`~creditpersona.profile.scoring`. Runs are kept in the store's ``profiles`` table, one set
of rows per as-of date: profiling a date again replaces that date's rows, other dates stay.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ibis
import pandas as pd

from creditpersona.contract.schema import TABLES
from creditpersona.domain import industry, size_class
from creditpersona.errors import parameter_error
from creditpersona.profile.features import Tables, profile_features
from creditpersona.profile.scoring import ScoringConfig, load_scoring, score_profiles
from creditpersona.profile.text import text_signals
from creditpersona.store import results
from creditpersona.store.store import Store

PROFILES = results.PROFILES
Engine = Literal["duckdb", "spark"]


@dataclass(frozen=True)
class ProfileRun:
    """One profile run: its id, as-of date, engine and the rows."""

    run_id: str
    as_of: dt.date
    engine: str
    frame: pd.DataFrame


@contextmanager
def spark_tables(store: Store) -> Iterator[Tables]:
    """The store's contract tables on a local PySpark session, through Ibis.

    The tables travel as Parquet files (DuckDB writes them, Spark reads them), the way a
    portfolio reaches a Spark cluster. Needs the ``spark`` extra and Java 17.
    """
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("creditpersona")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "8")
               .config("spark.ui.enabled", "false").getOrCreate())
    con = ibis.pyspark.connect(session)
    with tempfile.TemporaryDirectory(prefix="creditpersona-spark-") as tmp:
        tables: dict[str, ibis.Table] = {}
        for t in TABLES:
            path = Path(tmp) / f"{t.name}.parquet"
            store.con.raw_sql(f"COPY \"{t.name}\" TO '{path}' (FORMAT parquet)")
            tables[t.name] = con.read_parquet(str(path), table_name=t.name)
        yield tables


def build_profile(
    tables: Tables, as_of: dt.date, *, config: ScoringConfig | None = None,
    firm_names: dict[str, str] | None = None,
    scores: bool = True,
    text: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Profile every firm founded by ``as_of``, from the tables of one backend.

    Parameters
    ----------
    tables : mapping of str to ibis.Table
        The contract tables.
    as_of : datetime.date
        Nothing dated after it is read.
    config : ScoringConfig, optional
        The scoring construction; default the packaged one.
    firm_names : dict, optional
        Name by ``firm_id`` of every firm documents may name (default: the ``firms``
        table's); give it when ``tables`` hold only some firms (a profile of a subset).
    scores : bool, default True
        Add the dimension scores and their summaries; False returns the features only (the
        PD development sample reads nothing else, and the scores cost more than half of
        the profile's time).
    text : pandas.DataFrame, optional
        The firms' text signals on ``as_of`` computed elsewhere (``text_signals_at``, which
        reads the documents of several dates once); default: read the documents here.

    Returns
    -------
    pandas.DataFrame
        One row per firm, sorted by ``firm_id``.
    """
    features = profile_features(tables, as_of).to_pandas()
    if text is not None:
        return profile_rows(features, pd.DataFrame(), {}, as_of, config=config, scores=scores,
                            text=text)
    docs = tables["documents"]
    documents = docs.filter(docs.doc_date <= ibis.literal(as_of, type="date")).select(
        "doc_id", "firm_id", "doc_date", "source", "text"
    ).to_pandas()
    if firm_names is None:
        firms = tables["firms"].select("firm_id", "name").to_pandas()
        firm_names = dict(zip(firms["firm_id"].astype(str), firms["name"], strict=True))
    return profile_rows(features, documents, firm_names, as_of, config=config, scores=scores)


def profile_rows(features: pd.DataFrame, documents: pd.DataFrame, firm_names: Mapping[str, str],
                 as_of: dt.date, *, config: ScoringConfig | None = None,
                 jobs: int | None = None, scores: bool = True,
                 text: pd.DataFrame | None = None) -> pd.DataFrame:
    """The profile rows of some firms from their features and documents (the per-firm step).

    Every firm's row depends on its own features and documents only (and on the names of
    all firms, to tell when a text is about another firm), so the rows of a portfolio are
    the rows of its parts: the Spark engine calls this once per bucket of firms.

    Parameters
    ----------
    features : pandas.DataFrame
        :func:`~creditpersona.profile.features.profile_features` of the firms.
    documents : pandas.DataFrame
        Their documents dated up to ``as_of``.
    firm_names : mapping of str to str
        Registered name of every firm of the store.
    as_of : datetime.date
    config : ScoringConfig, optional
    jobs : int, optional
        Processes scoring the texts (1 inside a Spark worker).
    scores : bool, default True
        Add the dimension scores (see :func:`build_profile`).
    text : pandas.DataFrame, optional
        The firms' text signals on ``as_of`` (see :func:`build_profile`); ``documents`` and
        ``firm_names`` are then not read.

    Returns
    -------
    pandas.DataFrame
        One row per firm of ``features``, sorted by ``firm_id``.
    """
    features = features.sort_values("firm_id", ignore_index=True)
    features["industry_section"] = industry.section_of(features["industry_code"])
    features["size_class"] = size_class.classify(
        features["industry_code"], features["employees"], features["revenue"],
        features["total_assets"],
    )
    if text is None:
        text = text_signals(documents, as_of, firm_names=firm_names, jobs=jobs)
    features = features.merge(text, on="firm_id", how="left")
    features["n_documents"] = features["n_documents"].fillna(0).astype("int64")
    # A firm with no document has no text risk: 0 is a measurement here, not a gap.
    features["text_risk_score"] = features["text_risk_score"].fillna(0.0)
    if not scores:
        return features
    return pd.concat([features, score_profiles(features, config or load_scoring())], axis=1)


#: Tables a profile reads; each must hold rows (a missing one would leave whole columns
#: without a type).
PROFILE_TABLES = ("firms", "financial_statements", "bureau_reports", "transactions", "loans",
                  "repayments", "documents")


def compute_profile(
    store: Store,
    as_of: dt.date,
    *,
    engine: Engine = "duckdb",
    config: ScoringConfig | None = None,
) -> ProfileRun:
    """Profile the store's firms as of a date on the chosen engine.

    Raises
    ------
    InsufficientDataError
        If a table of :data:`PROFILE_TABLES` holds no rows (the message says what to load).
    """
    if engine not in ("duckdb", "spark"):
        raise parameter_error("engine", "compute_profile", "'duckdb' or 'spark'", engine)
    store.require_rows(PROFILE_TABLES, f"the profile as of {as_of}")
    if engine == "spark":
        with spark_tables(store) as tables:
            frame = build_profile(tables, as_of, config=config)
    else:
        frame = _duckdb_profile(store, as_of, config)
    return ProfileRun(uuid.uuid4().hex[:12], as_of, engine, frame)


def _duckdb_profile(store: Store, as_of: dt.date, config: ScoringConfig | None
                    ) -> pd.DataFrame:
    """:func:`build_profile` on the store's tables, the features computed by DuckDB in a
    thread of their own while the text signals are read (the same rows)."""
    tables = {t.name: store.table(t.name) for t in TABLES}
    pending = store.execute_later(profile_features(tables, as_of))
    docs = tables["documents"]
    documents = docs.filter(docs.doc_date <= ibis.literal(as_of, type="date")).select(
        "doc_id", "firm_id", "doc_date", "source", "text").to_pandas()
    firms = tables["firms"].select("firm_id", "name").to_pandas()
    names = dict(zip(firms["firm_id"].astype(str), firms["name"], strict=True))
    try:
        text = text_signals(documents, as_of, firm_names=names)
    except BaseException:
        pending.wait()  # DuckDB stops reading before the error reaches the store's owner
        raise
    features = pending.result()
    return profile_rows(features, pd.DataFrame(), {}, as_of, config=config, text=text)


def save_profile(store: Store, run: ProfileRun) -> pd.DataFrame:
    """Store a run, replacing any earlier rows with the same as-of date.

    Returns
    -------
    pandas.DataFrame
        The rows as stored (as :func:`load_profile` reads them back,
        :func:`creditpersona.store.results.replace_date_stored`).

    Raises
    ------
    StoreError
        If the stored profiles have other columns (a profile of another version).
    """
    frame = run.frame.assign(as_of=run.as_of, run_id=run.run_id, engine=run.engine)
    return results.replace_date_stored(store, PROFILES, run.as_of, frame)


def load_profile(store: Store, as_of: dt.date | None = None) -> pd.DataFrame:
    """The stored profile of an as-of date (default: the latest)."""
    return results.read(store, PROFILES, as_of)
