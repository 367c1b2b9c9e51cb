"""The result tables a Spark cycle wrote, read on the driver with DuckDB (结果表, Parquet).

``run --engine spark`` keeps every result table as Parquet partitioned by as-of date,
``<root>/<table>/as_of=<YYYY-MM-DD>/part-*.parquet`` (:mod:`creditpersona.spark.results`,
the schemas of :data:`creditpersona.store.results.TABLES`). :class:`ParquetResults` reads
them without Spark: :func:`creditpersona.store.results.read` (and ``latest``, ``exists``)
accept one in place of a store, so a reader written for the embedded store (the rules'
``load_rules``) reads the Spark results unchanged, and :meth:`ParquetResults.sql` pushes an
aggregation into DuckDB over the files, so that a report never loads a firm-level table
into pandas to count or rank it. :func:`inputs_store` does the same for the contract
tables a run read from ``--spark-inputs``.

Only a folder the driver can open (local or mounted) can be read; a results root on HDFS
or S3 must be mounted or copied first.

Examples
--------
>>> import datetime as dt, tempfile
>>> import pandas as pd
>>> root = Path(tempfile.mkdtemp())
>>> day = dt.date(2026, 6, 30)
>>> folder = root / "review_migration" / f"as_of={day}"
>>> folder.mkdir(parents=True)
>>> pd.DataFrame({"previous_as_of": [dt.date(2026, 3, 31)] * 2, "kind": "rating",
...               "segment": "all", "from_state": ["A", "B"], "to_state": ["B", "B"],
...               "firms": [3, 4]}).to_parquet(folder / "part-0.parquet")
>>> (folder / "_SUCCESS").touch()
>>> res = ParquetResults(root)
>>> res.dates("review_migration"), res.sql("SELECT count(*) + sum(firms)::BIGINT AS n FROM {m}",
...                                        m=("review_migration", day))["n"].tolist()
([datetime.date(2026, 6, 30)], [9])
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pandas as pd

from creditpersona.contract.schema import TABLES as CONTRACT
from creditpersona.errors import StoreError
from creditpersona.store import results
from creditpersona.store.store import Store


class ParquetResults:
    """The Parquet result tables under ``root``, read with an in-memory DuckDB.

    Parameters
    ----------
    root : str or Path
        The results folder of a Spark cycle (``<store>.results`` or ``--spark-results``).

    Raises
    ------
    StoreError
        If ``root`` is a URI the driver cannot open as a folder (``hdfs://``, ``s3a://``).
    """

    def __init__(self, root: str | Path) -> None:
        text = str(root)
        if "://" in text and not text.startswith("file://"):
            raise StoreError(f"{text}: the report reads the Spark results on the driver with "
                             "DuckDB, which needs a local or mounted folder; mount the "
                             "results (or copy the as-of date's folders) and pass that path.")
        self.root = Path(text.removeprefix("file://"))
        self.con = duckdb.connect()
        self.con.execute("SET threads TO 2")
        self.read_only = True

    def __repr__(self) -> str:
        return f"ParquetResults({str(self.root)!r})"

    @property
    def path(self) -> Path:
        """The results folder (named ``path`` as a store's file is, for messages)."""
        return self.root

    def folder(self, name: str, as_of: dt.date) -> Path:
        """The folder of one date of table ``name``."""
        results.table(name)
        return self.root / name / f"as_of={as_of.isoformat()}"

    def exists(self, name: str, as_of: dt.date) -> bool:
        """Whether the date was written completely (its folder holds ``_SUCCESS``)."""
        return (self.folder(name, as_of) / "_SUCCESS").is_file()

    def dates(self, name: str) -> list[dt.date]:
        """The dates of ``name`` written completely, oldest first."""
        results.table(name)
        base = self.root / name
        days = [dt.date.fromisoformat(p.name.removeprefix("as_of="))
                for p in (base.iterdir() if base.is_dir() else ())
                if p.name.startswith("as_of=")]
        return sorted(d for d in days if self.exists(name, d))

    def latest(self, name: str, *, before: dt.date | None = None) -> dt.date | None:
        """The latest date of ``name`` (strictly before ``before`` when given)."""
        days = [d for d in self.dates(name) if before is None or d < before]
        return days[-1] if days else None

    def relation(self, name: str, as_of: dt.date) -> str:
        """A SQL subquery of one date's rows with the declared columns, ``as_of`` included.

        Raises
        ------
        StoreError
            If the date was not written.
        """
        if not self.exists(name, as_of):
            raise StoreError(f"{self.folder(name, as_of)}: no {name} of {as_of} in the Spark "
                             f"results; run the cycle of {as_of} with --engine spark first.")
        glob = str(self.folder(name, as_of) / "*.parquet").replace("'", "''")
        columns = ", ".join(f"DATE '{as_of.isoformat()}' AS as_of" if c == "as_of"
                            else f'"{c}"' for c in results.table(name).columns)
        return f"(SELECT {columns} FROM read_parquet('{glob}'))"

    def sql(self, query: str, **tables: tuple[str, dt.date]) -> pd.DataFrame:
        """Run ``query`` with ``{alias}`` standing for each table of ``tables``
        (``alias=(name, as_of)``); the answer as pandas."""
        text = query.format(**{k: f"{self.relation(n, d)} AS {k}" for k, (n, d) in
                               tables.items()})
        return self.con.execute(text).df()

    def read(self, name: str, as_of: dt.date | None = None, *,
             firms: Iterable[str] | None = None,
             columns: Iterable[str] | None = None) -> pd.DataFrame:
        """The rows of ``name`` of one date (default: the latest), as
        :func:`creditpersona.store.results.read` returns them from a store."""
        spec = results.table(name)
        wanted = spec.columns if columns is None else list(dict.fromkeys(columns))
        unknown = [c for c in wanted if c not in spec.columns]
        if unknown:
            raise StoreError(f"table {name} has no column(s) {', '.join(unknown)}; its "
                             f"columns are {', '.join(spec.columns)}.")
        if firms is not None and "firm_id" not in spec.columns:
            raise StoreError(f"table {name} has no firm_id; read it without firms=.")
        day = as_of if as_of is not None else self.latest(name)
        if day is None or not self.exists(name, day):
            return results.empty(name, wanted)
        select = ", ".join(f'"{c}"' for c in wanted)
        query = f"SELECT {select} FROM {{t}}"
        params: list[object] = []
        if firms is not None:
            params = [sorted({str(f) for f in firms})]
            query += " WHERE firm_id IN (SELECT unnest(?))"
        text = query.format(t=f"{self.relation(name, day)} AS t")
        return self.con.execute(text, params).df()

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.con.close()


def inputs_store(inputs: str | Path) -> Store:
    """An in-memory store whose contract tables are views of the Parquet inputs of a Spark
    run (``<table>.parquet``: a file or a folder of part files), for the readers that take
    a store (the report's data section, firm names, loans and contacts).

    A table without a file stays empty; nothing was loaded, so the load log is empty.

    Raises
    ------
    StoreError
        If ``inputs`` is a URI the driver cannot open as a folder, or holds no ``firms``.
    """
    text = str(inputs)
    if "://" in text and not text.startswith("file://"):
        raise StoreError(f"{text}: the report reads the Spark inputs on the driver with "
                         "DuckDB, which needs a local or mounted folder; mount the inputs and "
                         "pass that path.")
    folder = Path(text.removeprefix("file://"))
    if not (folder / "firms.parquet").exists():
        raise StoreError(f"{folder}: no firms.parquet among the Spark inputs.")
    store = Store(":memory:")
    for t in CONTRACT:
        path = folder / f"{t.name}.parquet"
        if not path.exists():
            continue
        glob = str(path / "*.parquet" if path.is_dir() else path).replace("'", "''")
        store.con.raw_sql(f'DROP TABLE "{t.name}"')
        store.con.raw_sql(f"CREATE VIEW \"{t.name}\" AS SELECT * FROM read_parquet('{glob}')")
    return store
