"""Recording and reading the audit log. Entries are only inserted: nothing here edits or deletes
one, and no route offers to."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.i18n import N_, gettext
from core.paging import PER_PAGE, Page, paginate
from core.people.models import Organisation, Role, User
from core.people.permissions import is_platform_admin
from core.spreadsheet import write_csv

# Labels of the actions recorded so far, for filters and pages; an action missing here is
# shown by its name.
ACTIONS = {
    "login": N_("Logged in"),
    "login_failed": N_("Failed login"),
    "lockout": N_("Login locked"),
    "logout": N_("Logged out"),
    "password_changed": N_("Password changed"),
    "password_reset": N_("Password reset"),
    "user_created": N_("Account created"),
    "user_deactivated": N_("Account deactivated"),
    "user_reactivated": N_("Account reactivated"),
    "role_granted": N_("Role granted"),
    "role_revoked": N_("Role revoked"),
    "org_created": N_("Organisation created"),
    "org_renamed": N_("Organisation renamed"),
    "org_moved": N_("Organisation moved"),
    "org_deactivated": N_("Organisation deactivated"),
    "org_reactivated": N_("Organisation reactivated"),
    "member_added": N_("Member added"),
    "member_updated": N_("Member updated"),
    "member_deactivated": N_("Member deactivated"),
    "member_reactivated": N_("Member reactivated"),
    "member_login_created": N_("Member login created"),
    "invitation_issued": N_("Invitation code issued"),
    "invitations_issued": N_("Invitation codes issued"),
    "invitation_locked": N_("Invitation code locked"),
    "email_changed": N_("E-mail address changed"),
    "checkin_code_renewed": N_("Check-in code renewed"),
    "delivery_retried": N_("Notice sent again"),
    "roster_imported": N_("Roster imported"),
    "roster_exported": N_("Roster exported"),
    "audit_exported": N_("Audit log exported"),
    "course_published": N_("Course published"),
    "lesson_published": N_("Lesson published"),
    "course_updated": N_("Course updated"),
    "lesson_updated": N_("Lesson updated"),
    "course_deleted": N_("Course deleted"),
    "lesson_deleted": N_("Lesson deleted"),
    "plan_created": N_("Study plan set"),
    "plan_withdrawn": N_("Study plan withdrawn"),
    "credit_corrected": N_("Credits corrected"),
    "site_registered": N_("Site registered"),
    "site_updated": N_("Site updated"),
    "site_approved": N_("Site approved"),
    "site_activated": N_("Site activated"),
    "site_suspended": N_("Site suspended"),
    "site_resumed": N_("Site resumed"),
    "site_code_issued": N_("Site enrolment code issued"),
    "site_code_used": N_("Site enrolment code used"),
    "site_devices_revoked": N_("Site devices revoked"),
    "site_admin_added": N_("Site administrator added"),
    "election_refused": N_("Election entry refused"),
    "site_admin_removed": N_("Site administrator removed"),
    "site_photo_added": N_("Site photo added"),
    "site_photo_removed": N_("Site photo removed"),
    "site_content_assigned": N_("Content assigned to sites"),
    "site_content_unassigned": N_("Content unassigned from sites"),
}
TARGET_TYPES = {
    "organisation": N_("Organisation"),
    "user": N_("Account"),
    "member": N_("Member"),
    "roster": N_("Roster"),
    "audit": N_("Audit log"),
    "course": N_("Course"),
    "lesson": N_("Lesson"),
    "plan": N_("Study plan"),
    "site": N_("Site"),
    "site_assignment": N_("Site assignment"),
    "delivery": N_("Notice delivery"),
}
# Labels of the keys found in entries' details; other keys are shown as they are.
DETAIL_LABELS = {
    "name": N_("Name"),
    "login": N_("Login"),
    "role": N_("Role"),
    "kind": N_("Kind"),
    "from": N_("Old name"),
    "to": N_("New name"),
    "parent_id": N_("Parent organisation"),
    "from_parent": N_("Former parent"),
    "to_parent": N_("New parent"),
    "organisations": N_("Organisations affected"),
    "grant_id": N_("Role number"),
    "sessions_ended": N_("Sessions ended"),
    "how": N_("How"),
    "via": N_("Via"),
    "failures": N_("Failures"),
    "fields": N_("Fields"),
    "file": N_("File"),
    "rows": N_("Rows"),
    "added": N_("Added"),
    "updated": N_("Updated"),
    "unchanged": N_("Unchanged"),
    "format": N_("Format"),
    "members": N_("Members"),
    "org_id": N_("Organisation"),
    "actor": N_("Account"),
    "action": N_("Action"),
    "since": N_("From"),
    "until": N_("Until"),
    "captions": N_("Captions"),
    "cues": N_("Cues"),
    "captions_removed": N_("Captions removed"),
    "hours": N_("Hours"),
    "year": N_("Year"),
    "entry": N_("Credit entry"),
    "code": N_("Code"),
    "tier": N_("Tier"),
    "days": N_("Days valid"),
    "devices": N_("Devices"),
    "target": N_("Target"),
    "site_id": N_("Site"),
    "lesson_id": N_("Lesson"),
    "course_id": N_("Course"),
}
_EXPORT_COLUMNS = (
    N_("Time (UTC)"),
    N_("Account"),
    N_("Action"),
    N_("Target type"),
    N_("Target"),
    N_("Organisation id"),
    N_("Address"),
    N_("Details"),
)
# An export holds at most this many entries (the newest); narrow the filter for older ones.
MAX_EXPORT = 100_000


def record(
    *,
    session: Session,
    action: str,
    actor: User | None = None,
    actor_login: str = "",
    target_type: str = "",
    target_id: object = "",
    org_id: int | None = None,
    address: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction: it is kept exactly when the action is."""
    entry = AuditEntry(
        action=action,
        actor_id=actor.id if actor is not None else None,
        actor_login=actor.login if actor is not None else actor_login[:80],
        target_type=target_type,
        target_id=str(target_id)[:80],
        org_id=org_id,
        address=address[:64],
        detail=detail or {},
    )
    session.add(entry)
    session.flush()
    return entry


def readable_entries(viewer: User) -> ColumnElement[bool]:
    """Entries a viewer may read: all for a platform admin; for an org admin, those about an
    organisation in the subtrees they administer, and their own actions."""
    if is_platform_admin(viewer):
        return AuditEntry.id.is_not(None)
    if not viewer.active:
        return AuditEntry.id.is_(None)
    paths = [g.org.path for g in viewer.grants if g.role is Role.org_admin]
    own = AuditEntry.actor_id == viewer.id
    if not paths:
        return own
    subtree = select(Organisation.id).where(
        or_(*(Organisation.path.startswith(path) for path in paths))
    )
    return or_(AuditEntry.org_id.in_(subtree), own)


@dataclass(frozen=True)
class AuditFilter:
    """What to look for: an actor's exact login, an action, and a time range [since, until)."""

    actor: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _filtered(viewer: User, wanted: AuditFilter) -> Select[Any]:
    statement = select(AuditEntry).where(readable_entries(viewer))
    if wanted.actor:
        statement = statement.where(AuditEntry.actor_login == wanted.actor)
    if wanted.action:
        statement = statement.where(AuditEntry.action == wanted.action)
    if wanted.since is not None:
        statement = statement.where(AuditEntry.at >= wanted.since)
    if wanted.until is not None:
        statement = statement.where(AuditEntry.at < wanted.until)
    return statement.order_by(AuditEntry.id.desc())


def list_entries(
    *,
    session: Session,
    viewer: User,
    actor: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """Entries the viewer may read, newest first, filtered by actor login, action and time."""
    statement = _filtered(viewer, AuditFilter(actor, action, since, until))
    return list(session.scalars(statement.limit(limit).offset(offset)))


def page_entries(
    *,
    session: Session,
    viewer: User,
    wanted: AuditFilter,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[AuditEntry]:
    """One page of the entries the viewer may read, newest first, with the total."""
    return paginate(session, _filtered(viewer, wanted), page=page, per_page=per_page)


def export_log(
    *, session: Session, viewer: User, wanted: AuditFilter, locale: str, address: str = ""
) -> bytes:
    """The entries the viewer may read as CSV (newest first, at most MAX_EXPORT). The export is
    itself recorded first, so it appears in the file it produces."""
    record(
        session=session,
        action="audit_exported",
        actor=viewer,
        target_type="audit",
        org_id=_first_admin_org(viewer),
        address=address,
        detail={
            "actor": wanted.actor,
            "action": wanted.action,
            "since": wanted.since.isoformat() if wanted.since else None,
            "until": wanted.until.isoformat() if wanted.until else None,
        },
    )
    header = [gettext(locale, label) for label in _EXPORT_COLUMNS]
    rows = (
        (
            entry.at.isoformat(),
            entry.actor_login,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.org_id,
            entry.address,
            json.dumps(entry.detail, ensure_ascii=False, sort_keys=True),
        )
        for entry in session.scalars(_filtered(viewer, wanted).limit(MAX_EXPORT))
    )
    return write_csv(header, rows)


def _first_admin_org(viewer: User) -> int | None:
    return next((g.org_id for g in viewer.grants if g.role is Role.org_admin), None)
