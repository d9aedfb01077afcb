"""Documents made from the pages' templates outside a request: an event's minutes and the result
reports of the elections held at it, attached to the lesson of its recording when the meeting
ends (a job, so the node that held the meeting does not render pages, and a worker that dies
mid-way leaves the job to be retried)."""

import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from core.jobs import Attempt, job_type
from core.localtime import local_time
from core.people.models import User
from core.settings import get_settings
from core.storage import get_store
from courseware.models import Lesson
from courseware.service import add_attachment
from streaming.congress.minutes import make_minutes
from streaming.congress.models import Event
from streaming.congress.recording import MINUTES_FILE, MINUTES_JOB
from streaming.elections.models import Election
from streaming.elections.report import make_report
from web.i18n import install_translations

TEMPLATES = Path(__file__).parent / "templates"
REPORT_FILE = "选举结果报告单.html"


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    install_translations(environment)
    environment.filters["local"] = local_time
    return environment


def render_document(name: str, context: dict[str, Any]) -> str:
    """A template rendered in the site's default language."""
    locale = get_settings().default_locale
    return _environment().get_template(name).render({**context, "locale": locale})


@job_type(MINUTES_JOB)
def attach_minutes(attempt: Attempt) -> None:
    """The event's minutes as a document attached to its recording's lesson, and the result
    report of each election held at it (each replacing an earlier attempt's)."""
    with attempt.finish() as session:
        event = session.get_one(Event, attempt.payload["event_id"])
        lesson = session.get_one(Lesson, attempt.payload["lesson_id"])
        author = session.get(User, event.created_by) if event.created_by else None
        if author is None:  # whoever scheduled it is gone: the minutes stay on the event's page
            return
        documents = {
            MINUTES_FILE: render_document(
                "streaming/minutes_document.html", {"minutes": make_minutes(session, event)}
            )
        }
        for election in session.scalars(
            select(Election).where(Election.event_id == event.id).order_by(Election.id)
        ):
            name = REPORT_FILE if len(documents) == 1 else f"选举结果报告单-{election.id}.html"
            documents[name] = render_document(
                "streaming/election_report_document.html",
                {"report": make_report(session, election)},
            )
        with tempfile.TemporaryDirectory(prefix="yuanjiao-documents-") as folder:
            for name, page in documents.items():
                source = Path(folder) / name
                source.write_text(page, encoding="utf-8")
                add_attachment(
                    session=session,
                    store=get_store(),
                    user=author,
                    lesson=lesson,
                    name=name,
                    source=source,
                )
