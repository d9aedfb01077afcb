"""One language at a time: complete catalogues, plural forms, errors in the reader's language."""

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.i18n import LOCALE_DIR, error_text, ngettext
from core.people.models import Role
from tests.factories import make_course, make_lesson, make_tree, make_user

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _extracted() -> set[str]:
    method_map = [
        ("core/**.py", "python"),
        ("courseware/**.py", "python"),
        ("web/**.py", "python"),
        ("web/templates/**.html", "jinja2"),
    ]
    options = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "say": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_text_has_a_chinese_translation() -> None:
    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh_CN")
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and (m.string if isinstance(m.string, str) else all(m.string)) and not m.fuzzy
    }
    missing = sorted(_extracted() - translated)
    assert not missing, f"run `make messages` and translate: {missing}"


def test_plural_forms() -> None:
    assert ngettext("en", "%(num)s lesson", "%(num)s lessons", 1) == "1 lesson"
    assert ngettext("en", "%(num)s lesson", "%(num)s lessons", 3) == "3 lessons"
    assert ngettext("zh_CN", "%(num)s lesson", "%(num)s lessons", 3) == "3 个课时"


def test_errors_are_told_in_one_language() -> None:
    error = NotFound("Course %(id)s not found.", id=7)
    assert error_text("zh_CN", error) == "课程 7 不存在。"
    assert error_text("en", error) == str(error) == "Course 7 not found."


def test_api_errors_follow_the_reader(client: TestClient) -> None:
    chinese = client.get("/api/courses/999").json()["detail"]
    english = client.get("/api/courses/999?lang=en").json()["detail"]
    assert chinese == "课程 999 不存在。"
    assert english == "Course 999 not found."


def test_english_pages_show_no_chinese_interface(client: TestClient, session: Session) -> None:
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    course = make_course(session, publisher, tree.town, title="Party history")
    make_lesson(session, course, title="One", duration=2700, credit_hours=1.0)
    catalog = client.get("/?lang=en").text
    assert "1 lesson · 1 credit hour" in catalog
    course_page = client.get(f"/courses/{course.id}?lang=en").text
    data = {tree.town.name, "远教", "中文"}  # names, the brand, the language switch
    for page in (catalog, course_page, client.get("/login?lang=en").text):
        for name in data:
            page = page.replace(name, "")
        assert not CJK.findall(page), CJK.findall(page)[:10]
    assert "1 个课时 · 1 学时" in client.get("/").text
