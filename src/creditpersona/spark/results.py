"""The result tables on Spark: Parquet partitioned by as-of date (结果表, Spark).

The Spark cycle keeps every result table in a folder next to the store,
``<store>.results/<table>/as_of=<YYYY-MM-DD>/`` (or under ``root`` on a cluster's shared
storage), with the schema :data:`creditpersona.store.results.TABLES` declares, converted
column by column (:func:`spark_schema`). Writing a date replaces that date's folder only;
other dates stay. Reading returns a Spark DataFrame (nothing comes to the driver).

Every frame written goes through the declared schema: the columns are taken by name in the
declared order, cast to the declared types, and optional columns a stage lacks are stored
empty, as :func:`creditpersona.store.results.conform` does for the embedded store.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from creditpersona.errors import StoreError
from creditpersona.safeio import private_dir
from creditpersona.store import results as store_results
from creditpersona.store.store import Store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType


def spark_type(kind: pa.DataType) -> DataType:
    """The Spark type of a declared Arrow type (s i f b d ts ls of the result store).

    Timestamps are Spark's ``TIMESTAMP_NTZ``: the store's timestamps carry no time zone.
    """
    from pyspark.sql import types as T

    if pa.types.is_string(kind):
        return T.StringType()
    if pa.types.is_int64(kind):
        return T.LongType()
    if pa.types.is_float64(kind):
        return T.DoubleType()
    if pa.types.is_boolean(kind):
        return T.BooleanType()
    if pa.types.is_date32(kind):
        return T.DateType()
    if pa.types.is_timestamp(kind):
        return T.TimestampNTZType()
    if pa.types.is_list(kind) and pa.types.is_string(kind.value_type):
        return T.ArrayType(T.StringType())
    raise StoreError(f"result store: no Spark type for the declared type {kind}; add it to "
                     "creditpersona.spark.results.spark_type.")


def spark_schema(name: str, *, without: tuple[str, ...] = ()) -> StructType:
    """The declared schema of result table ``name`` as a Spark ``StructType``."""
    from pyspark.sql import types as T

    spec = store_results.table(name)
    return T.StructType([T.StructField(f.name, spark_type(f.type), True)
                         for f in spec.schema if f.name not in without])


class SparkResults:
    """The result tables of one store on Spark, as Parquet partitioned by ``as_of``.

    Parameters
    ----------
    spark : SparkSession
    root : str or Path
        The results folder (local path, or a URI such as ``hdfs://`` or ``s3a://`` on a
        cluster: every executor must reach it).
    """

    def __init__(self, spark: SparkSession, root: str | Path) -> None:
        self.spark = spark
        self.root = str(root)

    def path(self, name: str, as_of: dt.date | None = None) -> str:
        """The folder of table ``name`` (of one date when ``as_of`` is given)."""
        store_results.table(name)
        base = f"{self.root.rstrip('/')}/{name}"
        return base if as_of is None else f"{base}/as_of={as_of.isoformat()}"

    def conform(self, name: str, frame: DataFrame) -> DataFrame:
        """``frame`` with the declared columns of ``name`` (except ``as_of``), cast, in order.

        Raises
        ------
        StoreError
            If a required column is missing or an undeclared one is present.
        """
        from pyspark.sql import functions as F

        spec = store_results.table(name)
        have = set(frame.columns)
        missing = [c for c in spec.columns
                   if c not in have and c not in spec.optional and c != "as_of"]
        extra = [c for c in frame.columns if c not in spec.columns]
        if missing or extra:
            raise StoreError(
                f"table {name}: the Spark frame to store "
                + (f"lacks the declared column(s) {', '.join(missing)}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"holds undeclared column(s) {', '.join(extra)}" if extra else "")
                + "; fix the stage's frame or declare the columns in "
                "creditpersona.store.results.TABLES.")
        cols = [(F.col(f.name) if f.name in have else F.lit(None)).cast(spark_type(f.type))
                .alias(f.name) for f in spec.schema if f.name != "as_of"]
        return frame.select(*cols)

    def write(self, name: str, as_of: dt.date, frame: DataFrame) -> None:
        """Replace the rows of ``as_of`` in ``name`` with ``frame`` (one folder per date)."""
        self.conform(name, frame).write.mode("overwrite").parquet(self.path(name, as_of))
        self._owner_only(name)

    def _owner_only(self, name: str) -> None:
        """Local results: the table's folders and files owner-only (customer data), as
        ``safeio`` writes the embedded engine's files. On HDFS or S3 the session's
        ``spark.hadoop.fs.permissions.umask-mode=077`` and the bucket's policy apply."""
        if "://" in self.root and not self.root.startswith("file://"):
            return
        root = Path(self.root.removeprefix("file://"))
        for path in (root, root / name, *(root / name).rglob("*")):
            if path.is_symlink() or not path.exists():
                continue
            path.chmod(0o700 if path.is_dir() else 0o600)

    def exists(self, name: str, as_of: dt.date) -> bool:
        """Whether a date of ``name`` was written (its folder holds ``_SUCCESS``)."""
        return self._fs_exists(f"{self.path(name, as_of)}/_SUCCESS")

    def dates(self, name: str) -> list[dt.date]:
        """The dates of ``name`` written completely, oldest first."""
        out = []
        for entry in self._fs_list(self.path(name)):
            if entry.startswith("as_of="):
                day = dt.date.fromisoformat(entry.removeprefix("as_of="))
                if self.exists(name, day):
                    out.append(day)
        return sorted(out)

    def latest(self, name: str, *, before: dt.date) -> dt.date | None:
        """The latest date of ``name`` strictly before ``before`` (None if none)."""
        earlier = [d for d in self.dates(name) if d < before]
        return earlier[-1] if earlier else None

    def read(self, name: str, as_of: dt.date) -> DataFrame:
        """The rows of ``as_of`` (with ``as_of``), typed as declared.

        Raises
        ------
        StoreError
            If the date was not written (the message says which run writes it).
        """
        from pyspark.sql import functions as F

        if not self.exists(name, as_of):
            raise StoreError(f"{self.path(name, as_of)}: no {name} of {as_of} on Spark; run "
                             f"the cycle of {as_of} with --engine spark first.")
        frame = self.spark.read.schema(spark_schema(name, without=("as_of",))).parquet(
            self.path(name, as_of))
        spec = store_results.table(name)
        return frame.select(*[F.lit(as_of).alias("as_of") if c == "as_of" else F.col(c)
                              for c in spec.columns])

    def import_date(self, store: Store, name: str, as_of: dt.date) -> int:
        """Copy one date of ``name`` from the embedded store into the Parquet results
        (DuckDB writes the file; a bank moving to Spark keeps its last quarter, which the
        next quarter's rating smoothing and review read).

        Local results folders only. Returns the rows copied.

        Raises
        ------
        StoreError
            If the store holds no rows of ``name`` on ``as_of``.
        """
        if not store_results.exists(store, name, as_of):
            raise StoreError(f"{store.path}: no {name} of {as_of} to copy to the Spark "
                             "results; run that quarter first.")
        folder = Path(self.path(name, as_of))
        if folder.exists():
            shutil.rmtree(folder)
        private_dir(folder)
        columns = ", ".join(f'"{c}"' for c in store_results.table(name).columns
                            if c != "as_of")
        path = folder / "part-00000-embedded.parquet"
        store.con.raw_sql(f"COPY (SELECT {columns} FROM \"{name}\" WHERE as_of = DATE "
                          f"'{as_of.isoformat()}') TO '{path}' (FORMAT parquet)")
        (folder / "_SUCCESS").write_bytes(b"")
        self._owner_only(name)
        return int(self.spark.read.parquet(str(folder)).count())

    def remove(self, name: str, as_of: dt.date) -> None:
        """Remove one date of ``name`` (local folders only)."""
        path = Path(self.path(name, as_of))
        if path.exists():
            shutil.rmtree(path)

    # -- the file system through Hadoop, so that hdfs:// and s3a:// roots work alike ----------
    def _hadoop_path(self, path: str):  # type: ignore[no-untyped-def]
        context: Any = self.spark.sparkContext
        jvm, conf = context._jvm, context._jsc.hadoopConfiguration()
        p = jvm.org.apache.hadoop.fs.Path(path)
        return p, p.getFileSystem(conf)

    def _fs_exists(self, path: str) -> bool:
        p, fs = self._hadoop_path(path)
        return bool(fs.exists(p))

    def _fs_list(self, path: str) -> list[str]:
        p, fs = self._hadoop_path(path)
        if not fs.exists(p):
            return []
        return [str(s.getPath().getName()) for s in fs.listStatus(p)]
