"""Photos of a site (the room, the equipment, the sign at the door): JPEG or PNG, checked by
their first bytes, kept in object storage under sites/{id}/photos/, shown to whoever may see
the site."""

import secrets

from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.people.models import User
from core.storage import ObjectStore
from terminals.sites.models import Site
from terminals.sites.service import audit_site, get_managed_site

MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 12
SIGNATURES = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png"}


def photo_kind(data: bytes) -> str:
    """ "jpg" or "png" from the file's first bytes (its name or claimed type is not trusted)."""
    for signature, kind in SIGNATURES.items():
        if data.startswith(signature):
            return kind
    raise InvalidInput(N_("A photo must be a JPEG or PNG image."))


def add_photo(
    *,
    session: Session,
    store: ObjectStore,
    actor: User,
    site_id: int,
    data: bytes,
    address: str = "",
) -> str:
    """Store a photo of the site and return its name. The object is written before the record
    points to it, so a failed write leaves no broken photo behind."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidInput(
            N_("A photo is at most %(max)s MB."), max=MAX_PHOTO_BYTES // (1024 * 1024)
        )
    if not data:
        raise InvalidInput(N_("Choose a photo to upload."))
    kind = photo_kind(data)
    if len(site.photos) >= MAX_PHOTOS:
        raise InvalidInput(N_("A site has at most %(max)s photos."), max=MAX_PHOTOS)
    name = f"{secrets.token_hex(8)}.{kind}"
    store.put_bytes(photo_key(site, name), data, content_type=CONTENT_TYPES[kind])
    site.photos = [*site.photos, photo_key(site, name)]
    session.flush()
    audit_site(session, "site_photo_added", actor, site, address, file=name)
    return name


def photo_key(site: Site, name: str) -> str:
    """The object key of a site's photo."""
    return f"sites/{site.id}/photos/{name}"


def photo_names(site: Site) -> list[str]:
    """The site's photos by name, in the order they were added."""
    return [key.rsplit("/", 1)[-1] for key in site.photos]


def read_photo(*, store: ObjectStore, site: Site, name: str) -> tuple[bytes, str]:
    """A photo's bytes and content type; only a photo the site lists is read."""
    if photo_key(site, name) not in site.photos:
        raise NotFound(N_("Photo not found."))
    return store.get_bytes(photo_key(site, name)), CONTENT_TYPES[name.rsplit(".", 1)[-1]]


def remove_photo(
    *,
    session: Session,
    store: ObjectStore,
    actor: User,
    site_id: int,
    name: str,
    address: str = "",
) -> None:
    """Take a photo off the site and out of storage."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    key = photo_key(site, name)
    if key not in site.photos:
        raise NotFound(N_("Photo not found."))
    site.photos = [other for other in site.photos if other != key]
    session.flush()
    audit_site(session, "site_photo_removed", actor, site, address, file=name)
    store.delete(key)
