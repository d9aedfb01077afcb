"""Text field rules: limits counted in characters, blanks trimmed, never cut short."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.i18n import error_text
from courseware.fields import CATEGORY, COURSE_TITLE, DESCRIPTION, FILE_NAME, lesson_title

pytestmark = pytest.mark.engine_neutral


def test_limits_hold_at_the_boundary_in_characters_not_bytes() -> None:
    assert COURSE_TITLE.check("党" * 200) == "党" * 200
    with pytest.raises(InvalidInput) as refused:
        COURSE_TITLE.check("党" * 201)
    assert error_text("zh_CN", refused.value) == "课程名称有 201 个字符，最多允许 200 个。"
    assert CATEGORY.check("a" * 60) == "a" * 60
    with pytest.raises(InvalidInput):
        CATEGORY.check("a" * 61)
    with pytest.raises(InvalidInput):
        DESCRIPTION.check("x" * 5001)


def test_blanks_and_nul_are_dropped_before_counting() -> None:
    assert COURSE_TITLE.check("  党课\x00  ") == "党课"
    assert COURSE_TITLE.check(" " + "a" * 200 + " ") == "a" * 200
    with pytest.raises(InvalidInput, match="needs a title"):
        COURSE_TITLE.check(" \x00 ")
    assert CATEGORY.check("  ") == ""


def test_line_breaks_only_in_descriptions() -> None:
    assert DESCRIPTION.check("第一段\n\n第二段\t") == "第一段\n\n第二段"
    for value in ("党\n课", "党\r课", "党\x1b课"):
        with pytest.raises(InvalidInput, match="control characters"):
            COURSE_TITLE.check(value)
    with pytest.raises(InvalidInput, match="control characters"):
        DESCRIPTION.check("a\x07b")


def test_file_names_fit_one_key_segment() -> None:
    assert FILE_NAME.check("课件.pdf") == "课件.pdf"
    with pytest.raises(InvalidInput):
        FILE_NAME.check("a" * 81)
    with pytest.raises(InvalidInput):  # 67 four-byte characters: 268 bytes, over the store's 255
        FILE_NAME.check("\U00020000" * 67)


def test_lesson_title_defaults_to_the_file_name() -> None:
    assert lesson_title("  第一课 ", filename="a.mp4") == "第一课"
    assert lesson_title("", filename="C:\\录像\\党课.mp4") == "党课"
    with pytest.raises(InvalidInput, match="201 characters"):
        lesson_title("", filename="a" * 201 + ".mp4")


@given(st.text(max_size=300))
def test_a_checked_value_is_never_shortened(value: str) -> None:
    try:
        checked = COURSE_TITLE.check(value)
    except InvalidInput:
        return
    assert checked == value.replace("\x00", "").strip()
    assert 1 <= len(checked) <= 200
