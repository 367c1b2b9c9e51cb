"""The web workbench: pages for relationship managers, credit officers and risk managers.

Server-rendered (Jinja2) pages enhanced with HTMX and Plotly, served by the service's own
application and fed only through the service's API (see :mod:`creditpersona.workbench.client`),
so the workbench shows each user exactly what their role and book allow. Chinese by default,
English on a switch; no CDN — htmx is vendored in ``static/vendor`` and Plotly is served from
the installed ``plotly`` package. See docs/workbench.md.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from creditpersona.service.opstore import OpsStore

__all__ = ["install"]


def install(app: FastAPI, ops: OpsStore | None = None) -> None:
    """Mount the workbench's pages and static files on the service's application ``app``.

    Parameters
    ----------
    app : fastapi.FastAPI
        The service (:func:`creditpersona.service.app.create_app` calls this).
    ops : OpsStore, optional
        Where sessions are kept; by default the service's operational store.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from fastapi import FastAPI
    >>> from creditpersona.service.opstore import OpsStore
    >>> app = FastAPI()
    >>> install(app, OpsStore(Path(tempfile.mkdtemp()) / "o.sqlite"))
    >>> from fastapi.testclient import TestClient
    >>> TestClient(app).get("/signin").status_code
    200
    """
    from starlette.staticfiles import StaticFiles

    from creditpersona.workbench.pages import router as pages
    from creditpersona.workbench.routes import router as routes
    from creditpersona.workbench.session import SessionStore
    from creditpersona.workbench.web import package_dir

    app.state.workbench_sessions = SessionStore(ops if ops is not None
                                                else app.state.context.ops)
    # The first 360 would otherwise wait for Plotly's import, the text-risk model and the
    # YAML catalogues; load them beside the server's start instead.
    threading.Thread(target=_warm_up, name="workbench-warm-up", daemon=True).start()
    app.include_router(routes)
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=package_dir("static")), name="workbench-static")


def _warm_up() -> None:
    """Load what the pages need once (import, model, catalogues), off the request path."""
    from creditpersona.workbench import charts, views

    views.dimension_names()
    views.grade_names()
    views.product_label("working_capital", "zh")
    views._text_package()
    charts.bars(["a"], [1.0])
