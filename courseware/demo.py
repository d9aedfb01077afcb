"""Demo content for a first look: a small org tree, one account per role, short generated lessons.

The accounts get generated passwords, printed once by the command that loads the demo, and each
must be changed at the first login: a demo left running is no open door.
"""

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import session_scope
from core.jobs import execute_job
from core.media import ffmpeg_exe
from core.people.models import Organisation, OrgKind, Role, User
from core.people.passwords import generate_password
from core.people.service import add_member, create_org, create_user, grant_role
from core.security import id_check_digit
from core.settings import get_settings
from core.storage import get_store
from courseware.ingest import CoursePicker, ingest_lesson
from courseware.models import Course, Lesson, Visibility
from courseware.service import create_course, update_lesson

DEMO_ROOT = "示范区委"
# One account per role (login, display name, role, index of its org in `_demo_orgs`); the
# member's login is linked to the party member of the same name. `--no-demo` creates none.
ACCOUNTS = (
    ("admin", "平台管理员", Role.platform_admin, 0),
    ("orgadmin", "组织委员 赵敏", Role.org_admin, 1),
    ("publisher", "宣传委员 李华", Role.publisher, 1),
    ("member", "党员 王芳", Role.member, 3),
)
MEMBERS = ("王芳", "张伟", "刘洋")
LINKED_MEMBER = {"member": "王芳"}
# Courses: category, title, and lessons with the credit hours (学时) they are worth; the
# generated clips are seconds long, so their credit is set by hand as a publisher would.
LESSONS = (
    (
        "基层党建",
        "学习贯彻党章",
        [("第一讲：党章的历史沿革", 1.0), ("第二讲：党员的权利和义务", 1.0)],
    ),
    ("乡村振兴", "乡村振兴实用技术", [("果树春季管理要点", 0.5)]),
)


@dataclass(frozen=True)
class DemoAccount:
    """A demo login to print for the person trying the platform."""

    login: str
    password: str
    role: str


def load_demo(*, seconds: float = 12.0) -> list[DemoAccount]:
    """Create the demo tree, accounts and transcoded lessons once; later calls change nothing.

    Returns the accounts with their generated passwords: the only time they are known.
    """
    accounts = []
    with session_scope() as session:
        if session.scalar(select(Organisation.id).where(Organisation.name == DEMO_ROOT)):
            return []
        orgs = _demo_orgs(session)
        members = {}
        for index, name in enumerate(MEMBERS):
            prefix = f"11010119{80 + index}0101{index:03d}"
            members[name] = add_member(
                session=session,
                org_id=orgs[3].id,
                name=name,
                id_number=prefix + id_check_digit(prefix),
                hash_key=get_settings().id_hash_key,
            )
        users = {}
        for login, name, role, org_index in ACCOUNTS:
            password = generate_password()
            user = create_user(session=session, login=login, password=password, display_name=name)
            user.must_change_password = True
            grant_role(session=session, user=user, role=role, org_id=orgs[org_index].id)
            if login in LINKED_MEMBER:
                members[LINKED_MEMBER[login]].user_id = user.id
            users[login] = user
            accounts.append(DemoAccount(login, password, role.value))
        session.flush()
        publisher_id, org_id = users["publisher"].id, orgs[1].id
    job_ids = _demo_lessons(publisher_id, org_id, seconds)
    for job_id in job_ids:
        execute_job(job_id)
    return accounts


def _demo_orgs(session: Session) -> list[Organisation]:
    district = create_org(session=session, name=DEMO_ROOT, kind=OrgKind.district)
    town = create_org(
        session=session, name="城关镇党委", kind=OrgKind.committee, parent_id=district.id
    )
    general = create_org(
        session=session, name="东村党总支", kind=OrgKind.general_branch, parent_id=town.id
    )
    branch = create_org(
        session=session, name="东村第一党支部", kind=OrgKind.branch, parent_id=general.id
    )
    return [district, town, general, branch]


def _demo_lessons(publisher_id: int, org_id: int, seconds: float) -> list[int]:
    """Courses and lessons made as the publisher would: the same ingest as an upload."""
    job_ids = []
    with tempfile.TemporaryDirectory() as scratch:
        for number, (category, course_title, titles) in enumerate(LESSONS):
            with session_scope() as session:
                course_id = create_course(
                    session=session,
                    user=session.get_one(User, publisher_id),
                    title=course_title,
                    org_id=org_id,
                    category=category,
                    description=f"{category}专题课程（演示内容）。",
                    visibility=Visibility.public if number == 0 else Visibility.org,
                ).id
            for index, (title, hours) in enumerate(titles):
                clip = Path(scratch) / f"demo-{number}-{index}.mp4"
                _generate_clip(clip, seconds=seconds, pattern=number * 2 + index)
                lesson = ingest_lesson(
                    store=get_store(),
                    user_id=publisher_id,
                    course=_course(course_id),
                    title=title,
                    source=clip,
                    filename=clip.name,
                    enqueue_job=False,
                )
                with session_scope() as session:
                    update_lesson(
                        session=session,
                        user=session.get_one(User, publisher_id),
                        lesson=session.get_one(Lesson, lesson.id),
                        credit_hours=hours,
                    )
                assert lesson.job_id is not None
                job_ids.append(lesson.job_id)
    return job_ids


def _course(course_id: int) -> CoursePicker:
    return lambda session, _user: session.get_one(Course, course_id)


def _generate_clip(path: Path, *, seconds: float, pattern: int) -> None:
    """A synthetic 854x480 clip with a test pattern and a tone (no camera needed)."""
    sources = ("testsrc2", "smptehdbars", "rgbtestsrc")
    video = f"{sources[pattern % len(sources)]}=size=854x480:rate=25:duration={seconds}"
    audio = f"sine=frequency={330 + 110 * pattern}:duration={seconds}"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            video,
            "-f",
            "lavfi",
            "-i",
            audio,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
    )
