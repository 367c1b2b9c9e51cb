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


def fail(exc: Exception) -> typer.Exit:
    """Print an error a user can fix (never re-wrapped) and return the exit to raise."""
    err_console.print(Text("error: ", style="red") + Text(str(exc)), soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)
