"""A member's check-in code for group sessions at terminal sites (集中学习 roll call).

The code is derived, not stored: eight digits of an HMAC of the member id and the member's
code generation under the platform's "member-checkin" key, so every web node shows the same code
and nothing secret is kept. /me shows it with a QR code holding `YJ1:{member id}:{code}`; a
site's USB scanner types that into the roll call, or the member reads the digits out and the
operator types them. A member whose code was seen by others takes a new one on /me (the next
generation): each site accepts it, and no longer the old one, from its next sync.

A site must check codes offline, so its manifest carries, per member, a check value instead of
the code: PBKDF2-SHA256 of "{member id}:{code}" with a per-site salt and CHECK_ITERATIONS
rounds. A site's machine can verify a code presented to it, but recovering a code from a leaked
manifest means guessing up to 10^8 codes at CHECK_ITERATIONS rounds each (about two days of one
core per member), and a code found that way works only at a site's machine, where the operator
can tick the name by list anyway; the record says which method was used.
"""

import hashlib
import hmac

import segno
from markupsafe import Markup

from core.security import signing_key

CODE_DIGITS = 8
CHECK_ITERATIONS = 2_000
QR_PREFIX = "YJ1:"


def checkin_code(member_id: int, generation: int = 0) -> str:
    """The member's eight-digit check-in code of a generation (Member.checkin_generation)."""
    # The first generation's message has no number: the codes given out before codes could be
    # renewed stay what they were.
    message = f"member:{member_id}" + (f":{generation}" if generation else "")
    mac = hmac.new(signing_key("member-checkin"), message.encode(), "sha256")
    return str(int.from_bytes(mac.digest()[:8], "big") % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def checkin_payload(member_id: int, generation: int = 0) -> str:
    """What the member's QR code holds (a scanner types it as text)."""
    return f"{QR_PREFIX}{member_id}:{checkin_code(member_id, generation)}"


def checkin_qr_svg(member_id: int, generation: int, *, title: str) -> Markup:
    """The member's QR code as inline SVG (drawn here: no script, no image request)."""
    qr = segno.make(checkin_payload(member_id, generation), error="m", micro=False)
    svg = qr.svg_inline(scale=6, border=2, title=title, dark="#000", light="#fff", omitsize=True)
    return Markup(svg)  # noqa: S704 - segno's own markup; the title is escaped by segno


def site_salt(site_id: int) -> bytes:
    """The salt of one site's check values (derived: another site's values do not match)."""
    return hmac.new(signing_key("site-checkin"), f"site:{site_id}".encode(), "sha256").digest()


def check_value(*, salt: bytes, member_id: int, code: str, iterations: int) -> str:
    """The value a manifest carries for a member's code at one site (hex)."""
    secret = f"{member_id}:{code}".encode()
    return hashlib.pbkdf2_hmac("sha256", secret, salt, iterations).hex()


def parse_presented(text: str) -> tuple[int | None, str] | None:
    """A scanned QR text (`YJ1:12:01234567`) as (member id, code), or typed digits as (None,
    code); None for anything else. Spaces and dashes in typed codes are ignored."""
    text = text.strip()
    if text.upper().startswith(QR_PREFIX):
        member, _, code = text[len(QR_PREFIX) :].partition(":")
        if member.isdigit() and len(code) == CODE_DIGITS and code.isdigit():
            return int(member), code
        return None
    digits = text.replace(" ", "").replace("-", "")
    if len(digits) == CODE_DIGITS and digits.isdigit():
        return None, digits
    return None
