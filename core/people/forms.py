"""What the administration pages share: rendering, checking a posted form the way the API
checks a body, and showing a refused change again with its reason in the reader's language."""

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from core.api import MAX_ID
from core.errors import InvalidInput
from core.i18n import N_, error_text, gettext
from core.paging import Page, page_links
from core.people.api import reader_locale
from core.people.models import OrgKind, Role, User
from core.people.orgs import OrgNode
from core.people.permissions import is_platform_admin
from core.people.schemas import (
    DISPLAY_NAME_MAX,
    LOGIN_MAX,
    MEMBER_NAME_MAX,
    ORG_NAME_MAX,
    PASSWORD_MAX,
    PHONE_MAX,
)

T = TypeVar("T")

# Field names as the forms label them, for messages about a field.
FIELD_LABELS = {
    "OrgCreate.name": N_("Organisation name"),
    "OrgUpdate.name": N_("Organisation name"),
    "name": N_("Name"),
    "kind": N_("Kind"),
    "parent_id": N_("Parent organisation"),
    "login": N_("Login"),
    "display_name": N_("Display name"),
    "password": N_("Password"),
    "role": N_("Role"),
    "org_id": N_("Organisation"),
    "id_number": N_("ID number"),
    "phone": N_("Phone"),
    "joined_on": N_("Joined on"),
}
LIMITS = {
    "org_name": ORG_NAME_MAX,
    "login": LOGIN_MAX,
    "display_name": DISPLAY_NAME_MAX,
    "password": PASSWORD_MAX,
    "member_name": MEMBER_NAME_MAX,
    "phone": PHONE_MAX,
}
LEVEL = {kind: level for level, kind in enumerate(OrgKind)}


def render(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200
) -> Response:
    """A page of `web/templates`, which also knows the text limits of the forms."""
    response: Response = request.app.state.templates.TemplateResponse(
        request, template, {"limits": LIMITS, **context}, status_code=status
    )
    return response


def _form_problem(locale: str, exc: ValidationError) -> str:
    """A validation error of a form told in the reader's language, field by field."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        label = FIELD_LABELS.get(f"{exc.title}.{field}") or FIELD_LABELS.get(field, field)
        label = gettext(locale, label)
        if error["type"] == "string_too_long":
            limit = (error.get("ctx") or {}).get("max_length", "")
            message = N_("%(field)s: at most %(max)s characters.")
            problems.append(gettext(locale, message, field=label, max=limit))
        elif error["type"] in ("missing", "string_too_short"):
            problems.append(gettext(locale, N_("%(field)s is required."), field=label))
        else:
            problems.append(gettext(locale, N_("%(field)s is not valid."), field=label))
    return " ".join(dict.fromkeys(problems))


def admin_page(
    request: Request,
    template: str,
    *,
    actor: User,
    section: str,
    error: str | None = None,
    status: int = 200,
    **context: Any,
) -> Response:
    """A page of the administration under its `section` tab, with the notice of a change just
    made (`?done=`) or the reason one was refused."""
    done = request.query_params.get("done")
    shared = {"user": actor, "section": section, "error": error, "done": done}
    return render(request, template, {**shared, **context}, status=status)


def submit(
    request: Request,
    session: Session,
    change: Callable[[], T],
    *,
    done: str | Callable[[T], Response],
    again: Callable[..., Response],
) -> Response:
    """The round trip of an administration form: run the change it asks for, then show the
    result (a redirect to `done`, or the page `done` makes of the outcome). A refused change is
    undone and the form's page shown again, `again(error=reason, status=400)`, with the reason
    in the reader's language (a wrong role or scope still raises: an error page)."""
    try:
        outcome = change()
    except ValidationError as exc:
        session.rollback()
        reason = _form_problem(reader_locale(request), exc)
    except InvalidInput as exc:
        session.rollback()
        reason = error_text(reader_locale(request), exc)
    else:
        return redirect(done) if isinstance(done, str) else done(outcome)
    return again(error=reason, status=400)


def switched(active: str) -> tuple[bool, str]:
    """What a deactivate / reactivate form asks for (active=1 or 0), and the notice after it."""
    wanted = active == "1"
    return wanted, "reactivated" if wanted else "deactivated"


def optional_id(value: str) -> int | None:
    """A row id sent in a form or query string, or None when there is none (or it is no id)."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ID:
        return None
    return int(value)


def pager(request: Request, page: Page[Any]) -> dict[str, Any]:
    """Links to the pages around `page` that keep the list's filters."""
    return page_links(request.url.path, request.query_params, page)


def redirect(url: str) -> Response:
    """After a change: see the result at `url` (a reload does not post again)."""
    return RedirectResponse(url, status_code=303)


def active_choices(nodes: list[OrgNode]) -> list[OrgNode]:
    """The organisations that can take something new, for a form's choices."""
    return [node for node in nodes if node.org.active]


def grantable_roles(actor: User) -> list[Role]:
    """The roles the actor may grant."""
    return [role for role in Role if role is not Role.platform_admin or is_platform_admin(actor)]
