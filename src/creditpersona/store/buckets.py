"""A bucket of firms' contract rows as Ibis tables, for the stage kernels.

The stage kernels (``decisions.kernels``, ``rules.kernels``) gather their inputs with the
same Ibis queries the embedded engine runs on the store. On a Spark worker the rows of a
bucket of whole firms arrive as pandas frames: :func:`bucket_tables` puts them in a private
in-memory DuckDB connection, typed as the data contract declares (a date read back from
Parquet or Spark as a timestamp is a date again), and closes the connection when the block
ends, so that nothing of one bucket stays in memory for the next.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import ibis
import ibis.expr.types as ir
import pandas as pd

from creditpersona.contract.schema import TABLES_BY_NAME

__all__ = ["bucket_tables"]

_TYPES = {"string": "string", "int": "int64", "float": "float64", "date": "date",
          "bool": "boolean"}


@contextmanager
def bucket_tables(frames: Mapping[str, pd.DataFrame]) -> Iterator[dict[str, ir.Table]]:
    """The frames as Ibis tables of a private in-memory DuckDB, for the ``with`` block.

    Parameters
    ----------
    frames : mapping of str to pandas.DataFrame
        Contract table name → the bucket's rows. The contract's columns present are cast
        to its types; other columns stay as they are.

    Examples
    --------
    A start date read back as a timestamp is a date again:

    >>> loans = pd.DataFrame({"loan_id": ["L1"], "start_date": pd.to_datetime(["2026-01-05"])})
    >>> with bucket_tables({"loans": loans}) as t:
    ...     str(t["loans"].start_date.type())
    'date'
    """
    con = ibis.duckdb.connect()
    try:
        out: dict[str, ir.Table] = {}
        for name, frame in frames.items():
            t = con.create_table(f"bucket_{name}", frame.reset_index(drop=True))
            contract = TABLES_BY_NAME.get(name)
            if contract is not None:
                t = t.mutate(**{f.name: t[f.name].cast(_TYPES[f.dtype])
                                for f in contract.fields if f.name in t.columns})
            out[name] = t
        yield out
    finally:
        con.disconnect()
