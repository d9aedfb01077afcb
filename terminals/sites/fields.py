"""The site record's fields and their rules: administrative code, tier, coordinates, the
reception plan, equipment and contacts. Each `check_*` returns the clean value or raises
InvalidInput with a message meant for the person who typed it."""

import re
from typing import Any

from core.errors import InvalidInput
from core.i18n import LOCALES, N_, gettext
from core.people.schemas import column_length
from core.people.service import checked_text
from core.settings import get_settings
from terminals.sites.models import Site

CODE_MAX = column_length(Site.code)
NAME_MAX = column_length(Site.name)
HOST_UNIT_MAX = column_length(Site.host_unit)
ADDRESS_MAX = column_length(Site.address)
NOTES_MAX = 2000
MAX_WINDOWS = 6
MAX_ROWS = 50
ROW_TEXT_MAX = 100
WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")

# Labels of the default tiers; a tier configured under another key is shown by its key.
TIER_LABELS = {
    "premium": N_("Premium tier"),
    "demonstration": N_("Demonstration tier"),
    "basic": N_("Basic tier"),
}


def tier_label(tier: str, locale: str) -> str:
    """A tier's name in `locale` (精品 / 示范 / 基础 for the default keys)."""
    return gettext(locale, TIER_LABELS[tier]) if tier in TIER_LABELS else tier


def check_tier(tier: str) -> str:
    """A configured tier's key, given its key or its label in any language (CLI: 精品)."""
    tier = tier.strip()
    tiers = get_settings().site_tiers
    if tier in tiers:
        return tier
    # 精品, 精品站点, premium, Premium tier
    wanted = tier.removesuffix("站点").casefold()
    for key in tiers:
        labels = {key, *(tier_label(key, locale) for locale in LOCALES)}
        if wanted in {label.casefold() for label in labels}:
            return key
    raise InvalidInput(
        N_("Unknown tier %(tier)s: choose one of %(tiers)s."), tier=tier, tiers=", ".join(tiers)
    )


def check_code(code: str) -> str:
    """The administrative code, trimmed, in the configured form (12 digits by default)."""
    code = code.strip()
    pattern = get_settings().site_code_pattern
    if not code or len(code) > CODE_MAX or not re.fullmatch(pattern, code):
        raise InvalidInput(
            N_("The site code %(code)s is not a valid administrative code (e.g. 12 digits)."),
            code=code[:40],
        )
    return code


def check_text(value: str, *, limit: int, missing: str | None = None) -> str:
    """A one-line text trimmed and within `limit`; with `missing`, an empty one is refused."""
    return checked_text(
        " ".join(value.split()),
        limit=limit,
        missing=missing,
        too_long=N_("A text field has at most %(max)s characters."),
    )


def check_coordinates(
    latitude: float | None, longitude: float | None
) -> tuple[float | None, float | None]:
    """Both coordinates or neither; latitude within ±90 and longitude within ±180 degrees."""
    if (latitude is None) != (longitude is None):
        raise InvalidInput(N_("Give both latitude and longitude, or neither."))
    if latitude is None or longitude is None:
        return None, None
    if not -90 <= latitude <= 90:
        raise InvalidInput(N_("Latitude must be between -90 and 90."))
    if not -180 <= longitude <= 180:
        raise InvalidInput(N_("Longitude must be between -180 and 180."))
    return round(latitude, 6), round(longitude, 6)


def check_windows(windows: list[str]) -> list[str]:
    """Download windows as HH:MM-HH:MM in the site's local time; a window may pass midnight
    (22:00-06:00) but not be empty. Duplicates are dropped, order is kept."""
    clean: list[str] = []
    for window in windows:
        window = window.strip().replace(" ", "").replace("–", "-")
        if not window:
            continue
        match = WINDOW.fullmatch(window)
        if match is None or window[:5] == window[6:]:
            raise InvalidInput(
                N_("The download window %(window)s is not valid: write it like 22:00-06:00."),
                window=window[:20],
            )
        if window not in clean:
            clean.append(window)
    if len(clean) > MAX_WINDOWS:
        raise InvalidInput(N_("At most %(max)s download windows."), max=MAX_WINDOWS)
    return clean


def check_equipment(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Equipment rows {item, model, count}: an item name, a count from 1 to 999."""
    clean = []
    for row in rows[: MAX_ROWS + 1]:
        item = check_text(str(row.get("item", "")), limit=ROW_TEXT_MAX)
        if not item:
            continue
        model = check_text(str(row.get("model", "")), limit=ROW_TEXT_MAX)
        try:
            raw = row.get("count")
            count = 1 if raw is None or str(raw).strip() == "" else int(str(raw).strip())
        except (TypeError, ValueError):
            count = 0
        if not 1 <= count <= 999:
            raise InvalidInput(N_("The count of %(item)s must be 1 to 999."), item=item)
        clean.append({"item": item, "model": model, "count": count})
    if len(clean) > MAX_ROWS:
        raise InvalidInput(N_("At most %(max)s rows."), max=MAX_ROWS)
    return clean


def check_contacts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Contact rows {name, phone, role}: a name, and a phone of digits, spaces, + - ( )."""
    clean = []
    for row in rows[: MAX_ROWS + 1]:
        name = check_text(str(row.get("name", "")), limit=ROW_TEXT_MAX)
        if not name:
            continue
        phone = check_text(str(row.get("phone", "")), limit=32)
        if not re.fullmatch(r"[0-9+()\- ]*", phone):
            raise InvalidInput(N_("The phone number of %(name)s is not valid."), name=name)
        role = check_text(str(row.get("role", "")), limit=ROW_TEXT_MAX)
        clean.append({"name": name, "phone": phone, "role": role})
    if len(clean) > MAX_ROWS:
        raise InvalidInput(N_("At most %(max)s rows."), max=MAX_ROWS)
    return clean


def parse_rows(text: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows typed in a form's text box, one a line, fields split by | (or a full-width ｜)."""
    rows = []
    for line in text.replace("｜", "|").splitlines():
        if line.strip():
            parts = [part.strip() for part in line.split("|")]
            rows.append(dict(zip(keys, parts, strict=False)))
    return rows


def format_rows(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> str:
    """Rows as a form's text box shows them (the reverse of `parse_rows`)."""
    return "\n".join(" | ".join(str(row.get(key, "")) for key in keys) for row in rows)
