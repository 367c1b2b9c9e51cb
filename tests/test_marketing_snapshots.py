"""What a steady quarter's marketing stage keeps from earlier quarters (issue 19 item 4).

* The campaign snapshots' profiles (marketing.snapshots): the history read from the stored
  snapshots must equal the history computed from scratch (a read-only store never stores
  them), and a changed definition or a load of data dated on or before a snapshot must
  recompute it, while a load dated after every snapshot must not.
* The models in force (marketing.in_force): reused only for the same contacts and
  definition, and then scoring exactly as the fit they stand for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import creditpersona.marketing.history as history
from creditpersona.marketing import snapshots
from creditpersona.store import results
from creditpersona.store.ingest import ingest, ingest_file
from creditpersona.store.store import Store

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def small_bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """300 generated firms with campaigns, ingested (no stored profile)."""
    from creditpersona.synth import generate_bank

    root = tmp_path_factory.mktemp("snapshots")
    gen = generate_bank(root / "data", 300, seed=3, txn_per_firm_year=12)
    with Store(root / "bank.duckdb") as st:
        ingest(st, [gen.out_dir])
    yield root / "bank.duckdb"


@pytest.fixture(scope="module")
def computed(small_bank: Path) -> pd.DataFrame:
    """The history computed from scratch (a read-only store stores nothing); read-only."""
    with Store(small_bank, read_only=True) as st:
        return history.campaign_history(st, before=AS_OF)


def _copy(small_bank: Path, tmp_path: Path) -> Path:
    path = tmp_path / "bank.duckdb"
    shutil.copy(small_bank, path)
    return path


class _Count:
    """Counts the firms profiled by ``history.profile_of_firms``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[dt.date, int]] = []
        real = history.profile_of_firms

        def spy(store: Store, day: dt.date, firm_ids: object) -> pd.DataFrame:
            frame = real(store, day, firm_ids)  # type: ignore[arg-type]
            self.calls.append((day, len(frame)))
            return frame

        monkeypatch.setattr(history, "profile_of_firms", spy)


@dataclasses.dataclass(frozen=True)
class Cold:
    """The small bank's history computed once on a writable copy, which stored the
    snapshots: the copy (read-only for the tests: copy it before writing), what the
    computation returned and the days it profiled."""

    store: Path
    history: pd.DataFrame
    days: set[tuple[dt.date, int]]


@pytest.fixture(scope="module")
def cold(small_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cold]:
    """The first ``campaign_history`` on a copy of the small bank (the module's tests start
    from its stored snapshots instead of each computing them again)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        count = _Count(monkeypatch)
        with Store(_copy(small_bank, tmp_path_factory.mktemp("cold"))) as st:
            frame = history.campaign_history(st, before=AS_OF)
            path = st.path
    yield Cold(path, frame, set(count.calls))


def test_stored_snapshots_give_the_computed_history(
        cold: Cold, computed: pd.DataFrame, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert computed["snapshot"].nunique() >= 3 and len(computed) > 100
    count = _Count(monkeypatch)
    with Store(_copy(cold.store, tmp_path)) as st:
        days = cold.days
        stored = results.read(st, results.HISTORY_PROFILES, min(computed["snapshot"]))
        warm = history.campaign_history(st, before=AS_OF)
        assert count.calls == []                     # nothing profiled again
        assert results.dates(st, results.HISTORY_PROFILES) == sorted(
            computed["snapshot"].unique())
    assert {d for d, _ in days} == set(computed["snapshot"])
    assert len(stored) and stored["definition"].eq(snapshots.definition_digest()).all()
    pd.testing.assert_frame_equal(cold.history, computed)
    pd.testing.assert_frame_equal(warm, computed)


def test_a_changed_definition_recomputes(cold: Cold, computed: pd.DataFrame,
                                         tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(_copy(cold.store, tmp_path)) as st:  # snapshots stored (``cold``)
        count = _Count(monkeypatch)
        monkeypatch.setattr(snapshots, "definition_digest", lambda: "0" * 64)
        again = history.campaign_history(st, before=AS_OF)
        assert {d for d, _ in count.calls} == set(computed["snapshot"])
        count.calls.clear()
        history.campaign_history(st, before=AS_OF)
        assert count.calls == []
        kept = results.read(st, results.HISTORY_PROFILES, min(computed["snapshot"]))
    assert kept["definition"].eq("0" * 64).all()
    pd.testing.assert_frame_equal(again, computed)


def _load_transaction(st: Store, tmp_path: Path, firm_id: str, day: dt.date,
                      name: str) -> None:
    """Ingest one large inflow of ``firm_id`` dated ``day`` (a new load)."""
    t = st.table("transactions")
    row = t.filter(t.firm_id == firm_id).limit(1).to_pandas().drop(columns=["load_id"])
    row = row.assign(txn_id=f"late-{name}", txn_date=day, amount=9.9e8)
    path = tmp_path / f"{name}.csv"
    row.to_csv(path, index=False)
    assert ingest_file(st, path, "transactions").rows_loaded == 1


def test_data_dated_by_a_snapshot_invalidates_it_later_data_does_not(
        cold: Cold, computed: pd.DataFrame, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    last, first = max(computed["snapshot"]), min(computed["snapshot"])
    firm = str(computed.loc[computed["snapshot"] == last, "firm_id"].iloc[0])
    with Store(_copy(cold.store, tmp_path)) as st:  # snapshots stored (``cold``)
        count = _Count(monkeypatch)
        _load_transaction(st, tmp_path, firm, AS_OF + dt.timedelta(days=1), "after")
        history.campaign_history(st, before=AS_OF)
        assert count.calls == []                      # dated after every snapshot
        _load_transaction(st, tmp_path, firm, last - dt.timedelta(days=10), "before")
        changed = history.campaign_history(st, before=AS_OF)
        redone = {d for d, _ in count.calls}
        path = st.path
    assert last in redone and first not in redone    # dated after the first snapshot
    with Store(path, read_only=True) as st:       # the same data, computed from scratch
        fresh = history.campaign_history(st, before=AS_OF)
    pd.testing.assert_frame_equal(changed, fresh)
    mine = (changed["firm_id"] == firm) & (changed["snapshot"] == last)
    assert not changed.loc[mine, "inflow_12m"].equals(computed.loc[mine, "inflow_12m"])


def test_models_in_force_are_reused_for_the_same_contacts_only(  # type: ignore[no-untyped-def]
        synthetic_bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from creditpersona.marketing import in_force
    from creditpersona.marketing.catalogue import load_catalogue
    from creditpersona.marketing.kernels import candidates, capped_history, marketing_inputs
    from creditpersona.marketing.routing import load_channels
    from creditpersona.models import registry

    cat, chn, day = load_catalogue(), load_channels(), synthetic_bank.as_of
    later = day + dt.timedelta(days=92)
    path = tmp_path / "bank.duckdb"
    shutil.copy(synthetic_bank.store_path, path)
    with Store(path) as st:
        fitted = capped_history(history.campaign_history(st, before=day), cat)
        inputs = marketing_inputs(st, day, synthetic_bank.profile)
        made = in_force.fit_or_reuse(st, fitted, inputs, day, catalogue=cat, channels=chn)
        first = made.model
        assert made.note is None and made.reused is None and registry.record(
            st, in_force.MODEL_NAME) is None                   # not registered yet
        assert first.propensity is not None and first.uplift is not None
        in_force.register_fit(st, fitted, first, day, seed=0, n_jobs=1)
        assert registry.record(st, in_force.MODEL_NAME).as_of == day
        fits: list[int] = []
        real = in_force.fit_marketing
        monkeypatch.setattr(in_force, "fit_marketing",
                            lambda *a, **k: fits.append(1) or real(*a, **k))
        kept = in_force.fit_or_reuse(st, fitted, inputs, later, catalogue=cat, channels=chn)
        again, note = kept.model, kept.note
        assert fits == [] and note is not None and f"fitted for {day}" in note
        assert kept.reused is not None and not kept.reused.backtested
        # another sample (a contact fewer) or another seed: fitted again
        in_force.fit_or_reuse(st, fitted.iloc[:-1], inputs, later, catalogue=cat,
                              channels=chn)
        in_force.fit_or_reuse(st, fitted, inputs, later, catalogue=cat, channels=chn,
                              seed=1)
        assert fits == [1, 1]
    refit = real(fitted, inputs, day, catalogue=cat, channels=chn)
    scored = [candidates(m, inputs).scored for m in (first, again, refit)]
    pd.testing.assert_frame_equal(scored[1], scored[0])   # the model in force, as fitted
    pd.testing.assert_frame_equal(scored[2], scored[0])   # and a fit again gives the same
