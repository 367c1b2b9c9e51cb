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
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

import pandas as pd

from creditpersona.decisions.config import DecisionsConfig
from creditpersona.decisions.pricing import price_loans

MAX_BATCH = 256
MAX_WAIT_S = 0.005
Item = tuple[dict[str, Any], dict[str, Any], "Future[dict[str, Any]]"]


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
        done: Future[dict[str, Any]] = Future()
        self._queue.put((request, firm, done))
        return done.result()

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
        try:
            requests = pd.DataFrame.from_records([b[0] for b in batch])
            firms = pd.DataFrame.from_records([b[1] for b in batch]).drop_duplicates("firm_id")
            priced = price_loans(requests, firms, self.config).to_dict("records")
        except Exception as exc:  # noqa: BLE001 - each request then gets its own answer
            if len(batch) == 1:
                batch[0][2].set_exception(exc)
                return
            for item in batch:
                self._price([item])
            return
        for row, (_, _, done) in zip(priced, batch, strict=True):
            done.set_result({str(k): v for k, v in row.items()})
