"""Thresholds of the quarterly review (季度检视), read from the versioned ``review.yaml``.

Every threshold the review applies lives here, validated by pydantic; the review functions
take a :class:`ReviewConfig` and read no constant of their own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from creditpersona import artefacts
from creditpersona.config import load_yaml_config


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StabilityConfig(_Strict):
    """PSI / CSI bands and binning."""

    watch: float = Field(default=0.10, gt=0)
    drift: float = Field(default=0.25, gt=0)
    bins: int = Field(default=10, ge=2, le=100)
    noise_quantile: float | None = Field(default=0.99, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> StabilityConfig:
        if self.drift <= self.watch:
            raise ValueError(f"stability.drift ({self.drift}) must exceed stability.watch "
                             f"({self.watch})")
        return self


class PDReviewConfig(_Strict):
    """When the PD models need re-training."""

    horizon_months: int = Field(default=12, ge=1, le=60)
    auc_drop: float = Field(default=0.05, gt=0, lt=0.5)
    min_matured_defaults: int = Field(default=20, ge=1)
    score_psi: float = Field(default=0.25, gt=0)


class PersonaReviewConfig(_Strict):
    """When the persona model needs re-fitting."""

    share_psi: float = Field(default=0.25, gt=0)
    feature_csi: float = Field(default=0.25, gt=0)
    feature_share: float = Field(default=0.25, gt=0, le=1)
    min_agreement: float = Field(default=0.80, gt=0, le=1)
    annual_review_months: int = Field(default=12, ge=1, le=60)
    min_ari: float = Field(default=0.70, gt=-1, le=1)


class IndustryReviewConfig(_Strict):
    """When an industry section (or division) is flagged for drift."""

    min_firms: int = Field(default=100, ge=1)
    pd_psi: float = Field(default=0.25, gt=0)
    feature_share: float = Field(default=0.25, gt=0, le=1)
    top_features: int = Field(default=3, ge=1, le=10)
    downgrade_excess: float = Field(default=0.10, gt=0, le=1)
    downgrade_z: float = Field(default=3.29, gt=0)


class QuarterConfig(_Strict):
    """The gap between two as-of dates that counts as one quarter."""

    min_gap_days: int = Field(default=80, ge=1)
    max_gap_days: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> QuarterConfig:
        if self.max_gap_days < self.min_gap_days:
            raise ValueError("quarter.max_gap_days must not be below quarter.min_gap_days")
        return self


@artefacts.trusted("review_config")
class ReviewConfig(_Strict):
    """Every threshold of the quarterly review.

    Examples
    --------
    >>> cfg = load_review_config()
    >>> cfg.stability.watch, cfg.stability.drift, cfg.pd.min_matured_defaults
    (0.1, 0.25, 20)
    """

    version: int = Field(ge=1)
    stability: StabilityConfig = Field(default_factory=lambda: StabilityConfig())
    pd: PDReviewConfig = Field(default_factory=lambda: PDReviewConfig())
    personas: PersonaReviewConfig = Field(default_factory=lambda: PersonaReviewConfig())
    industry: IndustryReviewConfig = Field(default_factory=lambda: IndustryReviewConfig())
    quarter: QuarterConfig = Field(default_factory=lambda: QuarterConfig())


def load_review_config(path: str | Path | None = None) -> ReviewConfig:
    """Read and validate the review thresholds (default: the packaged ``review.yaml``).

    Raises
    ------
    ConfigurationError
        ``<file>: invalid review thresholds: …`` naming the offending key.
    """
    return load_yaml_config(ReviewConfig, "creditpersona.review", "review.yaml", path,
                            "review thresholds")
