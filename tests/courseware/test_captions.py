"""Caption files: what is accepted, what is refused (naming the cue and line), what is stored."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.i18n import error_text
from courseware.captions import (
    MAX_CAPTION_BYTES,
    MAX_CUES,
    Cue,
    convert_captions,
    format_time,
    read_captions,
    write_webvtt,
)
from courseware.errors import CaptionError

pytestmark = pytest.mark.engine_neutral

SRT = (
    "1\n"
    "00:00:01,000 --> 00:00:03,500\n"
    "同志们，大家好。\n"
    "今天学习党章。\n"
    "\n"
    "2\n"
    "00:00:04,000 --> 00:00:06,250\n"
    "第二条字幕\n"
)


def refusal(data: bytes, duration: float = 60.0) -> CaptionError:
    with pytest.raises(CaptionError) as caught:
        read_captions(data, duration=duration)
    return caught.value


def test_srt_becomes_webvtt() -> None:
    body, cues = convert_captions(SRT.encode(), duration=60)
    assert cues == 2
    assert body.decode() == (
        "WEBVTT\n"
        "\n1\n00:00:01.000 --> 00:00:03.500\n同志们，大家好。\n今天学习党章。\n"
        "\n2\n00:00:04.000 --> 00:00:06.250\n第二条字幕\n"
    )


@pytest.mark.parametrize(
    "data",
    [
        SRT.encode("utf-8-sig"),
        SRT.replace("\n", "\r\n").encode(),
        SRT.replace("\n", "\r").encode(),
        SRT.encode("gbk"),
        SRT.encode("gb18030"),
        "\ufeff".encode("gb18030") + SRT.encode("gb18030"),
        SRT.encode("utf-16"),
    ],
    ids=["utf8-bom", "crlf", "cr", "gbk", "gb18030", "gb18030-bom", "utf16-bom"],
)
def test_encodings_and_line_ends_chinese_tools_save(data: bytes) -> None:
    assert convert_captions(data, duration=60) == convert_captions(SRT.encode(), duration=60)


def test_webvtt_keeps_settings_and_webvtt_markup_drops_the_rest() -> None:
    vtt = (
        "WEBVTT - 党课\n"
        "Kind: captions\n"
        "\n"
        "STYLE\n"
        "::cue { color: red }\n"
        "\n"
        "NOTE 讲稿第一部分\n"
        "\n"
        "intro\n"
        "00:01.000 --> 00:02.500 align:start line:0 region:r1 bogus:1\n"
        '<v 主持人>欢迎</v> <font color="red">各位</font> <i.loud>同志</i>\n'
        "\n"
        "00:00:03.000 --> 00:00:04.000\n"
        "{\\an8}A < B & C > D &amp; <script>x</script> <00:00:03.500>后半\n"
    )
    body = convert_captions(vtt.encode(), duration=10)[0].decode()
    assert body == (
        "WEBVTT\n"
        "\n1\n00:00:01.000 --> 00:00:02.500 align:start line:0\n"
        "<v 主持人>欢迎</v> 各位 <i.loud>同志</i>\n"
        "\n2\n00:00:03.000 --> 00:00:04.000\n"
        "A &lt; B &amp; C &gt; D &amp; x <00:00:03.500>后半\n"
    )
    assert "STYLE" not in body and "NOTE" not in body and "script" not in body


def test_srt_tags_in_capitals_become_webvtt_tags() -> None:
    data = b"1\n00:00:01,000 --> 00:00:02,000\n<I>Lean</I> <B>bold</b>\n"
    assert read_captions(data, duration=10)[0].text == "<i>Lean</i> <b>bold</b>"


def test_cues_are_stored_in_time_order() -> None:
    data = "1\n00:00:05,000 --> 00:00:06,000\n后\n\n2\n00:00:01,000 --> 00:00:02,000\n前\n"
    assert [cue.text for cue in read_captions(data.encode(), duration=10)] == ["前", "后"]


def test_a_cue_may_end_a_little_after_the_lesson() -> None:
    data = b"1\n00:00:09,000 --> 00:00:11,500\nlast words\n"
    assert read_captions(data, duration=10.0)[0].end == 11_500


def test_srt_without_cue_numbers_is_read() -> None:
    data = b"00:00:01,000 --> 00:00:02,000\none\n\n00:00:03,000 --> 00:00:04,000\ntwo\n"
    assert [cue.text for cue in read_captions(data, duration=10)] == ["one", "two"]


@pytest.mark.parametrize(
    ("data", "cue", "line", "english", "chinese"),
    [
        (
            "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 -> 00:00:04,000\nx\n",
            2,
            6,
            "“00:00:03,000 -> 00:00:04,000” is not a timing line",
            "不是时间轴行",
        ),
        (
            "1\n00:00:01,000 --> 00:00:02,000\nok\n\n7\n00:00:05,000 --> 00:00:04,000\nx\n",
            7,
            6,
            "it ends at 00:00:04.000, not after its start at 00:00:05.000",
            "结束时间 00:00:04.000 不晚于开始时间 00:00:05.000",
        ),
        (
            "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:01:00,000 --> 00:01:05,000\nx\n",
            2,
            6,
            "after the end of the lesson at 00:00:30.000",
            "超出了课时的长度 00:00:30.000",
        ),
        (
            "1\n00:00:01,000 --> 00:00:02,000\n\n2\n00:00:03,000 --> 00:00:04,000\nx\n",
            1,
            2,
            "it has no text",
            "没有文字",
        ),
        ("3\n00:00:01,000 --> 00:00:02,000\n<i> </i>\n", 3, 2, "it has no text", "没有文字"),
        (
            "1\n00:00:01,000 --> 00:00:02,000\nok\n2\n00:00:03,000 --> 00:00:04,000\nx\n",
            1,
            5,
            "is a blank line missing",
            "缺少一个空行",
        ),
        ("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n", 2, 5, "has no timing line", "缺少时间轴行"),
        ("1\n00:00:61,000 --> 00:01:02,000\nx\n", 1, 2, "“00:00:61.000” is not valid", "无效"),
        (
            "1\n00:00:01,000 --> 00:00:02,000\n" + "长" * 1001 + "\n",
            1,
            2,
            "has 1001 characters",
            "1001 个字符",
        ),
        (
            "WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\n00:03.000 --> 00:02.000\nx\n",
            2,
            6,
            "it ends at 00:00:02.000, not after its start at 00:00:03.000",
            "不晚于开始时间",
        ),
        (
            "WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\nnext\n00:03.000 --> 00:75.000\nx\n",
            2,
            7,
            "“00:75.000” is not valid",
            "无效",
        ),
        (
            "WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\n00:03.000 --> 00:04.000\n\n",
            2,
            6,
            "it has no text",
            "没有文字",
        ),
        (
            "WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\nintro\n3.0 --> 4.0\nx\n",
            2,
            7,
            "“3.0 --> 4.0” is not a timing line such as “00:00:01.000 --> 00:00:02.500”",
            "正确格式如",
        ),
    ],
    ids=[
        "srt-bad-arrow",
        "srt-end-before-start",
        "srt-beyond-lesson",
        "srt-empty-text",
        "srt-only-markup",
        "srt-missing-blank-line",
        "srt-number-alone",
        "srt-bad-seconds",
        "srt-too-long",
        "vtt-end-before-start",
        "vtt-bad-seconds",
        "vtt-empty-text",
        "vtt-bad-timing",
    ],
)
def test_a_bad_cue_is_named_with_its_line_in_both_languages(
    data: str, cue: int, line: int, english: str, chinese: str
) -> None:
    error = refusal(data.encode(), duration=30.0)
    assert error.values["cue"] == cue and error.values["line"] == line
    assert str(error).startswith(f"Cue {cue} (line {line}): ") and english in str(error)
    translated = error_text("zh_CN", error)
    assert translated.startswith(f"第 {cue} 条字幕（第 {line} 行）：") and chinese in translated


@pytest.mark.parametrize(
    ("data", "english", "chinese"),
    [
        (b"", "holds no captions", "没有字幕"),
        (b"\n\n  \n", "holds no captions", "没有字幕"),
        (b"WEBVTT\n\nNOTE nothing here\n", "holds no captions", "没有字幕"),
        (b"[Script Info]\nTitle: x\n", "Line 1: a cue number or a timing line", "第 1 行"),
        ("第一行\n".encode("big5", "ignore") + b"\xff\xfe\xfd", "neither UTF-8 nor GB18030", "GBK"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "control characters or binary", "二进制"),
        (bytes(range(256)) * 8, "neither UTF-8 nor GB18030", "UTF-8"),
        (b"1\n00:00:01,000 --> 00:00:02,000\nx\x00y\n", "Line 3 of the file", "第 3 行"),
    ],
    ids=["empty", "blank", "notes-only", "ass", "bad-encoding", "png", "junk", "nul"],
)
def test_files_that_are_not_captions_are_refused(data: bytes, english: str, chinese: str) -> None:
    error = refusal(data)
    assert english in str(error) and chinese in error_text("zh_CN", error)


def test_oversized_file_and_too_many_cues() -> None:
    big = refusal(b"x" * (MAX_CAPTION_BYTES + 1))
    assert "at most 2048 KB" in str(big) and "2048 KB" in error_text("zh_CN", big)
    cue = "00:00:01.000 --> 00:00:02.000\nx\n\n"
    many = refusal(("WEBVTT\n\n" + cue * (MAX_CUES + 1)).encode())
    assert f"more than {MAX_CUES} cues" in str(many)


def test_stored_webvtt_reads_back_the_same() -> None:
    body = convert_captions(SRT.encode("gbk"), duration=60)[0]
    assert convert_captions(body, duration=60)[0] == body


# Cue text as people type it: Chinese, Latin, digits and punctuation, without markup.
_TEXT = st.text(
    alphabet=st.sampled_from("同志们大家好党章学习第一二三abcXYZ0123456789，。！？ ,.!?'\"-"),
    min_size=1,
    max_size=30,
).filter(lambda line: line.strip() == line and line != "" and "-->" not in line)


@st.composite
def cues(draw: st.DrawFn) -> list[Cue]:
    """Cues in time order, each 1 ms to 10 s long, with one to three lines of text."""
    result, time = [], 0
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        start = time + draw(st.integers(min_value=0, max_value=5000))
        end = start + draw(st.integers(min_value=1, max_value=10_000))
        lines = draw(st.lists(_TEXT, min_size=1, max_size=3))
        result.append(Cue(start=start, end=end, text="\n".join(lines)))
        time = end
    return result


def _srt(cues: list[Cue]) -> str:
    def stamp(ms: int) -> str:
        return format_time(ms).replace(".", ",")

    return "\n".join(
        f"{n}\n{stamp(cue.start)} --> {stamp(cue.end)}\n{cue.text}\n"
        for n, cue in enumerate(cues, start=1)
    )


@settings(max_examples=200, deadline=None)
@given(cues())
def test_srt_to_webvtt_keeps_every_cue_time_and_text(original: list[Cue]) -> None:
    # (Only UTF-8 here: a few GBK bytes can also be valid UTF-8, which then wins, as it should
    # for any file long enough to tell; the GBK examples above are long enough.)
    duration = original[-1].end / 1000
    vtt = convert_captions(_srt(original).encode(), duration=duration)[0]
    assert read_captions(vtt, duration=duration) == original
    assert write_webvtt(read_captions(vtt, duration=duration)) == vtt
