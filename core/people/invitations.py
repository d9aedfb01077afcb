"""Invitation codes: how a member activates a login of their own on a phone (/activate).

An admin issues a code for one member, or a printable batch for every member of a branch who
has no login yet (also offered by roster import). The code is shown once; only its keyed hash is
stored. To activate, the member types the code and their full ID number, which is checked
against the member record's keyed hash (no plain number is stored or compared), then picks a
login and a password.

Why the full ID number and not its last six characters: the masked number shown on every admin
page and roster export already reveals the last four, so "last six" would leave two unknown
digits, a hundred guesses. The full number costs the member nothing to type and leaves a
stranger who found a printed code nothing to guess.

Guessing is bounded twice: a code is spent after `invitation_failures` wrong ID numbers, and
an address is locked (doubling, as for logins) after `activation_address_failures` failed
activations of any kind. A code is 12 characters of a 31-letter alphabet (~59 bits), so the
codes themselves cannot be guessed at all.
"""

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import utcnow
from core.errors import InvalidInput, NotFound, PlatformError
from core.i18n import N_
from core.people.accounts import (
    ThrottlePolicy,
    address_key,
    count_failure,
    locked_error,
    locked_until,
    start_session,
)
from core.people.errors import AttemptsLocked
from core.people.logins import (
    attach_login,
    audit_login_created,
    managed_member,
    revoke_invitations,
)
from core.people.models import Member, MemberInvitation, Organisation, User
from core.people.service import get_managed_org, require_active
from core.security import hash_id_number, normalise_id_number, signing_key
from core.settings import get_settings

# Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
# A batch covers at most this many members (a branch, or a township's roster).
MAX_BATCH = 5000

INVALID_CODE = N_("This code is not valid: check it, or ask your branch for a new one.")


@dataclass(frozen=True)
class IssuedCode:
    """A code as it is handed out, once: whose it is and until when it works."""

    member_id: int
    name: str
    org_name: str
    id_number_masked: str
    code: str
    expires_at: datetime


def format_code(code: str) -> str:
    """The code in groups of four, as printed and typed: ABCD-EFGH-JKMN."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_code(raw: str) -> str:
    """The code as it is hashed: full-width characters folded; case, spaces and dashes ignored."""
    text = unicodedata.normalize("NFKC", raw).upper()
    return "".join(ch for ch in text if ch.isalnum())[:64]


def hash_code(code: str) -> str:
    """HMAC-SHA256 of a normalised code under a key of its own."""
    return hmac.new(signing_key("invitation-code"), code.encode(), hashlib.sha256).hexdigest()


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _issue(*, session: Session, member: Member, actor: User) -> IssuedCode:
    """A fresh code for the member; any earlier code of theirs stops working."""
    revoke_invitations(session=session, member_id=member.id)
    code = _new_code()
    expires = utcnow() + timedelta(days=get_settings().invitation_days)
    session.add(
        MemberInvitation(
            member_id=member.id, code_hash=hash_code(code), issued_by=actor.id, expires_at=expires
        )
    )
    return IssuedCode(
        member_id=member.id,
        name=member.name,
        org_name=member.org.name,
        id_number_masked=member.id_number_masked,
        code=format_code(code),
        expires_at=expires,
    )


def _check_invitable(member: Member) -> None:
    if member.user_id is not None:
        raise InvalidInput(N_("%(name)s already has a login."), name=member.name)
    if not member.active:
        raise InvalidInput(
            N_("%(name)s is deactivated: activate the member first."), name=member.name
        )
    require_active(member.org)


def issue_invitation(
    *, session: Session, actor: User, member_id: int, address: str = ""
) -> IssuedCode:
    """Issue a code for one member of the actor's subtree who has no login yet."""
    member = managed_member(session=session, actor=actor, member_id=member_id)
    _check_invitable(member)
    issued = _issue(session=session, member=member, actor=actor)
    session.flush()
    record(
        session=session,
        action="invitation_issued",
        actor=actor,
        target_type="member",
        target_id=member.id,
        org_id=member.org_id,
        address=address,
        detail={"name": member.name},
    )
    return issued


def members_to_invite(*, session: Session, org: Organisation) -> list[Member]:
    """Active members of the organisation's subtree who have no login, by organisation and name."""
    below = select(Organisation.id).where(
        Organisation.path.startswith(org.path), Organisation.active
    )
    return list(
        session.scalars(
            select(Member)
            .where(Member.org_id.in_(below), Member.active, Member.user_id.is_(None))
            .order_by(Member.org_id, Member.name, Member.id)
        )
    )


def issue_invitations(
    *,
    session: Session,
    actor: User,
    members: list[Member],
    org_id: int | None,
    address: str = "",
    via: str = "batch",
) -> list[IssuedCode]:
    """Issue codes for the given members of the actor's subtree (a printable batch); those who
    have a login or cannot take one are left out. One audit entry names the batch."""
    if len(members) > MAX_BATCH:
        raise InvalidInput(
            N_("At most %(max)s codes are issued at once: choose a smaller organisation."),
            max=MAX_BATCH,
        )
    issued = []
    for member in members:
        if member.user_id is not None or not member.active or not member.org.active:
            continue
        issued.append(_issue(session=session, member=member, actor=actor))
    session.flush()
    if issued:
        record(
            session=session,
            action="invitations_issued",
            actor=actor,
            target_type="organisation" if org_id is not None else "roster",
            target_id=org_id if org_id is not None else "",
            org_id=org_id if org_id is not None else members[0].org_id,
            address=address,
            detail={"members": len(issued), "via": via},
        )
    return issued


def issue_branch_invitations(
    *, session: Session, actor: User, org_id: int, address: str = ""
) -> list[IssuedCode]:
    """Codes for every member of an organisation's subtree (one the actor manages) who has no
    login yet; earlier codes of theirs stop working."""
    org = get_managed_org(session=session, actor=actor, org_id=org_id)
    members = members_to_invite(session=session, org=org)
    if not members:
        raise InvalidInput(
            N_("Every active member of %(name)s has a login already."), name=org.name
        )
    return issue_invitations(
        session=session, actor=actor, members=members, org_id=org.id, address=address
    )


# Activation


def _locked(until: datetime) -> AttemptsLocked:
    error = locked_error(until)
    return AttemptsLocked(error.message, **error.values)


def _activation_key(address: str) -> str:
    return f"activation:{address_key(address).removeprefix('address:')}"


def _policy() -> ThrottlePolicy:
    settings = get_settings()
    base = ThrottlePolicy.from_settings()
    return ThrottlePolicy(
        account_failures=settings.activation_address_failures,
        address_failures=settings.activation_address_failures,
        lockout=base.lockout,
        lockout_max=base.lockout_max,
        window=base.window,
    )


@dataclass(frozen=True)
class ActivationCheck:
    """The first step's finding: the invitation that may be used, or why not."""

    invitation_id: int | None
    error: PlatformError | None


def check_activation(
    *, session: Session, code: str, id_number: str, hash_key: str, address: str
) -> ActivationCheck:
    """Step one of an activation: is the address locked, is the code live, does the ID number
    belong to the code's member. A failure is counted (and committed by the caller: the result
    carries the error rather than raising it, so the count is not rolled back)."""
    key = _activation_key(address)
    until = locked_until(session=session, key=key)
    if until is not None:
        return ActivationCheck(None, _locked(until))
    now = utcnow()
    invitation = session.scalar(
        select(MemberInvitation).where(
            MemberInvitation.code_hash == hash_code(normalise_code(code))
        )
    )
    error: PlatformError | None = None
    if invitation is None or invitation.revoked_at is not None:
        error = InvalidInput(INVALID_CODE)
    elif invitation.used_at is not None:
        error = InvalidInput(N_("This code has been used already: log in with your login."))
    elif invitation.expires_at <= now:
        error = InvalidInput(N_("This code has expired: ask your branch for a new one."))
    else:
        try:
            digest = hash_id_number(normalise_id_number(id_number), key=hash_key)
        except InvalidInput as exc:
            return ActivationCheck(None, exc)  # a typo in the number's form costs nothing
        if not hmac.compare_digest(digest, invitation.member.id_number_hash):
            error = _wrong_identity(session=session, invitation=invitation, address=address)
    if error is not None:
        lock = count_failure(session=session, key=key, policy=_policy(), now=now)
        return ActivationCheck(None, _locked(lock) if lock is not None else error)
    assert invitation is not None
    return ActivationCheck(invitation.id, None)


def _wrong_identity(
    *, session: Session, invitation: MemberInvitation, address: str
) -> PlatformError:
    """Count a wrong ID number against the code; at the limit the code is spent."""
    invitation.failures += 1
    if invitation.failures < get_settings().invitation_failures:
        return InvalidInput(N_("The ID number does not match the member this code was issued for."))
    invitation.revoked_at = utcnow()
    record(
        session=session,
        action="invitation_locked",
        actor_login="(activation)",
        target_type="member",
        target_id=invitation.member_id,
        org_id=invitation.member.org_id,
        address=address,
        detail={"name": invitation.member.name, "failures": invitation.failures},
    )
    return InvalidInput(
        N_("Too many wrong ID numbers: this code no longer works. Ask your branch for a new one.")
    )


def complete_activation(
    *,
    session: Session,
    invitation_id: int,
    login: str,
    password_hash: str,
    address: str,
    user_agent: str,
) -> tuple[User, str]:
    """Step three (after the password was hashed): spend the code, give the member the login
    they chose, and open a session for it; returns the user and the session token."""
    now = utcnow()
    spent = session.execute(
        update(MemberInvitation)
        .where(
            MemberInvitation.id == invitation_id,
            MemberInvitation.used_at.is_(None),
            MemberInvitation.revoked_at.is_(None),
            MemberInvitation.expires_at > now,
        )
        .values(used_at=now)
    )
    if not spent.rowcount:  # type: ignore[attr-defined]
        raise InvalidInput(INVALID_CODE)
    invitation = session.get(MemberInvitation, invitation_id)
    if invitation is None:
        raise NotFound(INVALID_CODE)
    member = invitation.member
    user = attach_login(session=session, member=member, login=login, password_hash=password_hash)
    invitation.used_at = now  # attach_login revoked the member's live codes, this one included
    invitation.revoked_at = None
    audit_login_created(
        session=session, member=member, user=user, actor=user, how="invitation", address=address
    )
    user.last_login_at = now
    token = start_session(session=session, user=user, address=address, user_agent=user_agent)
    return user, token
