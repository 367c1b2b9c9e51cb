"""Every configuration file is validated strictly: a misspelt key is an error naming its path."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from creditpersona.catalogue import ProductCatalogue, load_products
from creditpersona.config import StrictModel, load_yaml_config, require_strict
from creditpersona.decisions.config import DecisionsConfig, load_decisions
from creditpersona.decisions.strategy import StrategyRules, load_strategy_rules
from creditpersona.decisions.warning import WarningRules, load_warning_rules
from creditpersona.domain.lpr import LprTable, load_lpr
from creditpersona.errors import ConfigurationError
from creditpersona.marketing.catalogue import MarketingConfig, load_catalogue
from creditpersona.marketing.routing import ChannelConfig, load_channels
from creditpersona.models.master_scale import MasterScale, load_master_scale
from creditpersona.models.rating import RatingPhilosophy, load_rating
from creditpersona.personas.policy import PersonaPolicy, load_policy
from creditpersona.profile.scoring import ScoringConfig, load_scoring
from creditpersona.profile.text import Lexicon, load_lexicon
from creditpersona.review.config import ReviewConfig, load_review_config
from creditpersona.rules.items_vocabulary import ItemVocabulary, load_items

#: Every packaged configuration file: its model and its loader.
CONFIGS: dict[str, tuple[type[BaseModel], Callable[[Path], object]]] = {
    "catalogue.yaml": (ProductCatalogue, load_products),
    "domain/lpr.yaml": (LprTable, load_lpr),
    "decisions/decisions.yaml": (DecisionsConfig, load_decisions),
    "decisions/strategy.yaml": (StrategyRules, load_strategy_rules),
    "decisions/warning_rules.yaml": (WarningRules, load_warning_rules),
    "marketing/channels.yaml": (ChannelConfig, load_channels),
    "marketing/marketing.yaml": (MarketingConfig, load_catalogue),
    "models/master_scale.yaml": (MasterScale, load_master_scale),
    "models/rating.yaml": (RatingPhilosophy, load_rating),
    "personas/policy.yaml": (PersonaPolicy, load_policy),
    "profile/lexicon.yaml": (Lexicon, load_lexicon),
    "profile/scoring.yaml": (ScoringConfig, load_scoring),
    "review/review.yaml": (ReviewConfig, load_review_config),
    "rules/items.yaml": (ItemVocabulary, load_items),
}
#: Packaged YAML that is data, not configuration (a published word list, read as is).
DATA_FILES = {"text/data/finance_sentiment_yao2021.yaml"}
ROOT = resources.files("creditpersona")


def test_every_packaged_yaml_is_a_tested_configuration() -> None:
    found = {str(p.relative_to(Path(str(ROOT)))) for p in Path(str(ROOT)).rglob("*.yaml")}
    assert found - DATA_FILES == set(CONFIGS)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_configuration_model_forbids_unknown_keys(name: str) -> None:
    require_strict(CONFIGS[name][0])  # raises TypeError naming a model that does not


def _models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) in (
            typing.Union, typing.Annotated):
        return [m for a in typing.get_args(annotation) for m in _models(a)]
    return []


def _deepest(model: type[BaseModel], data: dict[str, Any], path: str
             ) -> tuple[type[BaseModel], dict[str, Any], str]:
    """The most nested mapping of ``data`` that a single model validates, and its path."""
    for name, info in model.model_fields.items():
        key = info.alias or name
        value = data.get(key)
        ann = info.annotation
        origin, args = typing.get_origin(ann), typing.get_args(ann)
        if isinstance(value, dict) and len(_models(ann)) == 1:
            return _deepest(_models(ann)[0], value, f"{path}.{key}")
        if origin is list and isinstance(value, list) and value and isinstance(value[0], dict) \
                and len(_models(args[0])) == 1:
            label = next((value[0][k] for k in ("code", "id", "name") if k in value[0]), 0)
            return _deepest(_models(args[0])[0], value[0], f"{path}.{key}[{label}]")
        if origin is dict and isinstance(value, dict) and value and len(_models(args[1])) == 1:
            first = next(iter(value))
            if isinstance(value[first], dict):
                return _deepest(_models(args[1])[0], value[first], f"{path}.{key}.{first}")
    return model, data, path.lstrip(".")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_misspelt_key_fails_with_its_path(name: str, tmp_path: Path) -> None:
    model, loader = CONFIGS[name]
    data = yaml.safe_load(ROOT.joinpath(name).read_text(encoding="utf-8"))
    inner, node, path = _deepest(model, data, "")
    key = next(info.alias or f for f, info in inner.model_fields.items()
               if (info.alias or f) in node)
    typo = key + key[-1]  # "term_months" → "term_monthss"
    node[typo] = node[key]
    bad = tmp_path / Path(name).name
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    where = f"{path}.{typo}" if path else typo
    with pytest.raises(ConfigurationError, match=re.escape(str(bad)) + r": invalid .*"
                       + re.escape(f"{where}: Extra inputs are not permitted")):
        loader(bad)


def test_the_shared_loader_names_the_file_and_refuses_a_loose_model(tmp_path: Path) -> None:
    class Loose(BaseModel):
        rate: float

    class Tight(StrictModel):
        inner: Loose

    with pytest.raises(TypeError, match="Loose accepts unknown keys"):
        load_yaml_config(Tight, "creditpersona", "catalogue.yaml", None, "test")
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigurationError, match=r"The 'path' parameter of load_products must "
                       r"be an existing YAML file\. Got '.*nope\.yaml' instead\."):
        load_products(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("products: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"broken\.yaml: not valid YAML"):
        load_products(broken)


def test_lpr_table_by_date_and_tenor(tmp_path: Path) -> None:
    import datetime as dt

    import numpy as np

    lpr = load_lpr()
    # DOMAIN.md §5: 1Y 3.00 %, over-5Y 3.50 % since 2025-05-20.
    assert lpr.in_force(dt.date(2026, 2, 1)).rates() == {"1Y": 0.03, "5Y": 0.035}
    assert lpr.tenor([60, 61]).tolist() == ["1Y", "5Y"]
    days = np.array(["2025-05-19", "2025-05-20"], dtype="datetime64[D]")
    assert lpr.rate(["1Y", "1Y"], days).tolist() == [0.031, 0.03]
    with pytest.raises(ConfigurationError, match="no LPR fixing in force on 1999-01-01"):
        lpr.in_force(dt.date(1999, 1, 1))
    with pytest.raises(ConfigurationError, match=r"unknown LPR tenor\(s\) \['3Y'\]"):
        lpr.rate(["3Y"])
    text = ROOT.joinpath("domain/lpr.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "lpr.yaml"
    bad.write_text(text.replace('"1Y": 0.0300', '"1Y": 3.00'), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"fixings\[\d+\]\.1Y: Input should be less "
                                                 r"than 0\.2 \(got 3\.0\)"):
        load_lpr(bad)


def test_one_catalogue_feeds_pricing_limits_and_offers() -> None:
    products, decisions, marketing = load_products(), load_decisions(), load_catalogue()
    assert decisions.products == products.products
    assert marketing.products == products.products
    assert products.products["tech_rnd"].zh == "科技研发贷款"
    assert products.products["tech_rnd"].term_months == 24
    assert decisions.lpr == load_lpr().latest.rates()


def test_a_config_rewritten_at_once_is_read_again_and_callers_get_their_own_copy(
        tmp_path: Path) -> None:
    """The loader keeps parsed YAML (a cycle reads the same files many times), keyed on the
    text: a file rewritten within the same clock tick, same size, is still read anew."""
    text = ROOT.joinpath("review/review.yaml").read_text(encoding="utf-8")
    path = tmp_path / "review.yaml"
    path.write_text(text, encoding="utf-8")
    first = load_review_config(path)
    path.write_text(text.replace("watch: 0.10", "watch: 0.12", 1), encoding="utf-8")
    second = load_review_config(path)
    assert (first.stability.watch, second.stability.watch) == (0.10, 0.12)
    assert first == load_review_config(Path(str(ROOT.joinpath("review/review.yaml"))))
    # A caller changing its configuration does not change the next caller's.
    mine = load_decisions()
    mine.personas.clear()
    mine.relationship_cost_yuan["x"] = 1.0
    fresh = load_decisions()
    assert fresh.personas and "x" not in fresh.relationship_cost_yuan
    assert load_decisions() == fresh
