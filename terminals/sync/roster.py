"""The roll-call roster a site's manifest carries: the active members of the site's org subtree
(id, name, masked ID number, organisation) and, per member, a check value of their check-in code
(core.people.checkin says why a value and not the code)."""

import base64
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.checkin import CHECK_ITERATIONS, CODE_DIGITS, check_value, checkin_code, site_salt
from core.people.models import Member, Organisation
from terminals.sites.models import Site

# A roster past this many members is cut (a village's branches hold far fewer); the manifest
# says so, and the operator sees it.
ROSTER_LIMIT = 5_000


@lru_cache(maxsize=100_000)
def _check(site_id: int, member_id: int, generation: int) -> str:
    """A member's check value at a site, remembered: PBKDF2 is slow on purpose."""
    return check_value(
        salt=site_salt(site_id),
        member_id=member_id,
        code=checkin_code(member_id, generation),
        iterations=CHECK_ITERATIONS,
    )


def site_roster(*, session: Session, site: Site) -> dict[str, Any]:
    """The roster part of `site`'s manifest."""
    query = (
        select(
            Member.id,
            Member.name,
            Member.id_number_masked,
            Organisation.name,
            Member.checkin_generation,
        )
        .join(Organisation, Organisation.id == Member.org_id)
        .where(Organisation.path.startswith(site.org.path), Member.active.is_(True))
        .order_by(Organisation.path, Member.name, Member.id)
        .limit(ROSTER_LIMIT + 1)
    )
    rows = session.execute(query).all()
    members = [
        {
            "id": member_id,
            "name": name,
            "id_number_masked": masked,
            "org": org_name,
            "check": _check(site.id, member_id, generation),
        }
        for member_id, name, masked, org_name, generation in rows[:ROSTER_LIMIT]
    ]
    return {
        "checkin": {
            "salt": base64.b64encode(site_salt(site.id)).decode(),
            "iterations": CHECK_ITERATIONS,
            "digits": CODE_DIGITS,
        },
        "truncated": len(rows) > ROSTER_LIMIT,
        "members": members,
    }
