"""Tokens, the signing secret and login rate limiting.

Tokens are JWTs signed with HS256 (PyJWT) carrying the user name and an expiry; the role and
book are read from the operational store on every request, so that disabling a user or
changing a role takes effect at once. The secret lives outside the store: the environment
variable ``CREDITPERSONA_SECRET``, else a key file ``<store>.secret`` created owner-only
(refused if others can read it).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import stat
import time
from pathlib import Path

import jwt

from creditpersona.errors import ConfigurationError, StoreError
from creditpersona.service.opstore import OpsStore

SECRET_ENV = "CREDITPERSONA_SECRET"
ALGORITHM = "HS256"
TOKEN_MINUTES = 60
#: Failed logins allowed per user name (or per client address) in :data:`LOGIN_WINDOW_S`.
LOGIN_FAILURES = 5
LOGIN_WINDOW_S = 300.0
_MIN_SECRET = 32


def load_secret(store_path: Path) -> str:
    """The token-signing secret: ``$CREDITPERSONA_SECRET``, else ``<store>.secret``.

    A missing key file is created owner-only with 256 random bits.

    Raises
    ------
    ConfigurationError
        If the environment's secret is shorter than 32 characters.
    StoreError
        If the key file is a symbolic link or readable by others.
    """
    env = os.environ.get(SECRET_ENV)
    if env is not None:
        if len(env) < _MIN_SECRET:
            raise ConfigurationError(f"{SECRET_ENV} has {len(env)} characters; use at least "
                                     f"{_MIN_SECRET} random ones (e.g. python -c 'import "
                                     "secrets; print(secrets.token_hex(32))').")
        return env
    path = store_path.with_name(store_path.name + ".secret")
    if path.is_symlink():
        raise StoreError(f"{path}: is a symbolic link; remove it (the key file is read only "
                         "at its real path).")
    if not path.exists():
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise StoreError(f"{path}: the token key is readable by other users (mode "
                         f"{stat.S_IMODE(path.stat().st_mode):o}); anyone could mint tokens. "
                         f"Fix it with: chmod 600 {path}")
    text = path.read_text().strip()
    if len(text) < _MIN_SECRET:
        raise StoreError(f"{path}: the key file holds {len(text)} characters; delete it to "
                         "have a new one created.")
    return text


def issue_token(secret: str, username: str, minutes: int = TOKEN_MINUTES) -> str:
    """A signed token for ``username`` that expires after ``minutes``.

    Examples
    --------
    >>> t = issue_token("k" * 32, "wang")
    >>> read_token("k" * 32, t)
    'wang'
    >>> read_token("k" * 32, issue_token("k" * 32, "wang", minutes=-1)) is None
    True
    """
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": username, "iat": now, "exp": now + dt.timedelta(minutes=minutes),
              "jti": secrets.token_hex(8)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(secret: str, token: str) -> str | None:
    """The user name of a valid, unexpired token, else None."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


def login_blocked(ops: OpsStore, username: str, client: str) -> float:
    """Seconds until this user name and client may try again (0 when they may now).

    Failures are counted per user name *and* per client address, in the operational store so
    that every worker process of the service shares the count.
    """
    since = time.time() - LOGIN_WINDOW_S
    worst = 0.0
    for column, value in (("username", username), ("client", client)):
        rows = ops.read(f"SELECT COUNT(*), MIN(at) FROM (SELECT at FROM login_failures WHERE "
                        f"{column} = ? AND at > ? ORDER BY at DESC LIMIT ?)",
                        (value, since, LOGIN_FAILURES))
        count, first = rows[0]
        if int(count) >= LOGIN_FAILURES:  # type: ignore[call-overload]
            worst = max(worst, float(first) + LOGIN_WINDOW_S - time.time())  # type: ignore[arg-type]
    return max(worst, 0.0)


def record_failure(ops: OpsStore, username: str, client: str) -> None:
    """Count a failed login (and forget those older than the window)."""
    now = time.time()
    with ops.write() as con:
        con.execute("DELETE FROM login_failures WHERE at < ?", (now - LOGIN_WINDOW_S,))
        con.execute("INSERT INTO login_failures VALUES (?, ?, ?)", (username, client, now))
