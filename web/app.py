"""The FastAPI application: routers of every package, sessions, error pages, static files."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import make_asgi_app
from sqlalchemy import text
from starlette.middleware.sessions import SessionMiddleware

import courseware.tasks  # noqa: F401  (registers the course library's job types)
from core.api import csrf_token
from core.db import get_engine
from core.errors import (
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PlatformError,
    TemporaryError,
)
from core.i18n import error_text
from core.jobs import Worker
from core.settings import get_settings
from core.storage import get_store
from courseware import api as courseware_api
from courseware import pages as courseware_pages
from courseware.delivery import SignedMedia
from courseware.errors import UploadTooLarge
from courseware.uploads import UPLOAD_KEEP, sweep_uploads, upload_dir
from web import auth
from web.i18n import LANG_COOKIE, install_translations, pick_locale
from web.limits import BodyLimits

WEB_DIR = Path(__file__).parent
log = logging.getLogger(__name__)
STATUS = (
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (UploadTooLarge, 413),
    (InvalidInput, 400),
    (TemporaryError, 503),
    (PlatformError, 400),
)


def _page_context(request: Request) -> dict[str, Any]:
    locale = pick_locale(request, get_settings().default_locale)
    return {
        "locale": locale,
        "csrf_token": csrf_token(request),
        "path": request.url.path,
    }


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/media/")) or "application/json" in (
        request.headers.get("accept", "")
    )


async def _sweep_uploads_hourly(directory: Path) -> None:
    """Each web node tidies its own upload directory: finished uploads are completed, expired
    ones removed."""
    while True:
        try:
            removed = await asyncio.to_thread(
                lambda: sweep_uploads(directory=directory, store=get_store(), max_age=UPLOAD_KEEP)
            )
        except Exception:
            log.exception("sweeping the upload directory failed")
            removed = 0
        if removed:
            log.info("removed %s abandoned uploads", removed)
        await asyncio.sleep(3600)


def _check_database() -> None:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))


def create_app(*, embedded_worker: bool = False) -> FastAPI:
    """Build the application; `embedded_worker` also runs a job worker in this process."""
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = Worker(workers=1) if embedded_worker else None
        if worker is not None:
            worker.start()
        sweeper = asyncio.create_task(_sweep_uploads_hourly(upload_dir()))
        try:
            yield
        finally:
            sweeper.cancel()
            if worker is not None:
                worker.stop()

    app = FastAPI(title="yuanjiao 远教", lifespan=lifespan)
    templates = Jinja2Templates(directory=WEB_DIR / "templates", context_processors=[_page_context])
    install_translations(templates.env)
    app.state.templates = templates
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="yuanjiao_session",
        same_site="lax",
        https_only=settings.cookie_secure,
        max_age=14 * 24 * 3600,
    )

    @app.exception_handler(PlatformError)
    async def platform_error(request: Request, exc: PlatformError) -> Response:
        status = next(code for kind, code in STATUS if isinstance(exc, kind))
        message = error_text(pick_locale(request, settings.default_locale), exc)
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        if status == 401:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return templates.TemplateResponse(
            request, "error.html", {"message": message, "status": status}, status_code=status
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        """Ready (200) when the database answers and the object store is usable, else 503 naming
        the engine that failed; the reason (hosts, endpoints) goes to the log, not the caller."""
        checks = {"database": _check_database, "storage": lambda: get_store().check()}
        failed = []
        for name, check in checks.items():
            try:
                check()
            except Exception:
                log.exception("health check: %s unavailable", name)
                failed.append(name)
        if failed:
            return JSONResponse({"status": "unavailable", "failed": failed}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/lang/{locale}", include_in_schema=False)
    def set_language(locale: str, request: Request) -> Response:
        """Switch the interface language and go back."""
        response = RedirectResponse(request.headers.get("referer") or "/", status_code=303)
        response.set_cookie(LANG_COOKIE, locale, max_age=365 * 24 * 3600, samesite="lax")
        return response

    # Signed media links are answered before sessions and routing: a segment costs an HMAC.
    app.add_middleware(
        SignedMedia, store=get_store, secret=settings.secret_key, ttl=settings.presign_delta
    )
    # Outermost: an oversized body is refused before sessions, routes or logins look at it.
    app.add_middleware(BodyLimits, settings=settings)
    app.include_router(auth.router)
    app.include_router(courseware_api.router)
    app.include_router(courseware_api.media_router)
    app.include_router(courseware_api.upload_router())
    app.include_router(courseware_pages.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.mount("/metrics", make_asgi_app())
    return app
