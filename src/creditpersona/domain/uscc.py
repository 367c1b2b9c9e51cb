"""Unified social credit code 统一社会信用代码 (GB 32100-2015).

An 18-character code: registering authority, entity type, the GB/T 2260 region code, the
GB 11714 organisation code and a check character computed modulo 31 over a 31-symbol
alphabet (DOMAIN.md §3).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}


def check_character(body: str) -> str:
    """Return the check character for the first 17 characters of a code.

    Parameters
    ----------
    body : str
        The first 17 characters, each from :data:`ALPHABET`.

    Returns
    -------
    str
        The 18th character.

    Raises
    ------
    ValueError
        If ``body`` is not 17 characters of the alphabet.

    Examples
    --------
    >>> check_character("91310110666007217")
    'T'
    """
    if len(body) != 17 or any(ch not in _VALUE for ch in body):
        raise ValueError(
            f"A USCC body must be 17 characters from {ALPHABET!r}; got {body!r}."
        )
    total = sum(_VALUE[ch] * w for ch, w in zip(body, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid(code: object) -> bool:
    """Tell whether ``code`` is a well-formed USCC with a correct check character.

    Examples
    --------
    >>> is_valid("91310115591693856A"), is_valid("91350203M0001QAY9B"), is_valid(None)
    (True, False, False)
    """
    if not isinstance(code, str) or len(code) != 18:
        return False
    if any(ch not in _VALUE for ch in code):
        return False
    return check_character(code[:17]) == code[17]


def random_codes(
    rng: np.random.Generator, region_codes: npt.ArrayLike, entity_type: str = "1"
) -> npt.NDArray[np.str_]:
    """Draw valid, valid codes for enterprises (authority 9).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    region_codes : array-like of str
        One six-digit GB/T 2260 code per code to draw.
    entity_type : str
        The second character: ``"1"`` enterprise, ``"2"`` individual business.

    Returns
    -------
    numpy.ndarray of str
        Valid codes; uniqueness is the caller's concern.
    """
    regions = np.asarray(region_codes, dtype=str)
    n = regions.shape[0]
    alphabet = np.array(list(ALPHABET))
    # Organisation codes: mostly digits with an occasional letter, as in real codes.
    org = np.where(
        rng.random((n, 9)) < 0.85, rng.integers(0, 10, (n, 9)), rng.integers(10, 31, (n, 9))
    )
    prefix_values = np.array([_VALUE["9"], _VALUE[entity_type]])
    region_values = np.array([[_VALUE[c] for c in r] for r in regions]).reshape(n, 6)
    values = np.hstack([np.broadcast_to(prefix_values, (n, 2)), region_values, org])
    check = (31 - (values @ np.array(WEIGHTS)) % 31) % 31
    chars = alphabet[np.hstack([values, check[:, None]])]
    return np.array(["".join(row) for row in chars])
