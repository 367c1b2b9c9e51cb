"""creditpersona: corporate-borrower personas (客户性格分类) for commercial banks.

The public API is what ``__all__`` lists.
"""

from __future__ import annotations

__version__ = "0.1.0"

from creditpersona.contract.readers import read_source
from creditpersona.contract.schema import TABLES, table
from creditpersona.errors import (
    ConfigurationError,
    CreditPersonaError,
    DataQualityWarning,
    InsufficientDataError,
    SchemaError,
    StoreError,
)
from creditpersona.store.ingest import LoadResult, ingest, ingest_file
from creditpersona.store.store import Store

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
