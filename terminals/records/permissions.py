"""Who may read and correct study records: a member their own; org admins (and platform
admins) those of members in their subtrees. Rankings are for the admins of an organisation."""

from core.people.models import Member, Organisation, User
from core.people.permissions import can_manage_org


def owns_record(user: User | None, member: Member) -> bool:
    """Whether `user` is the member's own login."""
    return user is not None and user.active and member.user_id == user.id


def can_see_record(user: User | None, member: Member) -> bool:
    """A transcript is read by its member and by those who manage the member's organisation."""
    return owns_record(user, member) or can_manage_org(user, member.org)


def can_correct_record(user: User | None, member: Member) -> bool:
    """Corrections are written by admins of the member's organisation, never by the member."""
    return can_manage_org(user, member.org)


def can_see_ranking(user: User | None, org: Organisation) -> bool:
    """An organisation's ranking is read by its admins and those above."""
    return can_manage_org(user, org)
