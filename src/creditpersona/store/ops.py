"""The operational store: what the service writes, in SQLite beside the analytic store.

The DuckDB store has one writing process at a time and, while the quarterly ``run`` writes,
other processes cannot even read it. What users write through the service (users, the audit
chain, watch-list cases, rating overrides, the campaign-outcome inbox) must never wait for a
batch, so it lives in its own SQLite file, ``<store>.ops.sqlite``, in WAL mode: readers never
block, one writer at a time across threads *and* processes (``BEGIN IMMEDIATE`` with a busy
timeout), and each commit is durable before the API answers. See docs/service.md.

The file is created owner-only, beside the store (whose folder :func:`check_private` already
keeps private); a path that is a symbolic link, or a file others can write, is refused.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from creditpersona.errors import StoreError
from creditpersona.safeio import others_can_write, private_dir

#: How long a writer waits for another writer (another request, the CLI, the cycle's intake).
BUSY_TIMEOUT_MS = 30_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY, role TEXT NOT NULL, rm_id TEXT, password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS login_failures (
    username TEXT NOT NULL, client TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_user ON login_failures (username, at);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, username TEXT NOT NULL, role TEXT NOT NULL,
    client TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL, firm_id TEXT,
    detail TEXT NOT NULL, before TEXT, after TEXT, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_firm ON audit (firm_id);
CREATE INDEX IF NOT EXISTS audit_user ON audit (username);
CREATE TABLE IF NOT EXISTS watch_cases (
    case_id INTEGER PRIMARY KEY, firm_id TEXT NOT NULL, as_of TEXT NOT NULL,
    state TEXT NOT NULL, assignee TEXT, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    UNIQUE (firm_id, as_of));
CREATE TABLE IF NOT EXISTS watch_actions (
    action_id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL REFERENCES watch_cases,
    at TEXT NOT NULL, username TEXT NOT NULL, from_state TEXT NOT NULL,
    to_state TEXT NOT NULL, note TEXT NOT NULL, assignee TEXT);
CREATE TABLE IF NOT EXISTS rating_overrides (
    override_id INTEGER PRIMARY KEY, firm_id TEXT NOT NULL, as_of TEXT NOT NULL,
    model_grade TEXT NOT NULL, grade TEXT NOT NULL, reason TEXT NOT NULL,
    username TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rating_overrides_firm ON rating_overrides (firm_id, as_of);
CREATE TABLE IF NOT EXISTS outcome_inbox (
    outcome_id INTEGER PRIMARY KEY, campaign_id TEXT NOT NULL, firm_id TEXT NOT NULL,
    product TEXT NOT NULL, channel TEXT, contact_date TEXT NOT NULL,
    treated INTEGER NOT NULL, responded INTEGER NOT NULL, amount_taken REAL,
    username TEXT NOT NULL, received_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    load_id INTEGER, message TEXT, response TEXT);
CREATE INDEX IF NOT EXISTS outcome_inbox_status ON outcome_inbox (status);
"""


def ops_path(store_path: str | Path) -> Path:
    """Where the operational store of a DuckDB store lives: ``<store>.ops.sqlite``.

    Examples
    --------
    >>> ops_path("/data/bank.duckdb").name
    'bank.duckdb.ops.sqlite'
    """
    store_path = Path(store_path)
    return store_path.with_name(store_path.name + ".ops.sqlite")


@contextmanager
def read_only(path: str | Path) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection to an operational store, or None when there is none.

    For readers outside the service (the review counts rating overrides): nothing is created,
    no schema written, and a file that is a symbolic link or writable by others is refused
    as :class:`OpsStore` refuses it.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        yield None
        return
    if path.is_symlink():
        raise StoreError(f"{path}: is a symbolic link; the operational store is read only at "
                         "its real path. Remove the link.")
    if others_can_write(path):
        raise StoreError(f"{path}: is writable by other users (mode "
                         f"{stat.S_IMODE(path.stat().st_mode):o}); its records cannot be "
                         f"trusted. Fix it with: chmod go-rw {path}")
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                          timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        yield con
    finally:
        con.close()


class OpsStore:
    """The SQLite operational store, one connection per thread.

    Parameters
    ----------
    path : str or Path
        The SQLite file (see :func:`ops_path`); created owner-only if missing.

    Examples
    --------
    >>> import tempfile
    >>> ops = OpsStore(Path(tempfile.mkdtemp()) / "x.ops.sqlite")
    >>> oct(stat.S_IMODE(ops.path.stat().st_mode))
    '0o600'
    >>> with ops.write() as con:
    ...     _ = con.execute("INSERT INTO users VALUES ('a', 'admin', NULL, 'h', 1, 'now')")
    >>> ops.read("SELECT username FROM users")
    [('a',)]
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_symlink():
            raise StoreError(f"{self.path}: is a symbolic link; the operational store is "
                             "opened only at its real path. Remove the link.")
        if not self.path.parent.exists():
            private_dir(self.path.parent)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
        for file in (self.path, self.path.with_name(self.path.name + "-wal")):
            if file.exists() and others_can_write(file):
                raise StoreError(f"{file}: is writable by other users (mode "
                                 f"{stat.S_IMODE(file.stat().st_mode):o}); anyone could edit "
                                 f"users and the audit log. Fix it with: chmod go-rw {file}")
        self._local = threading.local()
        # Threads of this process queue for the write lock on a mutex: SQLite's own busy
        # handler polls with sleeps of milliseconds, which would add up under concurrent
        # requests. Other processes (workers, the CLI, the cycle's intake) still wait on
        # SQLite's lock with the busy timeout.
        self._write_lock = threading.Lock()
        # executescript commits by itself: the schema is created in one script-level transaction.
        self.connection().executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;")
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since a file was created (``outcome_inbox.response``)."""
        with self.write() as con:
            have = {str(r[1]) for r in con.execute("PRAGMA table_info(outcome_inbox)")}
            if "response" not in have:
                con.execute("ALTER TABLE outcome_inbox ADD COLUMN response TEXT")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, WAL mode)."""
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so that a writer takes
            # the write lock before it reads what it builds on (the audit chain's last hash).
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                  isolation_level=None, check_same_thread=True)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            con.execute("PRAGMA foreign_keys=ON")
            self._local.con = con
        return con

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, else rolled back."""
        con = self.connection()
        with self._write_lock:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def read(self, sql: str, params: tuple[object, ...] | dict[str, object] = ()) -> list[
            tuple[object, ...]]:
        """Rows of a query (a consistent snapshot of the last commit)."""
        return self.connection().execute(sql, params).fetchall()

    def close(self) -> None:
        """Close this thread's connection."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
