"""What reaches a site: assignments by site, by org subtree and by tier, and the rendition the
site's tier downloads."""

from datetime import timedelta

from sqlalchemy.orm import Session

from core.db import utcnow
from core.people.models import Role
from courseware.models import Lesson, LessonStatus
from terminals.sites.assignments import assigned_lessons, rendition_for
from terminals.sites.models import AssignmentTarget, Site, SiteAssignment
from terminals.sites.presence import Presence, presence_of
from tests.factories import Tree, make_course, make_lesson, make_user

LADDER = [{"height": h, "width": h * 16 // 9, "bandwidth": h * 2000} for h in (720, 480, 360)]


def _site(session: Session, tree: Tree, code: str, tier: str, org_id: int) -> Site:
    site = Site(code=code, name=f"站点{code}", org_id=org_id, tier=tier)
    session.add(site)
    session.commit()
    return site


def _ready(session: Session, lesson: Lesson) -> Lesson:
    lesson.renditions = LADDER
    session.commit()
    return lesson


def _assign(session: Session, **fields: object) -> SiteAssignment:
    assignment = SiteAssignment(**fields)
    session.add(assignment)
    session.commit()
    return assignment


def test_assignments_reach_sites_by_site_subtree_and_tier(session: Session, tree: Tree) -> None:
    publisher = make_user(session, "pub", Role.publisher, tree.district)
    course = make_course(session, publisher, tree.district)
    first, second = (_ready(session, make_lesson(session, course, t)) for t in ("一", "二"))
    third = _ready(session, make_lesson(session, course, "三"))
    basic = _site(session, tree, "500101001001", "basic", tree.branch.id)
    premium = _site(session, tree, "500101001002", "premium", tree.sibling.id)
    elsewhere = _site(session, tree, "500101009001", "basic", tree.other.id)

    _assign(session, target=AssignmentTarget.site, site_id=basic.id, lesson_id=first.id)
    _assign(session, target=AssignmentTarget.org, org_id=tree.general.id, lesson_id=second.id)
    _assign(
        session,
        target=AssignmentTarget.tier,
        org_id=tree.town.id,
        tier="basic",
        course_id=course.id,
    )

    def held(site: Site) -> list[tuple[str, int]]:
        return [
            (a.lesson.title, a.rendition["height"])
            for a in assigned_lessons(session=session, site=site)
        ]

    assert held(basic) == [("一", 360), ("二", 360), ("三", 360)]
    assert held(premium) == [("二", 720)]
    assert held(elsewhere) == []
    third.deleted_at = utcnow()
    session.commit()
    assert held(basic) == [("一", 360), ("二", 360)]


def test_removed_assignments_and_unready_lessons_drop_out(session: Session, tree: Tree) -> None:
    publisher = make_user(session, "pub", Role.publisher, tree.district)
    course = make_course(session, publisher, tree.district)
    ready = _ready(session, make_lesson(session, course, "一"))
    make_lesson(session, course, "转码中", status=LessonStatus.processing)
    site = _site(session, tree, "500101001001", "basic", tree.branch.id)
    assignment = _assign(
        session, target=AssignmentTarget.site, site_id=site.id, course_id=course.id
    )
    assert [a.lesson.id for a in assigned_lessons(session=session, site=site)] == [ready.id]
    assignment.removed_at = utcnow()
    session.commit()
    assert assigned_lessons(session=session, site=site) == []


def test_a_tier_downloads_its_tallest_fitting_rendition_or_the_smallest() -> None:
    lesson = Lesson(renditions=LADDER)
    assert rendition_for(lesson, height=480)["height"] == 480  # type: ignore[index]
    assert rendition_for(lesson, height=1080)["height"] == 720  # type: ignore[index]
    assert rendition_for(lesson, height=240)["height"] == 360  # type: ignore[index]
    assert rendition_for(Lesson(renditions=[]), height=360) is None


def test_presence_follows_the_grace_period() -> None:
    now = utcnow()
    assert presence_of(None, now=now) is Presence.never
    assert presence_of(now - timedelta(minutes=14), now=now) is Presence.online
    assert presence_of(now - timedelta(minutes=16), now=now) is Presence.offline
