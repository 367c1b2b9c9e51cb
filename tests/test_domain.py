"""Reference values for the Chinese conventions in DOMAIN.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpersona.domain import industry, regions, size_class, uscc

VALID = ["91310110666007217T", "91310115591693856A", "91430111MA4L41YT1U", "9135021359498494XQ"]


@pytest.mark.parametrize("code", VALID)
def test_domain_md_valid_codes(code: str) -> None:
    assert uscc.is_valid(code)


def test_domain_md_invalid_code() -> None:
    assert not uscc.is_valid("91350203M0001QAY9B")


def test_weights_are_powers_of_three() -> None:
    assert uscc.WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pos=st.integers(0, 17), shift=st.integers(1, 30))
def test_any_single_substitution_breaks_the_check(seed: int, pos: int, shift: int) -> None:
    code = str(uscc.random_codes(np.random.default_rng(seed), ["310115"])[0])
    assert uscc.is_valid(code)
    ch = uscc.ALPHABET[(uscc.ALPHABET.index(code[pos]) + shift) % 31]
    assert not uscc.is_valid(code[:pos] + ch + code[pos + 1:])


def test_check_character_rejects_bad_body() -> None:
    with pytest.raises(ValueError, match="17 characters"):
        uscc.check_character("9131011066600721I")


@pytest.mark.parametrize(("code", "known"), [
    ("C38", True), ("C3811", True), ("K7010", True), ("F52", True), ("A05", True),
    ("T97", True), ("C12", False), ("F53", False), ("Z12", False), ("C3", False), ("c38", False),
])
def test_industry_codes(code: str, known: bool) -> None:
    assert industry.is_known(code) is known


def test_sections_cover_divisions_1_to_97_once() -> None:
    divisions = [d for s in industry.SECTIONS for d in range(s.first_division, s.last_division + 1)]
    assert divisions == list(range(1, 98))


def test_regions() -> None:
    assert regions.is_known("110105") and not regions.is_known("000000")
    assert all(regions.is_known(code) for code in regions.DISTRICTS)


@pytest.mark.parametrize(("code", "x", "y_wan", "z_wan", "expected"), [
    # industry: large needs both X >= 1000 and Y >= 40000 万元
    ("C38", 1000, 40000, 0, "large"),
    ("C38", 999, 40000, 0, "medium"),
    ("C38", 300, 2000, 0, "medium"),
    ("C38", 300, 1999.99, 0, "small"),
    ("C38", 20, 300, 0, "small"),
    ("C38", 19, 50000, 0, "micro"),  # one indicator below the small bound → micro
    # construction uses revenue and assets
    ("E48", 5, 80000, 80000, "large"),
    ("E48", 5, 6000, 4999, "small"),
    ("E48", 5, 299, 100000, "micro"),
    # wholesale vs retail
    ("F51", 20, 5000, 0, "medium"),
    ("F52", 20, 5000, 0, "small"),
    # software I65 small bound Y 50
    ("I65", 10, 50, 0, "small"),
    ("I64", 10, 50, 0, "micro"),
    # real-estate development K7010 uses Y and Z
    ("K7010", 1, 200000, 10000, "large"),
    # leasing & business services use X and Z
    ("L72", 300, 0, 120000, "large"),
    # agriculture on revenue only
    ("A01", 0, 20000, 0, "large"),
    # other: employees only
    ("P83", 100, 0, 0, "medium"),
])
def test_miit_size_class(code: str, x: float, y_wan: float, z_wan: float, expected: str) -> None:
    got = size_class.classify([code], [x], [y_wan * 1e4], [z_wan * 1e4])
    assert got.tolist() == [expected]


def test_missing_indicator_gives_none() -> None:
    assert size_class.classify(["C38"], [np.nan], [1e9], [1e9]).tolist() == [None]


def test_a_division_code_uses_its_section_rule_and_finance_is_outside_miit() -> None:
    from creditpersona.domain.size_class import OUTSIDE_MIIT, classify

    # K70 (division only) is sized like real-estate development (Y and Z), not by staff:
    # 2 staff, revenue 50 m yuan (5,000 万), assets 80 m yuan (8,000 万) -> medium.
    assert classify(["K70", "K7010"], [2, 2], [5e7, 5e7], [8e7, 8e7]).tolist() == [
        "medium", "medium"]
    # A bank branch-sized finance firm is outside the MIIT standard, not "micro" or "large".
    assert classify(["J66", "J6620"], [5, 5000], [1e6, 1e10], [1e7, 1e11]).tolist() == [
        OUTSIDE_MIIT, OUTSIDE_MIIT]
