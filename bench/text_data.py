"""Readers of the real Chinese text sets in ``../shared/data/text`` for the text-model scripts.

CCKS 2019 has no licence: it is read from the shared folder only, never copied.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

_ROOT = Path(__file__).resolve().parents[1]
#: The data folder: $CREDITPERSONA_TEXT_DATA, else ../shared/data/text beside the repository
#: (or one level further up, for a git worktree).
DATA = next((p for p in (Path(os.environ.get("CREDITPERSONA_TEXT_DATA", "")),
                         _ROOT.parent / "shared" / "data" / "text",
                         _ROOT.parent.parent / "shared" / "data" / "text")
             if str(p) not in ("", ".") and p.is_dir()),
            _ROOT.parent / "shared" / "data" / "text")
NEWS = "bdci2019_negative_news.csv"
ENTITIES = "bdci2019_negative_entities.csv"
CCKS = "ccks2019_financial_events.csv"
#: CCKS event types that are not adverse events; every other type is.
NOT_ADVERSE = ("其他", "实控人股东变更", "评级调整")


def sha256(name: str) -> str:
    """SHA-256 of a data file."""
    return hashlib.sha256((DATA / name).read_bytes()).hexdigest()


def bdci_news() -> tuple[list[str], np.ndarray]:
    """BDCI 2019 negative-news items: texts and 0/1 labels."""
    d = pd.read_csv(DATA / NEWS)
    return d["text"].fillna("").astype(str).tolist(), d["negative"].to_numpy(dtype=np.int64)


def bdci_entities() -> pd.DataFrame:
    """BDCI 2019 (item, company) pairs: ``id, text, entity, negative``."""
    d = pd.read_csv(DATA / ENTITIES)
    d["text"] = d["text"].fillna("").astype(str)
    d["entity"] = d["entity"].fillna("").astype(str)
    return d


def ccks_adverse() -> tuple[list[str], np.ndarray]:
    """CCKS 2019, one row per distinct text: adverse = any event type not in NOT_ADVERSE."""
    d = pd.read_csv(DATA / CCKS)
    d["text"] = d["text"].fillna("").astype(str)
    d["adverse"] = (~d["event_type"].isin(NOT_ADVERSE)).astype(np.int64)
    g = d.groupby("text", sort=True)["adverse"].max()
    return g.index.tolist(), g.to_numpy(dtype=np.int64)
