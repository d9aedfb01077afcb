"""JSON API and media routes of the course library; tus resumable uploads under /api/uploads."""

import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from sqlalchemy import select
from sqlalchemy.orm import Session
from tuspyserver import create_tus_router
from tuspyserver.storage.local import LocalFileStorage

from core.api import (
    CurrentUser,
    OptionalUser,
    RowId,
    SessionDep,
    current_user,
    in_session,
    unit_of_work,
    verify_csrf,
)
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.jobs import enqueue
from core.people.models import User
from core.security import signing_key
from core.settings import get_settings
from core.storage import ObjectNotFound, ObjectStore, get_store, validate_key
from courseware.captions import CONTENT_TYPE as CAPTIONS_TYPE
from courseware.captions import MAX_CAPTION_BYTES
from courseware.catalog import list_courses
from courseware.cover import MAX_COVER_BYTES, cover_url
from courseware.deletion import delete_course, delete_lesson
from courseware.delivery import check_signature, direct_url, object_response, read_in_thread
from courseware.editing import (
    remove_captions,
    remove_cover,
    reorder_lessons,
    retry_lesson,
    set_captions,
    set_cover,
    update_course,
)
from courseware.models import Attachment, CaptionLanguage, Course, Lesson
from courseware.permissions import listed_lessons
from courseware.playlist import rewrite_playlist
from courseware.schemas import (
    CourseCreate,
    CourseRead,
    CourseUpdate,
    LessonBrief,
    LessonOrder,
    LessonUpdate,
    PositionUpdate,
)
from courseware.service import (
    add_attachment,
    caption_summary,
    check_upload_size,
    create_course,
    get_course,
    get_lesson,
    lesson_summary,
    save_position,
    update_lesson,
)
from courseware.uploads import (
    UPLOAD_KEEP,
    finish_upload,
    record_upload,
    upload_dir,
    upload_owner,
    upload_target,
)

router = APIRouter(dependencies=[Depends(verify_csrf)])
# Signed media links carry their own proof; they skip every dependency to stay cheap.
media_router = APIRouter()
StoreDep = Annotated[ObjectStore, Depends(get_store)]


async def lesson_dep(lesson_id: RowId, user: OptionalUser) -> Lesson:
    """The lesson in the path, if the caller may see it (404 otherwise); loaded detached, with
    its course and organisation, in a unit of work of its own."""
    return await unit_of_work(
        lambda session: get_lesson(session=session, user=user, lesson_id=lesson_id)
    )


CurrentLesson = Annotated[Lesson, Depends(lesson_dep)]


async def course_dep(course_id: RowId, user: OptionalUser) -> Course:
    """The course in the path, if the caller may see it (404 otherwise), loaded detached."""
    return await unit_of_work(
        lambda session: get_course(session=session, user=user, course_id=course_id)
    )


CurrentCourse = Annotated[Course, Depends(course_dep)]


def course_read(course: Course, user: User | None) -> CourseRead:
    """The course as the caller sees it: only the lessons the caller may be shown."""
    return CourseRead(
        id=course.id,
        title=course.title,
        description=course.description,
        category=course.category,
        org_id=course.org_id,
        visibility=course.visibility,
        cover=cover_url(course),
        created_at=course.created_at,
        lessons=[LessonBrief.model_validate(lesson) for lesson in listed_lessons(user, course)],
    )


@router.get("/api/courses", response_model=list[CourseRead])
def courses_index(session: SessionDep, user: OptionalUser, q: str = "", category: str = "") -> Any:
    """Courses the caller may see, matching a search of course and lesson titles and texts."""
    courses = list_courses(session=session, user=user, query=q, category=category)
    return [course_read(course, user) for course in courses]


@router.post("/api/courses", response_model=CourseRead, status_code=201)
def courses_create(body: CourseCreate, session: SessionDep, user: CurrentUser) -> Any:
    """Create a course owned by an organisation the caller publishes for."""
    return course_read(create_course(session=session, user=user, **body.model_dump()), user)


@router.get("/api/courses/{course_id}", response_model=CourseRead)
def courses_show(course_id: RowId, session: SessionDep, user: OptionalUser) -> Any:
    """One course with the lessons the caller may watch (editors see every lesson)."""
    return course_read(get_course(session=session, user=user, course_id=course_id), user)


@router.patch("/api/courses/{course_id}", response_model=CourseRead)
def courses_update(
    body: CourseUpdate, course_id: RowId, session: SessionDep, user: CurrentUser
) -> Any:
    """Change a course's title, description, category, visibility or owning organisation."""
    course = get_course(session=session, user=user, course_id=course_id)
    update_course(session=session, user=user, course=course, **body.model_dump(exclude_none=True))
    return course_read(course, user)


@router.delete("/api/courses/{course_id}", status_code=204)
def courses_delete(course_id: RowId, user: CurrentUser) -> None:
    """Delete a course and its lessons: gone at once; storage is cleared by a job."""
    job = in_session(
        lambda session: delete_course(
            session=session,
            user=user,
            course=get_course(session=session, user=user, course_id=course_id),
        )
    )
    enqueue(job.id)


@router.put("/api/courses/{course_id}/cover", response_model=CourseRead)
def courses_cover(
    course_id: RowId,
    session: SessionDep,
    store: StoreDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File()],
) -> Any:
    """Give the course a cover picture (JPEG, PNG or WebP, checked by its content)."""
    course = get_course(session=session, user=user, course_id=course_id)
    data = file.file.read(MAX_COVER_BYTES + 1)
    set_cover(session=session, store=store, user=user, course=course, data=data)
    return course_read(course, user)


@router.delete("/api/courses/{course_id}/cover", response_model=CourseRead)
def courses_uncover(
    course_id: RowId, session: SessionDep, store: StoreDep, user: CurrentUser
) -> Any:
    """Take the cover off the course."""
    course = get_course(session=session, user=user, course_id=course_id)
    remove_cover(session=session, store=store, user=user, course=course)
    return course_read(course, user)


@router.put("/api/courses/{course_id}/lesson-order", response_model=list[LessonBrief])
def courses_reorder(
    body: LessonOrder, course_id: RowId, session: SessionDep, user: CurrentUser
) -> Any:
    """Put the course's lessons in a new order; the list must name every lesson once."""
    course = get_course(session=session, user=user, course_id=course_id)
    return reorder_lessons(session=session, user=user, course=course, lesson_ids=body.lesson_ids)


@router.get("/api/lessons/{lesson_id}")
def lessons_show(lesson: CurrentLesson, session: SessionDep) -> dict[str, Any]:
    """Status, progress and renditions of a lesson."""
    return lesson_summary(session=session, lesson=lesson)


@router.patch("/api/lessons/{lesson_id}")
def lessons_update(
    body: LessonUpdate, lesson_id: RowId, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    """Rename or describe a lesson, or set its credit hours."""
    lesson = get_lesson(session=session, user=user, lesson_id=lesson_id)
    update_lesson(session=session, user=user, lesson=lesson, **body.model_dump(exclude_none=True))
    return lesson_summary(session=session, lesson=lesson)


@router.post("/api/lessons/{lesson_id}/retry", status_code=202)
def lessons_retry(lesson_id: RowId, store: StoreDep, user: CurrentUser) -> dict[str, Any]:
    """Transcode a failed lesson again from its stored source (a new job)."""

    def retry(session: Session) -> tuple[int, dict[str, Any]]:
        lesson = get_lesson(session=session, user=user, lesson_id=lesson_id)
        job = retry_lesson(session=session, store=store, user=user, lesson=lesson)
        return job.id, lesson_summary(session=session, lesson=lesson)

    job_id, summary = in_session(retry)
    enqueue(job_id)
    return summary


@router.delete("/api/lessons/{lesson_id}", status_code=204)
def lessons_delete(lesson_id: RowId, user: CurrentUser) -> None:
    """Delete a lesson in any state: gone at once; storage is cleared by a job."""
    job = in_session(
        lambda session: delete_lesson(
            session=session,
            user=user,
            lesson=get_lesson(session=session, user=user, lesson_id=lesson_id),
        )
    )
    enqueue(job.id)


@router.put("/api/lessons/{lesson_id}/position", status_code=204)
def lessons_position(
    body: PositionUpdate, lesson_id: RowId, session: SessionDep, user: CurrentUser
) -> None:
    """Remember where the caller is in the lesson (the busiest write: one session, one hop)."""
    lesson = get_lesson(session=session, user=user, lesson_id=lesson_id)
    save_position(session=session, user=user, lesson=lesson, seconds=body.seconds)


@router.post("/api/lessons/{lesson_id}/attachments", status_code=201)
def lessons_attach(
    lesson_id: RowId,
    session: SessionDep,
    store: StoreDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File()],
) -> dict[str, Any]:
    """Attach a file (PDF slides, 课件) to the lesson."""
    lesson = get_lesson(session=session, user=user, lesson_id=lesson_id)
    with tempfile.NamedTemporaryFile() as spool:
        size = 0
        while chunk := file.file.read(1024 * 1024):
            size += len(chunk)
            check_upload_size(size, limit=get_settings().max_attachment_bytes)
            spool.write(chunk)
        spool.flush()
        attachment = add_attachment(
            session=session,
            store=store,
            user=user,
            lesson=lesson,
            name=file.filename or "attachment",
            source=Path(spool.name),
        )
    return {"id": attachment.id, "name": attachment.name, "size": attachment.size}


@router.post("/api/lessons/{lesson_id}/captions", status_code=201)
def lessons_caption(
    lesson_id: RowId,
    session: SessionDep,
    store: StoreDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="SRT or WebVTT, UTF-8 or GB18030 (GBK)")],
    language: Annotated[CaptionLanguage, Form()],
) -> dict[str, Any]:
    """Give the lesson captions in a language (SRT or WebVTT, checked cue by cue and stored as
    WebVTT beside its HLS), replacing any it had in that language."""
    lesson = get_lesson(session=session, user=user, lesson_id=lesson_id)
    caption = set_captions(
        session=session,
        store=store,
        user=user,
        lesson=lesson,
        language=language,
        data=file.file.read(MAX_CAPTION_BYTES + 1),
    )
    return caption_summary(caption)


@router.delete("/api/lessons/{lesson_id}/captions/{language}", status_code=204)
def lessons_uncaption(
    lesson_id: RowId,
    language: CaptionLanguage,
    session: SessionDep,
    store: StoreDep,
    user: CurrentUser,
) -> None:
    """Take the lesson's captions in a language off it."""
    lesson = get_lesson(session=session, user=user, lesson_id=lesson_id)
    remove_captions(session=session, store=store, user=user, lesson=lesson, language=language)


@router.get("/api/uploads/{upload_id}")
async def uploads_show(upload_id: str, store: StoreDep, user: CurrentUser) -> dict[str, Any]:
    """The lesson a finished tus upload became. If completing the upload failed before (a
    crash, a full disk), it is completed now: the browser asks this after every finished upload."""
    lesson = await _finish_in_thread(store, upload_id, user.id)
    return await unit_of_work(
        lambda session: lesson_summary(session=session, lesson=session.get_one(Lesson, lesson.id))
    )


def _link_ttl(lesson: Lesson) -> timedelta:
    """Media links outlive a viewing: a player may keep a VOD playlist for the whole lesson."""
    return max(get_settings().presign_delta, timedelta(seconds=3 * (lesson.duration or 0)))


@router.get("/media/lessons/{lesson_id}/hls/{path:path}")
async def media_hls(
    path: str, lesson: CurrentLesson, store: StoreDep, request: Request
) -> Response:
    """Playlists and captions come from the app, checked against the viewer's rights; the
    playlists' media files are rewritten to direct links (presigned on S3, signed on the local
    store)."""
    try:
        key = validate_key(f"lessons/{lesson.id}/hls/{path}")
    except ValueError as exc:
        raise NotFound(N_("File not found.")) from exc
    if key.endswith(".vtt"):
        return await _captions_response(store, key)
    ttl = _link_ttl(lesson)
    if not key.endswith(".m3u8"):
        return await object_response(store, key, request.headers.get("range"), ttl=ttl)
    try:
        text = (await read_in_thread(store.get_bytes, key)).decode()
    except ObjectNotFound as exc:
        raise NotFound(N_("Playlist not found.")) from exc
    folder = key.rsplit("/", 1)[0]
    secret = signing_key("media-link")
    body = rewrite_playlist(
        text, lambda uri: direct_url(store, f"{folder}/{uri}", ttl=ttl, secret=secret)
    )
    return Response(
        body,
        media_type="application/vnd.apple.mpegurl",
        headers={"Cache-Control": "private, no-cache"},
    )


async def _captions_response(store: ObjectStore, key: str) -> Response:
    """A caption file, from the app on both stores: a `<track>` loads only from the page's own
    origin (a redirect to S3 would need CORS), and the file is small. Never cached unchecked:
    an editor may replace it under the same URL."""
    try:
        body = await read_in_thread(store.get_bytes, key)
    except ObjectNotFound as exc:
        raise NotFound(N_("Captions not found.")) from exc
    return Response(body, media_type=CAPTIONS_TYPE, headers={"Cache-Control": "private, no-cache"})


@media_router.get("/media/o/{key:path}")
async def media_signed(key: str, e: int, s: str, request: Request) -> Response:
    """A media file behind a signed link from a playlist: no session or database needed."""
    check_signature(key, e, s, secret=signing_key("media-link"))
    store = get_store()
    return await object_response(
        store, key, request.headers.get("range"), ttl=get_settings().presign_delta
    )


@router.get("/media/courses/{course_id}/cover")
async def media_cover(course: CurrentCourse, store: StoreDep, request: Request) -> Response:
    """The course's cover picture, to whoever may see the course."""
    if course.cover_key is None:
        raise NotFound(N_("This course has no cover."))
    return await object_response(
        store, course.cover_key, request.headers.get("range"), ttl=get_settings().presign_delta
    )


@router.get("/media/lessons/{lesson_id}/poster.jpg")
async def media_poster(lesson: CurrentLesson, store: StoreDep, request: Request) -> Response:
    """The lesson's poster frame."""
    if lesson.poster_key is None:
        raise NotFound(N_("This lesson has no poster."))
    return await object_response(
        store, lesson.poster_key, request.headers.get("range"), ttl=_link_ttl(lesson)
    )


@router.get("/media/lessons/{lesson_id}/attachments/{name}")
async def media_attachment(
    name: str, lesson: CurrentLesson, store: StoreDep, request: Request
) -> Response:
    """Download one of the lesson's attachments."""
    attachment = await unit_of_work(
        lambda session: session.scalar(
            select(Attachment).where(Attachment.lesson_id == lesson.id, Attachment.name == name)
        )
    )
    if attachment is None:
        raise NotFound(N_("Attachment not found."))
    response = await object_response(
        store, attachment.key, request.headers.get("range"), ttl=_link_ttl(lesson)
    )
    response.headers.setdefault(
        "Content-Disposition", f"attachment; filename*=UTF-8''{quote(attachment.name)}"
    )
    return response


async def pre_create_dep(
    request: Request, user: CurrentUser
) -> Callable[[dict[str, str], dict[str, Any]], Awaitable[None]]:
    """Check size, rights and metadata before the first byte of an upload is accepted."""

    async def check(metadata: dict[str, str], info: dict[str, Any]) -> None:
        if request.headers.get("upload-concat") is not None:
            raise InvalidInput(N_("Uploads in parts are not supported: send one file."))
        check_upload_size(info.get("size"), limit=get_settings().max_upload_bytes)
        await unit_of_work(
            lambda session: upload_target(session=session, user=user, metadata=metadata)
        )

    return check


async def upload_file_dep(
    request: Request, user: CurrentUser
) -> Callable[[dict[str, str]], Awaitable[dict[str, str]]]:
    """Only its owner reaches an upload (checked before a byte of a chunk is read); a new
    upload gets its id here, recorded with its owner before the client learns it."""
    existing = request.path_params.get("uuid")
    if existing is not None:
        owner = await unit_of_work(
            lambda session: upload_owner(session=session, upload_id=existing)
        )
        if owner != user.id:
            raise NotFound(N_("No upload has this id."))

    async def locate(metadata: dict[str, str]) -> dict[str, str]:
        if existing is not None:
            return {}
        upload_id = uuid.uuid4().hex
        await unit_of_work(
            lambda session: record_upload(session=session, upload_id=upload_id, owner=user)
        )
        return {"uid": upload_id}

    return locate


# Completing an upload copies up to max_upload_bytes: a few at a time, on threads of their own.
_completion_threads = anyio.CapacityLimiter(4)


async def _finish_in_thread(store: ObjectStore, upload_id: str, user_id: int) -> Lesson:
    """Complete an upload (store the source, create the lesson) off the event loop."""
    return await anyio.to_thread.run_sync(
        lambda: finish_upload(
            directory=upload_dir(), store=store, upload_id=upload_id, user_id=user_id
        ),
        limiter=_completion_threads,
    )


def upload_complete_dep(
    user: CurrentUser, store: StoreDep
) -> Callable[[str, dict[str, str]], Awaitable[None]]:
    """When the last byte arrives the upload is completed; if that fails, the client may retry."""

    async def complete(file_path: str, metadata: dict[str, str]) -> None:
        await _finish_in_thread(store, Path(file_path).name, user.id)

    return complete


TUS_VERSION = "1.0.0"
# What this endpoint does of tus's extensions. tuspyserver would also announce concatenation
# (refused here: one file per upload) and deferred length (the size is checked at creation).
TUS_EXTENSIONS = "creation,creation-with-upload,expiration,termination"


def tus_capabilities() -> Response:
    """The tus server's capabilities (tus discovery), with or without the trailing slash and
    without a session: a client asks before it has logged in, a browser before a CORS request."""
    headers = {
        "Tus-Resumable": TUS_VERSION,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": TUS_EXTENSIONS,
        "Tus-Max-Size": str(get_settings().max_upload_bytes),
    }
    return Response(status_code=204, headers=headers)


def upload_router() -> APIRouter:
    """The tus endpoint (discovery, creation, resume, termination) for uploads from browsers
    and other tus clients."""
    settings = get_settings()
    router = APIRouter()
    for path in ("/api/uploads", "/api/uploads/"):
        router.add_api_route(
            path, tus_capabilities, methods=["OPTIONS"], status_code=204, include_in_schema=False
        )
    tus = create_tus_router(
        prefix="/api/uploads",
        files_dir=str(upload_dir()),
        # The local backend does its file work in threads: chunks never block the event loop.
        storage=LocalFileStorage(str(upload_dir())),
        max_size=settings.max_upload_bytes,
        auth=_tus_auth,  # type: ignore[arg-type]  # a FastAPI dependency, typed too narrowly
        days_to_keep=UPLOAD_KEEP.days,
        # tuspyserver awaits what the hooks return; its annotations say plain functions.
        pre_create_dep=pre_create_dep,  # type: ignore[arg-type]
        upload_complete_dep=upload_complete_dep,  # type: ignore[arg-type]
        file_dep=upload_file_dep,  # type: ignore[arg-type]
        tags=["uploads"],
    )
    router.include_router(tus)
    return router


async def _tus_auth(request: Request, user: Annotated[User, Depends(current_user)]) -> None:
    """Every tus request needs a logged-in user; writes also need the CSRF header."""
    await verify_csrf(request)
