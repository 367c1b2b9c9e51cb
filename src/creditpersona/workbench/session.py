"""Signed-in sessions of the workbench: server-side, behind an HttpOnly, SameSite cookie.

The cookie holds only a random session id; the service's access token, the user's role and
the session's CSRF token are kept in a table of the service's operational store
(``workbench_sessions`` in ``<store>.ops.sqlite``, owner-only like the rest of it), keyed by
the SHA-256 of the id, so that every worker process of ``creditpersona serve --workers N``
knows every session and the table does not hold the cookies themselves. Signing out deletes
the row: a copied cookie is worthless afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import time

from creditpersona.service.opstore import OpsStore

#: Name of the session cookie (HttpOnly, SameSite=Strict, path /).
SESSION_COOKIE = "cp_session"
#: Name of the cookie that carries the sign-in form's CSRF token before a session exists.
LOGIN_CSRF_COOKIE = "cp_login_csrf"
#: Form field and request header that carry the CSRF token.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
#: A session ends after this many seconds without a request (the service's token may end
#: it earlier: an expired token signs the user out).
IDLE_SECONDS = 3600


SCHEMA = """
CREATE TABLE IF NOT EXISTS workbench_sessions (
    sid_sha256 TEXT PRIMARY KEY, username TEXT NOT NULL, role TEXT NOT NULL, rm_id TEXT,
    token TEXT NOT NULL, csrf TEXT NOT NULL, last_seen REAL NOT NULL);
"""


@dataclasses.dataclass(frozen=True)
class Session:
    """One signed-in user.

    Attributes
    ----------
    username, role : str
        As the service knew them at sign-in (``rm``, ``credit_officer``, ``risk_manager``,
        ``admin``); the service checks the role again on every API call.
    token : str
        The service's bearer token, sent with every API call made for this user.
    csrf : str
        The token every form and HTMX request of this session must carry.
    rm_id : str or None
        The relationship manager's book (RMs only).
    """

    username: str
    role: str
    token: str
    csrf: str
    rm_id: str | None = None


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    """Sessions in the operational store, ended after ``idle_seconds`` without a request.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> store = SessionStore(OpsStore(Path(tempfile.mkdtemp()) / "o.sqlite"))
    >>> sid = store.create("wang", "rm", "tok", rm_id="RM0001")
    >>> store.get(sid).username
    'wang'
    >>> store.end(sid)
    >>> store.get(sid) is None
    True
    """

    def __init__(self, ops: OpsStore, idle_seconds: float = IDLE_SECONDS) -> None:
        self.ops = ops
        self.idle_seconds = idle_seconds
        self.ops.connection().executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;")

    def create(self, username: str, role: str, token: str, rm_id: str | None = None) -> str:
        """Start a session and return its id (the cookie's value)."""
        sid = secrets.token_urlsafe(32)
        now = time.time()
        with self.ops.write() as con:
            con.execute("DELETE FROM workbench_sessions WHERE last_seen < ?",
                        (now - self.idle_seconds,))
            con.execute("INSERT INTO workbench_sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (_key(sid), username, role, rm_id, token, secrets.token_urlsafe(32),
                         now))
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session of ``sid`` (its idle clock restarted), or None."""
        if not sid:
            return None
        now = time.time()
        with self.ops.write() as con:
            row = con.execute("SELECT username, role, token, csrf, rm_id, last_seen FROM "
                              "workbench_sessions WHERE sid_sha256 = ?", (_key(sid),)).fetchone()
            if row is None:
                return None
            if now - float(row[5]) > self.idle_seconds:
                con.execute("DELETE FROM workbench_sessions WHERE sid_sha256 = ?", (_key(sid),))
                return None
            con.execute("UPDATE workbench_sessions SET last_seen = ? WHERE sid_sha256 = ?",
                        (now, _key(sid)))
        return Session(str(row[0]), str(row[1]), str(row[2]), str(row[3]),
                       None if row[4] is None else str(row[4]))

    def end(self, sid: str | None) -> None:
        """Forget ``sid`` (sign-out); unknown ids are ignored."""
        if sid:
            with self.ops.write() as con:
                con.execute("DELETE FROM workbench_sessions WHERE sid_sha256 = ?", (_key(sid),))


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token with what a request sent.

    Examples
    --------
    >>> same_token("abc", "abc"), same_token("abc", None), same_token("abc", "abd")
    (True, False, False)
    """
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())
