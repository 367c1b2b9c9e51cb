"""The audit log (审计日志): an append-only hash chain in the operational store.

Every read of a firm's data, every export and every write through the service is one record:
who (user and role), when (UTC), from where (client address), what (action, resource, firm)
and, for writes, the state before and after. Each record's ``hash`` is the SHA-256 of its
own fields and of the previous record's hash (``prev_hash``; the first one chains to
:data:`GENESIS`), so a record deleted, inserted or edited directly in the file breaks the
chain at that point: :func:`verify` finds it.

The chain is only as good as the last hash a reader trusts; ``audit verify`` prints it so
that it can be kept elsewhere (a deletion of the *latest* records is found by comparing).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import queue
import sqlite3
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from creditpersona.service.opstore import OpsStore

GENESIS = "0" * 64
COLUMNS = ("seq", "at", "username", "role", "client", "action", "resource", "firm_id",
           "detail", "before", "after", "prev_hash", "hash")


@dataclass(frozen=True)
class Actor:
    """Who does something, and from where."""

    username: str
    role: str
    client: str


def _digest(prev_hash: str, fields: tuple[Any, ...]) -> str:
    payload = json.dumps([prev_hash, *fields], ensure_ascii=False, separators=(",", ":"),
                         default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True,
                                                  default=str)


def entry(actor: Actor, action: str, resource: str, *, firm_id: str | None = None,
          detail: dict[str, Any] | None = None, before: object = None,
          after: object = None) -> tuple[Any, ...]:
    """The fields of one record as :func:`append` takes them (stamped now, UTC)."""
    at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    return (at, actor.username, actor.role, actor.client, action, resource, firm_id,
            _json(detail or {}), _json(before), _json(after))


def append(con: sqlite3.Connection, entries: list[tuple[Any, ...]]) -> list[int]:
    """Chain ``entries`` (from :func:`entry`) after the last record, inside the caller's write
    transaction (``OpsStore.write``), which must hold the write lock; their sequence numbers."""
    last = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
    rows, numbers = [], []
    for fields in entries:
        seq += 1
        digest = _digest(prev, (seq, *fields))
        rows.append((seq, *fields, prev, digest))
        numbers.append(seq)
        prev = digest
    con.executemany("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return numbers


def record(ops: OpsStore, actor: Actor, action: str, resource: str, *,
           firm_id: str | None = None, detail: dict[str, Any] | None = None,
           before: object = None, after: object = None) -> int:
    """Append one record to the chain; returns its sequence number.

    The last hash is read inside the write transaction (``BEGIN IMMEDIATE``), so concurrent
    writers — threads or processes — chain one after another, never on the same parent.
    (Quotes write theirs a batch at a time, :mod:`creditpersona.service.quoting`.)

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> ops = OpsStore(Path(tempfile.mkdtemp()) / "o.sqlite")
    >>> who = Actor("li", "risk_manager", "127.0.0.1")
    >>> record(ops, who, "read", "firm", firm_id="F1"), record(ops, who, "read", "portfolio")
    (1, 2)
    >>> verify(ops).ok
    True
    >>> with ops.write() as con:
    ...     _ = con.execute("UPDATE audit SET firm_id = 'F2' WHERE seq = 1")
    >>> verify(ops).first_bad
    1
    """
    fields = entry(actor, action, resource, firm_id=firm_id, detail=detail, before=before,
                   after=after)
    with ops.write() as con:
        return append(con, [fields])[0]


class Writer:
    """Appends records on one thread of its own, those waiting together in one transaction.

    For endpoints that are coroutines (the firm 360 and its repayments): a record handed to
    :meth:`submit` is chained by the writer's thread, so the event loop never waits for the
    write lock (which another worker process may hold), and records that arrive while a
    transaction commits are chained in the next one (a group commit, as the quotes' batches
    do). The future resolves to the record's sequence number once it is committed, or to the
    error that prevented it: a caller answers only after its record is on file.

    Parameters
    ----------
    ops : OpsStore
        The operational store whose chain the records join.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> ops = OpsStore(Path(tempfile.mkdtemp()) / "o.sqlite")
    >>> writer = Writer(ops)
    >>> who = Actor("li", "risk_manager", "127.0.0.1")
    >>> [writer.submit(entry(who, "read", "firm_360", firm_id=f)).result() for f in "AB"]
    [1, 2]
    >>> verify(ops).ok
    True
    """

    MAX_BATCH = 256

    def __init__(self, ops: OpsStore) -> None:
        self.ops = ops
        self._queue: queue.Queue[tuple[tuple[Any, ...], Future[int]]] = queue.Queue()
        threading.Thread(target=self._run, name="audit-writer", daemon=True).start()

    def submit(self, fields: tuple[Any, ...]) -> Future[int]:
        """Chain ``fields`` (from :func:`entry`); a future of the record's sequence number."""
        done: Future[int] = Future()
        self._queue.put((fields, done))
        return done

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with self.ops.write() as con:
                    numbers = append(con, [fields for fields, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every caller gets the failure
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for (_, done), seq in zip(batch, numbers, strict=True):
                done.set_result(seq)


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found."""

    records: int
    first_bad: int | None
    reason: str
    last_hash: str

    @property
    def ok(self) -> bool:
        """Whether the whole chain holds."""
        return self.first_bad is None


def verify(ops: OpsStore) -> Verdict:
    """Recompute the chain from the first record and report the first break.

    A break is a gap in the sequence (a deleted record), a ``prev_hash`` that is not the
    previous record's hash (deleted or inserted), or a hash that does not match the record's
    fields (edited).
    """
    prev, expected, n = GENESIS, 1, 0
    cur = ops.connection().execute(f"SELECT {', '.join(COLUMNS)} FROM audit ORDER BY seq")
    for row in cur:
        n += 1
        seq = int(row[0])
        if seq != expected:
            return Verdict(n, expected, f"record {expected} is missing (the next one is "
                                        f"{seq}): deleted", prev)
        if row[11] != prev:
            return Verdict(n, seq, f"record {seq} does not chain to record {seq - 1}", prev)
        if _digest(prev, tuple(row[:11])) != row[12]:
            return Verdict(n, seq, f"record {seq} was changed after it was written "
                                   "(its hash does not match its fields)", prev)
        prev, expected = str(row[12]), seq + 1
    return Verdict(n, None, "the chain holds", prev)


def entries(ops: OpsStore, *, username: str | None = None, firm_id: str | None = None,
            since: dt.datetime | None = None, limit: int = 100, offset: int = 0
            ) -> tuple[list[dict[str, Any]], int]:
    """Records matching the filters, newest first, and how many match in all."""
    where, params = [], []
    for column, value in (("username", username), ("firm_id", firm_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        stamp = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
        where.append("at >= ?")
        params.append(stamp.astimezone(dt.UTC).isoformat(timespec="microseconds"))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total = int(ops.read(f"SELECT COUNT(*) FROM audit{clause}", tuple(params))[0][0])  # type: ignore[call-overload]
    rows = ops.read(f"SELECT {', '.join(COLUMNS)} FROM audit{clause} ORDER BY seq DESC "
                    "LIMIT ? OFFSET ?", (*params, limit, offset))
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows], total
