"""`yuanjiao terminal serve`: the site's local player and group sessions, from disk, offline.

Trust model: the app listens on 127.0.0.1 by default, so only the site's own machine reaches it,
and whoever sits at that machine is the site's operator (as with the TV and the remote). No
login: the evidence it writes says how each member was checked in (list, QR, code), and the
server weighs those. To keep other web pages the operator opens from driving it (a cross-site
form post to localhost), every state-changing request must come from this app's own origin.

Routes: `/` (lessons held, start a session), `/sessions/{id}` (roll call, 应到/实到, lessons to
play, end), `/lessons/{id}` (the web player on the local copy), `/static/...` (the player's
files from the manifest), `/content/...` (lesson files), and the player's own study routes
`POST /api/study/sessions`, `POST /api/study/beats`, `PUT /api/lessons/{id}/position`, which
the unchanged player.js calls here as it does on the web.
"""

import json
import logging
import secrets
import shutil
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import BackgroundTasks, FastAPI, Form, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from core.errors import InvalidInput, NotFound, PlatformError
from core.i18n import error_text, translations
from courseware.models import CaptionLanguage
from terminals.agent.client import ServerAway, ServerClient, agent_locale, agent_version
from terminals.agent.local.frames import capture_frame
from terminals.agent.local.sessions import FrameMark, GroupSessions
from terminals.agent.state import AgentDir
from terminals.agent.sync import SyncSummary, boot_time, upload_outbox

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
HEARTBEAT_SECONDS = 300.0  # a heartbeat record, and an upload try, this often
# The app's own additions to the player's files, shipped with the agent.
LOCAL_FILES = {"local.css": "text/css", "local.js": "text/javascript"}


def held_captions(agent_dir: AgentDir, lesson_id: int) -> list[dict[str, str]]:
    """The lesson's captions this machine holds (they come with its HLS tree), as tracks."""
    folder = f"lessons/{lesson_id}/hls/captions"
    return [
        {
            "language": language.value,
            "label": language.label,
            "url": f"/content/{folder}/{language.value}.vtt",
        }
        for language in CaptionLanguage
        if agent_dir.content_path(f"{folder}/{language.value}.vtt").is_file()
    ]


def create_app(agent_dir: AgentDir, *, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> FastAPI:
    """The local app of the agent in `agent_dir` (enrolled and synced at least once)."""
    config = agent_dir.load()
    sessions = GroupSessions(agent_dir)
    locale = agent_locale()
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.add_extension("jinja2.ext.i18n")
    templates.env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(locale), newstyle=True
    )
    state: dict[str, Any] = {"now_playing": None}
    csrf_token = secrets.token_urlsafe(16)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        beat = threading.Thread(
            target=_heartbeats, args=(agent_dir, state, stop, heartbeat_seconds), daemon=True
        )
        beat.start()
        yield
        stop.set()

    app = FastAPI(title="yuanjiao site player", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def same_origin(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Refuse a state change sent from another site's page (see the trust model)."""
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            host = request.headers.get("host", "")
            if origin is not None and origin.split("://", 1)[-1] != host:
                return JSONResponse({"detail": "cross-origin request refused"}, status_code=403)
        return await call_next(request)

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        base = {
            "site": config,
            "locale": locale,
            "lang": locale.replace("_", "-"),
            "csrf_token": csrf_token,
        }
        return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)

    def refusal(request: Request, exc: PlatformError, status: int) -> Response:
        message = error_text(locale, exc)
        if request.url.path.startswith("/api/") or "json" in request.headers.get("accept", ""):
            return JSONResponse({"detail": message}, status_code=status)
        return page(request, "error.html", {"message": message, "status": status}, status)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return refusal(request, exc, 404)

    @app.exception_handler(InvalidInput)
    async def invalid(request: Request, exc: InvalidInput) -> Response:
        return refusal(request, exc, 400)

    @app.get("/")
    def home(request: Request) -> Response:
        """Lessons held, the open session, recent sessions."""
        return page(
            request,
            "home.html",
            {
                "lessons": _lessons_by_course(sessions.lessons()),
                "current": sessions.current(),
                "recent": sessions.recent(),
                "roster_size": len(sessions.members()),
                "pending": sessions.outbox.pending_count(),
                "last_sync": config.last_sync_at,
            },
        )

    @app.post("/sessions")
    def start_session(
        title: Annotated[str, Form()] = "",
        lesson_ids: Annotated[list[int] | None, Form()] = None,
        administrator: Annotated[str, Form()] = "",
    ) -> Response:
        """Open a group session."""
        session_id = sessions.start(
            title=title, lesson_ids=lesson_ids or [], administrator=administrator
        )
        return RedirectResponse(f"/sessions/{session_id}", status_code=303)

    @app.get("/sessions/{session_id}")
    def session_page(request: Request, session_id: str) -> Response:
        """The roll call and the session's lessons."""
        group = sessions.get(session_id)
        held = sessions.lessons()
        members = sorted(sessions.members().values(), key=lambda m: (m["org"], m["name"]))
        notice = request.query_params.get("in")
        checked = sessions.members().get(int(notice)) if notice and notice.isdigit() else None
        return page(
            request,
            "session.html",
            {
                "group": group,
                "lessons": [held[i] for i in group.lesson_ids if i in held],
                "members": members,
                "checked": checked,
                "error": request.query_params.get("error"),
            },
        )

    def back_to(session_id: str, *, member: dict[str, Any] | None = None) -> Response:
        query = f"?in={member['id']}" if member else ""
        return RedirectResponse(f"/sessions/{session_id}{query}#roll-call", status_code=303)

    @app.post("/sessions/{session_id}/checkins")
    def check_in_by_list(session_id: str, member_id: Annotated[int, Form()]) -> Response:
        """Check a member in by tapping their name."""
        return back_to(session_id, member=sessions.check_in(session_id, member_id, "list"))

    @app.post("/sessions/{session_id}/code")
    def check_in_by_code(
        request: Request, session_id: str, code: Annotated[str, Form()] = ""
    ) -> Response:
        """Check a member in by a scanned QR code or a typed check-in code."""
        try:
            member = sessions.check_in_code(session_id, code[:100])
        except InvalidInput as exc:
            message = error_text(locale, exc)
            group = sessions.get(session_id)
            members = sorted(sessions.members().values(), key=lambda m: (m["org"], m["name"]))
            held = sessions.lessons()
            context = {
                "group": group,
                "lessons": [held[i] for i in group.lesson_ids if i in held],
                "members": members,
                "checked": None,
                "error": message,
            }
            return page(request, "session.html", context, status=400)
        return back_to(session_id, member=member)

    @app.post("/sessions/{session_id}/end")
    def end_session(session_id: str) -> Response:
        """Close the session."""
        sessions.end(session_id)
        return RedirectResponse("/", status_code=303)

    @app.get("/api/sessions/{session_id}")
    def session_counts(session_id: str) -> dict[str, Any]:
        """应到 / 实到 of a session (the roll-call page refreshes them)."""
        group = sessions.get(session_id)
        return {
            "expected": group.expected,
            "present": len(group.present),
            "ended": group.ended_at is not None,
        }

    @app.get("/lessons/{lesson_id}")
    def lesson_page(request: Request, lesson_id: int) -> Response:
        """The web player on the local copy of a lesson."""
        lesson = sessions.lessons().get(lesson_id)
        if lesson is None:
            raise NotFound(f"lesson {lesson_id} is not held here")
        rendition = (lesson.get("rendition") or {}).get("name") or "360p"
        current = sessions.current()
        in_session = current is not None and lesson_id in current.lesson_ids
        poster = agent_dir.content_path(f"lessons/{lesson_id}/poster.jpg")
        context = {
            "lesson": lesson,
            "src": f"/content/lessons/{lesson_id}/hls/{rendition}/index.m3u8",
            "poster": f"/content/lessons/{lesson_id}/poster.jpg" if poster.is_file() else "",
            "resume": sessions.position(lesson_id),
            "group": current if in_session else None,
            "captions": held_captions(agent_dir, lesson_id),
        }
        return page(request, "lesson.html", context)

    @app.post("/api/study/sessions")
    async def issue_playback(request: Request) -> dict[str, str]:
        """A playback id for the player's beats (404 outside a group session)."""
        body = await _json(request)
        lesson_id = int(body.get("lesson_id") or 0)
        playback = sessions.issue_playback(lesson_id)
        state["now_playing"] = lesson_id
        return {"id": playback}

    @app.post("/api/study/beats")
    async def beat(request: Request, background: BackgroundTasks) -> dict[str, int]:
        """A study beat: its intervals become records; frames are captured after answering."""
        marks = sessions.record_beat(await _json(request))
        for mark in marks:
            background.add_task(_capture, agent_dir, sessions, mark)
        return {"frames": len(marks)}

    @app.put("/api/lessons/{lesson_id}/position")
    async def position(request: Request, lesson_id: int) -> dict[str, int]:
        """Where the player stopped (it resumes there)."""
        seconds = int((await _json(request)).get("seconds") or 0)
        sessions.save_position(lesson_id, seconds)
        return {"seconds": seconds}

    @app.get("/static/{path:path}")
    def player_file(path: str) -> Response:
        """The player's files, as the server's manifest named them; the app's own stylesheet."""
        if path in LOCAL_FILES:
            return FileResponse(HERE / path, media_type=LOCAL_FILES[path])
        return _file(agent_dir.player_path, path)

    @app.get("/content/{path:path}")
    def content_file(path: str) -> Response:
        """A lesson file held on disk."""
        return _file(agent_dir.content_path, path)

    return app


def _file(locate: Callable[[str], Path], path: str) -> Response:
    try:
        target = locate(path)
    except ValueError as exc:
        raise NotFound("file not found") from exc
    if not target.is_file() or target.name.endswith(".part"):
        raise NotFound("file not found")
    media = {
        ".m3u8": "application/vnd.apple.mpegurl",
        ".m4s": "video/iso.segment",
        ".mp4": "video/mp4",
        ".js": "text/javascript",
        ".vtt": "text/vtt",
    }
    return FileResponse(target, media_type=media.get(target.suffix))


async def _json(request: Request) -> dict[str, Any]:
    """The JSON body (sendBeacon posts it as text/plain)."""
    try:
        data = json.loads(await request.body())
    except ValueError as exc:
        raise InvalidInput("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the body is not a JSON object")
    return data


def _lessons_by_course(lessons: dict[int, dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    courses: dict[str, list[Any]] = {}
    for lesson in sorted(lessons.values(), key=lambda x: (x["course"]["id"], x["position"])):
        courses.setdefault(lesson["course"]["title"], []).append(lesson)
    return list(courses.items())


def _capture(agent_dir: AgentDir, sessions: GroupSessions, mark: FrameMark) -> None:
    lesson = sessions.lessons().get(mark.lesson_id)
    if lesson is None:
        return
    try:
        capture_frame(agent_dir, lesson, mark)
    except (RuntimeError, OSError, PlatformError):
        log.exception("proof-of-play frame %s of lesson %s failed", mark.mark, mark.lesson_id)


def _heartbeats(
    agent_dir: AgentDir, state: dict[str, Any], stop: threading.Event, every: float
) -> None:
    """Now and then: a heartbeat record (power-on, now playing, disk free), then an upload try
    when the server answers (nothing is lost when it does not)."""
    while not stop.wait(every):
        try:
            config = agent_dir.load()
            sessions = GroupSessions(agent_dir)
            body = {
                "powered_on_at": boot_time(),
                "now_playing": state["now_playing"],
                "disk_free_bytes": shutil.disk_usage(agent_dir.root).free,
                "agent_version": agent_version(),
                "last_sync_at": config.last_sync_at,
                "from": "serve",
            }
            sessions.outbox.append_record(
                "heartbeat", {k: v for k, v in body.items() if v is not None}
            )
            client = ServerClient(config.server, agent_dir.token())
            try:
                upload_outbox(client, sessions.outbox, config, SyncSummary(site_id=config.site_id))
            finally:
                client.close()
        except ServerAway:
            continue
        except PlatformError:
            log.warning("upload from the local player failed", exc_info=True)
        state["last_beat"] = datetime.now(UTC).isoformat()
