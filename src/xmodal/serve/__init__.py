"""`xmodal serve`: a REST API (/v1) and a web page over one index.

    from xmodal.serve import Settings, create_app
    app = create_app(xmodal.open("my-index"), Settings(api_key=...))   # an ASGI app for uvicorn

Tooling, not runtime: it imports the engine and below, and nothing imports it but the CLI.
Needs the `serve` extra (FastAPI, uvicorn).
"""

from __future__ import annotations

from .settings import Settings

__all__ = ["Settings", "create_app"]


def create_app(index, settings: Settings | None = None):
    """The FastAPI app over an open `xmodal.engine.Index` (see `xmodal.serve.app`)."""
    from .app import create_app as _create_app

    return _create_app(index, settings)
