"""`create_app(index, settings)`: the FastAPI application over one open Index — the /v1 API, the
web page at /, OpenAPI docs at /docs (assets served locally, no CDN) — with its middleware."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.staticfiles import StaticFiles

from xmodal import __version__
from xmodal.engine import Index

from .limits import Busy
from .routes import busy_response, make_router
from .security import PAGE_CSP, Keys, SecurityHeaders
from .service import Service
from .settings import Settings

STATIC = Path(__file__).parent / "static"


def create_app(index: Index, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    service = Service(index, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            yield
        finally:  # let a running write finish its batch; queued ones are dropped
            service.jobs.shutdown()

    from fastapi_offline import FastAPIOffline

    app = FastAPIOffline(
        title="xmodal", version=__version__, lifespan=lifespan, redoc_url=None,
        description="Multimodal retrieval over one xmodal index: text, images, audio, video and documents "
                    "in one vector space. Results carry ids and URLs relative to this server, never file paths.",
        max_body_size=settings.max_upload_bytes,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.keys = Keys(settings)
    app.include_router(make_router(settings))
    app.add_exception_handler(Busy, lambda request, exc: busy_response(exc))

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # outermost last: hosts are checked first, every response gets the security headers
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Range"], expose_headers=["Content-Range", "Accept-Ranges"])
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    return app

