"""Credits from a site's group sessions: once a session has ended, every qualified member of
the site's organisation subtree is awarded each lesson the session played to the coverage
threshold. The ledger's award_credit is idempotent per (member, year, award key), so running
this again after late records only adds what was missing; an award once written stays."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Member
from core.people.service import subtree_ids
from core.settings import get_settings
from courseware.models import Lesson
from terminals.credits.ledger import GROUP, SITE, award_credit, credit_year
from terminals.credits.models import CreditEntry
from terminals.sessions.models import GroupSession
from terminals.sites.models import Site


def award_session(*, session: Session, group: GroupSession) -> list[CreditEntry]:
    """Award the ended session's credits (none before its start and end are known)."""
    if group.started_at is None or group.ended_at is None:
        return []
    threshold = get_settings().credit_coverage_threshold
    covered = [p for p in group.played if p.coverage + 1e-9 >= threshold]
    present = [a.member_id for a in group.attendance if a.qualified]
    if not covered or not present:
        return []
    site = session.get_one(Site, group.site_id)
    orgs = subtree_ids(session=session, org=site.org)
    members = session.scalars(
        select(Member.id).where(Member.id.in_(present), Member.org_id.in_(orgs))
    ).all()
    lessons = {
        lesson.id: lesson
        for lesson in session.scalars(
            select(Lesson).where(Lesson.id.in_([p.lesson_id for p in covered]))
        )
    }
    year = credit_year(group.started_at)
    awarded = []
    for member_id in sorted(members):
        for play in covered:
            lesson = lessons.get(play.lesson_id)
            if lesson is None or not lesson.credit_hours:
                continue
            awarded.append(
                award_credit(
                    session=session,
                    member_id=member_id,
                    source=SITE,
                    source_ref=f"session:{group.uuid}",
                    award_key=f"lesson:{lesson.id}",
                    hours=float(lesson.credit_hours),
                    category=GROUP,
                    occurred_at=group.ended_at,
                    lesson_id=lesson.id,
                    year=year,
                    detail={
                        "site_id": group.site_id,
                        "session": group.uuid,
                        "coverage": round(play.coverage, 4),
                    },
                )
            )
    return awarded
