"""The cycle's inputs step takes in the outcomes recorded through the service (issue 17).

Whatever runs the cycle — the CLI, the service's live run or a library call of
:func:`creditpersona.pipeline.run_cycle` — its inputs step (:func:`check_inputs`) loads the
operational store's pending outcomes into ``campaign_contacts`` through the data contract.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from creditpersona.pipeline import check_inputs
from creditpersona.store.ops import OpsStore, ops_path
from creditpersona.store.store import Store


def _outcome(ops: OpsStore, campaign: str, firm_id: str, **kw: Any) -> None:
    row = {"campaign_id": campaign, "firm_id": firm_id, "product": "working_capital",
           "channel": "rm_visit", "contact_date": "2026-04-15", "treated": 1, "responded": 0,
           "amount_taken": 0.0, "username": "rm", "received_at": "2026-04-15T00:00:00", **kw}
    with ops.write() as con:
        con.execute(f"INSERT INTO outcome_inbox ({', '.join(row)}) VALUES "
                    f"({', '.join('?' * len(row))})", tuple(row.values()))


def test_inputs_step_takes_in_the_outcome_inbox(service_bank: Any, tmp_path: Path) -> None:
    store = service_bank.copy(tmp_path / "bank")
    ops = OpsStore(ops_path(store))
    with Store(store) as st:
        firm = str(st.table("firms").firm_id.min().execute())
        _outcome(ops, "INBOX-1", firm)
        _outcome(ops, "INBOX-2", firm, product="no_such_product")  # the contract refuses it
        check = check_inputs(st, service_bank.as_of, "duckdb", ())
        t = st.table("campaign_contacts")
        loaded = t.filter(t.campaign_id.startswith("INBOX-")).campaign_id.to_pandas()
    assert check.outcomes == (1, 1)
    assert list(loaded) == ["INBOX-1"]
    status = dict(ops.read("SELECT campaign_id, status FROM outcome_inbox"))
    assert status == {"INBOX-1": "taken", "INBOX-2": "rejected"}
    message = ops.read("SELECT message FROM outcome_inbox WHERE campaign_id = 'INBOX-2'")[0][0]
    assert "product" in str(message)
    # Taken once: the next inputs step finds nothing pending.
    with Store(store) as st:
        assert check_inputs(st, service_bank.as_of, "duckdb", ()).outcomes == (0, 0)


def test_inputs_step_without_an_operational_store(service_bank: Any, tmp_path: Path) -> None:
    store = service_bank.copy(tmp_path / "bank")
    ops_path(store).unlink(missing_ok=True)
    with Store(store) as st:
        check = check_inputs(st, service_bank.as_of, "duckdb", ())
    assert check.outcomes == (0, 0) and not ops_path(store).exists()
    assert isinstance(service_bank.as_of, dt.date)
