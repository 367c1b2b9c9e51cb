"""creditpersona: corporate-borrower personas (客户性格分类) for commercial banks.

The public API is what ``__all__`` lists.
"""

from __future__ import annotations

__version__ = "0.1.0"

from importlib import import_module
from typing import TYPE_CHECKING, Any

from creditpersona.errors import (
    ConfigurationError,
    CreditPersonaError,
    DataQualityWarning,
    InsufficientDataError,
    SchemaError,
    StoreError,
)

if TYPE_CHECKING:
    from creditpersona.contract.readers import read_source
    from creditpersona.contract.schema import TABLES, table
    from creditpersona.store.ingest import LoadResult, ingest, ingest_file
    from creditpersona.store.store import Store

#: Public names whose modules pull in pandas, DuckDB and Ibis: imported on first use
#: (PEP 562), so ``import creditpersona`` and the command line's ``--help`` stay fast.
_LAZY = {
    "read_source": "creditpersona.contract.readers",
    "TABLES": "creditpersona.contract.schema",
    "table": "creditpersona.contract.schema",
    "LoadResult": "creditpersona.store.ingest",
    "ingest": "creditpersona.store.ingest",
    "ingest_file": "creditpersona.store.ingest",
    "Store": "creditpersona.store.store",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'creditpersona' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "TABLES",
    "ConfigurationError",
    "CreditPersonaError",
    "DataQualityWarning",
    "InsufficientDataError",
    "LoadResult",
    "SchemaError",
    "Store",
    "StoreError",
    "__version__",
    "ingest",
    "ingest_file",
    "read_source",
    "table",
]
