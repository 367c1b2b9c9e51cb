"""What users write through the service: watch-list cases, rating overrides, outcomes.

All of it goes to the operational store (:mod:`creditpersona.service.opstore`), never to the
DuckDB store the cycle writes, so a write never waits for a batch and is never lost to one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from creditpersona.errors import ConfigurationError
from creditpersona.service.opstore import OpsStore

#: The state of a firm on the watch-list without a case yet.
NEW = "new"
#: Allowed moves of a watch-list case (a closed case may be reopened). A case is opened
#: explicitly (``new`` → ``open``, its first history entry) or by its first action.
TRANSITIONS = {NEW: ("open",), "open": ("acknowledged", "action_taken", "closed"),
               "acknowledged": ("action_taken", "closed"),
               "action_taken": ("acknowledged", "closed"), "closed": ("open",)}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def cases(ops: OpsStore, as_of: dt.date) -> dict[str, dict[str, Any]]:
    """The quarter's cases by firm: ``case_id``, ``state``, ``assignee``."""
    rows = ops.read("SELECT firm_id, case_id, state, assignee FROM watch_cases WHERE as_of = ?",
                    (as_of.isoformat(),))
    return {str(r[0]): {"case_id": r[1], "state": r[2], "assignee": r[3]} for r in rows}


def case(ops: OpsStore, firm_id: str, as_of: dt.date) -> dict[str, Any] | None:
    """One firm's case of the quarter with its actions, or None if none was opened."""
    rows = ops.read("SELECT case_id, state, assignee, opened_at FROM watch_cases WHERE "
                    "firm_id = ? AND as_of = ?", (firm_id, as_of.isoformat()))
    if not rows:
        return None
    case_id, state, assignee, opened_at = rows[0]
    actions = ops.read("SELECT at, username, from_state, to_state, note, assignee FROM "
                       "watch_actions WHERE case_id = ? ORDER BY action_id", (case_id,))
    keys = ("at", "username", "from_state", "to_state", "note", "assignee")
    return {"case_id": case_id, "firm_id": firm_id, "as_of": as_of.isoformat(),
            "state": state, "assignee": assignee, "opened_at": opened_at,
            "actions": [dict(zip(keys, a, strict=True)) for a in actions]}


def act(ops: OpsStore, firm_id: str, as_of: dt.date, username: str, to_state: str,
        note: str, assignee: str | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Move a firm's case; returns (before, after).

    A firm without a case is opened explicitly (``to_state`` ``open``: the case's first
    history entry, ``new`` → ``open``, with the note) or by its first action (which then
    moves from ``open``).

    Raises
    ------
    ConfigurationError
        If the move is not allowed from the case's state (open → acknowledged → action
        taken → closed; closed → open; an open case cannot be opened again).
    """
    before = case(ops, firm_id, as_of)
    now = _now()
    with ops.write() as con:
        row = con.execute("SELECT case_id, state, assignee FROM watch_cases WHERE firm_id = ? "
                          "AND as_of = ?", (firm_id, as_of.isoformat())).fetchone()
        if row is None:
            case_id = con.execute(
                "INSERT INTO watch_cases (firm_id, as_of, state, assignee, opened_at, "
                "updated_at) VALUES (?, ?, 'open', NULL, ?, ?)",
                (firm_id, as_of.isoformat(), now, now)).lastrowid
            state, current = "open", None
            if to_state == "open":  # opened explicitly: the opening is the first entry
                state = NEW
        else:
            case_id, state, current = row
        if to_state not in TRANSITIONS[str(state)]:
            raise ConfigurationError(
                f"watch-list case of firm {firm_id}: cannot go from {state} to {to_state}; "
                f"allowed: {', '.join(TRANSITIONS[str(state)])}.")
        keep = assignee if assignee is not None else current
        con.execute("UPDATE watch_cases SET state = ?, assignee = ?, updated_at = ? "
                    "WHERE case_id = ?", (to_state, keep, now, case_id))
        con.execute("INSERT INTO watch_actions (case_id, at, username, from_state, to_state, "
                    "note, assignee) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (case_id, now, username, state, to_state, note, keep))
    after = case(ops, firm_id, as_of)
    assert after is not None
    return before, after


def latest_override(ops: OpsStore, firm_id: str, as_of: dt.date) -> dict[str, Any] | None:
    """The firm's latest rating override of the quarter, or None."""
    rows = ops.read("SELECT grade, model_grade, reason, username, at FROM rating_overrides "
                    "WHERE firm_id = ? AND as_of = ? ORDER BY override_id DESC LIMIT 1",
                    (firm_id, as_of.isoformat()))
    keys = ("grade", "model_grade", "reason", "username", "at")
    return dict(zip(keys, rows[0], strict=True)) if rows else None


def add_override(ops: OpsStore, firm_id: str, as_of: dt.date, model_grade: str, grade: str,
                 reason: str, username: str) -> dict[str, Any]:
    """Keep a credit officer's grade beside the model's."""
    with ops.write() as con:
        con.execute("INSERT INTO rating_overrides (firm_id, as_of, model_grade, grade, reason, "
                    "username, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (firm_id, as_of.isoformat(), model_grade, grade, reason, username, _now()))
    found = latest_override(ops, firm_id, as_of)
    assert found is not None
    return found


def count(ops: OpsStore, sql: str, params: tuple[object, ...]) -> int:
    """A COUNT(*) query's answer."""
    return int(ops.read(sql, params)[0][0])  # type: ignore[call-overload]


def add_outcome(ops: OpsStore, outcome: dict[str, Any], username: str) -> int:
    """Put an RM's campaign outcome in the inbox the next cycle takes in."""
    with ops.write() as con:
        return int(con.execute(  # type: ignore[arg-type]
            "INSERT INTO outcome_inbox (campaign_id, firm_id, product, channel, contact_date, "
            "treated, responded, amount_taken, response, username, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (outcome["campaign_id"], outcome["firm_id"], outcome["product"],
             outcome.get("channel"), outcome["contact_date"].isoformat(),
             int(outcome["treated"]), int(outcome["responded"]), outcome.get("amount_taken"),
             outcome.get("response"), username, _now())).lastrowid)
