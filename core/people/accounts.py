"""Login sessions held on the server, so that every copy of a session cookie can be ended."""

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.people.models import UserSession


def revoke_sessions(*, session: Session, user_id: int) -> int:
    """End every open login session of a user (logout everywhere, password change, deactivation);
    returns how many were open."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
