"""Customer-experience routing (客户旅程与渠道): which journey and channel each firm gets.

First-time borrowers get guided onboarding (首贷融资指导), long-standing customers their
dedicated channel (专属客户经理、银企直连 …), everyone else the channel of their persona or
size class. Channels, their cost per contact, their capacity and the routing live in the
versioned ``channels.yaml`` (validated here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from creditpersona.config import StrictModel, load_yaml_config
from creditpersona.contract.schema import CAMPAIGN_CHANNELS
from creditpersona.domain.size_class import SIZE_CLASSES
from creditpersona.errors import SchemaError

JOURNEYS = ("guided_onboarding", "dedicated", "standard")


class Channel(StrictModel):
    """One contact channel."""

    zh: str
    en: str
    cost: float = Field(ge=0)
    uses_rm: bool
    capacity_share: float | None = Field(default=None, gt=0, le=1)


class Journey(StrictModel):
    """A customer journey and its channel per size class."""

    zh: str
    en: str
    channels: dict[str, str]


class ChannelConfig(StrictModel):
    """Channels, capacities and routing rules, versioned."""

    version: int
    rm_capacity: int = Field(ge=0)
    long_standing_years: float = Field(ge=0)
    channels: dict[str, Channel] = Field(min_length=1)
    journeys: dict[str, Journey]
    persona_channels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ChannelConfig:
        unknown = sorted(set(self.channels) - set(CAMPAIGN_CHANNELS))
        if unknown:
            raise ValueError(f"channels {unknown} are not campaign channels of the data "
                             f"contract {list(CAMPAIGN_CHANNELS)}")
        if tuple(self.journeys) != JOURNEYS:
            raise ValueError(f"journeys must be exactly {', '.join(JOURNEYS)} in that order")
        for name, journey in self.journeys.items():
            if set(journey.channels) != set(SIZE_CLASSES):
                raise ValueError(f"journey {name!r} needs a channel for every size class "
                                 f"{list(SIZE_CLASSES)}")
            bad = sorted(set(journey.channels.values()) - set(self.channels))
            if bad:
                raise ValueError(f"journey {name!r} uses undefined channels {bad}")
        bad = sorted(set(self.persona_channels.values()) - set(self.channels))
        if bad:
            raise ValueError(f"persona_channels uses undefined channels {bad}")
        return self


def load_channels(path: str | Path | None = None) -> ChannelConfig:
    """Read and validate the channel configuration (default: the packaged ``channels.yaml``).

    Raises
    ------
    ConfigurationError
        With the file and the offending entry when the configuration is invalid.

    Examples
    --------
    >>> load_channels().channels["rm_visit"].zh
    '客户经理上门拜访'
    """
    return load_yaml_config(ChannelConfig, "creditpersona.marketing", "channels.yaml", path,
                            "channel configuration")


def first_time_borrower(profile: pd.DataFrame) -> np.ndarray:
    """Firms with no loan at the bank yet: no active loan and no instalment ever due.

    Examples
    --------
    >>> first_time_borrower(pd.DataFrame({"active_loans": [None, 2, 0],
    ...                                   "instalments_due": [None, 10, 3]})).tolist()
    [True, False, False]
    """
    def zero(name: str) -> np.ndarray:
        if name not in profile.columns:
            return np.ones(len(profile), dtype=bool)
        values = pd.to_numeric(profile[name], errors="coerce").fillna(0).to_numpy()
        return np.asarray(values == 0, dtype=bool)

    return zero("active_loans") & zero("instalments_due")


def route(
    profile: pd.DataFrame,
    personas: pd.Series | None = None,
    config: ChannelConfig | None = None,
) -> pd.DataFrame:
    """The journey and contact channel of every firm.

    Parameters
    ----------
    profile : pandas.DataFrame
        One row per firm with ``firm_id`` and, when known, ``size_class``,
        ``relationship_years``, ``active_loans`` and ``instalments_due``.
    personas : pandas.Series, optional
        Persona code by ``firm_id``; used for the standard journey's channel.
    config : ChannelConfig, optional
        Default :func:`load_channels`.

    Returns
    -------
    pandas.DataFrame
        Index ``firm_id``: ``journey``, ``journey_zh``, ``channel``, ``channel_zh``,
        ``contact_cost`` (yuan), ``uses_rm``.

    Raises
    ------
    SchemaError
        If ``firm_id`` is missing.

    Examples
    --------
    >>> p = pd.DataFrame({"firm_id": ["new", "old", "mid"], "size_class": ["small", "large",
    ...                   "micro"], "relationship_years": [0.5, 12, 2],
    ...                   "active_loans": [0, 3, 1], "instalments_due": [0, 80, 5]})
    >>> route(p)[["journey", "channel"]].values.tolist()
    [['guided_onboarding', 'branch_event'], ['dedicated', 'online_banking'], \
['standard', 'wechat']]
    """
    if "firm_id" not in profile.columns:
        raise SchemaError("route needs the profile's firm_id column.")
    cfg = config or load_channels()
    index = pd.Index(profile["firm_id"].astype(str), name="firm_id")
    raw_size = (profile["size_class"].astype(object) if "size_class" in profile.columns
                else pd.Series(None, index=profile.index, dtype=object))
    size = raw_size.where(raw_size.isin(SIZE_CLASSES), "micro").to_numpy(dtype=object)
    first = first_time_borrower(profile)
    years = (pd.to_numeric(profile["relationship_years"], errors="coerce").fillna(0).to_numpy()
             if "relationship_years" in profile.columns else np.zeros(len(profile)))
    long_standing = ~first & (years >= cfg.long_standing_years)
    journey = np.where(first, "guided_onboarding",
                       np.where(long_standing, "dedicated", "standard")).astype(object)
    channel = np.empty(len(profile), dtype=object)
    for name, j in cfg.journeys.items():
        mine = journey == name
        channel[mine] = pd.Series(size[mine]).map(j.channels).to_numpy(dtype=object)
    if personas is not None and cfg.persona_channels:
        persona = personas.reindex(index).to_numpy(dtype=object)
        by_persona = pd.Series(persona).map(cfg.persona_channels).to_numpy(dtype=object)
        use = (journey == "standard") & pd.notna(by_persona)
        channel[use] = by_persona[use]
    info = {c: cfg.channels[c] for c in cfg.channels}
    return pd.DataFrame({
        "journey": journey,
        "journey_zh": pd.Series(journey).map({k: v.zh for k, v in cfg.journeys.items()}).values,
        "channel": channel,
        "channel_zh": [info[c].zh for c in channel],
        "contact_cost": [info[c].cost for c in channel],
        "uses_rm": [info[c].uses_rm for c in channel],
    }, index=index)
