"""The next cycle takes in what users recorded: the campaign-outcome inbox.

Outcomes RMs recorded through the service wait in the operational store's ``outcome_inbox``.
At the start of a cycle, in the process that holds the DuckDB store for writing, the pending
ones are written to a private ``campaign_contacts.csv`` and loaded with
:func:`creditpersona.store.ingest.ingest_file`, the data contract's own validation: good rows
go to ``campaign_contacts`` (where the response and uplift models read them), bad rows to the
quarantine; each inbox row is then marked ``taken`` (with its load id) or ``rejected`` (with
the quarantine's message), in one transaction. A row is marked only after its load committed,
so a cycle that fails before leaves it pending for the next one: nothing is lost.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from creditpersona.safeio import private_dir, to_csv
from creditpersona.store.ingest import ingest_file
from creditpersona.store.ops import OpsStore, ops_path
from creditpersona.store.store import QUARANTINE, Store

COLUMNS = ("campaign_id", "firm_id", "product", "channel", "contact_date", "treated",
           "responded", "amount_taken", "response")


@dataclass(frozen=True)
class Intake:
    """What one cycle took in from the inbox."""

    taken: int
    rejected: int
    load_id: int | None


def take_outcomes(store: Store, ops: OpsStore | None = None) -> Intake:
    """Load the inbox's pending outcomes into ``campaign_contacts`` through the contract.

    Parameters
    ----------
    store : Store
        The store, open for writing.
    ops : OpsStore, optional
        Its operational store (default ``<store>.ops.sqlite``; none there, nothing to take).
    """
    if ops is None:
        path = ops_path(store.path)
        if str(store.path) == ":memory:" or not path.exists():
            return Intake(0, 0, None)
        ops = OpsStore(path)
    rows = ops.read(f"SELECT outcome_id, {', '.join(COLUMNS)} FROM outcome_inbox "
                    "WHERE status = 'pending' ORDER BY outcome_id")
    if not rows:
        return Intake(0, 0, None)
    frame = pd.DataFrame(rows, columns=["outcome_id", *COLUMNS])
    frame["treated"] = frame["treated"].astype(bool)
    frame["responded"] = frame["responded"].astype(bool)
    with tempfile.TemporaryDirectory(prefix="creditpersona-inbox-") as tmp:
        folder = private_dir(Path(tmp) / "inbox")
        csv = to_csv(frame[list(COLUMNS)], folder / "campaign_contacts.csv", encoding="utf-8")
        result = ingest_file(store, csv, "campaign_contacts")
    if result.skipped:
        messages = {i: f"identical rows already loaded (load {result.load_id})"
                    for i in range(1, len(frame) + 1)}
    else:
        q = store.table(QUARANTINE)
        bad = q.filter(q.load_id == result.load_id).select("row_number", "message").to_pandas()
        messages = dict(zip(bad["row_number"].astype(int), bad["message"], strict=True))
    with ops.write() as con:
        for number, outcome_id in enumerate(frame["outcome_id"], start=1):
            message = messages.get(number)
            con.execute("UPDATE outcome_inbox SET status = ?, load_id = ?, message = ? "
                        "WHERE outcome_id = ?",
                        ("rejected" if message else "taken", result.load_id, message,
                         int(outcome_id)))
    rejected = len(messages)
    return Intake(len(frame) - rejected, rejected, result.load_id)
