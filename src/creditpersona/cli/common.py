"""What every command of the command line shares: consoles, exit codes, options, errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

EXIT_BAD_INPUT = 2
EXIT_QUARANTINED = 3

console = Console()
err_console = Console(stderr=True)

StoreOption = Annotated[
    Path | None,
    typer.Option("--store", envvar="CREDITPERSONA_STORE",
                 help="DuckDB store file [default: ./creditpersona.duckdb]."),
]


def parse_date(value: str) -> dt.date:
    """An ``--as-of`` value as a date; a usage error (exit code 2) if it is not one."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD.") from None


def require_files(*paths: Path) -> None:
    """Exit with code 2 if a path given on the command line does not exist.

    Checked before a command imports its heavy modules, so a mistyped path is answered at
    once (the readers check again, with the file's line and field, once they run). A glob
    pattern (``incoming/*.csv``) is left to the command, which says what it matched.
    """
    for path in paths:
        if not path.exists() and not any(c in str(path) for c in "*?["):
            raise fail(FileNotFoundError(f"{path}: no such file or directory; check the "
                                         "path (relative paths start at the current folder)."))


def fail(exc: Exception) -> typer.Exit:
    """Print an error a user can fix (never re-wrapped) and return the exit to raise."""
    err_console.print(Text("error: ", style="red") + Text(str(exc)), soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)
