"""Signed-in sessions of the workbench: server-side, behind an HttpOnly, SameSite cookie.

The cookie holds only a random session id; the service's access token, the user's role and
the session's CSRF token stay in this process. Signing out deletes the session here, so a
copied cookie is worthless afterwards, and a restart of the server ends every session (the
workbench runs as one process beside the service, see docs/workbench.md).
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
import threading
import time

#: Name of the session cookie (HttpOnly, SameSite=Strict, path /).
SESSION_COOKIE = "cp_session"
#: Name of the cookie that carries the sign-in form's CSRF token before a session exists.
LOGIN_CSRF_COOKIE = "cp_login_csrf"
#: Form field and request header that carry the CSRF token.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
#: A session ends after this many seconds without a request (the service's token may end
#: it earlier: an expired token signs the user out).
IDLE_SECONDS = 8 * 3600


@dataclasses.dataclass
class Session:
    """One signed-in user.

    Attributes
    ----------
    username, role : str
        As the service knows them (``rm``, ``credit_officer``, ``risk_manager``, ``admin``).
    token : str
        The service's bearer token, sent with every API call made for this user.
    csrf : str
        The token every form and HTMX request of this session must carry.
    rm_id : str or None
        The relationship manager's id (RMs only).
    """

    username: str
    role: str
    token: str
    csrf: str
    rm_id: str | None = None
    last_seen: float = dataclasses.field(default_factory=time.monotonic)


class SessionStore:
    """Sessions by id, in memory, thread-safe, ended after ``idle_seconds`` without use.

    Examples
    --------
    >>> store = SessionStore()
    >>> sid = store.create("wang", "rm", "tok", rm_id="RM0001")
    >>> store.get(sid).username
    'wang'
    >>> store.end(sid)
    >>> store.get(sid) is None
    True
    """

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, username: str, role: str, token: str, rm_id: str | None = None) -> str:
        """Start a session and return its id (the cookie's value)."""
        sid = secrets.token_urlsafe(32)
        session = Session(username, role, token, secrets.token_urlsafe(32), rm_id)
        with self._lock:
            self._drop_idle()
            self._sessions[sid] = session
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session of ``sid`` (its idle clock restarted), or None."""
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.last_seen > self.idle_seconds:
                del self._sessions[sid]
                return None
            session.last_seen = now
            return session

    def end(self, sid: str | None) -> None:
        """Forget ``sid`` (sign-out); unknown ids are ignored."""
        with self._lock:
            self._sessions.pop(sid or "", None)

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items()
                    if now - v.last_seen > self.idle_seconds]:
            del self._sessions[sid]


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token with what a request sent.

    Examples
    --------
    >>> same_token("abc", "abc"), same_token("abc", None), same_token("abc", "abd")
    (True, False, False)
    """
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())
