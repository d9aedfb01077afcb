"""Who may see and run a site: org admins (and platform admins) manage the sites owned in their
subtrees; a site administrator sees and acts for their own sites only."""

from sqlalchemy import ColumnElement, false, or_, select, true

from core.people.models import Organisation, User
from core.people.permissions import can_manage_org, is_platform_admin, managed_orgs
from terminals.sites.models import Site, SiteAdministrator


def can_manage_site(user: User | None, site: Site) -> bool:
    """Org admins manage the sites of their subtree: edit, approve, suspend, assign, enrol."""
    return can_manage_org(user, site.org)


def runs_site(user: User | None, site: Site) -> bool:
    """Whether the user is one of the site's administrators (站点管理员)."""
    return (
        user is not None
        and user.active
        and any(admin.user_id == user.id for admin in site.administrators)
    )


def can_see_site(user: User | None, site: Site) -> bool:
    """A site is seen by those who manage it and by those who run it."""
    return can_manage_site(user, site) or runs_site(user, site)


def managed_sites(user: User | None) -> ColumnElement[bool]:
    """A WHERE clause on Site matching `can_manage_site`."""
    if is_platform_admin(user):
        return true()
    if user is None or not user.active:
        return false()
    return Site.org_id.in_(select(Organisation.id).where(managed_orgs(user)))


def visible_sites(user: User | None) -> ColumnElement[bool]:
    """A WHERE clause on Site matching `can_see_site`."""
    if user is None or not user.active:
        return false()
    run = select(SiteAdministrator.site_id).where(SiteAdministrator.user_id == user.id)
    return or_(managed_sites(user), Site.id.in_(run))
