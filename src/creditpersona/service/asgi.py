"""The ASGI application uvicorn imports (one per worker): the store from the environment."""

from __future__ import annotations

from creditpersona.service.app import create_app

app = create_app()
