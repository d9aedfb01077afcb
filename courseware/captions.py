"""Caption files: SRT or WebVTT in, checked cue by cue, normalized WebVTT out.

Publishers bring captions from many tools. Accepted are SRT and WebVTT in UTF-8 (with or without
a byte order mark), UTF-16 with a byte order mark, and GB18030 (a superset of GBK), which Chinese
subtitle tools and Windows Notepad still save by default; bytes that are valid UTF-8 are always
read as UTF-8. The first cue that breaks a rule (timing syntax, start before end, within the
lesson, some text, size) is named by its number and line in a CaptionError, whose message is
translated for its reader.

What is stored is always WebVTT in UTF-8, cues in time order, with only the markup WebVTT
defines (`c i b u v lang ruby rt` and timestamps) and its cue settings; any other tag (SRT's
`<font>`, HTML) and ASS override blocks such as `{\\an8}` are dropped, keeping their text. The
browser renders cue text as text, never as HTML, but the stored file stays clean for any player.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from core.i18n import N_
from courseware.errors import CaptionError
from courseware.models import CaptionLanguage

# A three-hour lecture captioned densely in Chinese is about 400 KB of SRT.
MAX_CAPTION_BYTES = 2 * 1024 * 1024
MAX_CUES = 20_000
MAX_CUE_CHARACTERS = 1000
# Tools often let the last caption run a little past the end of the video.
DURATION_TOLERANCE_MS = 2000
CONTENT_TYPE = "text/vtt; charset=utf-8"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")
_TIME = r"(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:[ \t]+(.*))?$")
_INDEX = re.compile(r"^\s*\d{1,9}\s*$")
_WEBVTT = re.compile(r"^WEBVTT(?:[ \t].*)?$")
_SETTING = re.compile(
    r"^(?:vertical:(?:rl|lr)"
    r"|line:-?\d+(?:\.\d+)?%?(?:,(?:start|center|end))?"
    r"|position:\d+(?:\.\d+)?%(?:,(?:line-left|center|line-right|auto))?"
    r"|size:\d+(?:\.\d+)?%"
    r"|align:(?:start|center|end|left|right))$"
)
_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")
_TAG = re.compile(r"<(/?[A-Za-z0-9][^<>\n]*)>")
_START_TAG = re.compile(r"^([A-Za-z]+)((?:\.[A-Za-z0-9_-]+)*)(?:[ \t]+(.*))?$")
_TIMESTAMP_TAG = re.compile(rf"^{_TIME}$")
_ENTITY = re.compile(r"&(?:amp|lt|gt|lrm|rlm|nbsp|#\d{1,7}|#[xX][0-9a-fA-F]{1,6});")
# Tags WebVTT defines; `v` and `lang` carry an annotation (the speaker, the language).
_TAGS = {"c", "i", "b", "u", "ruby", "rt", "v", "lang"}
_ANNOTATED = {"v", "lang"}
_WEBVTT_EXAMPLE = "00:00:01.000 --> 00:00:02.500"
_SRT_EXAMPLE = "00:00:01,000 --> 00:00:02,500"


@dataclass(frozen=True)
class Cue:
    """One caption: from `start` to `end` (milliseconds), its WebVTT cue text (lines joined by
    newlines, never a blank one) and cue settings (WebVTT's `line:`, `align:` and the like)."""

    start: int
    end: int
    text: str
    settings: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"a cue runs forward in time, not {self.start} → {self.end}")


def caption_key(lesson_id: int, language: CaptionLanguage) -> str:
    """Where a lesson's captions in `language` are stored: inside its HLS tree."""
    return f"lessons/{lesson_id}/hls/captions/{language.value}.vtt"


def caption_url(lesson_id: int, language: CaptionLanguage) -> str:
    """The app's URL of the captions (the lesson's media route checks the viewer's rights)."""
    return f"/media/lessons/{lesson_id}/hls/captions/{language.value}.vtt"


def format_time(milliseconds: int) -> str:
    """A WebVTT timestamp, hours always given: `01:02:03.450`."""
    seconds, millis = divmod(milliseconds, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def read_captions(data: bytes, *, duration: float) -> list[Cue]:
    """The cues of an SRT or WebVTT file for a lesson of `duration` seconds, in time order;
    CaptionError names the first cue (number, line) that breaks a rule, and what is wrong."""
    if len(data) > MAX_CAPTION_BYTES:
        raise CaptionError(
            N_("The caption file has %(size)s KB; at most %(limit)s KB are allowed."),
            size=f"{len(data) / 1024:.0f}",
            limit=f"{MAX_CAPTION_BYTES / 1024:.0f}",
        )
    lines = _LINE_BREAK.split(_decode(data))
    for number, line in enumerate(lines, start=1):
        if _CONTROL.search(line):
            raise CaptionError(
                N_(
                    "Line %(line)s of the file holds control characters or binary data: "
                    "it is not a caption file."
                ),
                line=number,
            )
    reader = _Reader(duration=round(duration * 1000))
    webvtt = bool(lines) and _WEBVTT.match(lines[0]) is not None
    cues = reader.webvtt(lines) if webvtt else reader.srt(lines)
    if not cues:
        raise CaptionError(N_("The caption file holds no captions."))
    return sorted(cues, key=lambda cue: (cue.start, cue.end))


def write_webvtt(cues: list[Cue]) -> bytes:
    """The cues as a WebVTT file in UTF-8, numbered from 1."""
    parts = ["WEBVTT\n"]
    for number, cue in enumerate(cues, start=1):
        settings = f" {cue.settings}" if cue.settings else ""
        timing = f"{format_time(cue.start)} --> {format_time(cue.end)}{settings}"
        parts.append(f"\n{number}\n{timing}\n{cue.text}\n")
    return "".join(parts).encode()


def convert_captions(data: bytes, *, duration: float) -> tuple[bytes, int]:
    """A checked caption file as normalized WebVTT, and how many cues it holds."""
    cues = read_captions(data, duration=duration)
    return write_webvtt(cues), len(cues)


def _decode(data: bytes) -> str:
    """The file's text: UTF-8 (BOM or not), UTF-16 with a BOM, else GB18030 (GBK, or with
    GB18030's own byte order mark)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8-sig", "gb18030"]
    failure: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            return data.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            failure = failure or exc
    assert failure is not None
    raise CaptionError(
        N_(
            "The caption file is neither UTF-8 nor GB18030 (GBK) text (line %(line)s): "
            "save it as UTF-8 and try again."
        ),
        line=data[: failure.start].count(b"\n") + 1,
    )


def _blocks(lines: list[str], first: int = 0) -> Iterator[list[tuple[int, str]]]:
    """Runs of non-blank lines, each line with its number in the file."""
    block: list[tuple[int, str]] = []
    for index in range(first, len(lines)):
        if lines[index].strip():
            block.append((index + 1, lines[index]))
        elif block:
            yield block
            block = []
    if block:
        yield block


def _quote(text: str) -> str:
    """A line as a message quotes it: stripped, and cut short when long."""
    text = text.strip()
    return text if len(text) <= 40 else f"{text[:40]}…"


class _Reader:
    """Reads the cues of one file, counting them and checking each against the lesson."""

    def __init__(self, *, duration: int) -> None:
        self.duration = duration
        self.cues: list[Cue] = []

    def srt(self, lines: list[str]) -> list[Cue]:
        """SRT: blocks of a cue number (tolerated missing), a timing line and the text."""
        for block in _blocks(lines):
            number = len(self.cues) + 1
            (line, first), rest = block[0], block[1:]
            if _INDEX.match(first):
                number = int(first)
                if not rest:
                    raise CaptionError(
                        N_("Cue %(cue)s (line %(line)s): the cue number has no timing line."),
                        cue=number,
                        line=line,
                    )
            elif "-->" in first:
                rest = block
            else:
                raise CaptionError(
                    N_(
                        "Line %(line)s: a cue number or a timing line was expected, not “%(text)s”."
                    ),
                    line=line,
                    text=_quote(first),
                )
            self._cue(number, rest[0], rest[1:], example=_SRT_EXAMPLE)
        return self.cues

    def webvtt(self, lines: list[str]) -> list[Cue]:
        """WebVTT: after the header, cue blocks (an optional identifier, the timing line with
        settings, the text); NOTE, STYLE and REGION blocks are left out."""
        header = next(
            (i for i, line in enumerate(lines) if not line.strip() or "-->" in line), len(lines)
        )
        for block in _blocks(lines, header):
            (line, first), rest = block[0], block[1:]
            if re.match(r"^(NOTE|STYLE|REGION)(?:[ \t]|$)", first) and "-->" not in first:
                continue
            if "-->" in first:
                rest = block
            elif not rest:
                raise CaptionError(
                    N_(
                        "Cue %(cue)s (line %(line)s): “%(text)s” is not a timing line "
                        "such as “%(example)s”."
                    ),
                    cue=len(self.cues) + 1,
                    line=line,
                    text=_quote(first),
                    example=_WEBVTT_EXAMPLE,
                )
            self._cue(len(self.cues) + 1, rest[0], rest[1:], example=_WEBVTT_EXAMPLE)
        return self.cues

    def _cue(
        self, number: int, timing: tuple[int, str], text: list[tuple[int, str]], *, example: str
    ) -> None:
        """Check one cue and keep it."""
        line, timing_text = timing
        match = _TIMING.match(timing_text)
        if match is None:
            raise CaptionError(
                N_(
                    "Cue %(cue)s (line %(line)s): “%(text)s” is not a timing line "
                    "such as “%(example)s”."
                ),
                cue=number,
                line=line,
                text=_quote(timing_text),
                example=example,
            )
        where = {"cue": number, "line": line}
        start, end = (_timestamp(match.groups()[i : i + 4], where) for i in (0, 4))
        if end <= start:
            raise CaptionError(
                N_(
                    "Cue %(cue)s (line %(line)s): it ends at %(end)s, "
                    "not after its start at %(start)s."
                ),
                end=format_time(end),
                start=format_time(start),
                **where,
            )
        if end > self.duration + DURATION_TOLERANCE_MS:
            raise CaptionError(
                N_(
                    "Cue %(cue)s (line %(line)s): it ends at %(end)s, after the end of the "
                    "lesson at %(duration)s."
                ),
                end=format_time(end),
                duration=format_time(self.duration),
                **where,
            )
        for text_line, content in text:
            if "-->" in content:
                raise CaptionError(
                    N_(
                        "Cue %(cue)s (line %(line)s): a second timing line in its text: "
                        "is a blank line missing before it?"
                    ),
                    cue=number,
                    line=text_line,
                )
        cue_text, visible = _cue_text([content for _, content in text])
        if not visible.strip():
            raise CaptionError(N_("Cue %(cue)s (line %(line)s): it has no text."), **where)
        if len(visible) > MAX_CUE_CHARACTERS:
            raise CaptionError(
                N_(
                    "Cue %(cue)s (line %(line)s): its text has %(length)s characters; "
                    "at most %(limit)s are allowed."
                ),
                length=len(visible),
                limit=MAX_CUE_CHARACTERS,
                **where,
            )
        if len(self.cues) >= MAX_CUES:
            raise CaptionError(N_("The caption file has more than %(limit)s cues."), limit=MAX_CUES)
        settings = " ".join(s for s in (match.group(9) or "").split() if _SETTING.match(s))
        self.cues.append(Cue(start=start, end=end, text=cue_text, settings=settings))


def _milliseconds(parts: tuple[str | None, ...]) -> int | None:
    """The time of a timestamp's (hours, minutes, seconds, fraction), None if out of range."""
    hours, minutes, seconds, fraction = (part or "0" for part in parts)
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    millis = int(fraction.ljust(3, "0"))
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + millis


def _timestamp(parts: tuple[str | None, ...], where: dict[str, int]) -> int:
    """The time of a cue's start or end, or CaptionError naming the cue."""
    milliseconds = _milliseconds(parts)
    if milliseconds is None:
        hours, minutes, seconds, fraction = parts
        time = f"{hours + ':' if hours else ''}{minutes}:{seconds}.{fraction}"
        raise CaptionError(
            N_(
                "Cue %(cue)s (line %(line)s): the time “%(text)s” is not valid "
                "(minutes and seconds go up to 59)."
            ),
            text=time,
            **where,
        )
    return milliseconds


def _cue_text(lines: list[str]) -> tuple[str, str]:
    """The cue text with WebVTT's markup only, and its visible text (to check it is there).

    Lines that hold nothing once cleaned are dropped: a blank line would end the cue."""
    kept, visible = [], []
    for raw in lines:
        line, seen = _clean_line(_ASS_OVERRIDE.sub("", raw).rstrip())
        if seen.strip():
            kept.append(line)
            visible.append(seen.strip())
    return "\n".join(kept), "\n".join(visible)


def _clean_line(line: str) -> tuple[str, str]:
    """One line of cue text: WebVTT tags kept, others dropped, `& < >` in text escaped."""
    out, seen, position = [], [], 0
    for match in _TAG.finditer(line):
        text = line[position : match.start()]
        out.append(_escape(text))
        seen.append(text)
        out.append(_webvtt_tag(match.group(1)))
        position = match.end()
    out.append(_escape(line[position:]))
    seen.append(line[position:])
    return "".join(out), _ENTITY.sub(" ", "".join(seen))


def _webvtt_tag(inside: str) -> str:
    """The tag normalized if WebVTT defines it, else nothing."""
    if (stamp := _TIMESTAMP_TAG.match(inside)) is not None:
        milliseconds = _milliseconds(stamp.groups())
        return "" if milliseconds is None else f"<{format_time(milliseconds)}>"
    if inside.startswith("/"):
        name = inside[1:].strip().lower()
        return f"</{name}>" if name in _TAGS else ""
    match = _START_TAG.match(inside)
    if match is None or match.group(1).lower() not in _TAGS:
        return ""
    name, classes, annotation = match.group(1).lower(), match.group(2), match.group(3)
    if name in _ANNOTATED and annotation and annotation.strip():
        return f"<{name}{classes} {_escape(annotation.strip())}>"
    return f"<{name}{classes}>"


def _escape(text: str) -> str:
    """Text as WebVTT cue text: known character references kept, other `&`, `<`, `>` escaped."""
    out, position = [], 0
    for match in _ENTITY.finditer(text):
        out.append(_escape_plain(text[position : match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(_escape_plain(text[position:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
