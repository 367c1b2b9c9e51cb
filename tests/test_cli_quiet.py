"""The command line as a user runs it: no warning lines on stderr, and a start that does not
import the heavy libraries before a command needs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
#: A line Python's warnings module prints: "path:line: SomeWarning: message".
WARNING_LINE = re.compile(r"^\S.*:\d+: \w*Warning: ", re.MULTILINE)


def warning_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are printed warnings."""
    return [m.group(0) for m in WARNING_LINE.finditer(stderr)]


def _env() -> dict[str, str]:
    # PYTHONWARNINGS=default shows every warning once per place, deprecations included, so
    # the test also catches what a library or a user's environment would turn on.
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1",
            "PYTHONWARNINGS": "default"}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "creditpersona", *args], capture_output=True,
                          text=True, cwd=cwd, env=_env(), check=False)


def test_warning_lines_are_recognised() -> None:
    stderr = ("/x/ibis/formats/pandas.py:60: Pandas4Warning: The 'future.infer_string' "
              "option is deprecated\n  if pd.options.future.infer_string:\n")
    assert len(warning_lines(stderr)) == 1
    assert warning_lines("error: firms.csv line 3: bad date\n") == []


def test_real_commands_print_no_warnings(tmp_path: Path) -> None:
    store = str(tmp_path / "bank.duckdb")
    label_file = tmp_path / "polish.csv"
    # 300 firms of the Polish bankruptcy file with their label, as a plain CSV.
    lines = (DATA / "polish_bankruptcy_1year.arff").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().lower() == "@data") + 1
    rows = [line for line in lines[start:] if line.strip()]
    header = ",".join([f"Attr{i}" for i in range(1, 65)] + ["class"])
    picked = [r for r in rows if r.endswith(",1")][:40] + [r for r in rows
                                                             if r.endswith(",0")][:260]
    label_file.write_text("\n".join([header, *picked]) + "\n", encoding="utf-8")
    commands = [
        ("--help",),
        ("generate", "--out", str(tmp_path / "data"), "--firms", "120", "--years", "1"),
        ("ingest", str(tmp_path / "data"), "--store", store),
        ("profile", "--as-of", "2026-06-30", "--store", store),
        ("pd", "evaluate", "--data", str(label_file), "--label", "class", "--cv", "2",
         "--jobs", "1"),
        ("ingest", str(tmp_path / "nonexistent")),
    ]
    for args in commands:
        done = _cli(*args, cwd=tmp_path)
        assert done.returncode == (2 if "nonexistent" in args[-1] else 0), (args, done.stderr)
        assert warning_lines(done.stderr) == [], (args, done.stderr[:2000])
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("module", ["creditpersona", "creditpersona.cli.app"])
def test_cli_start_imports_no_heavy_library(module: str) -> None:
    heavy = ("pandas", "ibis", "duckdb", "sklearn", "lightgbm", "optbinning", "plotly",
             "scipy")
    code = (f"import sys, {module}; "
            f"print(' '.join(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), check=True)
    assert done.stdout.split() == []
