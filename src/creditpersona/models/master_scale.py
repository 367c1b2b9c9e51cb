"""Rating master scale: PD → grade (ten performing grades plus default), configurable.

The scale lives in ``master_scale.yaml`` (validated here). PDs below the floor are raised to
it before grading; a defaulted firm gets the default grade whatever its PD.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field, model_validator

from creditpersona import artefacts
from creditpersona.config import StrictModel, load_yaml_config


class Grade(StrictModel):
    """One grade and the largest PD it holds."""

    name: str
    upper_pd: float = Field(gt=0, le=1)


@artefacts.trusted("master_scale")
class MasterScale(StrictModel):
    """The master scale."""

    version: int
    pd_floor: float = Field(ge=0, lt=1)
    default_grade: str
    grades: list[Grade]

    @model_validator(mode="after")
    def _ordered(self) -> MasterScale:
        bounds = [g.upper_pd for g in self.grades]
        if any(b <= a for a, b in zip(bounds, bounds[1:], strict=False)):
            raise ValueError("grade upper bounds must increase")
        if bounds[-1] != 1.0:
            raise ValueError("the last grade must reach PD 1")
        if bounds[0] <= self.pd_floor:
            raise ValueError("the first grade must lie above the PD floor")
        return self

    @property
    def names(self) -> list[str]:
        """Performing grades, best first, then the default grade."""
        return [g.name for g in self.grades] + [self.default_grade]

    def lower_pd(self) -> npt.NDArray[np.float64]:
        """The smallest PD of each performing grade."""
        return np.array([self.pd_floor] + [g.upper_pd for g in self.grades[:-1]])

    def central_pd(self) -> npt.NDArray[np.float64]:
        """Geometric mid-point of each performing grade (used to report a grade's PD)."""
        upper = np.array([g.upper_pd for g in self.grades])
        return np.sqrt(self.lower_pd() * upper)

    def assign(self, pd_values: npt.ArrayLike,
               defaulted: npt.ArrayLike | None = None) -> npt.NDArray[np.object_]:
        """Grades of PDs (floored), with the default grade where ``defaulted``.

        Examples
        --------
        >>> load_master_scale().assign([0.0001, 0.0125, 0.5], [False, False, True]).tolist()
        ['1', '5', 'D']
        """
        p = np.maximum(np.asarray(pd_values, dtype=float), self.pd_floor)
        upper = np.array([g.upper_pd for g in self.grades])
        idx = np.searchsorted(upper, p, side="left")
        out = np.array([g.name for g in self.grades], dtype=object)[np.minimum(idx, len(upper) - 1)]
        if defaulted is not None:
            out = np.where(np.asarray(defaulted, dtype=bool), self.default_grade, out)
        return out.astype(object)

    def table(self) -> pd.DataFrame:
        """The scale as a table: grade, PD range and central PD."""
        return pd.DataFrame({
            "grade": [g.name for g in self.grades],
            "pd_from": self.lower_pd(),
            "pd_to": [g.upper_pd for g in self.grades],
            "central_pd": self.central_pd(),
        })


def load_master_scale(path: str | Path | None = None) -> MasterScale:
    """Read and validate a master scale (default: the packaged ``master_scale.yaml``).

    Raises
    ------
    ConfigurationError
        Naming the file when the scale is invalid.
    """
    return load_yaml_config(MasterScale, "creditpersona.models", "master_scale.yaml", path,
                            "master scale")
