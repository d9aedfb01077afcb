"""Stored once, whatever the order: any interleaving of duplicated, reordered, partial and
replayed batches stores every record exactly once, and the high-water mark is always the longest
run of sequence numbers from 1 that has arrived."""

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import new_session
from terminals.sessions.intake import receive_batch
from terminals.sites.models import SiteDevice
from terminals.sync.enrolment import token_hash
from terminals.sync.models import SiteRecord
from terminals.sync.records import canonical_json, record_digest
from terminals.sync.schemas import BatchIn, RecordIn
from tests.factories import Tree
from tests.terminals.sync_fixtures import make_site

START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _records(agent: uuid.UUID, count: int) -> list[RecordIn]:
    return [
        RecordIn(
            uuid=uuid.uuid5(agent, str(seq)),
            seq=seq,
            kind="attendance",
            occurred_at=START + timedelta(seconds=seq),
            body={
                "session_id": str(agent),
                "member_id": seq,
                "method": "pin",
                "at": (START + timedelta(seconds=seq)).isoformat(),
            },
        )
        for seq in range(1, count + 1)
    ]


# A delivery plan: batches of record indices, each possibly repeated (replays) and any order.
plans = st.integers(min_value=1, max_value=12).flatmap(
    lambda count: st.tuples(
        st.just(count),
        st.lists(
            st.lists(st.integers(min_value=0, max_value=count - 1), min_size=0, max_size=6),
            min_size=1,
            max_size=8,
        ),
    )
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=plans)
def test_any_interleaving_of_batches_stores_each_record_once(
    plan: tuple[int, list[list[int]]], session: Session, tree: Tree
) -> None:
    count, batches = plan
    site = make_site(session, tree.branch, f"5001{uuid.uuid4().int % 10**8:08d}")
    device = SiteDevice(site_id=site.id, token_hash=token_hash(str(uuid.uuid4())))
    session.add(device)
    session.commit()
    agent = uuid.uuid4()
    records = _records(agent, count)
    # Every record is sent at least once, in the end, after whatever the plan does.
    batches = [*batches, list(range(count))]
    arrived: set[int] = set()
    for indices in batches:
        with new_session() as work:
            ack = receive_batch(
                session=work,
                device=work.get_one(SiteDevice, device.id),
                batch=BatchIn(
                    agent_id=agent, sent_at=datetime.now(UTC), records=[records[i] for i in indices]
                ),
            )
            work.commit()
        arrived |= {records[i].seq for i in indices}
        expected = 0
        while expected + 1 in arrived:
            expected += 1
        assert ack.high_water == expected
    stored = session.scalars(
        select(SiteRecord.seq).where(SiteRecord.agent_id == str(agent)).order_by(SiteRecord.seq)
    ).all()
    assert stored == list(range(1, count + 1))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(st.text(), json_values, max_size=6), seq=st.integers(1, 2**40))
def test_a_records_digest_is_that_of_its_whole_canonical_json(
    body: dict[str, object], seq: int
) -> None:
    """The digest is the SHA-256 of the whole record serialised canonically (keys sorted,
    compact, text as sent): were the form to change, every record stored before would read as
    changed when its agent sends it again, and its batch would be refused."""
    agent = uuid.uuid4()
    record = RecordIn(uuid=uuid.uuid4(), seq=seq, kind="interval", occurred_at=START, body=body)
    canonical = {
        "agent": str(agent),
        "seq": seq,
        "kind": "interval",
        "occurred_at": START.isoformat(),
        "body": body,
    }
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    expected = hashlib.sha256(text.encode()).hexdigest()
    assert record_digest(agent, record, canonical_json(body)) == expected


def test_a_body_is_stored_as_sent_and_read_back_the_same(session: Session, tree: Tree) -> None:
    site = make_site(session, tree.branch, f"5002{uuid.uuid4().int % 10**8:08d}")
    device = SiteDevice(site_id=site.id, token_hash=token_hash(str(uuid.uuid4())))
    session.add(device)
    session.commit()
    agent = uuid.uuid4()
    (record,) = _records(agent, 1)
    record.body.update({"note": '党课\x00 "引号" \\ 😀', "nested": {"b": [1.5, None], "a": True}})
    with new_session() as work:
        receive_batch(
            session=work,
            device=work.get_one(SiteDevice, device.id),
            batch=BatchIn(agent_id=agent, sent_at=datetime.now(UTC), records=[record]),
        )
        work.commit()
    stored = session.scalars(select(SiteRecord).where(SiteRecord.site_id == site.id)).one()
    assert stored.body == record.body
    assert stored.digest == record_digest(agent, record, canonical_json(record.body))
