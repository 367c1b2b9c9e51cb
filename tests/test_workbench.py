"""The workbench without a browser: sessions, CSRF, redirects, static files, labels.

The pages' data and the scenarios are in test_workbench_browser.py; these tests check the
parts a browser test would not pin down (cookie flags, refused forms, open redirects, the
vendored and served scripts, every label in both languages).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from creditpersona.service.opstore import OpsStore
from creditpersona.workbench import install
from creditpersona.workbench.i18n import LABELS, check_complete
from creditpersona.workbench.routes import plotly_js
from creditpersona.workbench.session import SESSION_COOKIE, SessionStore
from creditpersona.workbench.web import package_dir

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[tuple[TestClient, SessionStore]]:
    """The workbench mounted on an empty app (no service routes): enough for what is
    refused before the API is asked."""
    app = FastAPI()
    install(app, OpsStore(tmp_path / "ops.sqlite"))
    with TestClient(app) as client:
        yield client, app.state.workbench_sessions


def _set_cookie(response: Any, name: str) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(name + "="))


def test_signin_page_sets_an_httponly_strict_csrf_cookie_and_is_not_cached(
        bare: tuple[TestClient, SessionStore]) -> None:
    client, _ = bare
    page = client.get("/signin")
    cookie = _set_cookie(page, "cp_login_csrf").lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    token = cookie.split("=", 1)[1].split(";")[0]
    assert f'name="csrf_token" value="{token}"'.lower() in page.text.lower()
    assert page.headers["cache-control"] == "no-store"


def test_signin_without_the_forms_token_is_refused_before_the_password_is_checked(
        bare: tuple[TestClient, SessionStore]) -> None:
    client, _ = bare
    client.get("/signin")
    answer = client.post("/signin", data={"csrf_token": "forged", "username": "wang",
                                          "password": PASSWORD})
    assert answer.status_code == 401
    assert "表单已过期" in answer.text
    assert not any(h.startswith(SESSION_COOKIE) for h in answer.headers.get_list("set-cookie"))


@pytest.mark.parametrize("path", ["/myday", "/firms/9131", "/portfolio", "/admin", "/"])
def test_pages_without_a_session_go_to_signin(bare: tuple[TestClient, SessionStore],
                                              path: str) -> None:
    client, _ = bare
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=")
    htmx = client.get(path, headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"].startswith("/signin")


@pytest.mark.parametrize("path", ["/outcomes", "/quote/price", "/firms/X/override",
                                  "/watchlist/X/case", "/admin/users"])
def test_writes_without_the_sessions_csrf_token_are_refused(
        bare: tuple[TestClient, SessionStore], path: str) -> None:
    client, store = bare
    sid = store.create("wang", "rm", "token-not-used", rm_id="RM0001")
    client.cookies.set(SESSION_COOKIE, sid)
    session = store.get(sid)
    assert session is not None
    assert client.post(path, data={"csrf_token": "wrong"}).status_code == 403
    assert client.post(path, data={}).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": session.csrf[:-1] + "x"}
                       ).status_code == 403


def test_language_switch_remembers_the_choice_and_never_redirects_off_site(
        bare: tuple[TestClient, SessionStore]) -> None:
    client, _ = bare
    answer = client.get("/lang/en?next=/signin", follow_redirects=False)
    assert answer.headers["location"] == "/signin"
    assert "cp_lang=en" in _set_cookie(answer, "cp_lang")
    assert "Sign in" in client.get("/signin").text
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        answer = client.get("/lang/zh", params={"next": target}, follow_redirects=False)
        assert answer.headers["location"] == "/"


def test_session_store_ends_sessions_on_signout_and_when_idle(tmp_path: Path) -> None:
    store = SessionStore(OpsStore(tmp_path / "ops.sqlite"), idle_seconds=0.2)
    sid = store.create("li", "credit_officer", "tok")
    other = store.create("li", "credit_officer", "tok")
    assert store.get(sid) is not None and store.get(sid).csrf != store.get(other).csrf
    store.end(sid)
    assert store.get(sid) is None and store.get(other) is not None
    time.sleep(0.3)
    assert store.get(other) is None
    rows = store.ops.read("SELECT sid_sha256 FROM workbench_sessions")
    assert all(sid not in r[0] for r in rows)  # ids are kept only as hashes


def test_scripts_are_served_locally(bare: tuple[TestClient, SessionStore]) -> None:
    client, _ = bare
    served = client.get("/vendor/plotly.min.js")
    assert served.status_code == 200 and served.content == plotly_js().read_bytes()
    assert not list((ROOT / "src").rglob("plotly*.js")), "plotly.js is served, not copied"
    htmx = client.get("/static/vendor/htmx.min.js")
    note = (package_dir("static") / "vendor" / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert htmx.status_code == 200
    assert hashlib.sha256(htmx.content).hexdigest() in note
    assert (package_dir("static") / "vendor" / "htmx.LICENSE").exists()
    page = client.get("/signin").text
    assert not re.search(r"""(src|href)=["']https?://""", page), "no CDN"


def test_every_label_used_by_a_template_exists_in_both_languages() -> None:
    used: set[str] = set()
    for template in package_dir("templates").glob("*.html"):
        used |= set(re.findall(r"""\bt\(['"]([a-z_]+)['"]\)""", template.read_text("utf-8")))
    assert used, "no labels found: the pattern no longer matches the templates"
    assert not used - set(LABELS), f"labels missing: {sorted(used - set(LABELS))}"
    assert check_complete() == []


def test_signed_in_session_cookie_is_httponly_strict_and_signout_deletes_it(
        service_bank: Any, tmp_path: Path) -> None:
    from creditpersona.service.app import create_app
    from creditpersona.service.opstore import ops_path
    from creditpersona.service.users import add_user

    store = service_bank.copy(tmp_path / "bank")
    ops = OpsStore(ops_path(store))
    add_user(ops, "li", "credit_officer", PASSWORD)
    app = create_app(store, secret="s" * 40)
    with TestClient(app) as client:
        token = client.get("/signin").cookies["cp_login_csrf"]
        answer = client.post("/signin", data={"csrf_token": token, "username": "li",
                                              "password": PASSWORD}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/firms"
        cookie = _set_cookie(answer, SESSION_COOKIE).lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert client.get("/firms").status_code == 200
        sessions = ops.read("SELECT username FROM workbench_sessions")
        assert sessions == [("li",)]
        page = client.get("/firms").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        sid = client.cookies[SESSION_COOKIE]
        client.post("/signout", data={"csrf_token": csrf.group(1)})
        assert ops.read("SELECT username FROM workbench_sessions") == []
        client.cookies.set(SESSION_COOKIE, sid)  # a copy of the old cookie is worth nothing
        assert client.get("/firms", follow_redirects=False).status_code == 303


def test_an_outcome_with_a_bad_amount_is_answered_not_crashed(
        bare: tuple[TestClient, SessionStore]) -> None:
    client, store = bare
    sid = store.create("wang", "rm", "token-not-used", rm_id="RM0001")
    client.cookies.set(SESSION_COOKIE, sid)
    session = store.get(sid)
    assert session is not None
    for form in ({"outcome": "taken", "amount": "abc", "as_of": "2026-06-30"},
                 {"outcome": "taken", "amount": "5", "as_of": "June"},
                 {"outcome": "bought"}):
        answer = client.post("/outcomes", data=form, headers={"X-CSRF-Token": session.csrf})
        assert answer.status_code == 200 and "badge red" in answer.text, form
