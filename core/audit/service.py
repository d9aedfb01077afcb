"""Recording and reading the audit log. Entries are only inserted: nothing here edits or deletes
one, and no route offers to."""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.people.models import Organisation, Role, User
from core.people.permissions import is_platform_admin


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
    organisation in the subtrees they administer."""
    if is_platform_admin(viewer):
        return AuditEntry.id.is_not(None)
    paths = [g.org.path for g in viewer.grants if g.role is Role.org_admin]
    subtree = select(Organisation.id).where(
        or_(*(Organisation.path.startswith(path) for path in paths))
    )
    return AuditEntry.org_id.in_(subtree) if paths else AuditEntry.id.is_(None)


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
    statement = select(AuditEntry).where(readable_entries(viewer))
    if actor:
        statement = statement.where(AuditEntry.actor_login == actor)
    if action:
        statement = statement.where(AuditEntry.action == action)
    if since is not None:
        statement = statement.where(AuditEntry.at >= since)
    if until is not None:
        statement = statement.where(AuditEntry.at < until)
    statement = statement.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(statement))
