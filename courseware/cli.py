"""Command line for lessons: add a file (queued or transcoded here with --wait), give one
captions, and show one."""

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeElapsedColumn

from core.cli import acting_user, fail, say
from core.db import session_scope
from core.errors import NotFound, PlatformError
from core.i18n import N_
from core.jobs import execute_job
from core.settings import get_settings
from core.storage import get_store
from courseware.captions import MAX_CAPTION_BYTES
from courseware.editing import set_captions
from courseware.ingest import ingest_lesson
from courseware.models import CaptionLanguage, Lesson, LessonStatus
from courseware.service import (
    check_upload_size,
    find_or_create_course,
    get_lesson,
    lesson_summary,
)

lessons = typer.Typer(help="Lessons of the course library.", no_args_is_help=True)


@lessons.command("add")
def lessons_add(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    course: Annotated[str, typer.Option(help="course title; created if none has it")],
    title: Annotated[str, typer.Option(help="lesson title")],
    org: Annotated[int | None, typer.Option(help="owning org of a new course")] = None,
    as_login: Annotated[str | None, typer.Option("--as", help="act as this login")] = None,
    wait: Annotated[bool, typer.Option(help="transcode here and wait for the result")] = False,
) -> None:
    """Add a lesson from a media file; prints the lesson id last."""
    try:
        check_upload_size(path.stat().st_size, limit=get_settings().max_upload_bytes)
        user = acting_user(as_login)
        owner_org = org if org is not None else user.grants[0].org_id
        lesson = ingest_lesson(
            store=get_store(),
            user_id=user.id,
            course=lambda session, owner: find_or_create_course(
                session=session, user=owner, title=course, org_id=owner_org
            ),
            title=title,
            source=path,
            filename=path.name,
            enqueue_job=not wait,
        )
    except PlatformError as exc:
        raise fail(exc) from exc
    lesson_id, job_id = lesson.id, lesson.job_id
    assert job_id is not None
    if not wait:
        typer.echo(lesson_id)
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task(say("Transcoding"), total=1.0)
        report = lambda fraction: bar.update(task, completed=fraction)  # noqa: E731
        while (outcome := execute_job(job_id, on_progress=report)).retry_in is not None:
            time.sleep(outcome.retry_in)
    with session_scope() as session:
        summary = lesson_summary(session=session, lesson=session.get_one(Lesson, lesson_id))
    if summary["status"] != LessonStatus.ready:
        typer.secho(
            say("Processing failed: %(reason)s", reason=say(summary["error"] or "")),
            fg="red",
            err=True,
        )
        typer.echo(lesson_id)
        raise typer.Exit(code=1)
    typer.echo(lesson_id)


@lessons.command("captions")
def lessons_captions(
    lesson_id: int,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    language: Annotated[
        CaptionLanguage, typer.Option(help="language of the captions")
    ] = CaptionLanguage.zh_CN,
    as_login: Annotated[str | None, typer.Option("--as", help="act as this login")] = None,
) -> None:
    """Give a lesson captions from an SRT or WebVTT file, replacing those it had in the
    language; checked cue by cue like an upload on the lesson's page."""
    try:
        user = acting_user(as_login)
        with path.open("rb") as source:
            data = source.read(MAX_CAPTION_BYTES + 1)
        with session_scope() as session:
            lesson = get_lesson(session=session, user=user, lesson_id=lesson_id)
            caption = set_captions(
                session=session,
                store=get_store(),
                user=user,
                lesson=lesson,
                language=language,
                data=data,
            )
            cues, label = caption.cues, caption.label
    except PlatformError as exc:
        raise fail(exc) from exc
    typer.echo(say("%(cues)s captions in %(label)s stored.", cues=cues, label=label))


@lessons.command("show")
def lessons_show(
    lesson_id: int,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show a lesson's status, duration and renditions."""
    with session_scope() as session:
        lesson = session.get(Lesson, lesson_id)
        if lesson is None:
            raise fail(NotFound(N_("Lesson %(id)s not found."), id=lesson_id))
        summary = lesson_summary(session=session, lesson=lesson)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    for key, value in summary.items():
        typer.echo(f"{key}: {value}")
