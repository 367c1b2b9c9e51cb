"""Quotes priced in small batches: the cycle's vectorised engine, shared by concurrent requests.

:func:`creditpersona.decisions.pricing.price_loans` prices a whole frame of requests at the
cost of a few of them (its time is pandas' per-call overhead, not arithmetic), so pricing each
HTTP request on its own would cap the service at some 70 quotes per second per core. The
:class:`QuoteBatcher` lets every request thread hand its request (a dict) to a single pricing
thread, which waits at most :data:`MAX_WAIT_S` after the first for others to arrive, prices
up to :data:`MAX_BATCH` in one frame and hands each caller its row. Each row of a batch depends
only on its own request and firm, so a batched quote equals the quote priced alone (a test
checks it). If the batch raises, its requests are priced one by one, so that one bad request
gets its own error and the others their prices.

The audit records of a batch's quotes are written by the same thread, chained in one write
transaction of the operational store after the batch is priced (a group commit: one
``BEGIN IMMEDIATE`` per batch instead of one per quote), and a caller gets its price only
once its record is committed: no quote is answered unaudited, and the chain is the same as
if each had been written alone. The request side is a future, so the endpoint awaits it on
the event loop instead of holding a thread of the pool.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pandas as pd

from creditpersona.decisions.config import DecisionsConfig
from creditpersona.decisions.pricing import price_loans
from creditpersona.service import audit
from creditpersona.service.opstore import OpsStore

MAX_BATCH = 256
MAX_WAIT_S = 0.005


@dataclass
class Item:
    """One quote waiting for its batch: request, firm, where its audit record goes."""

    request: dict[str, Any]
    firm: dict[str, Any]
    done: Future[dict[str, Any]]
    ops: OpsStore | None = None
    record: tuple[Any, ...] | None = None  # audit.entry(...) fields, written once priced


class QuoteBatcher:
    """Price requests in batches on a background thread.

    Parameters
    ----------
    config : DecisionsConfig
        The pricing configuration, as the cycle uses it.
    """

    def __init__(self, config: DecisionsConfig) -> None:
        self.config = config
        self._queue: queue.Queue[Item] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="quote-batcher", daemon=True)
        self._thread.start()

    def price(self, request: dict[str, Any], firm: dict[str, Any]) -> dict[str, Any]:
        """The priced row of ``request`` (``price_loans``' request columns) for ``firm``
        (``firm_id``, ``pd``, ``grade``, ``persona_strategy``, ``revenue``)."""
        return self.submit(request, firm).result()

    def submit(self, request: dict[str, Any], firm: dict[str, Any], *,
               ops: OpsStore | None = None,
               record: tuple[Any, ...] | None = None) -> Future[dict[str, Any]]:
        """A future of :meth:`price`'s row; with ``ops`` and ``record``
        (:func:`creditpersona.service.audit.entry`), resolved only after the record is
        committed to ``ops``' audit chain (an audit failure fails the quote)."""
        done: Future[dict[str, Any]] = Future()
        self._queue.put(Item(request, firm, done, ops, record))
        return done

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            try:
                while len(batch) < MAX_BATCH:
                    batch.append(self._queue.get(timeout=MAX_WAIT_S))
            except queue.Empty:
                pass
            self._price(batch)

    def _price(self, batch: list[Item]) -> None:
        priced = self._rows(batch)
        ok = [(item, row) for item, row in zip(batch, priced, strict=True)
              if not isinstance(row, BaseException)]
        stores = {id(i.ops): i.ops for i, _ in ok if i.ops is not None and i.record is not None}
        failed: dict[int, BaseException] = {}
        for key, ops in stores.items():
            mine = [i for i, _ in ok if id(i.ops) == key and i.record is not None]
            try:
                with ops.write() as con:
                    audit.append(con, [i.record for i in mine if i.record is not None])
            except Exception as exc:  # noqa: BLE001 - no answer without its audit record
                failed.update({id(i): exc for i in mine})
        for item, row in zip(batch, priced, strict=True):
            if isinstance(row, BaseException):
                item.done.set_exception(row)
            elif id(item) in failed:
                item.done.set_exception(failed[id(item)])
            else:
                item.done.set_result(row)

    def _rows(self, batch: list[Item]) -> list[dict[str, Any] | BaseException]:
        """Each request's priced row, or the exception that pricing it alone raised."""
        try:
            keys = list(dict.fromkeys(k for b in batch for k in b.request))
            requests = pd.DataFrame({k: [b.request.get(k) for b in batch] for k in keys})
            firms = pd.DataFrame.from_records([b.firm for b in batch]).drop_duplicates(
                "firm_id")
            priced = price_loans(requests, firms, self.config)
        except Exception as exc:  # noqa: BLE001 - each request then gets its own answer
            if len(batch) == 1:
                return [exc]
            return [row for item in batch for row in self._rows([item])]
        columns = [str(c) for c in priced.columns]
        return [dict(zip(columns, values, strict=True))
                for values in priced.to_numpy(dtype=object).tolist()]
