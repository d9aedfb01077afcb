"""JSON API of terminal sites: the record, its life, enrolment codes, administrators, devices,
photos and assignments. Org admins reach the sites of their subtrees; a site administrator
reads their own sites (GET) and nothing else; every change is refused outside the caller's
subtree (404 when the site is out of sight, 403 when it is seen but not managed)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from core.api import MAX_ID, CurrentUser, RowId, SessionDep, client_address, verify_csrf
from core.paging import MAX_PAGE, MAX_PER_PAGE, PER_PAGE
from core.people.api import PageRead, page_read, reader_locale
from core.people.models import User
from core.storage import get_store
from terminals.sites import photos
from terminals.sites.assignments import (
    assign_content,
    assigned_lessons,
    assignments_of_org,
    assignments_reaching,
    can_change_assignment,
    describe_assignments,
    unassign,
)
from terminals.sites.fields import check_tier, tier_label
from terminals.sites.holdings import downloads_of
from terminals.sites.models import Site, SiteAssignment, SiteDevice, SiteStatus
from terminals.sites.presence import Presence, presence_of
from terminals.sites.schemas import (
    AdministratorAdded,
    AdministratorCreate,
    AdministratorRead,
    AssignedLessonRead,
    AssignmentRead,
    ContentRef,
    DeviceRead,
    EnrolmentCodeRead,
    OrgAssignmentCreate,
    PhotoAdded,
    RevokedCount,
    SiteCreate,
    SiteCreated,
    SiteRead,
    SiteUpdate,
    StatusChange,
)
from terminals.sites.service import (
    SiteDetails,
    SiteFilter,
    SiteSort,
    allowed_transitions,
    change_status,
    get_managed_site,
    get_visible_site,
    issue_enrolment_code,
    last_contacts,
    list_devices,
    list_sites,
    register_site_with_code,
    revoke_devices,
    update_site,
)
from terminals.sites.staff import (
    create_site_admin,
    grant_site_admin,
    remove_site_admin,
    sites_run_by,
)

router = APIRouter(prefix="/api", dependencies=[Depends(verify_csrf)], tags=["sites"])
NO_STORE = {"Cache-Control": "no-store"}


def site_read(session: Session, actor: User, site: Site, locale: str) -> SiteRead:
    """A site as the API shows it, with its presence and the moves the caller may make."""
    seen = last_contacts(session=session, site_ids=[site.id])[site.id]
    return _site_read(session, actor, site, seen, locale)


def _site_read(
    session: Session, actor: User, site: Site, seen: datetime | None, locale: str
) -> SiteRead:
    return SiteRead(
        id=site.id,
        code=site.code,
        name=site.name,
        org_id=site.org_id,
        org_name=site.org.name,
        tier=site.tier,
        tier_label=tier_label(site.tier, locale),
        status=site.status,
        host_unit=site.host_unit,
        address=site.address,
        latitude=site.latitude,
        longitude=site.longitude,
        build_mode=site.build_mode,
        equipment=site.equipment,
        contacts=site.contacts,
        photos=photos.photo_names(site),
        download_windows=site.download_windows,
        notes=site.notes,
        administrators=[
            administrator_read(admin.user)
            for admin in sorted(site.administrators, key=lambda a: a.id)
        ],
        presence=presence_of(seen),
        last_seen_at=seen,
        enrolment_code_expires_at=site.enrolment_code_expires_at,
        transitions=allowed_transitions(session, actor, site),
        created_at=site.created_at,
        updated_at=site.updated_at,
    )


def administrator_read(user: User) -> AdministratorRead:
    """An account running a site."""
    return AdministratorRead(
        user_id=user.id, login=user.login, display_name=user.display_name, active=user.active
    )


def device_read(device: SiteDevice) -> DeviceRead:
    """A device as the API shows it; a revoked one is never online."""
    seen = None if device.revoked_at is not None else device.last_seen_at
    return DeviceRead(
        id=device.id,
        hostname=device.hostname,
        agent_version=device.agent_version,
        created_at=device.created_at,
        last_seen_at=device.last_seen_at,
        revoked_at=device.revoked_at,
        presence=presence_of(seen),
    )


def assignment_reads(
    session: Session, actor: User, assignments: list[SiteAssignment]
) -> list[AssignmentRead]:
    """Assignments with their titles, and whether the caller may remove each."""
    return [
        AssignmentRead(
            id=view.assignment.id,
            target=view.assignment.target,
            site_id=view.assignment.site_id,
            org_id=view.assignment.org_id,
            org_name=view.org_name,
            tier=view.assignment.tier,
            lesson_id=view.lesson_id,
            course_id=view.course_id,
            title=view.title,
            created_at=view.assignment.created_at,
            removable=can_change_assignment(session, actor, view.assignment),
        )
        for view in describe_assignments(session=session, assignments=assignments)
    ]


# Sites


@router.get("/sites", response_model=PageRead[SiteRead])
def sites_index(
    request: Request,
    session: SessionDep,
    actor: CurrentUser,
    q: Annotated[str, Query(max_length=200)] = "",
    status: SiteStatus | None = None,
    tier: Annotated[str | None, Query(max_length=40)] = None,
    org_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    presence: Presence | None = None,
    sort: SiteSort = SiteSort.name,
    desc: bool = False,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = PER_PAGE,
) -> Any:
    """The sites the caller manages or runs, filtered (state, tier, org subtree, presence,
    text in name or code) and sorted."""
    where = SiteFilter(
        query=q,
        status=status,
        tier=check_tier(tier) if tier else None,
        org_id=org_id,
        presence=presence,
    )
    found, seen = list_sites(
        session=session,
        actor=actor,
        where=where,
        sort=sort,
        descending=desc,
        page=page,
        per_page=per_page,
    )
    locale = reader_locale(request)
    shown = [_site_read(session, actor, site, seen[site.id], locale) for site in found.items]
    return page_read(found, shown)


@router.post("/sites", response_model=SiteCreated, status_code=201)
def sites_create(
    body: SiteCreate, request: Request, session: SessionDep, actor: CurrentUser
) -> Any:
    """Register a site in an organisation the caller manages; its first enrolment code is in
    this response only."""
    site, code = register_site_with_code(
        session=session,
        actor=actor,
        org_id=body.org_id,
        code=body.code,
        tier=body.tier,
        details=body.details(),
        address=client_address(request),
    )
    read = site_read(session, actor, site, reader_locale(request))
    return JSONResponse(
        SiteCreated(site=read, enrolment_code=code).model_dump(mode="json"),
        status_code=201,
        headers=NO_STORE,
    )


@router.get("/sites/mine", response_model=list[SiteRead])
def sites_mine(request: Request, session: SessionDep, actor: CurrentUser) -> Any:
    """The sites the caller administers as 站点管理员."""
    locale = reader_locale(request)
    return [
        site_read(session, actor, site, locale)
        for site in sites_run_by(session=session, user=actor)
    ]


@router.get("/sites/{site_id}", response_model=SiteRead)
def sites_show(site_id: RowId, request: Request, session: SessionDep, actor: CurrentUser) -> Any:
    """One site the caller manages or runs."""
    site = get_visible_site(session=session, actor=actor, site_id=site_id)
    return site_read(session, actor, site, reader_locale(request))


@router.patch("/sites/{site_id}", response_model=SiteRead)
def sites_update(
    site_id: RowId, body: SiteUpdate, request: Request, session: SessionDep, actor: CurrentUser
) -> Any:
    """Change a site's record: only the fields sent change (latitude and longitude go
    together; send both null to clear them)."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    given = body.model_dump(exclude_unset=True)
    current: dict[str, Any] = {
        "name": site.name,
        "host_unit": site.host_unit,
        "address": site.address,
        "latitude": site.latitude,
        "longitude": site.longitude,
        "build_mode": site.build_mode,
        "equipment": tuple(site.equipment),
        "contacts": tuple(site.contacts),
        "download_windows": tuple(site.download_windows),
        "notes": site.notes,
    }
    for key, value in given.items():
        if key in current and (value is not None or key in ("latitude", "longitude")):
            current[key] = tuple(value) if isinstance(value, list) else value
    site = update_site(
        session=session,
        actor=actor,
        site_id=site_id,
        code=given.get("code") or site.code,
        tier=given.get("tier") or site.tier,
        org_id=given.get("org_id") or site.org_id,
        details=SiteDetails(**current),
        address=client_address(request),
    )
    return site_read(session, actor, site, reader_locale(request))


@router.post("/sites/{site_id}/status", response_model=SiteRead)
def sites_status(
    site_id: RowId, body: StatusChange, request: Request, session: SessionDep, actor: CurrentUser
) -> Any:
    """Approve, activate, suspend or resume the site (approving and resuming take an admin
    above the site's organisation)."""
    site = change_status(
        session=session,
        actor=actor,
        site_id=site_id,
        move=body.move,
        address=client_address(request),
    )
    return site_read(session, actor, site, reader_locale(request))


@router.post("/sites/{site_id}/enrolment-code", response_model=EnrolmentCodeRead, status_code=201)
def sites_code(site_id: RowId, request: Request, session: SessionDep, actor: CurrentUser) -> Any:
    """Issue a new one-time enrolment code (the earlier one stops working); shown once."""
    site, code = issue_enrolment_code(
        session=session, actor=actor, site_id=site_id, address=client_address(request)
    )
    assert site.enrolment_code_expires_at is not None
    body = EnrolmentCodeRead(
        site_id=site.id, enrolment_code=code, expires_at=site.enrolment_code_expires_at
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=201, headers=NO_STORE)


# Administrators


@router.post("/sites/{site_id}/administrators", response_model=AdministratorAdded, status_code=201)
def sites_admin_add(
    site_id: RowId,
    body: AdministratorCreate,
    request: Request,
    session: SessionDep,
    actor: CurrentUser,
) -> Any:
    """Let an account run the site: an existing one by login, or a new one (`create`) whose
    generated password is in this response only and must be changed at first login."""
    address = client_address(request)
    password = None
    if body.create:
        user, password = create_site_admin(
            session=session,
            actor=actor,
            site_id=site_id,
            login=body.login,
            display_name=body.display_name,
            address=address,
        )
    else:
        user = grant_site_admin(
            session=session, actor=actor, site_id=site_id, login=body.login, address=address
        )
    added = AdministratorAdded(administrator=administrator_read(user), password=password)
    return JSONResponse(added.model_dump(mode="json"), status_code=201, headers=NO_STORE)


@router.delete("/sites/{site_id}/administrators/{user_id}", status_code=204)
def sites_admin_remove(
    site_id: RowId, user_id: RowId, request: Request, session: SessionDep, actor: CurrentUser
) -> None:
    """Stop an account running the site (the account stays)."""
    remove_site_admin(
        session=session,
        actor=actor,
        site_id=site_id,
        user_id=user_id,
        address=client_address(request),
    )


# Devices


@router.get("/sites/{site_id}/devices", response_model=list[DeviceRead])
def sites_devices(site_id: RowId, session: SessionDep, actor: CurrentUser) -> Any:
    """The site's enrolled devices, newest first, revoked ones included."""
    site = get_visible_site(session=session, actor=actor, site_id=site_id)
    return [device_read(device) for device in list_devices(session=session, site=site)]


@router.post("/sites/{site_id}/devices/revoke", response_model=RevokedCount)
def sites_devices_revoke(
    site_id: RowId, request: Request, session: SessionDep, actor: CurrentUser
) -> Any:
    """Revoke every device of the site."""
    count = revoke_devices(
        session=session, actor=actor, site_id=site_id, address=client_address(request)
    )
    return RevokedCount(revoked=count)


@router.post("/sites/{site_id}/devices/{device_id}/revoke", response_model=RevokedCount)
def sites_device_revoke(
    site_id: RowId, device_id: RowId, request: Request, session: SessionDep, actor: CurrentUser
) -> Any:
    """Revoke one device of the site."""
    count = revoke_devices(
        session=session,
        actor=actor,
        site_id=site_id,
        device_id=device_id,
        address=client_address(request),
    )
    return RevokedCount(revoked=count)


# Photos


@router.post("/sites/{site_id}/photos", response_model=PhotoAdded, status_code=201)
def sites_photo_add(
    site_id: RowId,
    request: Request,
    session: SessionDep,
    actor: CurrentUser,
    file: Annotated[UploadFile, File()],
) -> Any:
    """Add a JPEG or PNG photo of the site (at most 5 MB)."""
    data = file.file.read(photos.MAX_PHOTO_BYTES + 1)
    name = photos.add_photo(
        session=session,
        store=get_store(),
        actor=actor,
        site_id=site_id,
        data=data,
        address=client_address(request),
    )
    return PhotoAdded(name=name)


@router.get("/sites/{site_id}/photos/{name}", responses={200: {"content": {"image/jpeg": {}}}})
def sites_photo(site_id: RowId, name: str, session: SessionDep, actor: CurrentUser) -> Response:
    """A photo of a site the caller manages or runs."""
    site = get_visible_site(session=session, actor=actor, site_id=site_id)
    data, content_type = photos.read_photo(store=get_store(), site=site, name=name)
    return Response(
        data, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"}
    )


@router.delete("/sites/{site_id}/photos/{name}", status_code=204)
def sites_photo_remove(
    site_id: RowId, name: str, request: Request, session: SessionDep, actor: CurrentUser
) -> None:
    """Remove a photo of the site."""
    photos.remove_photo(
        session=session,
        store=get_store(),
        actor=actor,
        site_id=site_id,
        name=name,
        address=client_address(request),
    )


# Assignments


@router.get("/sites/{site_id}/assignments", response_model=list[AssignmentRead])
def sites_assignments(site_id: RowId, session: SessionDep, actor: CurrentUser) -> Any:
    """Every live assignment reaching the site: its own, its org subtree's, its tier's."""
    site = get_visible_site(session=session, actor=actor, site_id=site_id)
    return assignment_reads(session, actor, assignments_reaching(session=session, site=site))


@router.get("/sites/{site_id}/lessons", response_model=list[AssignedLessonRead])
def sites_lessons(site_id: RowId, session: SessionDep, actor: CurrentUser) -> Any:
    """The ready lessons the site's assignments add up to, with the rendition height its tier
    downloads and how much of each its agent last reported holding (null before it reports)."""
    site = get_visible_site(session=session, actor=actor, site_id=site_id)
    downloads = downloads_of(session=session, site_id=site.id)
    reads = []
    for item in assigned_lessons(session=session, site=site):
        download = downloads.get(item.lesson.id)
        reads.append(
            AssignedLessonRead(
                lesson_id=item.lesson.id,
                title=item.lesson.title,
                height=int(item.rendition["height"]),
                assignment_id=item.assignment_id,
                download_state=download.state if download else None,
                download_percent=download.percent if download else None,
                download_reported_at=download.reported_at if download else None,
            )
        )
    return reads


@router.post("/sites/{site_id}/assignments", response_model=AssignmentRead, status_code=201)
def sites_assign(
    site_id: RowId, body: ContentRef, request: Request, session: SessionDep, actor: CurrentUser
) -> Any:
    """Assign a lesson or a whole course (one the caller can see) to the site."""
    assignment = assign_content(
        session=session,
        actor=actor,
        site_id=site_id,
        lesson_id=body.lesson_id,
        course_id=body.course_id,
        address=client_address(request),
    )
    return assignment_reads(session, actor, [assignment])[0]


@router.get("/site-assignments", response_model=list[AssignmentRead])
def org_assignments(session: SessionDep, actor: CurrentUser) -> Any:
    """Assignments to org subtrees and tiers that the caller manages."""
    return assignment_reads(session, actor, assignments_of_org(session=session, actor=actor))


@router.post("/site-assignments", response_model=AssignmentRead, status_code=201)
def org_assign(
    body: OrgAssignmentCreate, request: Request, session: SessionDep, actor: CurrentUser
) -> Any:
    """Assign a lesson or course to every site of an org's subtree, or with `tier` only to
    the sites of that tier within it."""
    assignment = assign_content(
        session=session,
        actor=actor,
        org_id=body.org_id,
        tier=body.tier,
        lesson_id=body.lesson_id,
        course_id=body.course_id,
        address=client_address(request),
    )
    return assignment_reads(session, actor, [assignment])[0]


@router.delete("/site-assignments/{assignment_id}", status_code=204)
def assignment_remove(
    assignment_id: RowId, request: Request, session: SessionDep, actor: CurrentUser
) -> None:
    """End an assignment the caller manages (agents purge its content at their next sync)."""
    unassign(
        session=session,
        actor=actor,
        assignment_id=assignment_id,
        address=client_address(request),
    )
