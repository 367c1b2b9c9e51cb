"""``creditpersona serve``, ``users`` and ``audit``: the REST service and its administration."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table as RichTable

from creditpersona.cli.common import StoreOption, console, fail
from creditpersona.errors import CreditPersonaError

if TYPE_CHECKING:
    from creditpersona.service.audit import Actor
    from creditpersona.service.opstore import OpsStore

users_app = typer.Typer(help="Users of the service and their roles (用户与角色).",
                        no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: list records, or `audit verify` the hash chain "
                             "(审计日志).", invoke_without_command=True)

ROLE_HELP = "rm (客户经理), credit_officer (授信审批), risk_manager (风险管理) or admin."


def _store_path(store: Path | None) -> Path:
    from creditpersona.store.store import resolve_path

    path = resolve_path(store)
    if not path.exists():
        raise fail(FileNotFoundError(f"{path}: no store here; give --store (or run "
                                     "`creditpersona demo` / `creditpersona ingest` first)."))
    return path


def _ops(store: Path | None) -> OpsStore:
    from creditpersona.service.opstore import OpsStore, ops_path

    return OpsStore(ops_path(_store_path(store)))


def _cli_actor() -> Actor:
    import getpass

    from creditpersona.service.audit import Actor

    return Actor(f"cli:{getpass.getuser()}", "admin", "local")


def serve(
    store: StoreOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=32,
                                         help="Worker processes.")] = 1,
) -> None:
    """Run the REST service over a store (OpenAPI at /docs, API under /api/v1).

    The service reads the snapshot the last `creditpersona run` published and writes users,
    the audit log, cases, overrides and campaign outcomes to <store>.ops.sqlite, so it keeps
    answering while a cycle runs.
    """
    path = _store_path(store)
    import uvicorn

    from creditpersona.service.app import create_app
    from creditpersona.service.snapshot import publish_path, snapshot_path

    try:
        if not snapshot_path(path).exists():
            console.print(f"Publishing the serving snapshot of {path} …")
            publish_path(path)
        create_app(path)  # fails here, with a message, on a bad secret or store
    except CreditPersonaError as exc:
        raise fail(exc) from None
    console.print(f"creditpersona service on http://{host}:{port} (API docs /docs); "
                  f"store {path}")
    import os

    os.environ["CREDITPERSONA_STORE"] = str(path)
    # A worker indexes the quarter before it answers (tens of seconds at 100,000 firms, longer
    # on a busy machine): uvicorn's 5-second worker health check would kill and restart it
    # for ever, so the supervisor waits as long as a start-up may take.
    uvicorn.run("creditpersona.service.asgi:app", host=host, port=port, workers=workers,
                log_level="warning", timeout_worker_healthcheck=WORKER_HEALTHCHECK_S)


#: Seconds uvicorn's supervisor waits for a worker's health answer (see ``serve``).
WORKER_HEALTHCHECK_S = 600


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option("--role", help=ROLE_HELP)],
    rm_id: Annotated[str | None, typer.Option(
        "--rm-id", help="For an RM: the rm_id of the firms in their book.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (first line).")] = False,
    store: StoreOption = None,
) -> None:
    """Add a user; the password is read from stdin (--password-stdin) or prompted for."""
    ops = _ops(store)
    from creditpersona.service import audit
    from creditpersona.service.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = add_user(ops, username, role, password, rm_id)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    audit.record(ops, _cli_actor(), "write", "user", detail={"username": username},
                 after={"username": user.username, "role": user.role, "rm_id": user.rm_id})
    console.print(f"Added {user.username} ({user.role}"
                  f"{', book ' + user.rm_id if user.rm_id else ''}).")


@users_app.command("list")
def users_list(store: StoreOption = None) -> None:
    """Every user with role, book and whether active."""
    ops = _ops(store)
    from creditpersona.service.users import ROLE_LABELS, list_users

    table = RichTable(title="Users 用户", title_justify="left")
    for col in ("user", "role", "rm_id", "active", "created"):
        table.add_column(col)
    for u in list_users(ops):
        table.add_row(u.username, ROLE_LABELS[u.role], u.rm_id or "",
                      "yes" if u.active else "disabled", u.created_at)
    console.print(table)


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument()],
                  store: StoreOption = None) -> None:
    """Disable a user: their tokens stop working at once."""
    ops = _ops(store)
    from creditpersona.service import audit
    from creditpersona.service.users import set_active

    try:
        user = set_active(ops, username, False)
    except CreditPersonaError as exc:
        raise fail(exc) from None
    audit.record(ops, _cli_actor(), "write", "user", detail={"username": username},
                 before={"active": True}, after={"active": user.active})
    console.print(f"Disabled {username}.")


@audit_app.callback()
def audit_list(
    ctx: typer.Context,
    store: StoreOption = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user.")] = None,
    firm: Annotated[str | None, typer.Option("--firm", help="Only this firm (USCC).")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="From this date or time (YYYY-MM-DD[THH:MM], UTC).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
) -> None:
    """List audit records, newest first."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = store
        return
    try:
        start = dt.datetime.fromisoformat(since) if since else None
    except ValueError:
        raise typer.BadParameter(f"--since {since!r} is not a date or time; use "
                                 "YYYY-MM-DD or YYYY-MM-DDTHH:MM.") from None
    ops = _ops(store)
    from creditpersona.service import audit

    rows, total = audit.entries(ops, username=user, firm_id=firm, since=start, limit=limit)
    table = RichTable(title=f"Audit log 审计日志 ({len(rows)} of {total})", title_justify="left")
    for col in ("seq", "at (UTC)", "user", "role", "from", "action", "resource", "firm",
                "detail"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["seq"]), str(r["at"])[:19], str(r["username"]), str(r["role"]),
                      str(r["client"]), str(r["action"]), str(r["resource"]),
                      str(r["firm_id"] or ""), str(r["detail"])[:60])
    console.print(table)


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, store: StoreOption = None) -> None:
    """Check the audit log's hash chain; exit 1 if a record was deleted or edited."""
    ops = _ops(store or ctx.obj)
    from creditpersona.service import audit

    verdict = audit.verify(ops)
    if verdict.ok:
        console.print(f"[green]The audit chain holds[/]: {verdict.records:,} records; last "
                      f"hash {verdict.last_hash} (keep it elsewhere to detect a truncation).")
        return
    console.print(f"[red]The audit chain is broken[/] at record {verdict.first_bad}: "
                  f"{verdict.reason}.")
    raise typer.Exit(1)


def demo_users(store_path: Path) -> None:
    """Create the four demo users (passwords printed once) and say how to start the service."""
    import secrets

    from creditpersona.service.opstore import OpsStore, ops_path
    from creditpersona.service.users import add_user, get_user
    from creditpersona.store.store import Store

    ops = OpsStore(ops_path(store_path))
    with Store(store_path, read_only=True) as st:
        rm_id = str(st.table("firms").rm_id.min().execute())
    table = RichTable(title="Demo users 演示用户 (passwords shown once)", title_justify="left")
    for col in ("user", "role", "password"):
        table.add_column(col)
    for name, role, book in (("demo_rm", "rm", rm_id), ("demo_officer", "credit_officer", None),
                             ("demo_risk", "risk_manager", None), ("demo_admin", "admin", None)):
        if get_user(ops, name) is not None:
            table.add_row(name, role, "(exists; unchanged)")
            continue
        password = secrets.token_urlsafe(12)
        add_user(ops, name, role, password, book)
        table.add_row(name, role + (f" ({book})" if book else ""), password)
    console.print(table)
    console.print(f"Start the workbench and the API: creditpersona serve --store {store_path} "
                  "(then open http://127.0.0.1:8000/ to sign in, or http://127.0.0.1:8000/docs "
                  "for the API)")
