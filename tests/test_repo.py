"""The repository keeps its promises: quick start, CI command, contract document, public API."""

from __future__ import annotations

from pathlib import Path

import creditpersona
from creditpersona.contract.docs import render_markdown

ROOT = Path(__file__).resolve().parents[1]


def _ci_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    return lines[-1]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = _ci_command()
    assert command.startswith("python -m pip install")
    assert f"\n{command}\n" in readme


def test_readme_quick_start_runs_the_demo() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert '\npython -m pip install -e . && creditpersona demo\n' in readme


def test_contract_document_is_generated_from_the_code() -> None:
    on_disk = (ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8")
    assert on_disk == render_markdown(), "run: creditpersona contract --out docs/data-contract.md"


def test_every_public_name_exists() -> None:
    for name in creditpersona.__all__:
        assert hasattr(creditpersona, name), name


def test_profile_document_shows_the_scoring_in_force() -> None:
    from creditpersona.profile.scoring import render_markdown as scoring_markdown

    doc = (ROOT / "docs" / "profile.md").read_text(encoding="utf-8")
    assert scoring_markdown() in doc, "regenerate the Scores section of docs/profile.md"
