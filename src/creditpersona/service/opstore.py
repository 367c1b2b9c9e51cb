"""The operational store, as the service knows it (:mod:`creditpersona.store.ops`).

The SQLite store lives in the store layer so that the cycle (which takes in the outcome
inbox, :mod:`creditpersona.store.inbox`) and the review (which counts rating overrides) can
read it without importing the service; the service's modules import it from here.
"""

from creditpersona.store.ops import BUSY_TIMEOUT_MS, SCHEMA, OpsStore, ops_path

__all__ = ["BUSY_TIMEOUT_MS", "SCHEMA", "OpsStore", "ops_path"]
