"""Precision marketing (精准营销): catalogue, propensity and uplift models, next-best offer.

The risk appetite and needs (``marketing.yaml``, with the one product catalogue
``catalogue.yaml``) and the channels and routing (``channels.yaml``) are versioned
configuration. Models learn from the campaign history with
point-in-time features; the next-best-offer planner solves one campaign as an optimisation
problem (exact MILP, or Lagrangian relaxation with a certified gap for large portfolios);
:func:`marketing_stage` runs the whole stage for the pipeline.
"""

from __future__ import annotations

from creditpersona.marketing.backtest import BacktestResult, backtest
from creditpersona.marketing.catalogue import (
    Catalogue,
    MarketingConfig,
    eligibility,
    load_catalogue,
)
from creditpersona.marketing.evaluate import (
    CampaignEvaluation,
    evaluate_table,
    read_campaign_table,
)
from creditpersona.marketing.history import PeerTable, campaign_history, marketing_features
from creditpersona.marketing.kernels import (
    MarketingModel,
    apply_marketing,
    cap_offers,
    fit_marketing,
    marketing_inputs,
    solve_prices,
)
from creditpersona.marketing.lists import CampaignListFiles, write_campaign_lists
from creditpersona.marketing.needs import (
    need_signals,
    product_need,
    products_held,
    unmet_needs,
)
from creditpersona.marketing.offers import OfferPlan, OfferProblem, build_problem, plan_offers
from creditpersona.marketing.propensity import ProductPropensity, PropensityModel
from creditpersona.marketing.routing import ChannelConfig, load_channels, route
from creditpersona.marketing.stage import MarketingResult, load_offers, marketing_stage
from creditpersona.marketing.uplift import (
    ClassTransformationUplift,
    TwoModelUplift,
    incremental_at_k,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
)

__all__ = [
    "BacktestResult",
    "CampaignEvaluation",
    "CampaignListFiles",
    "Catalogue",
    "ChannelConfig",
    "ClassTransformationUplift",
    "MarketingConfig",
    "MarketingModel",
    "MarketingResult",
    "OfferPlan",
    "OfferProblem",
    "PeerTable",
    "ProductPropensity",
    "PropensityModel",
    "TwoModelUplift",
    "apply_marketing",
    "backtest",
    "build_problem",
    "campaign_history",
    "cap_offers",
    "eligibility",
    "evaluate_table",
    "fit_marketing",
    "incremental_at_k",
    "load_catalogue",
    "load_channels",
    "load_offers",
    "marketing_features",
    "marketing_inputs",
    "marketing_stage",
    "need_signals",
    "plan_offers",
    "product_need",
    "products_held",
    "qini_coefficient",
    "qini_curve",
    "read_campaign_table",
    "route",
    "solve_prices",
    "unmet_needs",
    "uplift_at_k",
    "write_campaign_lists",
]
