"""Nothing the package reads back from disk or from the store can run code.

Each test plants what an attacker able to write the store's folder would plant — a real
pickle whose ``__reduce__`` creates a marker file — in one place an artefact is read, and
shows it is refused with the right error and the marker never appears. The models and
stage results themselves round-trip exactly through the JSON (+ Parquet) artefacts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from creditpersona import artefacts
from creditpersona.errors import StoreError
from creditpersona.models import registry
from creditpersona.runs import Lineage, RunLedger, read_checkpoint, runs, write_checkpoint
from creditpersona.store.store import Store

AS_OF = dt.date(2026, 3, 31)


class Payload:
    """Unpickling this creates ``marker``: what a malicious artefact would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def evil(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker))


def test_the_planted_pickle_does_run_when_unpickled(tmp_path: Path) -> None:
    # The payload is real: unpickling it creates the marker (so its absence below means
    # the artefact was refused, not that the payload was harmless).
    marker = tmp_path / "ran"
    pickle.loads(evil(marker))  # noqa: S301 - the test's own payload, to show it is live
    assert marker.exists()


# -- exact round trips ---------------------------------------------------------------------
def assert_same_value(left: Any, right: Any, path: str = "value") -> None:
    """``right`` is ``left`` rebuilt: same types, same numbers, recursively."""
    assert type(left) is type(right), f"{path}: {type(left)} became {type(right)}"
    if isinstance(left, pd.DataFrame):
        pd.testing.assert_frame_equal(left, right, check_exact=True, obj=path)
    elif isinstance(left, pd.Series):
        pd.testing.assert_series_equal(left, right, check_exact=True, obj=path)
    elif isinstance(left, pd.Index):
        pd.testing.assert_index_equal(left, right, exact=True, obj=path)
    elif isinstance(left, np.ndarray):
        assert left.dtype == right.dtype and left.shape == right.shape, path
        np.testing.assert_array_equal(left, right, err_msg=path)
    elif isinstance(left, dict):
        assert list(left) == list(right), f"{path}: keys differ"
        for k in left:
            assert_same_value(left[k], right[k], f"{path}[{k!r}]")
    elif isinstance(left, list | tuple):
        assert len(left) == len(right), f"{path}: lengths differ"
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same_value(a, b, f"{path}[{i}]")
    elif isinstance(left, float | np.floating):
        assert left == right or (np.isnan(left) and np.isnan(right)), path
    elif dataclasses.is_dataclass(left):
        for f in dataclasses.fields(left):
            assert_same_value(getattr(left, f.name), getattr(right, f.name), f"{path}.{f.name}")
    elif hasattr(left, "model_dump"):
        assert left == right, path
    elif type(left).__name__ == "Booster":
        assert left.model_to_string() == right.model_to_string(), path
    elif type(left).__name__ == "Tree":
        a, b = left.__getstate__(), right.__getstate__()
        for key in a:
            assert_same_value(np.asarray(a[key]), np.asarray(b[key]), f"{path}.{key}")
    elif hasattr(left, "__dict__") and not isinstance(left, type):
        skip = {"binnings_", "oof_margin_", "f_"}  # not stored: see ScorecardPD.to_state, rebuilt
        assert set(vars(left)) == set(vars(right)), f"{path}: attributes differ"
        for k in vars(left):
            if k not in skip:
                assert_same_value(vars(left)[k], vars(right)[k], f"{path}.{k}")
    else:
        assert left == right, f"{path}: {left!r} != {right!r}"


def test_values_round_trip_exactly() -> None:
    frame = pd.DataFrame({
        "firm_id": pd.array(["a", "b", None], dtype="str"), "n": [1, 2, 3],
        "x": [0.1, np.nan, np.inf], "ok": [True, False, True],
        "when": pd.to_datetime(["2026-01-01", "2026-02-01", None]),
        "grade": pd.Categorical(["1", "2", "1"]), "maybe": pd.array([1, None, 3], "Int64"),
        "any": [["x"], {"k": 1}, None],
    }, index=pd.Index(["r1", "r2", "r3"], name="row"))
    value = {"frame": frame, "series": frame["x"], "tuple": (1, "a", dt.date(2026, 3, 31)),
             ("non", "str"): np.array([[1, 2], [3, 4]], dtype=np.int32), "set": {1, 2},
             "scalar": np.float64(0.5), "path": Path("/x/y.csv"), "nan": float("nan"),
             "when": dt.datetime(2026, 3, 31, 12, 0), "$t": "a key like a tag"}
    back = artefacts.loads(artefacts.dumps(value))
    assert_same_value(value, back)

def test_stage_values_round_trip_through_json_and_parquet(tmp_path: Path) -> None:
    plain = pd.DataFrame({
        "firm_id": pd.array(["a", "b", None], dtype="str"), "n": [1, 2, 3],
        "x": [0.1, np.nan, -np.inf], "ok": [True, False, True],
        "when": pd.to_datetime(["2026-01-01", "2026-02-01", None]),
        "maybe": pd.array([1, None, 3], "Int64"), "text": np.array(["a", None, "c"], object),
    })
    odd = pd.DataFrame({0: [["x"], {"k": 1}]}, index=pd.Index(["r1", "r2"], name="row"))
    value = {"plain": plain, "indexed": plain.set_index("firm_id"), "odd": odd}
    with artefacts.collecting_frames() as frames:
        artefacts.encode(value)
    assert len(frames) == 2  # frames of plain columns go to Parquet, the odd one to JSON
    path, digest = write_checkpoint(tmp_path / "runs" / "day" / "stage", "stage", value)
    assert_same_value(value, read_checkpoint(str(path), digest, "stage"))


def test_a_column_of_dates_goes_to_parquet_and_comes_back_the_same(tmp_path: Path) -> None:
    # A plan's next review date (datetime.date objects): Parquet date32, not JSON, whose
    # per-value encoding cost seconds on a 100,000-firm cycle's checkpoints.
    days = np.array([dt.date(2026, 9, 30), None, dt.date(2026, 12, 31)], dtype=object)
    dated = pd.DataFrame({"firm_id": ["a", "b", "c"], "next_review": days})
    nan_dated = dated.assign(next_review=np.array([dt.date(2026, 9, 30), np.nan, None],
                                                  dtype=object))
    value = {"dated": dated, "nan_dated": nan_dated}
    with artefacts.collecting_frames() as frames:
        artefacts.encode(value)
    # A NaN would come back None: that frame stays JSON.
    assert [list(f.columns) for f in frames] == [["firm_id", "next_review"]]
    assert frames[0] is dated
    path, digest = write_checkpoint(tmp_path / "runs" / "day" / "stage", "stage", value)
    back = read_checkpoint(str(path), digest, "stage")
    assert_same_value(value, back)
    assert [type(v) for v in back["dated"]["next_review"]] == [dt.date, type(None), dt.date]


def test_a_type_off_the_allow_list_is_refused_when_written_and_when_read() -> None:
    class Stranger:
        pass

    with pytest.raises(TypeError, match="not a trusted artefact type"):
        artefacts.dumps({"x": Stranger()})
    forged = json.dumps({"type": "os.system", "format": artefacts.FORMAT,
                         "state": {"attrs": {}}}).encode()
    with pytest.raises(StoreError, match="not on the allow-list"):
        artefacts.loads(forged)
    nested = json.dumps({"type": "value", "format": artefacts.FORMAT,
                         "state": {"$t": "obj", "type": "subprocess.Popen", "state": {}}})
    with pytest.raises(StoreError, match="not on the allow-list"):
        artefacts.loads(nested.encode())


def test_the_allow_list_is_closed_and_names_are_unique() -> None:
    import creditpersona.pipeline  # noqa: F401 - every stage registers its result types

    names = artefacts.trusted_types()
    for name in ("pd_scorecard", "pd_lightgbm", "calibrated_pd", "logit_calibration",
                 "persona_model", "persona_segmenter", "cycle_pd_stage", "review_result"):
        assert name in names
    with pytest.raises(ValueError, match="'pd_scorecard' is taken"):
        @artefacts.trusted("pd_scorecard")
        class Impostor:
            pass


def test_the_documented_protocol_registers_a_new_model(store: Store) -> None:
    @artefacts.trusted("test_text_model")
    class TextModel:
        def to_state(self) -> dict[str, Any]:
            return {"vocabulary": self.vocabulary_,
                    "weights": artefacts.encode(self.weights_)}

        @classmethod
        def from_state(cls, state: dict[str, Any]) -> TextModel:
            model = cls()
            model.vocabulary_ = dict(state["vocabulary"])
            model.weights_ = artefacts.decode(state["weights"])
            return model

    model = TextModel()
    model.vocabulary_, model.weights_ = {"违约": 0, "诉讼": 1}, np.array([0.5, -1.25])
    registry.register(store, model, name="text", kind="text", training=pd.DataFrame(
        {"a": [1]}), features=["a"], params={}, metrics={})
    back, _ = registry.load(store, "text")
    assert isinstance(back, TextModel) and back.vocabulary_ == model.vocabulary_
    np.testing.assert_array_equal(back.weights_, model.weights_)


# -- the registry -----------------------------------------------------------------------------
def _tiny_models() -> tuple[dict[str, Any], pd.DataFrame, np.ndarray]:
    from creditpersona.models.boosting import BoostedPD
    from creditpersona.models.calibration import CalibratedPD, LogitCalibration
    from creditpersona.models.scorecard import ScorecardPD

    rng = np.random.default_rng(3)
    n = 1500
    x = pd.DataFrame({"leverage": rng.uniform(0, 1, n), "roa": rng.normal(0.05, 0.1, n),
                      "dpd": rng.integers(0, 90, n).astype(float)})
    x.loc[:99, "roa"] = np.nan
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(5 - 4 * x["leverage"] + 3 * x["roa"]))
         ).astype(int).to_numpy()
    scorecard = ScorecardPD(n_jobs=1).fit(x, y)
    sigmoid = BoostedPD(n_jobs=1, max_rounds=60, cv=3).fit(x, y)
    isotonic = BoostedPD(n_jobs=1, max_rounds=60, cv=3, calibration="isotonic").fit(x, y)
    calibrated = CalibratedPD(scorecard, LogitCalibration().fit(scorecard.predict_pd(x), y))
    return ({"scorecard": scorecard, "sigmoid": sigmoid, "isotonic": isotonic,
             "calibrated": calibrated}, x, y)


def test_pd_models_round_trip_through_the_registry(store: Store) -> None:
    models, x, y = _tiny_models()
    for name, model in models.items():
        registry.register(store, model, name=name, kind="test", training=x, features=list(x),
                          params={}, metrics={}, as_of=AS_OF)
        back, record = registry.load(store, name)
        assert record.name == name
        assert_same_value(model, back, name)
        np.testing.assert_array_equal(model.predict_pd(x), back.predict_pd(x))
        pd.testing.assert_frame_equal(model.explain(x, top=2), back.explain(x, top=2))
    blob = store.table(registry.REGISTRY).artefact.execute().iloc[0]
    assert json.loads(bytes(blob))["type"] == "pd_scorecard"


def test_a_persona_model_round_trips_through_the_registry(store: Store,
                                                          synthetic_bank: Any) -> None:
    from creditpersona.personas.describe import describe_personas
    from creditpersona.personas.policy import fit_personas, load_policy
    from creditpersona.personas.store import load_model, register_model

    profile = synthetic_bank.profile.head(600).reset_index(drop=True)
    policy = load_policy()
    policy = policy.model_copy(update={"segmentation": policy.segmentation.model_copy(
        update={"k_min": 3, "k_max": 4, "n_bootstrap": 1, "n_init": 1})})
    model, _ = fit_personas(profile, policy)
    register_model(store, model, profile, {"silhouette": 0.1}, AS_OF)
    back, version = load_model(store)
    assert version == 1
    assert_same_value(model, back, "persona_model")
    pd.testing.assert_frame_equal(model.assign(profile), back.assign(profile))
    cards = describe_personas(profile, model.assign(profile), model)
    again = artefacts.loads(artefacts.dumps(cards))
    assert_same_value(cards, again, "cards")
    assert cards.surrogate is not None and again.surrogate is not None
    tree = cards.surrogate.tree
    probe = pd.DataFrame(np.random.default_rng(0).normal(0, 2, (200, tree.n_features_in_)),
                         columns=getattr(tree, "feature_names_in_", None))
    np.testing.assert_array_equal(tree.predict_proba(probe),
                                  again.surrogate.tree.predict_proba(probe))


def _plant_registry_row(store: Store, name: str, blob: bytes) -> None:
    """Overwrite a model's BLOB and its digest together (what a writer of the file can do)."""
    digest = hashlib.sha256(blob).hexdigest()
    store.con.con.execute(f"UPDATE {registry.REGISTRY} SET artefact = ?, artefact_sha256 = ? "
                          "WHERE name = ?", [blob, digest, name])


def test_a_pickle_in_the_registry_is_refused_unrun(store: Store, tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0]})
    registry.register(store, {"placeholder": 1}, name="pd_champion", kind="scorecard",
                      training=frame, features=["a"], params={}, metrics={})
    marker = tmp_path / "registry-ran"
    _plant_registry_row(store, "pd_champion", evil(marker))
    with pytest.raises(StoreError, match="model 'pd_champion' v1: is a Python pickle"):
        registry.load(store, "pd_champion")
    # JSON that names a pickle-like payload is refused too (only trusted types are built).
    _plant_registry_row(store, "pd_champion", json.dumps({
        "type": "value", "format": artefacts.FORMAT,
        "state": {"$t": "foreign", "type": "builtins.eval", "state": "1"}}).encode())
    with pytest.raises(StoreError, match="not on the allow-list"):
        registry.load(store, "pd_champion")
    assert not marker.exists()


def test_a_pickled_persona_model_is_refused_unrun(store: Store, tmp_path: Path) -> None:
    from creditpersona.personas.store import MODEL_NAME, load_model

    registry.register(store, {"placeholder": 1}, name=MODEL_NAME, kind="persona_segmenter",
                      training=pd.DataFrame({"a": [1]}), features=["a"], params={},
                      metrics={})
    marker = tmp_path / "persona-ran"
    _plant_registry_row(store, MODEL_NAME, evil(marker))
    with pytest.raises(StoreError, match="is a Python pickle.*Fit the personas"):
        load_model(store)
    assert not marker.exists()


# -- checkpoints ------------------------------------------------------------------------------
LIN = Lineage([{"load_id": 1, "sha256": "a"}], "a" * 64, {"x.yaml": "1"}, "duckdb", ())


def _failed_run_with_profile_checkpoint(st: Store) -> tuple[RunLedger, Path]:
    run = RunLedger.start(st, AS_OF, LIN)
    run.done("profile", {"rows": 3, "frame": pd.DataFrame({"a": [1.0, 2.0]})}, 1.0)
    run.fail("pd_models", RuntimeError("injected"))
    state = st.path.parent / f"{st.path.name}.runs" / AS_OF.isoformat() / "profile" / \
        "state.json"
    return run, state


def _set_digest(st: Store, run_id: str, path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    st.con.con.execute("UPDATE cycle_stages SET checkpoint = ?, checkpoint_sha256 = ? "
                       "WHERE run_id = ? AND stage = 'profile'", [str(path), digest, run_id])


def test_checkpoints_are_json_and_parquet_in_owner_only_folders(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as st:
        run, state = _failed_run_with_profile_checkpoint(st)
        files = sorted(p.name for p in state.parent.iterdir())
        assert files[-1] == "state.json" and files[0].endswith(".parquet")
        assert json.loads(state.read_text())["format"] == "creditpersona-checkpoint/1"
        for folder in (state.parent, state.parent.parent, state.parent.parent.parent):
            assert oct(folder.stat().st_mode & 0o777) == "0o700"
        again = RunLedger.start(st, AS_OF, LIN)
        assert again.resumable("profile")
        value = again.load("profile")
        assert value["rows"] == 3
        pd.testing.assert_frame_equal(value["frame"], pd.DataFrame({"a": [1.0, 2.0]}))


def test_a_pickle_planted_as_a_checkpoint_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "checkpoint-ran"
    with Store(tmp_path / "s.duckdb") as st:
        run, state = _failed_run_with_profile_checkpoint(st)
        # 1. the state file replaced by a pickle, its digest updated in the ledger
        state.write_bytes(evil(marker))
        _set_digest(st, run.run_id, state)
        resumed = RunLedger.start(st, AS_OF, LIN)
        assert not resumed.resumable("profile")  # computed again, never loaded
        with pytest.raises(StoreError, match="not a creditpersona-checkpoint/1 file"):
            read_checkpoint(str(state), hashlib.sha256(state.read_bytes()).hexdigest(),
                            "profile")
        # 2. a ledger row pointing at a .pkl (an earlier version's checkpoint, or planted)
        pkl = state.parent / "profile.pkl"
        pkl.write_bytes(evil(marker))
        with pytest.raises(StoreError, match="is a pickle written by an earlier version"):
            read_checkpoint(str(pkl), hashlib.sha256(pkl.read_bytes()).hexdigest(),
                            "profile")
        # 3. a JSON state naming an untrusted type, digest updated
        forged = {"format": "creditpersona-checkpoint/1", "stage": "profile", "frames": [],
                  "value": {"$t": "obj", "type": "posix.system", "state": {}}}
        state.write_text(json.dumps(forged))
        digest = hashlib.sha256(state.read_bytes()).hexdigest()
        with pytest.raises(StoreError, match="not on the allow-list"):
            read_checkpoint(str(state), digest, "profile")
    assert not marker.exists()


def test_report_refuses_a_pickle_planted_in_a_completed_run(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from creditpersona.cli.app import app

    marker = tmp_path / "report-ran"
    with Store(tmp_path / "s.duckdb") as st:
        run = RunLedger.start(st, AS_OF, LIN)
        run.done("inputs", {"rows": 1}, 0.1)
        run.complete({})
        state = st.path.parent / f"{st.path.name}.runs" / AS_OF.isoformat() / "inputs" / \
            "state.json"
        state.write_bytes(evil(marker))
        st.con.con.execute("UPDATE cycle_stages SET checkpoint_sha256 = ? WHERE run_id = ?",
                           [hashlib.sha256(state.read_bytes()).hexdigest(), run.run_id])
    result = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "s.duckdb"),
                                      "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "not a creditpersona-checkpoint/1 file" in " ".join(result.output.split())
    assert not marker.exists() and not (tmp_path / "r.html").exists()


def test_a_swapped_parquet_table_of_a_checkpoint_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "day" / "stage"
    path, digest = write_checkpoint(folder, "stage", {"f": pd.DataFrame({"a": [1, 2]})})
    table = next(folder.glob("*.parquet"))
    table.write_bytes(evil(tmp_path / "ran"))
    with pytest.raises(StoreError, match="fails its SHA-256 check"):
        read_checkpoint(str(path), digest, "stage")
    assert not (tmp_path / "ran").exists()


def test_a_checkpoint_is_never_written_through_a_planted_symlink(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "day" / "stage"
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "victim.txt"
    elsewhere.write_text("keep")
    (folder / "state.json").symlink_to(elsewhere)
    write_checkpoint(folder, "stage", {"x": 1})
    assert elsewhere.read_text() == "keep"
    assert not (folder / "state.json").is_symlink()


# -- the store's folder -----------------------------------------------------------------------
def test_a_store_others_can_write_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "wal-ran"
    folder = tmp_path / "shared"
    with Store(folder / "bank.duckdb"):
        pass
    os.chmod(folder, 0o777)
    with pytest.raises(StoreError, match=r"writable by other users.*chmod go-w"):
        Store(folder / "bank.duckdb", read_only=True)
    os.chmod(folder, 0o700)
    os.chmod(folder / "bank.duckdb", 0o666)
    with pytest.raises(StoreError, match=r"bank.duckdb: .*writable by other users"):
        Store(folder / "bank.duckdb")
    os.chmod(folder / "bank.duckdb", 0o600)
    wal = folder / "bank.duckdb.wal"
    wal.write_bytes(evil(marker))  # a WAL DuckDB would replay, planted by another user
    os.chmod(wal, 0o666)
    with pytest.raises(StoreError, match=r"bank.duckdb.wal: .*writable by other users"):
        Store(folder / "bank.duckdb")
    assert not marker.exists()


def test_a_store_path_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "real.duckdb"):
        pass
    (tmp_path / "link.duckdb").symlink_to(tmp_path / "real.duckdb")
    with pytest.raises(StoreError, match="is a symbolic link"):
        Store(tmp_path / "link.duckdb", read_only=True)


def test_a_new_store_and_its_folder_are_created_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o002)  # a group-writable default, as on many Linux desktops
    try:
        with Store(tmp_path / "new" / "bank.duckdb"):
            pass
    finally:
        os.umask(old)
    assert oct((tmp_path / "new").stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "new" / "bank.duckdb").stat().st_mode & 0o777) == "0o600"
    with Store(tmp_path / "new" / "bank.duckdb", read_only=True):
        pass


# -- the ledger -------------------------------------------------------------------------------
def test_a_killed_run_is_marked_abandoned_by_the_next_and_shown(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    # A process that opens a run and is killed before closing it.
    script = (
        "import datetime as dt, os, signal\n"
        "from creditpersona.runs import Lineage, RunLedger\n"
        "from creditpersona.store.store import Store\n"
        f"st = Store({str(path)!r})\n"
        "lin = Lineage([], 'a' * 64, {}, 'duckdb', ())\n"
        "run = RunLedger.start(st, dt.date(2026, 3, 31), lin)\n"
        "run.done('profile', 'p1', 0.1)\n"
        "st.con.raw_sql('CHECKPOINT')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert killed.returncode == -9, killed.stderr
    with Store(path) as st:
        assert list(runs(st)["status"]) == ["running"]
        nxt = RunLedger.start(st, AS_OF, LIN)
        table = runs(st)
        left = table[table["run_id"] != nxt.run_id].iloc[0]
        assert left["status"] == "abandoned" and nxt.run_id in left["error"]
        assert not pd.isna(left["finished_at"])
        nxt.complete({})
    from typer.testing import CliRunner

    from creditpersona.cli.app import app

    shown = CliRunner().invoke(app, ["runs", "--store", str(path)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "abandoned" in shown.output and "completed" in shown.output


def test_models_with_categorical_features_round_trip_through_the_registry(store: Store) -> None:
    """Categories and category bins (text columns of `pd evaluate`) survive the JSON form."""
    from creditpersona.models.boosting import BoostedPD
    from creditpersona.models.scorecard import ScorecardPD

    rng = np.random.default_rng(5)
    n = 600
    region = rng.choice(["华东", "华北", "西南", "东北"], size=n)
    x = pd.DataFrame({"leverage": rng.uniform(0.1, 0.9, n),
                      "region": pd.Categorical(region)})
    logit = -2.0 + 2.5 * x["leverage"] + np.where(region == "东北", 1.2, 0.0)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    models = {"cat_scorecard": ScorecardPD(n_jobs=1).fit(x, y),
              "cat_lightgbm": BoostedPD(n_jobs=1, max_rounds=40, cv=3).fit(x, y)}
    assert models["cat_scorecard"].category_bins_
    for name, model in models.items():
        registry.register(store, model, name=name, kind="test", training=x, features=list(x),
                          params={}, metrics={}, as_of=AS_OF)
        back, _ = registry.load(store, name)
        assert back.categories_ == model.categories_
        np.testing.assert_array_equal(model.predict_pd(x), back.predict_pd(x))
