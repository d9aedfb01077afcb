"""The site administrator's own pages (站点管理员): the sites they run, what is assigned to
each, its devices and when the site was last heard from. Made for a phone."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.api import CurrentUser, SessionDep
from core.db import utcnow
from core.notify.service import list_notices
from core.people.api import reader_locale
from core.people.forms import render
from core.settings import get_settings
from terminals.dossier.site_pages import site_context
from terminals.reports.closing import CATEGORY
from terminals.sessions.views import month_sessions
from terminals.sites.pages import labels
from terminals.sites.staff import sites_run_by

router = APIRouter(include_in_schema=False)
NOTICES_SHOWN = 5


@router.get("/site")
def own_sites(request: Request, session: SessionDep, actor: CurrentUser) -> Response:
    """Every site the user runs, each with its assigned lessons and how much of each its agent
    holds, this month's group sessions, devices and last contact; then the latest notices
    about the sites' report cards."""
    shown = []
    for site in sites_run_by(session=session, user=actor):
        context = site_context(session, actor, site)
        context["month_sessions"] = month_sessions(session=session, site=site, now=utcnow())
        shown.append(context)
    return render(
        request,
        "terminals/sites/mine.html",
        {
            "user": actor,
            "shown": shown,
            "sessions_required": get_settings().site_group_sessions,
            "notices": list_notices(
                session=session, user=actor, category=CATEGORY, per_page=NOTICES_SHOWN
            ).items
            if shown
            else [],
            **labels(reader_locale(request)),
        },
    )
