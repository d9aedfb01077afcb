"""Shared builders of the site tests."""

import struct
import zlib

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


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A valid PNG of one red colour, for photo uploads that a browser must be able to draw."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + bytes([158, 23, 23]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
