"""Shared builders of the site tests."""

from sqlalchemy.orm import Session

from core.people.models import User
from terminals.sites.models import Site
from terminals.sites.service import SiteDetails, register_site_with_code


def make_site(
    session: Session,
    actor: User,
    org_id: int,
    code: str = "500101001001",
    tier: str = "basic",
    name: str = "新村站点",
) -> tuple[Site, str]:
    """A committed registered site with its first enrolment code."""
    site, enrolment_code = register_site_with_code(
        session=session,
        actor=actor,
        org_id=org_id,
        code=code,
        tier=tier,
        details=SiteDetails(name=name),
    )
    session.commit()
    return site, enrolment_code
