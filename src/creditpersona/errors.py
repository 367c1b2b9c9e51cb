"""Exception and warning classes shared by every layer.

Every error derives from :class:`CreditPersonaError` *and* from the matching built-in, so a
caller's existing ``except ValueError`` keeps working.
"""

from __future__ import annotations


class CreditPersonaError(Exception):
    """Base class of every error this package raises on purpose."""


class SchemaError(CreditPersonaError, ValueError):
    """A file or table does not have the shape the data contract requires."""


class ConfigurationError(CreditPersonaError, ValueError):
    """A parameter or configuration value is invalid."""


class StoreError(CreditPersonaError, RuntimeError):
    """The embedded store cannot be opened or is inconsistent."""


class InsufficientDataError(CreditPersonaError, ValueError):
    """The store holds too little history for a stage (for example no matured outcomes)."""


class DataQualityWarning(UserWarning):
    """Input data was loaded, but some rows were quarantined."""


def parameter_error(param: str, owner: str, expected: str, got: object) -> ConfigurationError:
    """Phrase a parameter error the one way the project phrases them.

    Examples
    --------
    >>> str(parameter_error("lgd", "LoanPricer", "a float in [0, 1]", 1.7))
    "The 'lgd' parameter of LoanPricer must be a float in [0, 1]. Got 1.7 instead."
    """
    return ConfigurationError(
        f"The {param!r} parameter of {owner} must be {expected}. Got {got!r} instead."
    )
