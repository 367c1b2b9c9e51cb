"""The run ledger: lineage of every cycle run and checkpoints to resume a failed one.

Every ``creditpersona run`` is recorded in the store:

- ``cycle_runs``: one row per run: as-of date, status (``running``, ``failed``,
  ``completed``, or ``abandoned``: a run whose process ended without closing it, killed
  say, is marked so by the next run on the store), the stage that failed and its error,
  and the lineage: the input loads
  (``load_log``: file, SHA-256, rows) with their digest, the SHA-256 of every packaged
  configuration file, the package version, the engine, the re-fits asked for, and the
  model versions used;
- ``cycle_stages``: one row per stage of a run: ``done`` (computed) or ``resumed`` (taken
  from an earlier run's checkpoint), seconds, and the checkpoint with its SHA-256.

A checkpoint is the result of a stage as data that cannot run code: a folder
``<store>.runs/<as-of>/<stage>/`` beside the store holding ``state.json`` (the result
encoded by :mod:`creditpersona.artefacts`, rebuilt only through its allow-list of
trusted types) and one Parquet file per DataFrame, whose SHA-256 ``state.json`` lists. The
ledger keeps the SHA-256 of ``state.json``: a checkpoint is loaded only when every digest
matches, so a file altered or swapped after the run is never used. Files are written
atomically (``creditpersona.safeio``), never through a planted symlink, in owner-only
folders. A ``.pkl`` checkpoint of an earlier version is never read (a pickle runs code when
loaded): the stage is computed again, and the report asks to run the date again.

A failed (or abandoned) run is resumed by the next run of the same date with the same
lineage fingerprint (inputs, configuration, package version, engine, re-fits): the stages
it finished are loaded, the rest computed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa

from creditpersona import __version__, artefacts, safeio
from creditpersona.errors import StoreError
from creditpersona.store import results
from creditpersona.store.store import LOAD_LOG, Store

RUNS = "cycle_runs"
#: ``format`` of a checkpoint's ``state.json``.
CHECKPOINT_FORMAT = "creditpersona-checkpoint/1"
CHECKPOINT_STATE = "state.json"
STAGES_TABLE = "cycle_stages"
_RUNS_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("as_of", pa.date32()), ("started_at", pa.timestamp("us")),
    ("finished_at", pa.timestamp("us")), ("status", pa.string()),
    ("failed_stage", pa.string()), ("error", pa.string()), ("fingerprint", pa.string()),
    ("inputs_sha256", pa.string()), ("inputs", pa.string()), ("configs", pa.string()),
    ("models", pa.string()), ("refit", pa.string()), ("engine", pa.string()),
    ("package_version", pa.string()), ("resumed_from", pa.string()),
])
_STAGES_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("as_of", pa.date32()), ("stage", pa.string()),
    ("status", pa.string()), ("started_at", pa.timestamp("us")), ("seconds", pa.float64()),
    ("checkpoint", pa.string()), ("checkpoint_sha256", pa.string()),
])


def _now() -> dt.datetime:
    return dt.datetime.now()


def config_digests() -> dict[str, str]:
    """SHA-256 of every configuration file packaged with creditpersona, by package path."""
    root = resources.files("creditpersona")
    out: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            name = f"{prefix}{child.name}"
            if child.is_dir() and not child.name.startswith(("_", ".")):
                walk(child, f"{name}/")
            elif child.name.endswith((".yaml", ".yml", ".toml")):
                out[name] = hashlib.sha256(child.read_bytes()).hexdigest()

    walk(root, "")
    return out


def input_loads(store: Store) -> pd.DataFrame:
    """The store's completed loads: table, file, SHA-256 and rows, in load order."""
    log = store.table(LOAD_LOG)
    keep = [c for c in ("load_id", "table_name", "source_file", "sha256", "rows_read",
                        "rows_loaded", "rows_quarantined") if c in log.columns]
    return log.select(*keep).order_by("load_id").to_pandas()


@artefacts.trusted("run_lineage")
@dataclass(frozen=True)
class Lineage:
    """What a run depends on: inputs, configuration, code version, engine, re-fits."""

    inputs: list[dict[str, Any]]
    inputs_sha256: str
    configs: dict[str, str]
    engine: str
    refit: tuple[str, ...]
    package_version: str = __version__

    @property
    def fingerprint(self) -> str:
        """One digest of the whole lineage: equal fingerprints, equal results."""
        payload = json.dumps({"inputs": self.inputs_sha256, "configs": self.configs,
                              "engine": self.engine, "refit": sorted(self.refit),
                              "version": self.package_version}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def lineage(store: Store, engine: str, refit: tuple[str, ...] = ()) -> Lineage:
    """The lineage of a run on ``store`` now."""
    loads = input_loads(store)
    records = json.loads(loads.to_json(orient="records"))
    digest = hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()
    return Lineage(records, digest, config_digests(), engine, tuple(sorted(refit)))


def checkpoint_dir(store: Store, as_of: dt.date) -> Path:
    """Where the checkpoints of ``as_of`` are kept (beside the store file)."""
    return store.path.parent / f"{store.path.name}.runs" / as_of.isoformat()


def _ensure(store: Store) -> None:
    for name, schema in ((RUNS, _RUNS_SCHEMA), (STAGES_TABLE, _STAGES_SCHEMA)):
        if not results.has_table(store, name):
            store.con.create_table(name, schema.empty_table())
        elif list(store.table(name).columns) != schema.names:
            raise StoreError(f"{store.path}: table {name} is from another version; export it "
                             f"and drop it (DROP TABLE {name}) before running the cycle.")


@dataclass
class RunLedger:
    """The ledger rows of one run, written as the run goes.

    Use :meth:`start`; then :meth:`resumable` tells which stages can be loaded from a failed
    run with the same fingerprint, :meth:`load` loads one, :meth:`done` records a computed
    stage with its checkpoint, :meth:`fail` and :meth:`complete` close the run.
    """

    store: Store
    as_of: dt.date
    lineage: Lineage
    run_id: str
    resumed_from: str | None
    _resumable: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def start(cls, store: Store, as_of: dt.date, lin: Lineage, *,
              restart: bool = False) -> RunLedger:
        """Open a run of ``as_of``; unless ``restart``, resume the last failed run like it.

        Runs the ledger still shows ``running`` are marked ``abandoned`` first: the store
        is open for writing by one process at a time, so a run still ``running`` when
        another starts belongs to a process that ended without closing it (killed, or
        the machine stopped). An abandoned run of the same lineage is resumed like a
        failed one.
        """
        _ensure(store)
        run_id = uuid.uuid4().hex[:12]
        _abandon_running(store, run_id)
        resumable: dict[str, tuple[str, str]] = {}
        previous = None
        if not restart:
            runs = store.table(RUNS)
            last = runs.filter(runs.as_of == ibis.literal(as_of, type="date")).order_by(
                runs.started_at.desc()).limit(1).to_pandas()
            if (len(last) and last["status"].iloc[0] != "completed"
                    and last["fingerprint"].iloc[0] == lin.fingerprint):
                previous = str(last["run_id"].iloc[0])
                st = store.table(STAGES_TABLE)
                rows = st.filter((st.run_id == previous)
                                 & st.status.isin(["done", "resumed"])).to_pandas()
                resumable = {r.stage: (r.checkpoint, r.checkpoint_sha256)
                             for r in rows.itertuples()}
        ledger = cls(store, as_of, lin, run_id, previous, resumable)
        row = {"run_id": ledger.run_id, "as_of": as_of, "started_at": _now(),
               "finished_at": None, "status": "running", "failed_stage": None, "error": None,
               "fingerprint": lin.fingerprint, "inputs_sha256": lin.inputs_sha256,
               "inputs": json.dumps(lin.inputs, ensure_ascii=False),
               "configs": json.dumps(lin.configs), "models": "{}",
               "refit": ",".join(lin.refit), "engine": lin.engine,
               "package_version": lin.package_version, "resumed_from": previous}
        store.con.insert(RUNS, pa.Table.from_pylist([row], schema=_RUNS_SCHEMA))
        return ledger

    def resumable(self, stage: str) -> bool:
        """Whether ``stage`` finished in the run this one resumes, its files all intact.

        A checkpoint that fails a digest, or a ``.pkl`` of an earlier version, is not
        resumable: the stage is computed again.
        """
        hit = self._resumable.get(stage)
        if hit is None:
            return False
        try:
            _verified_files(hit[0], hit[1], stage)
        except StoreError:
            return False
        return True

    def peek(self, stage: str) -> Any:
        """The checkpoint of ``stage`` from the resumed run (digests checked), not recorded:
        an engine looks at it before it decides to resume the stage."""
        path_text, sha = self._resumable[stage]
        return read_checkpoint(path_text, sha, stage)

    def load(self, stage: str) -> Any:
        """The checkpoint of ``stage`` from the resumed run (digests checked), recorded."""
        value = self.peek(stage)
        path_text, sha = self._resumable[stage]
        self._record(stage, "resumed", 0.0, path_text, sha)
        return value

    def done(self, stage: str, value: Any, seconds: float) -> None:
        """Record a computed stage and keep its result as a checkpoint."""
        path, sha = write_checkpoint(checkpoint_dir(self.store, self.as_of) / stage, stage,
                                     value)
        self._record(stage, "done", seconds, str(path), sha)

    def _record(self, stage: str, status: str, seconds: float, path: str | None,
                sha: str | None) -> None:
        row = {"run_id": self.run_id, "as_of": self.as_of, "stage": stage, "status": status,
               "started_at": _now(), "seconds": float(seconds), "checkpoint": path,
               "checkpoint_sha256": sha}
        self.store.con.insert(STAGES_TABLE, pa.Table.from_pylist([row], schema=_STAGES_SCHEMA))

    def fail(self, stage: str, error: BaseException) -> None:
        """Close the run as failed at ``stage``."""
        self._record(stage, "failed", 0.0, None, None)
        self._close("failed", stage, f"{type(error).__name__}: {error}"[:2000], {})

    def complete(self, models: dict[str, Any]) -> None:
        """Close the run as completed, with the model versions it used."""
        self._close("completed", None, None, models)

    def _close(self, status: str, stage: str | None, error: str | None,
               models: dict[str, Any]) -> None:
        def lit(value: str | None) -> str:
            return "NULL" if value is None else "'" + value.replace("'", "''") + "'"

        self.store.con.raw_sql(
            f"UPDATE {RUNS} SET status = {lit(status)}, failed_stage = {lit(stage)}, "
            f"error = {lit(error)}, finished_at = TIMESTAMP '{_now().isoformat(sep=' ')}', "
            f"models = {lit(json.dumps(models, default=str))} "
            f"WHERE run_id = {lit(self.run_id)}")


def runs(store: Store, as_of: dt.date | None = None) -> pd.DataFrame:
    """The ledger's runs (latest first), of one as-of date if given."""
    if not results.has_table(store, RUNS):
        return pd.DataFrame(columns=_RUNS_SCHEMA.names)
    t = store.table(RUNS)
    if as_of is not None:
        t = t.filter(t.as_of == ibis.literal(as_of, type="date"))
    return t.order_by(t.started_at.desc()).to_pandas()


def stages(store: Store, run_id: str) -> pd.DataFrame:
    """The stage rows of one run, in the order they were recorded."""
    if not results.has_table(store, STAGES_TABLE):
        return pd.DataFrame(columns=_STAGES_SCHEMA.names)
    t = store.table(STAGES_TABLE)
    return t.filter(t.run_id == run_id).order_by(t.started_at).to_pandas()


def _abandon_running(store: Store, by: str) -> None:
    """Mark every run still ``running`` as ``abandoned`` (see :meth:`RunLedger.start`)."""
    note = (f"abandoned: its process ended without closing the run (killed?); marked by run "
            f"{by}").replace("'", "''")
    store.con.raw_sql(
        f"UPDATE {RUNS} SET status = 'abandoned', error = '{note}', "
        f"finished_at = TIMESTAMP '{_now().isoformat(sep=' ')}' WHERE status = 'running'")


def write_checkpoint(folder: Path, stage: str, value: Any) -> tuple[Path, str]:
    """Keep ``value`` in ``folder`` as ``state.json`` and Parquet files.

    Returns
    -------
    (pathlib.Path, str)
        The path of ``state.json`` and its SHA-256 (what the ledger records).

    Raises
    ------
    TypeError
        If ``value`` holds an object of a type that is not trusted
        (:func:`creditpersona.artefacts.trusted`).
    """
    for parent in (folder.parent.parent, folder.parent, folder):
        safeio.private_dir(parent)
    with artefacts.collecting_frames() as frames:
        node = artefacts.encode(value)
    files = []
    for i, frame in enumerate(frames):
        data = artefacts.frame_to_parquet(frame)
        digest = hashlib.sha256(data).hexdigest()
        name = f"frame-{i}-{digest[:16]}.parquet"
        safeio.write_bytes(folder / name, data)
        files.append({"file": name, "sha256": digest})
    state = json.dumps({"format": CHECKPOINT_FORMAT, "stage": stage, "frames": files,
                        "value": node}, ensure_ascii=False, allow_nan=False,
                       separators=(",", ":")).encode("utf-8")
    path = safeio.write_bytes(folder / CHECKPOINT_STATE, state)
    keep = {f["file"] for f in files}
    for old in folder.glob("frame-*.parquet"):  # the frames of an earlier run of the stage
        if old.name not in keep and not old.is_symlink():
            old.unlink(missing_ok=True)
    return path, hashlib.sha256(state).hexdigest()


def _verified_files(path_text: str, sha: str, stage: str) -> tuple[dict[str, Any], list[bytes]]:
    """The decoded ``state.json`` of a checkpoint and its frames' bytes, every digest checked."""
    path = Path(path_text)
    if path.suffix == ".pkl":
        raise StoreError(f"{path}: the checkpoint of {stage} is a pickle written by an earlier "
                         "version; a pickle can run code when loaded, so it is never read. "
                         "Run the date again (creditpersona run --as-of DATE --restart).")
    if not path.is_file():
        raise StoreError(f"{path}: the checkpoint of {stage} is gone; run the date again "
                         "(creditpersona run --as-of DATE) to rebuild it.")
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != sha:
        raise StoreError(f"{path}: the checkpoint of {stage} fails its SHA-256 check (it was "
                         "changed after the run); run the date again to rebuild it.")
    try:
        payload = json.loads(blob.decode("utf-8"))
        ok = (isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT
              and isinstance(payload.get("frames"), list))
    except (UnicodeDecodeError, ValueError):
        ok = False
    if not ok:
        raise StoreError(f"{path}: the checkpoint of {stage} is not a {CHECKPOINT_FORMAT} "
                         "file; run the date again to rebuild it.")
    frames = []
    for entry in payload["frames"]:
        name = str(entry.get("file", "")) if isinstance(entry, dict) else ""
        frame_path = path.parent / name
        if "/" in name or not name.endswith(".parquet") or not frame_path.is_file():
            raise StoreError(f"{frame_path}: a table of the checkpoint of {stage} is gone; run "
                             "the date again to rebuild it.")
        data = frame_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise StoreError(f"{frame_path}: a table of the checkpoint of {stage} fails its "
                             "SHA-256 check; run the date again to rebuild it.")
        frames.append(data)
    return payload, frames


def read_checkpoint(path_text: str, sha: str, stage: str) -> Any:
    """The stage result a checkpoint holds, digests checked, rebuilt from trusted types only.

    Raises
    ------
    StoreError
        If the checkpoint is gone, altered, a pickle, or not of trusted types.
    """
    import creditpersona.pipeline  # noqa: F401 - puts every stage's result types on the allow-list

    payload, blobs = _verified_files(path_text, sha, stage)
    cache: dict[int, pd.DataFrame] = {}

    def frame(i: int) -> pd.DataFrame:
        if i not in cache:
            cache[i] = artefacts.frame_from_parquet(blobs[i])
        return cache[i].copy()

    try:
        with artefacts.reading_frames(frame):
            return artefacts.decode(payload.get("value"))
    except artefacts.ArtefactError as exc:
        raise StoreError(f"{path_text}: the checkpoint of {stage}: {exc}") from None


def completed(store: Store, as_of: dt.date) -> tuple[pd.Series, Lineage, dict[str, Any]]:
    """The latest completed run of ``as_of``: its ledger row, lineage and stage results.

    Raises
    ------
    StoreError
        If no run of ``as_of`` completed, or a checkpoint is missing or altered.
    """
    table = runs(store, as_of)
    done = table[table["status"] == "completed"]
    if done.empty:
        raise StoreError(f"{store.path}: no completed cycle run as of {as_of}; run it first: "
                         f"creditpersona run --as-of {as_of}.")
    row = done.iloc[0]
    values = {}
    for r in stages(store, str(row["run_id"])).itertuples():
        if r.status in ("done", "resumed") and isinstance(r.checkpoint, str):
            values[str(r.stage)] = read_checkpoint(r.checkpoint, str(r.checkpoint_sha256),
                                                   str(r.stage))
    lin = Lineage(json.loads(row["inputs"]), str(row["inputs_sha256"]),
                  json.loads(row["configs"]), str(row["engine"]),
                  tuple(x for x in str(row["refit"] or "").split(",") if x),
                  str(row["package_version"]))
    return row, lin, values
