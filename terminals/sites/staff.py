"""A site's administrators (站点管理员): accounts granted the running of one site. An existing
account within the admin's reach is granted by its login, or one is created on the spot with a
member role on the site's organisation and a generated password to be changed at first login."""

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import session_scope
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.people.models import Role, User
from core.people.permissions import can_see_user
from core.people.users import add_user
from terminals.sites.models import Site, SiteAdministrator
from terminals.sites.service import audit_site, get_managed_site

# A site is run by a handful of people; more is a mistake in a form or a script.
MAX_ADMINISTRATORS = 20


def _attach(session: Session, actor: User, site: Site, user: User, address: str) -> None:
    if any(admin.user_id == user.id for admin in site.administrators):
        return
    if len(site.administrators) >= MAX_ADMINISTRATORS:
        raise InvalidInput(N_("A site has at most %(max)s administrators."), max=MAX_ADMINISTRATORS)
    site.administrators.append(SiteAdministrator(user_id=user.id))
    session.flush()
    _site_runners.forget()
    audit_site(session, "site_admin_added", actor, site, address, login=user.login)


def grant_site_admin(
    *, session: Session, actor: User, site_id: int, login: str, address: str = ""
) -> User:
    """Let an existing account (one the actor's administration reaches) run the site; granting
    it twice changes nothing."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    user = session.scalar(select(User).where(User.login == login.strip()))
    if user is None or not can_see_user(actor, user):
        raise NotFound(N_("Account %(login)s not found."), login=login.strip()[:80])
    if not user.active:
        raise InvalidInput(N_("The account %(login)s is deactivated."), login=user.login)
    _attach(session, actor, site, user, address)
    return user


def create_site_admin(
    *,
    session: Session,
    actor: User,
    site_id: int,
    login: str,
    display_name: str = "",
    address: str = "",
) -> tuple[User, str]:
    """Create an account to run the site: a member role on the site's organisation and a
    generated password, returned once, that must be changed at the first login."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    user, password = add_user(
        session=session,
        actor=actor,
        login=login,
        role=Role.member,
        org_id=site.org_id,
        display_name=display_name,
        address=address,
    )
    assert password is not None  # none was given, so one was generated
    _attach(session, actor, site, user, address)
    return user, password


def remove_site_admin(
    *, session: Session, actor: User, site_id: int, user_id: int, address: str = ""
) -> None:
    """Stop an account running the site (the account itself stays)."""
    site = get_managed_site(session=session, actor=actor, site_id=site_id)
    admin = next((a for a in site.administrators if a.user_id == user_id), None)
    if admin is None:
        raise NotFound(N_("Site administrator %(id)s not found."), id=user_id)
    login = admin.user.login
    site.administrators.remove(admin)
    session.flush()
    _site_runners.forget()
    audit_site(session, "site_admin_removed", actor, site, address, login=login)


def sites_run_by(*, session: Session, user: User) -> list[Site]:
    """The sites the user administers, by name."""
    query = (
        select(Site)
        .join(SiteAdministrator, SiteAdministrator.site_id == Site.id)
        .where(SiteAdministrator.user_id == user.id)
        .order_by(Site.name, Site.id)
    )
    return list(session.scalars(query)) if user.active else []


class _SiteRunners:
    """The ids of the accounts that run a site, read at most every `FRESH_SECONDS`.

    The menu asks on every page a logged-in user renders, inside a request that already holds
    its own database connection: asking the database there would take a second connection per
    page, and under load every thread would wait for one (the lock-up of issue 6). One thread
    refreshes the set while the others answer from the last one; a new site administrator sees
    the menu's link within `FRESH_SECONDS` (the page itself checks at once)."""

    FRESH_SECONDS = 30.0

    def __init__(self) -> None:
        self._ids: frozenset[int] | None = None
        self._read_at = 0.0
        self._refreshing = threading.Lock()

    def __contains__(self, user_id: int) -> bool:
        stale = time.monotonic() - self._read_at > self.FRESH_SECONDS
        if (stale or self._ids is None) and self._refreshing.acquire(blocking=self._ids is None):
            try:
                with session_scope() as session:
                    query = select(SiteAdministrator.user_id).distinct()
                    self._ids = frozenset(session.scalars(query))
                self._read_at = time.monotonic()
            finally:
                self._refreshing.release()
        return self._ids is not None and user_id in self._ids

    def forget(self) -> None:
        """Read the set again at the next question (this process changed it)."""
        self._read_at = 0.0


_site_runners = _SiteRunners()


def runs_a_site(user: User | None) -> bool:
    """Whether the user administers a site (for the menu's link to their own site's page)."""
    return user is not None and user.active and user.id in _site_runners
