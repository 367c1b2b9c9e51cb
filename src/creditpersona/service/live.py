"""The cycle as the service needs it run: take in the inbox, compute, keep, publish.

``creditpersona run`` and ``creditpersona demo`` call :func:`run_cycle_live` instead of the
bare :func:`creditpersona.pipeline.run_cycle` (whose inputs step takes the outcomes recorded
through the service into ``campaign_contacts``, :mod:`creditpersona.store.inbox`): the quarter's
report is kept beside the store for ``/api/v1/runs/{run_id}/report``, and the serving snapshot
is published last (:mod:`creditpersona.service.snapshot`), so the service switches to the new
quarter only once it is complete.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from creditpersona.pipeline import CycleResult, run_cycle
from creditpersona.safeio import private_dir
from creditpersona.service.snapshot import publish, reports_dir
from creditpersona.store.store import Store


def run_cycle_live(store: Store, as_of: dt.date, out_dir: Path, *, keep_report: bool = True,
                   **kwargs: Any) -> CycleResult:
    """Run the cycle (which takes in the outcome inbox), keep its report, publish the snapshot.

    ``kwargs`` go to :func:`creditpersona.pipeline.run_cycle`.
    """
    result = run_cycle(store, as_of, out_dir, **kwargs)
    if keep_report and str(store.path) != ":memory:":
        from creditpersona.report.cycle import cycle_sections
        from creditpersona.report.html import render_report
        from creditpersona.store.summary import portfolio_summary

        folder = private_dir(reports_dir(store.path))
        render_report(folder / f"{as_of.isoformat()}.html",
                      title=f"creditpersona — {store.path} — {as_of}",
                      summary=portfolio_summary(store),
                      profile=result.profile.assign(as_of=as_of),
                      sections=cycle_sections(result))
    if str(store.path) != ":memory:":
        surrogate = result.personas.cards.surrogate
        publish(store, None if surrogate is None else surrogate.rules)
    return result
