"""The cycle's inputs step takes in the outcomes recorded through the service (issue 17).

Whatever runs the cycle — the CLI, the service's live run or a library call of
:func:`creditpersona.pipeline.run_cycle` — its inputs step (:func:`check_inputs`) loads the
operational store's pending outcomes into ``campaign_contacts`` through the data contract.
"""

from __future__ import annotations

import dataclasses
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


# --- rating overrides are counted in the quarterly review ---------------------------------


def test_review_counts_the_quarters_overrides(service_bank: Any, tmp_path: Path) -> None:
    from creditpersona.report.review import review_section
    from creditpersona.review import review_stage
    from creditpersona.review.history import PD_SCORES
    from creditpersona.review.inputs import override_counts, read_overrides
    from creditpersona.store import results

    store = service_bank.copy(tmp_path / "bank")
    ops = OpsStore(ops_path(store))
    quarter = service_bank.as_of
    with Store(store, read_only=True) as st:
        scores = results.read(st, PD_SCORES, quarter, columns=["firm_id", "grade"])
        personas = results.read(st, "personas", quarter, columns=["firm_id", "persona_id"])
    graded = scores[scores["grade"].isin(["3", "4", "5", "6", "7"])].head(3)
    firms, models = list(graded["firm_id"]), list(graded["grade"])
    moves = [str(int(models[0]) - 1), str(int(models[1]) + 2), str(int(models[2]) + 1)]
    with ops.write() as con:
        def add(firm: str, as_of: str, model: str, grade: str, k: int) -> None:
            con.execute("INSERT INTO rating_overrides (firm_id, as_of, model_grade, grade, "
                        "reason, username, at) VALUES (?, ?, ?, ?, 'site visit', 'co', ?)",
                        (firm, as_of, model, grade, f"2026-04-0{k}"))
        add(firms[0], quarter.isoformat(), models[0], "1", 1)  # replaced by the next one
        for k, (firm, model, grade) in enumerate(zip(firms, models, moves, strict=True)):
            add(firm, quarter.isoformat(), model, grade, k + 2)
    with Store(store, read_only=True) as st:
        found = read_overrides(st, quarter, service_bank.next_as_of)
    assert sorted(found["firm_id"]) == sorted(firms)
    assert found.set_index("firm_id").loc[firms[0], "grade"] == moves[0]
    counts = override_counts(found, scores, personas, [str(g) for g in range(1, 11)] + ["D"])
    total = counts[counts["by"] == "all"].iloc[0]
    assert (total["overrides"], total["firms"], total["up"], total["down"]) == (
        3, len(scores), 1, 2)
    assert total["share"] == 3 / len(scores)
    by_persona = counts[counts["by"] == "persona"]
    assert by_persona["overrides"].sum() == 3
    assert set(by_persona["segment"]) == set(
        personas.set_index("firm_id").loc[firms, "persona_id"].astype(str))
    by_grade = counts[counts["by"] == "grade"].set_index("segment")
    for model in set(models):
        assert by_grade.loc[model, "firms"] == int((scores["grade"] == model).sum())

    # The review of the quarter itself counts none of them (they are the next review's), and
    # says so; the review of the quarter with the store's overrides shows them in its section.
    with Store(store, read_only=True) as st:
        reviewed = review_stage(st, quarter, save=False)
    assert reviewed.overrides.empty
    assert "No rating override" in review_section(reviewed)
    html = review_section(dataclasses.replace(reviewed, overrides=counts))
    assert "Rating overrides" in html and f"<td>{len(scores):,}</td>" in html


def test_review_works_without_an_operational_store(service_bank: Any, tmp_path: Path) -> None:
    from creditpersona.review import review_stage
    from creditpersona.review.inputs import read_overrides

    store = service_bank.copy(tmp_path / "bank")
    ops_path(store).unlink(missing_ok=True)
    with Store(store, read_only=True) as st:
        assert read_overrides(st, None, service_bank.next_as_of).empty
        assert review_stage(st, service_bank.as_of, save=False).overrides.empty
    assert not ops_path(store).exists()
