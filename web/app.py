"""The FastAPI application: routers of every package, sessions, error pages, static files
(web.assets).

Errors are answered once, here: JSON (`{"detail": ...}`) for the API and media routes, an HTML
page in the reader's language for everything else. What went wrong inside (exception text,
hosts, storage endpoints) goes to the log under a request id; the visitor sees a generic
message with that id.
"""

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

import core.notify.tasks  # noqa: F401  (registers the notifier's delivery job)
import courseware.tasks  # noqa: F401  (registers the course library's job types)
import streaming.congress.tasks  # noqa: F401  (event reminders, recurring)
import terminals.plans.tasks  # noqa: F401  (plan reminders, recurring)
import terminals.reports.tasks  # noqa: F401  (monthly report cards, recurring)
import terminals.sync.tasks  # noqa: F401  (digests of the lessons sites download)
import web.documents  # noqa: F401  (the minutes attached to a meeting's recording)
from core.api import CurrentUser, csrf_token, session_user
from core.audit import api as audit_api
from core.audit import pages as audit_pages
from core.errors import (
    ConfigurationError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PlatformError,
    TemporaryError,
)
from core.health import check_database, check_storage, engine_error
from core.i18n import LOCALES, N_, error_text, gettext
from core.jobs import Worker
from core.localtime import local_time
from core.notify import api as notify_api
from core.notify import pages as notify_pages
from core.people import api as people_api
from core.people import learner_api, learner_pages, login_pages, member_pages
from core.people import pages as people_pages
from core.people.errors import PasswordChangeRequired
from core.people.models import User
from core.people.permissions import is_platform_admin
from core.security import signing_key
from core.settings import get_settings
from core.storage import get_store
from courseware import api as courseware_api
from courseware import pages as courseware_pages
from courseware.delivery import SignedMedia
from courseware.errors import UploadTooLarge
from courseware.ingest import sweep_unused_sources
from courseware.uploads import UPLOAD_KEEP, sweep_uploads, upload_dir
from streaming.congress import api as events_api
from streaming.congress import pages as events_pages
from streaming.congress.hosting import MeetingHost
from streaming.elections import api as election_api
from streaming.elections import pages as election_pages
from streaming.elections.live import LiveFeed
from terminals.dossier import own_pages as site_own_pages
from terminals.dossier import site_pages
from terminals.evidence import api as evidence_api
from terminals.plans import api as plans_api
from terminals.plans import pages as plans_pages
from terminals.records import api as records_api
from terminals.records import pages as records_pages
from terminals.reports import api as reports_api
from terminals.reports import pages as reports_pages
from terminals.sessions import api as site_evidence_api
from terminals.sites import api as sites_api
from terminals.sites import map as site_map
from terminals.sites import pages as sites_pages
from terminals.sites.staff import runs_a_site
from terminals.sync import api as sync_api
from terminals.sync.player import PlayerFiles
from web import auth
from web.assets import STATIC_DIR, AssetIndex, StaticAssets
from web.headers import SecurityHeaders, security_headers
from web.i18n import LANG_COOKIE, install_translations, pick_locale
from web.limits import BodyLimits
from web.standings import PublicStandings

WEB_DIR = Path(__file__).parent
log = logging.getLogger(__name__)
STATUS = (
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (UploadTooLarge, 413),
    (InvalidInput, 400),
    (TemporaryError, 503),
    (ConfigurationError, 503),
    (PlatformError, 400),
)
# What a visitor is told for HTTP errors raised by routing (unknown address, wrong method...).
HTTP_MESSAGES = {
    404: N_("Nothing is found at this address."),
    405: N_("This address does not accept this kind of request."),
}
UNAVAILABLE = N_("The service is unavailable for a moment: please try again shortly.")
INTERNAL = N_("Something went wrong on our side: please try again later.")
INVALID = N_("The request is not valid:")


def _page_context(request: Request) -> dict[str, Any]:
    locale = pick_locale(request, get_settings().default_locale)
    return {
        "locale": locale,
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "path": request.url.path,
    }


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/media/")) or "application/json" in (
        request.headers.get("accept", "")
    )


def same_site_path(target: str | None, request: Request) -> str:
    """`target` as a path on this site (from a Referer or a `next`), or "/" when it would lead
    anywhere else: another host, a scheme, or a path a browser reads as one ("//", "/\\")."""
    if not target:
        return "/"
    parts = urlsplit(target)
    foreign = parts.scheme not in ("http", "https") or parts.netloc != request.url.netloc
    if (parts.scheme or parts.netloc) and foreign:
        return "/"
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith(("//", "/\\")) or "\\" in path:
        return "/"
    return path + (f"?{parts.query}" if parts.query else "")


def _sweep(directory: Path) -> tuple[int, int]:
    store = get_store()
    uploads = sweep_uploads(directory=directory, store=store, max_age=UPLOAD_KEEP)
    return uploads, sweep_unused_sources(store=store, older_than=UPLOAD_KEEP)


async def _sweep_uploads_hourly(directory: Path) -> None:
    """Each web node tidies its own upload directory (finished uploads are completed, expired
    ones removed) and the store's source copies that no lesson came to point to."""
    while True:
        try:
            uploads, sources = await asyncio.to_thread(_sweep, directory)
        except Exception:
            log.exception("sweeping the upload directory failed")
            uploads = sources = 0
        if uploads or sources:
            log.info("removed %s abandoned uploads and %s unused sources", uploads, sources)
        await asyncio.sleep(3600)


def _serve_metrics(address: str) -> Any:
    """Serve /metrics on a listener of its own (YUANJIAO_METRICS_ADDRESS=host:port)."""
    host, _, port = address.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1")
    log.info("metrics on http://%s/metrics", address)
    return server


async def _reader(request: Request) -> User | None:
    """Who is logged in, for an error page; nobody when that cannot be told (the database may
    be the very thing that failed)."""
    if "session" not in request.scope:
        return None
    try:
        return await session_user(request)
    except Exception:
        return None


def _translate(request: Request, message: str) -> str:
    return gettext(pick_locale(request, get_settings().default_locale), message)


# Pydantic's error types, told in the reader's language; the values come from the error's ctx.
VALIDATION_TEXTS = {
    "missing": N_("is required"),
    "string_too_long": N_("has at most %(max_length)s characters"),
    "string_too_short": N_("has at least %(min_length)s characters"),
    "too_long": N_("has at most %(max_length)s items"),
    "too_short": N_("has at least %(min_length)s items"),
    "greater_than_equal": N_("must be at least %(ge)s"),
    "less_than_equal": N_("must be at most %(le)s"),
    "greater_than": N_("must be more than %(gt)s"),
    "less_than": N_("must be less than %(lt)s"),
    "int_parsing": N_("must be a whole number"),
    "int_type": N_("must be a whole number"),
    "float_parsing": N_("must be a number"),
    "bool_parsing": N_("must be true or false"),
    "string_type": N_("must be text"),
    "enum": N_("must be one of: %(expected)s"),
    "literal_error": N_("must be one of: %(expected)s"),
    "extra_forbidden": N_("is not a known field"),
    "json_invalid": N_("is not valid JSON"),
    "string_pattern_mismatch": N_("has a wrong format"),
    "date_from_datetime_parsing": N_("must be a date (YYYY-MM-DD)"),
    "date_parsing": N_("must be a date (YYYY-MM-DD)"),
}


def _validation_text(locale: str, exc: RequestValidationError) -> str:
    """The request's validation errors on one line in the reader's language
    (`title: 最多 200 个字符`); an error type without a text of ours keeps Pydantic's words."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        text = VALIDATION_TEXTS.get(str(error.get("type")))
        context = {key: str(value) for key, value in (error.get("ctx") or {}).items()}
        try:
            said = gettext(locale, text, **context) if text else str(error.get("msg", ""))
        except KeyError:
            said = str(error.get("msg", ""))
        parts.append(f"{where}: {said}" if where else said)
    return "; ".join(parts)


# The static files a site's local player needs (the web player, its styles and hls.js).
def healthz() -> Response:
    """Ready (200) when the database answers and the object store is usable, else 503 naming
    the engine that failed; the reason (hosts, endpoints) goes to the log, not the caller."""
    failed = []
    for check in (check_database(), check_storage()):
        if check.problem is not None:
            log.error("health check: %s unavailable: %s", check.name, check.problem)
            failed.append(check.name)
    if failed:
        return JSONResponse({"status": "unavailable", "failed": failed}, status_code=503)
    return JSONResponse({"status": "ok"})


def create_media_app(url: str) -> FastAPI:
    """A media node alone (`yuanjiao media`): the meetings placed on it, reached by web nodes
    at `url` with their tickets, and its health."""
    meeting_host = MeetingHost(get_settings(), url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await meeting_host.start()
        try:
            yield
        finally:
            await meeting_host.close()

    app = FastAPI(title="yuanjiao media node", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.meeting_host = meeting_host
    app.get("/healthz", include_in_schema=False)(healthz)
    app.include_router(events_api.node_router)
    return app


PLAYER_FILES = (
    "js/player.js",
    "js/api.js",
    "js/confirm.js",
    "player.css",
    "app.css",
    "vendor/hls.light.min.js",
)


def create_app(*, embedded_worker: bool = False, media_url: str | None = None) -> FastAPI:
    """Build the application; `embedded_worker` also runs a job worker in this process, and
    with `media_url` it is also the media node known by that URL (it holds meetings)."""
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = Worker(workers=1) if embedded_worker else None
        if worker is not None:
            worker.start()
        sweeper = asyncio.create_task(_sweep_uploads_hourly(upload_dir()))
        metrics = _serve_metrics(settings.metrics_address) if settings.metrics_address else None
        if meeting_host is not None:
            await meeting_host.start()
        try:
            yield
        finally:
            await election_feed.close()
            if meeting_host is not None:
                await meeting_host.close()
            sweeper.cancel()
            if metrics is not None:
                metrics.shutdown()
                metrics.server_close()
            if worker is not None:
                worker.stop()

    # The docs page is our own (its assets are served from /static, see `api_docs`).
    app = FastAPI(
        title="yuanjiao 远教",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # No OpenTelemetry provider is configured: FastAPI's native telemetry would still look
        # the providers up in os.environ on every route match (a quarter of a beat's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    templates = Jinja2Templates(directory=WEB_DIR / "templates", context_processors=[_page_context])
    install_translations(templates.env)
    # Pages name static files by hashed address: static_url("js/player.js"), and the import map.
    assets = AssetIndex()
    templates.env.globals["static_url"] = assets.url
    templates.env.globals["import_map"] = assets.import_map
    templates.env.globals["runs_a_site"] = runs_a_site
    templates.env.filters["local"] = local_time
    app.state.templates = templates
    # The meetings this process holds, if it is a media node too (`yuanjiao run`).
    meeting_host = MeetingHost(settings, media_url) if media_url else None
    app.state.meeting_host = meeting_host
    app.state.viewers = {}
    # The elections followed live from this process (streaming.elections.live).
    election_feed = app.state.election_feed = LiveFeed()
    # The web player's files: site manifests list them, and sites play with them.
    app.state.player = PlayerFiles(STATIC_DIR, PLAYER_FILES)
    # Middleware runs outermost first, in the reverse of the order it is added here:
    # an ordinary study beat is taken before routing (inside the session, which names the login);
    app.add_middleware(evidence_api.BeatIntake)
    # the cookie carries the session's token (and its CSRF token), signed with a key of its own;
    app.add_middleware(
        SessionMiddleware,
        secret_key=signing_key("session-cookie").hex(),
        session_cookie="yuanjiao_session",
        same_site="lax",
        https_only=settings.https,
        max_age=settings.session_days * 24 * 3600,
    )
    # signed media links are answered before sessions and routing (a segment costs an HMAC);
    app.add_middleware(
        SignedMedia, store=get_store, secret=signing_key("media-link"), ttl=settings.presign_delta
    )
    # static files too, from memory (scripts, styles, the favicon);
    app.add_middleware(StaticAssets, assets=assets)
    # an oversized body is refused before sessions, routes or logins look at it;
    app.add_middleware(BodyLimits, settings=settings)
    # and every response gets the security headers, refusals and segments included.
    inline_scripts = (assets.import_map_source,)
    app.add_middleware(SecurityHeaders, settings=settings, inline_scripts=inline_scripts)
    # Outermost: a public election's live feed, which thousands follow, skips the rest (with
    # the same security headers).
    app.add_middleware(
        PublicStandings,
        feed=election_feed,
        headers=security_headers(settings, inline_scripts=inline_scripts),
    )

    async def error_response(
        request: Request,
        status: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> Response:
        """The error as JSON for the API, or as a page in the reader's language that knows who
        is logged in."""
        if request_id is not None:
            headers = {**(headers or {}), "X-Request-ID": request_id}
        if _wants_json(request):
            body: dict[str, Any] = {"detail": message}
            if request_id is not None:
                body["request_id"] = request_id
            return JSONResponse(body, status_code=status, headers=headers)
        context = {
            "message": message,
            "status": status,
            "request_id": request_id,
            "user": await _reader(request),
        }
        return templates.TemplateResponse(
            request, "error.html", context, status_code=status, headers=headers
        )

    async def hidden_failure(request: Request, exc: BaseException, status: int) -> Response:
        """A failure whose details are for the log only: logged under a request id, answered
        with a generic message carrying that id."""
        request_id = secrets.token_hex(6)
        where = (request_id, request.method, request.url.path, status)
        if isinstance(exc, PlatformError):  # raised on purpose: its message says enough
            log.error("request %s: %s %s failed (%s): %s", *where, exc)
        else:
            log.error("request %s: %s %s failed (%s)", *where, exc_info=exc)
        message = _translate(request, UNAVAILABLE if status == 503 else INTERNAL)
        return await error_response(request, status, message, request_id=request_id)

    @app.exception_handler(PlatformError)
    async def platform_error(request: Request, exc: PlatformError) -> Response:
        status = next(code for kind, code in STATUS if isinstance(exc, kind))
        if exc.internal:  # a store, queue or setting failed: its text names endpoints and keys
            return await hidden_failure(request, exc, status)
        if status == 401 and not _wants_json(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if isinstance(exc, PasswordChangeRequired) and not _wants_json(request):
            return RedirectResponse(f"/account/password?next={request.url.path}", status_code=303)
        message = error_text(pick_locale(request, settings.default_locale), exc)
        return await error_response(request, status, message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        default = exc.detail == HTTPStatus(exc.status_code).phrase
        if exc.status_code in HTTP_MESSAGES and default:
            message = _translate(request, HTTP_MESSAGES[exc.status_code])
        else:
            message = str(exc.detail)
        return await error_response(request, exc.status_code, message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        locale = pick_locale(request, settings.default_locale)
        message = f"{gettext(locale, INVALID)} {_validation_text(locale, exc)}"
        return await error_response(request, 422, message)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        """Anything else: 503 when an engine failed (database, queue), else 500. Starlette
        re-raises the exception afterwards, so the server logs it too."""
        status = 503 if engine_error(exc) is not None else 500
        response = await hidden_failure(request, exc, status)
        # this one skips our middleware
        response.headers.update(security_headers(settings, inline_scripts=inline_scripts))
        return response

    app.get("/healthz", include_in_schema=False)(healthz)

    @app.get("/lang/{locale}", include_in_schema=False)
    def set_language(locale: str, request: Request, next: str | None = None) -> Response:
        """Switch the interface language and go back to the page (on this site only)."""
        target = same_site_path(next or request.headers.get("referer"), request)
        response = RedirectResponse(target, status_code=303)
        if locale in LOCALES:
            response.set_cookie(LANG_COOKIE, locale, max_age=365 * 24 * 3600, samesite="lax")
        return response

    if not settings.metrics_address:

        @app.get("/metrics", include_in_schema=False)
        def metrics(user: CurrentUser) -> Response:
            """Prometheus metrics, for platform admins (or on a listener of their own)."""
            if not is_platform_admin(user):
                raise PermissionDenied(N_("Only platform administrators can read the metrics."))
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        """The API reference (Swagger UI), its scripts and styles served from this site."""
        return templates.TemplateResponse(request, "docs.html", {"openapi_url": app.openapi_url})

    app.include_router(auth.router)
    app.include_router(courseware_api.router)
    app.include_router(courseware_api.media_router)
    app.include_router(courseware_api.upload_router())
    app.include_router(courseware_pages.router)
    app.include_router(people_api.router)
    app.include_router(people_pages.router)
    app.include_router(member_pages.router)
    app.include_router(audit_api.router)
    app.include_router(audit_pages.router)
    app.include_router(plans_api.router)
    app.include_router(plans_pages.router)
    # Before the sites routers: /admin/sites/map and /api/sites/map are not /sites/{site_id}.
    app.include_router(site_map.router)
    app.include_router(sync_api.router)
    app.include_router(site_evidence_api.upload_router)
    app.include_router(learner_api.router)
    app.include_router(learner_pages.router)
    app.include_router(login_pages.router)
    app.include_router(notify_api.router)
    app.include_router(notify_api.deliveries_router)
    app.include_router(notify_pages.router)
    app.include_router(evidence_api.router)
    app.include_router(records_api.router)
    app.include_router(records_pages.router)
    app.include_router(sites_api.router)
    app.include_router(site_evidence_api.router)
    app.include_router(sites_pages.router)
    app.include_router(site_pages.router)
    app.include_router(site_own_pages.router)
    app.include_router(reports_api.router)
    app.include_router(reports_pages.router)
    app.include_router(events_api.router)
    app.include_router(events_api.room_router)
    if meeting_host is not None:
        app.include_router(events_api.node_router)
    app.include_router(events_pages.router)
    app.include_router(election_pages.router)
    app.include_router(election_api.router)
    return app
