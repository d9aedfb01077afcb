"""Elections kept in the database: each fact appended to the election's record as it happens
(chained and, every ``CHECKPOINT_EVERY`` entries, signed), and the record exported for anyone
to verify (streaming.elections.record)."""

from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit.service import record
from core.db import session_scope, utcnow
from core.errors import NotFound, PermissionDenied
from core.i18n import N_
from core.people.models import Member, Organisation, User
from core.people.permissions import related_paths
from core.security import signing_key
from streaming.congress.models import Event
from streaming.elections.models import Election, ElectionCheckpoint, ElectionEntry
from streaming.elections.procedure import Refused, Role, check, role_of, shaped, state_of
from streaming.elections.record import (
    GENESIS,
    digest,
    document,
    layout,
    public_key_text,
    results_of,
    sign_checkpoint,
)
from terminals.sites.models import Site

CHECKPOINT_EVERY = 20


def record_key() -> Ed25519PrivateKey:
    """The key that signs every election's checkpoints, derived from the platform secret: the
    same on every node, nothing more to keep; its public half is published with each record."""
    return Ed25519PrivateKey.from_private_bytes(signing_key("election-record"))


def create_election(
    *,
    session: Session,
    actor: User,
    org: Organisation,
    title: str,
    chair: User | None = None,
    event_id: int | None = None,
) -> Election:
    """A new election, its record opened with the entry that describes it and names its
    chair (the scrutineers and tellers are approved in its third step)."""
    election = Election(org_id=org.id, event_id=event_id, title=title, created_by=actor.id)
    session.add(election)
    session.flush()
    described = {"id": election.id, "org": org.name, "title": title}
    append(session, election, "election", "", {**described, "chair": (chair or actor).login})
    return election


def record_fact(
    *, session: Session, election: Election, user: User, kind: str, data: dict[str, Any]
) -> ElectionEntry:
    """``data`` on the record as ``user`` records it in their role, if the procedure allows it
    now (streaming.elections.procedure); a refusal is audited and raised with its reason. A
    member's own recommendation set is theirs whatever their office, and its author is left
    unnamed: the set names them by member id, which keeps the public record pseudonymous."""
    session.execute(select(Election.id).where(Election.id == election.id).with_for_update())
    entries = entries_of(session, election)
    role = role_of(entries, user.login)
    try:
        data = shaped(kind, data)
        if kind == "recommendation" and data["member"] == member_id_of(session, user):
            role = Role.recommender
        if role is None:
            raise Refused(N_("You are not an officer of this election."))
        check(state_of(entries), role, kind, data)
        if kind == "announced" and data["result"] != results_of(entries).get(str(data["round"])):
            raise Refused(N_("The result announced is not the count of the ballots."))
    except Refused as refused:
        with session_scope() as audit:  # kept although the fact is not
            record(
                session=audit,
                action="election_refused",
                actor=audit.get(User, user.id),
                target_type="election",
                target_id=election.id,
                org_id=election.org_id,
                detail={"kind": kind, "reason": str(refused)},
            )
        raise PermissionDenied(refused.message, **refused.values) from None
    author = role.value if role is Role.recommender else f"{role.value}:{user.login}"
    return append(session, election, kind, author, data)


def append(
    session: Session, election: Election, kind: str, author: str, data: dict[str, Any]
) -> ElectionEntry:
    """``data`` as the next entry of ``election``'s record, chained to the last (the election's
    row is locked meanwhile, so two tellers' entries never take the same place)."""
    session.execute(select(Election.id).where(Election.id == election.id).with_for_update())
    last = session.scalar(
        select(ElectionEntry)
        .where(ElectionEntry.election_id == election.id)
        .order_by(ElectionEntry.seq.desc())
        .limit(1)
    )
    fields = {
        "at": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kind": kind,
        "author": author,
        "data": data,
        "seq": last.seq + 1 if last is not None else 1,
        "prev": last.hash if last is not None else GENESIS,
    }
    entry = ElectionEntry(election_id=election.id, hash=digest(fields), **fields)
    session.add(entry)
    session.flush()
    if entry.seq % CHECKPOINT_EVERY == 0:
        _sign(session, election, entry.seq, entry.hash)
    return entry


def _sign(session: Session, election: Election, seq: int, entry_hash: str) -> None:
    """A checkpoint of entry ``seq`` (once: an export at the same moment may have signed it)."""
    signed = sign_checkpoint(record_key(), str(election.id), seq, entry_hash)
    try:
        with session.begin_nested():
            session.add(ElectionCheckpoint(election_id=election.id, **signed))
    except IntegrityError:
        pass


def get_public_election(session: Session, user: User | None, election_id: int) -> Election:
    """An election whose record the caller may read: a public one, to anyone; another, to the
    accounts of its organisation's branch of the tree."""
    election = session.get(Election, election_id)
    if election is not None and may_follow(user, election):
        return election
    raise NotFound(N_("Election %(id)s not found."), id=election_id)


def broadcast_of(session: Session, election: Election) -> Event:
    """The event that broadcasts ``election``."""
    event = session.get(Event, election.event_id) if election.event_id is not None else None
    if event is None:
        raise NotFound(N_("This election is not broadcast."))
    return event


def may_follow(user: User | None, election: Election) -> bool:
    return election.public or (
        user is not None and any(p.startswith(election.org.path) for p in related_paths(user))
    )


def followed_elections(session: Session, user: User | None) -> list[Election]:
    """The elections ``user`` may follow (anyone: the public ones), newest first."""
    newest = session.scalars(select(Election).order_by(Election.id.desc()))
    return [election for election in newest if may_follow(user, election)]


_read: dict[int, tuple[list[dict[str, Any]], str]] = {}
"""Each election's entries as this process last read them, with the last one's hash: entries
never change, so only those after it are read again (a record that does not go on from it, as
when a transaction that appended rolled back, is read whole)."""


def entries_of(session: Session, election: Election) -> list[dict[str, Any]]:
    known, last_hash = _read.get(election.id, ([], GENESIS))
    after = known[-1]["seq"] if known else 0
    rows = session.scalars(
        select(ElectionEntry)
        .where(ElectionEntry.election_id == election.id, ElectionEntry.seq >= after)
        .order_by(ElectionEntry.seq)
    ).all()
    if known and (not rows or rows[0].seq != after or rows[0].hash != last_hash):
        _read.pop(election.id, None)
        return entries_of(session, election)
    fresh = rows[1:] if known else rows
    if not fresh:
        return list(known)
    entries = known + [entry_fields(entry) for entry in fresh]
    _read[election.id] = (entries, fresh[-1].hash)
    return list(entries)


def entry_fields(entry: ElectionEntry) -> dict[str, Any]:
    """An entry as its record holds it (what its hash is of)."""
    return {
        "at": entry.at,
        "kind": entry.kind,
        "author": entry.author,
        "data": entry.data,
        "seq": entry.seq,
        "prev": entry.prev,
    }


def export(session: Session, election_id: int) -> bytes:
    """The election's record as its export's bytes, its last entry signed first if it is not."""
    election = session.get(Election, election_id)
    if election is None:
        raise NotFound(N_("Election %(id)s not found."), id=election_id)
    entries = entries_of(session, election)
    signed = session.scalar(
        select(func.max(ElectionCheckpoint.seq)).where(
            ElectionCheckpoint.election_id == election.id
        )
    )
    if entries and signed != entries[-1]["seq"]:
        _sign(session, election, entries[-1]["seq"], digest(entries[-1]))
    checkpoints = session.scalars(
        select(ElectionCheckpoint)
        .where(ElectionCheckpoint.election_id == election.id)
        .order_by(ElectionCheckpoint.seq)
    ).all()
    return layout(
        document(
            entries[0]["data"],  # the election as its record opened (a renamed org stays so)
            entries,
            [{"seq": c.seq, "hash": c.hash, "signature": c.signature} for c in checkpoints],
            public_key_text(record_key()),
        )
    )


def member_id_of(session: Session, user: User) -> int | None:
    """The party member whose account ``user`` is (Member.user_id), if any."""
    return session.scalar(select(Member.id).where(Member.user_id == user.id))


def electorate_fact(*, session: Session, election: Election) -> dict[str, Any]:
    """The ``electorate`` fact for the chair to record: the active members of the election's
    organisation and those below it, by member id (never a name or an ID number)."""
    members = session.scalars(
        select(Member.id)
        .join(Organisation, Member.org_id == Organisation.id)
        .where(Member.active, Organisation.path.startswith(election.org.path))
        .order_by(Member.id)
    )
    return {"members": list(members)}


def member_names(session: Session, ids: Iterable[int]) -> list[tuple[int, str]]:
    """Members' ids and names, by name: for the officers who enter a paper set for a member."""
    rows = session.execute(
        select(Member.id, Member.name).where(Member.id.in_(list(ids))).order_by(Member.name)
    )
    return [(member_id, name) for member_id, name in rows]


OUTSIDERS_SHOWN = 200


def outside_recommenders(
    session: Session, election: Election, electorate: Iterable[int]
) -> list[tuple[int, str]]:
    """Members who may be named to recommend beside the electorate, with a weight: those kept
    by the organisation above the election's (a general branch's representatives of the
    masses, its cadres), by name."""
    parent = election.org.parent_id
    if parent is None:
        return []
    rows = session.execute(
        select(Member.id, Member.name)
        .where(Member.org_id == parent, Member.active, Member.id.not_in(list(electorate)))
        .order_by(Member.name)
        .limit(OUTSIDERS_SHOWN)
    )
    return [(member_id, name) for member_id, name in rows]


def nearby_sites(session: Session, election: Election) -> list[tuple[int, str]]:
    """The terminal sites that may be the election's sub-venues: those of the organisation
    above its own, and below (its neighbours' learning rooms), by name."""
    parent = election.org.parent_id
    around = (session.get(Organisation, parent) if parent else None) or election.org
    rows = session.execute(
        select(Site.id, Site.name)
        .join(Organisation, Site.org_id == Organisation.id)
        .where(Organisation.path.startswith(around.path))
        .order_by(Site.name)
    )
    return [(site_id, name) for site_id, name in rows]


def venues_fact(
    *, session: Session, election: Election, main: str, rooms: Iterable[str], sites: Iterable[int]
) -> dict[str, Any]:
    """The ``venues`` fact for the chair to record: the main venue, then each terminal site
    chosen among the nearby ones (by id, named as registered), then each room by its name."""
    nearby = dict(nearby_sites(session, election))
    chosen = sorted(set(sites), key=lambda site: nearby.get(site, ""))
    unknown = [site for site in chosen if site not in nearby]
    if unknown:
        raise NotFound(N_("Terminal site %(id)s not found."), id=unknown[0])
    sub = [{"name": nearby[site], "site": site} for site in chosen]
    return {"main": main.strip(), "sub": sub + [{"name": room.strip()} for room in rooms]}
