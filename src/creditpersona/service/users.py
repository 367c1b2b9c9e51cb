"""Users and roles of the service, kept in the operational store.

Four roles (角色): ``rm`` (客户经理, sees only the firms whose ``rm_id`` is theirs),
``credit_officer`` (授信审批), ``risk_manager`` (风险管理) and ``admin`` (系统管理员, the only
role that manages users). Passwords are hashed with Argon2id (argon2-cffi, its default
parameters: RFC 9106's low-memory profile, 3 passes over 64 MiB); the hash is all the store
keeps.

The test suite hashes dozens of passwords, each costing a quarter of a second at those
parameters: it sets ``CREDITPERSONA_INSECURE_TEST_PASSWORD_HASHES=1`` (tests/conftest.py) for
Argon2id with 1 pass over 8 KiB (:data:`TEST_PARAMETERS`). Never set it anywhere else. Any
other value is an error, and unset is the default. A hash records its own parameters, so
verifying works whichever hashed it.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import sqlite3
from dataclasses import dataclass, replace

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from creditpersona.errors import ConfigurationError
from creditpersona.service.opstore import OpsStore

ROLES = ("rm", "credit_officer", "risk_manager", "admin")
ROLE_LABELS = {"rm": "客户经理 relationship manager", "credit_officer": "授信审批 credit officer",
               "risk_manager": "风险管理 risk manager", "admin": "系统管理员 administrator"}
MIN_PASSWORD = 10
_USERNAME = re.compile(r"[A-Za-z0-9_.-]{2,64}")
#: The environment variable that the test suite sets for cheap password hashes.
TEST_HASHES_ENV = "CREDITPERSONA_INSECURE_TEST_PASSWORD_HASHES"
#: Argon2id at its smallest cost (1 pass over 8 KiB, one lane), for the tests only.
TEST_PARAMETERS: Parameters = replace(profiles.RFC_9106_LOW_MEMORY, time_cost=1,
                                      memory_cost=8, parallelism=1)


@functools.cache
def _hasher_for(test: bool) -> tuple[PasswordHasher, str]:
    """The hasher, and a hash to verify against when the user does not exist, so that a
    wrong name costs as long as a wrong password (the time of an answer must not tell which
    names exist)."""
    hasher = PasswordHasher.from_parameters(TEST_PARAMETERS) if test else PasswordHasher()
    return hasher, hasher.hash("creditpersona-no-such-user")


def password_hasher() -> tuple[PasswordHasher, str]:
    """The password hasher in force and its hash for unknown users: argon2-cffi's defaults,
    unless ``$CREDITPERSONA_INSECURE_TEST_PASSWORD_HASHES`` is ``1`` (the test suite).

    Raises
    ------
    ConfigurationError
        If the variable is set to anything but ``1``.

    Examples
    --------
    >>> hasher, unknown = password_hasher()
    >>> hasher.verify(unknown, "creditpersona-no-such-user")
    True
    """
    value = os.environ.get(TEST_HASHES_ENV)
    if value not in (None, "1"):
        raise ConfigurationError(f"{TEST_HASHES_ENV}={value!r}: unset it (it is only for the "
                                 "test suite, which sets it to 1).")
    return _hasher_for(value == "1")


@dataclass(frozen=True)
class User:
    """A user as the service sees them (never the password hash)."""

    username: str
    role: str
    rm_id: str | None
    active: bool
    created_at: str


def _check(username: str, role: str, rm_id: str | None, password: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise ConfigurationError(f"user {username!r}: a user name is 2 to 64 letters, digits, "
                                 "'_', '.' or '-'; choose another.")
    if role not in ROLES:
        raise ConfigurationError(f"user {username}: role {role!r} is not one of "
                                 f"{', '.join(ROLES)}.")
    if (role == "rm") != bool(rm_id):
        raise ConfigurationError(
            f"user {username}: " + ("a relationship manager needs --rm-id (the rm_id of the "
                                    "firms in their book)." if role == "rm" else
                                    f"--rm-id is only for the rm role, not {role}."))
    if len(password) < MIN_PASSWORD:
        raise ConfigurationError(f"user {username}: the password has {len(password)} "
                                 f"characters; use at least {MIN_PASSWORD}.")


def add_user(ops: OpsStore, username: str, role: str, password: str,
             rm_id: str | None = None) -> User:
    """Create a user with an Argon2id password hash.

    Raises
    ------
    ConfigurationError
        If the name is taken or malformed, the role unknown, ``rm_id`` missing for an RM (or
        given for another role), or the password shorter than :data:`MIN_PASSWORD`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> ops = OpsStore(Path(tempfile.mkdtemp()) / "o.sqlite")
    >>> add_user(ops, "wang", "rm", "a long secret", rm_id="RM001").role
    'rm'
    >>> authenticate(ops, "wang", "a long secret").rm_id, authenticate(ops, "wang", "wrong")
    ('RM001', None)
    """
    rm_id = rm_id or None
    _check(username, role, rm_id, password)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        with ops.write() as con:
            con.execute("INSERT INTO users VALUES (?, ?, ?, ?, 1, ?)",
                        (username, role, rm_id, password_hasher()[0].hash(password), now))
    except sqlite3.IntegrityError:
        raise ConfigurationError(f"user {username}: already exists; choose another name (or "
                                 "`creditpersona users disable` the old one).") from None
    return User(username, role, rm_id, True, now)


def get_user(ops: OpsStore, username: str) -> User | None:
    """The user of that name, or None."""
    rows = ops.read("SELECT username, role, rm_id, active, created_at FROM users "
                    "WHERE username = ?", (username,))
    if not rows:
        return None
    name, role, rm_id, active, created = rows[0]
    return User(str(name), str(role), None if rm_id is None else str(rm_id), bool(active),
                str(created))


def list_users(ops: OpsStore) -> list[User]:
    """Every user, by name."""
    rows = ops.read("SELECT username, role, rm_id, active, created_at FROM users "
                    "ORDER BY username")
    return [User(str(r[0]), str(r[1]), None if r[2] is None else str(r[2]), bool(r[3]),
                 str(r[4])) for r in rows]


def set_active(ops: OpsStore, username: str, active: bool) -> User:
    """Disable (or enable again) a user; a disabled user's tokens stop working at once.

    Raises
    ------
    ConfigurationError
        If there is no such user.
    """
    with ops.write() as con:
        changed = con.execute("UPDATE users SET active = ? WHERE username = ?",
                              (int(active), username)).rowcount
    if not changed:
        raise ConfigurationError(f"user {username}: no such user (creditpersona users list).")
    user = get_user(ops, username)
    assert user is not None
    return user


def authenticate(ops: OpsStore, username: str, password: str) -> User | None:
    """The active user whose password this is, else None (same cost either way)."""
    rows = ops.read("SELECT password_hash FROM users WHERE username = ? AND active = 1",
                    (username,))
    hasher, unknown = password_hasher()
    stored = str(rows[0][0]) if rows else unknown
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return get_user(ops, username) if rows else None
