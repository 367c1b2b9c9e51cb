"""Parameter constraints: every estimator declares its parameters once and checks them one way.

An estimator lists, in the class attribute ``_parameter_constraints`` (scikit-learn's name
for the same idea), one constraint per ``__init__`` parameter, and its ``fit`` starts with
``validate_params(self)``. A value that breaks its constraint raises the project's
:class:`~creditpersona.errors.ConfigurationError` (a ``ValueError``, as scikit-learn's
``InvalidParameterError`` is) phrased the one way every parameter error is phrased::

    The 'pdo' parameter of ScorecardPD must be a float > 0. Got 0 instead.

scikit-learn's own ``sklearn.utils._param_validation`` does the same, but it is private (its
constraint classes may change between releases) and phrases ranges differently
("a float in the range (0.0, inf)"); these few classes keep the project's wording and the
contract test (``tests/test_estimator_contract.py``) checks that every estimator declares a
constraint for each of its parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar

import numpy as np

from creditpersona.errors import parameter_error

T = TypeVar("T")


class Constraint:
    """What a parameter may hold: ``accepts(value)`` and the words of the error message."""

    expected: str

    def accepts(self, value: object) -> bool:
        raise NotImplementedError


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool) and math.isfinite(float(value)))


@dataclass(frozen=True)
class Int(Constraint):
    """An int (not a bool) in ``[low, high]`` (``high`` None: unbounded above).

    Examples
    --------
    >>> Int(2).expected, Int(1, 3).expected, Int(2).accepts(True), Int(2).accepts(2)
    ('an int >= 2', 'an int in [1, 3]', False, True)
    """

    low: int
    high: int | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"an int >= {self.low}" if self.high is None else \
            f"an int in [{self.low}, {self.high}]"

    def accepts(self, value: object) -> bool:
        return _is_int(value) and self.low <= value and (  # type: ignore[operator]
            self.high is None or value <= self.high)  # type: ignore[operator]


@dataclass(frozen=True)
class Real(Constraint):
    """A finite number (not a bool) within the bounds, each closed unless said open.

    Examples
    --------
    >>> Real(0, 1, low_open=True).expected, Real(0, low_open=True).expected, Real().expected
    ('a float in (0, 1]', 'a float > 0', 'a finite float')
    >>> Real(0, 1, low_open=True).accepts(0), Real(0, 1).accepts(float("nan"))
    (False, False)
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    @property
    def expected(self) -> str:  # type: ignore[override]
        if self.low is not None and self.high is not None:
            return (f"a float in {'(' if self.low_open else '['}{self.low:g}, "
                    f"{self.high:g}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"a float {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"a float {'<' if self.high_open else '<='} {self.high:g}"
        return "a finite float"

    def accepts(self, value: object) -> bool:
        if not _is_real(value):
            return False
        v = float(value)  # type: ignore[arg-type]
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            return False
        return not (self.high is not None and (
            v > self.high or (self.high_open and v == self.high)))


@dataclass(frozen=True)
class Options(Constraint):
    """One of a few values (compared with ``==``; a bool is never an option).

    Examples
    --------
    >>> Options(("sigmoid", "isotonic")).expected
    "'sigmoid' or 'isotonic'"
    """

    values: tuple[object, ...]
    words: str | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        if self.words is not None:
            return self.words
        shown = [repr(v) for v in self.values]
        return " or ".join(shown) if len(shown) <= 2 else "one of " + ", ".join(shown)

    def accepts(self, value: object) -> bool:
        return not isinstance(value, bool) and any(
            type(value) is type(v) and value == v for v in self.values)


@dataclass(frozen=True)
class Bool(Constraint):
    """``True`` or ``False``."""

    expected: str = "a bool"

    def accepts(self, value: object) -> bool:
        return isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class Check(Constraint):
    """Any other rule: a predicate and the words that describe it."""

    predicate: Callable[[object], bool]
    expected: str

    def accepts(self, value: object) -> bool:
        return bool(self.predicate(value))


@dataclass(frozen=True)
class OrNone(Constraint):
    """``None`` or a value that ``inner`` accepts (the message is ``inner``'s)."""

    inner: Constraint

    @property
    def expected(self) -> str:  # type: ignore[override]
        return self.inner.expected

    def accepts(self, value: object) -> bool:
        return value is None or self.inner.accepts(value)


#: ``random_state``: a seed (None means 0 where an estimator says so).
SEED = OrNone(Int(0, 2**31 - 1))


def is_labels(value: object) -> bool:
    """Whether ``value`` is a bilingual label catalogue: feature → (Chinese, English).

    Examples
    --------
    >>> is_labels({"Attr1": ("总资产净利率", "Net profit / total assets")}), is_labels({"a": "x"})
    (True, False)
    """
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, tuple | list) and len(v) == 2
        and all(isinstance(s, str) for s in v) for k, v in value.items())


#: ``labels`` of a PD estimator (labels of features not in ``X`` are allowed and unused).
LABELS = OrNone(Check(is_labels, "a dict mapping feature names to (zh, en) pairs of strings"))


class Constrained(Protocol):
    """An object whose class declares its parameters' constraints."""

    _parameter_constraints: ClassVar[Mapping[str, Constraint]]


def validate_params(estimator: Constrained,
                    constraints: Mapping[str, Constraint] | None = None) -> None:
    """Check every parameter of ``estimator`` against its declared constraint.

    Parameters
    ----------
    estimator : object
        An estimator whose class declares ``_parameter_constraints`` (parameter name →
        :class:`Constraint`); its parameters are read as attributes.
    constraints : mapping, optional
        Check these instead of the class's declaration.

    Raises
    ------
    ConfigurationError
        Naming the first parameter that breaks its constraint, what it must be and what it
        is.

    Examples
    --------
    >>> class Pricer:
    ...     _parameter_constraints = {"lgd": Real(0, 1)}
    ...     def __init__(self, lgd=0.45):
    ...         self.lgd = lgd
    >>> validate_params(Pricer())
    >>> validate_params(Pricer(lgd=1.7))
    Traceback (most recent call last):
    ...
    creditpersona.errors.ConfigurationError: The 'lgd' parameter of Pricer must be a float \
in [0, 1]. Got 1.7 instead.
    """
    declared = (constraints if constraints is not None
                else type(estimator)._parameter_constraints)
    owner = type(estimator).__name__
    for name, constraint in declared.items():
        value = getattr(estimator, name)
        if not constraint.accepts(value):
            raise parameter_error(name, owner, constraint.expected, value)


def check_param(value: T, name: str, owner: str, constraint: Constraint) -> T:
    """``value`` if ``constraint`` accepts it, else the parameter error; for the parameters
    of a function or method (an estimator's are checked by :func:`validate_params`).

    Examples
    --------
    >>> check_param(5, "cv", "evaluate", Int(2))
    5
    >>> check_param(1, "cv", "evaluate", Int(2))
    Traceback (most recent call last):
    ...
    creditpersona.errors.ConfigurationError: The 'cv' parameter of evaluate must be an int \
>= 2. Got 1 instead.
    """
    if not constraint.accepts(value):
        raise parameter_error(name, owner, constraint.expected, value)
    return value
