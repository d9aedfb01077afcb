"""The sync protocol's JSON API under /api/terminal/ (see terminals.sync for the protocol).

Every route but enrolment and the public key needs a device token (`Authorization: Bearer ...`)
and reaches only its own site's data; user sessions have no say here.
"""

import base64
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from core.api import SessionDep, client_address, unit_of_work
from core.db import utcnow
from core.errors import NotFound
from core.i18n import N_
from core.settings import get_settings
from core.storage import ObjectStore, get_store, validate_key
from courseware.delivery import object_response
from terminals.sites.holdings import Holding, record_holdings
from terminals.sites.models import SiteDevice
from terminals.sync.enrolment import device_for_token, enrol_device
from terminals.sync.errors import DeviceRefused
from terminals.sync.heartbeats import record_heartbeat
from terminals.sync.manifest import FILE_ROUTE, signed_manifest, site_may_fetch
from terminals.sync.schemas import (
    EnrolRequest,
    EnrolResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    HoldingsAck,
    HoldingsReport,
    PublicKeyRead,
    SiteRead,
)
from terminals.sync.signing import key_id, public_key_bytes

router = APIRouter(prefix="/api/terminal", tags=["terminal sync"])
StoreDep = Annotated[ObjectStore, Depends(get_store)]
_bearer = HTTPBearer(auto_error=False, description="the device token given at enrolment")


async def current_device(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> SiteDevice:
    """The live device of the bearer token (its site loaded), or 401/403 with the reason."""
    if credentials is None or not credentials.credentials:
        raise DeviceRefused(
            N_("This request needs the site's device token (Authorization: Bearer ...).")
        )
    token = credentials.credentials
    return await unit_of_work(lambda session: device_for_token(session=session, token=token))


CurrentDevice = Annotated[SiteDevice, Depends(current_device)]


def _public_key() -> PublicKeyRead:
    public = public_key_bytes()
    return PublicKeyRead(public_key=base64.b64encode(public).decode(), key_id=key_id(public))


@router.post("/enrol")
def enrol(body: EnrolRequest, session: SessionDep, request: Request) -> EnrolResponse:
    """Exchange a site's one-time code for a device token (shown once) and the manifest key;
    earlier devices of the site are revoked."""
    device, token = enrol_device(
        session=session,
        code=body.code,
        hostname=body.hostname,
        agent_version=body.agent_version,
        address=client_address(request),
    )
    site = device.site
    key = _public_key()
    return EnrolResponse(
        token=token,
        device_id=device.id,
        site=SiteRead(id=site.id, code=site.code, name=site.name, tier=site.tier),
        public_key=key.public_key,
        key_id=key.key_id,
    )


@router.get("/key")
def manifest_key() -> PublicKeyRead:
    """The public Ed25519 key every manifest is signed with."""
    return _public_key()


@router.post("/heartbeat")
def heartbeat(
    body: HeartbeatRequest, device: CurrentDevice, session: SessionDep
) -> HeartbeatResponse:
    """Keep a heartbeat and mark the device seen; the reply carries the server's clock."""
    beat = record_heartbeat(session=session, device=device, body=body, sent_at=body.sent_at)
    return HeartbeatResponse(received_at=beat.received_at, server_time=utcnow())


@router.put("/holdings")
def holdings(body: HoldingsReport, device: CurrentDevice, session: SessionDep) -> HoldingsAck:
    """Replace what the site is known to hold of its lessons with the agent's report."""
    kept = record_holdings(
        session=session,
        site_id=device.site_id,
        manifest_issued_at=body.manifest_issued_at,
        lines=[Holding(**line.model_dump()) for line in body.lessons],
    )
    return HoldingsAck(kept=kept)


class ManifestEnvelope(BaseModel):
    """A signed manifest: `payload` is the manifest's JSON bytes in base64, `signature` their
    Ed25519 signature in base64."""

    algorithm: str
    key_id: str
    payload: str
    signature: str


@router.get("/manifest")
def manifest(
    device: CurrentDevice, session: SessionDep, store: StoreDep, request: Request
) -> ManifestEnvelope:
    """The device's site's signed manifest: every assigned lesson and every file to hold, the
    local player's files and the roll call's roster."""
    player = getattr(request.app.state, "player", None)
    envelope: dict[str, Any] = signed_manifest(
        session=session, store=store, site=device.site, player=player
    )
    return ManifestEnvelope(**envelope)


@router.get(FILE_ROUTE.removeprefix("/api/terminal") + "{key:path}")
async def file(key: str, device: CurrentDevice, store: StoreDep, request: Request) -> Response:
    """A file of the site's manifest, with HTTP Range (for stores without presigned URLs)."""
    try:
        key = validate_key(key)
    except ValueError as exc:
        raise NotFound(N_("File not found.")) from exc
    allowed = await unit_of_work(
        lambda session: site_may_fetch(session=session, site=device.site, key=key)
    )
    if not allowed:
        raise NotFound(N_("This file is not in the site's manifest."))
    ttl = timedelta(seconds=get_settings().sync_link_ttl_seconds)
    return await object_response(store, key, request.headers.get("range"), ttl=ttl)
