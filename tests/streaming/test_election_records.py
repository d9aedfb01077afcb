"""Election records in the database: appended in order and chained, never updated or deleted
(the database refuses, on both engines), exported and verified with the command line; the demo
election's record is complete and verifies; the electorate the chair records is the
organisation's active members, by member id."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.audit.models import AuditEntry
from core.errors import PermissionDenied
from core.people.models import Member, Organisation, OrgKind, Role
from core.people.service import create_org
from streaming.elections.demo import CANDIDATES, TITLE, load_demo_election
from streaming.elections.models import ElectionCheckpoint, ElectionEntry
from streaming.elections.procedure import Role as ProcedureRole
from streaming.elections.procedure import Step, check, shaped, state_of
from streaming.elections.record import GENESIS, verify
from streaming.elections.service import (
    CHECKPOINT_EVERY,
    append,
    create_election,
    electorate_fact,
    export,
    record_fact,
)
from tests.factories import log_in, make_user
from web.cli import app as cli


def register(session: Session, org: Organisation, count: int, first: int = 1) -> list[Member]:
    """``count`` members of ``org``, committed."""
    members = [
        Member(
            org_id=org.id,
            name=f"党员{serial}",
            id_number_hash=f"hash-{serial}",
            id_number_masked=f"1101**********{serial:04d}",
        )
        for serial in range(first, first + count)
    ]
    session.add_all(members)
    session.commit()
    return members


@pytest.fixture
def demo_tree(session: Session) -> None:
    """The demo's organisations and the org admin its election is made by."""
    district = create_org(session=session, name="示范区委", kind=OrgKind.district)
    town = create_org(
        session=session, name="城关镇党委", kind=OrgKind.committee, parent_id=district.id
    )
    general = create_org(
        session=session, name="东村党总支", kind=OrgKind.general_branch, parent_id=town.id
    )
    create_org(session=session, name="东村第一党支部", kind=OrgKind.branch, parent_id=general.id)
    make_user(session, "orgadmin", Role.org_admin, town)
    session.commit()


def test_entries_are_chained_in_order_and_the_database_refuses_to_change_them(
    session: Session, demo_tree: None
) -> None:
    branch = session.scalars(
        select(Organisation).where(Organisation.name == "东村第一党支部")
    ).one()
    actor = make_user(session, "clerk", Role.org_admin, branch)
    election = create_election(session=session, actor=actor, org=branch, title="测试选举")
    for number in range(CHECKPOINT_EVERY):
        append(session, election, "note", "chair:clerk", {"number": number})
    session.commit()
    entries = session.scalars(select(ElectionEntry).order_by(ElectionEntry.seq)).all()
    assert [e.seq for e in entries] == list(range(1, CHECKPOINT_EVERY + 2))
    assert entries[0].prev == GENESIS and all(
        b.prev == a.hash for a, b in zip(entries, entries[1:], strict=False)
    )
    assert session.scalars(select(ElectionCheckpoint.seq)).all() == [CHECKPOINT_EVERY]
    for change in (
        update(ElectionEntry).where(ElectionEntry.seq == 2).values(author="someone else"),
        delete(ElectionEntry).where(ElectionEntry.seq == 2),
        update(ElectionCheckpoint).values(signature="forged"),
        delete(ElectionCheckpoint),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(change)
        session.rollback()
    assert verify(export(session, election.id)) is None


def test_the_demo_election_is_complete_and_verifies_from_its_export(
    session: Session, demo_tree: None, tmp_path: Path
) -> None:
    assert load_demo_election(session) is not None
    session.commit()
    assert load_demo_election(session) is None  # once
    runner = CliRunner()
    listed = json.loads(runner.invoke(cli, ["elections", "list", "--json"]).output)
    assert [row["title"] for row in listed] == [TITLE]
    out = tmp_path / "record.json"
    done = runner.invoke(cli, ["elections", "export", str(listed[0]["id"]), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert runner.invoke(cli, ["elections", "verify", str(out)]).exit_code == 0
    record = json.loads(out.read_bytes())
    result = record["results"]["1"]
    assert len(result["elected"]) == 3 and set(result["elected"]) <= set(CANDIDATES)
    assert list(result["invalid"]) == ["7"] and result["held"] == []  # ballot 12 was settled
    # It followed the procedure: each fact, of its shape, was one its author's role could
    # record then.
    for position, entry in enumerate(record["entries"][1:], start=1):
        role = ProcedureRole(entry["author"].split(":")[0])
        assert shaped(entry["kind"], entry["data"]) == entry["data"]
        check(state_of(record["entries"][:position]), role, entry["kind"], entry["data"])
    state = state_of(record["entries"])
    assert state.step is Step.announce
    assert (len(state.electorate or ()), len(state.excluded), state.expected) == (35, 2, 33)
    kinds = {entry["kind"] for entry in record["entries"]}
    assert {"ballots_issued", "ballots_returned", "settlement", "announced"} <= kinds
    # The recommendation round: the confirmed candidates top its ranked list, which counts the
    # general branch's two members at half weight; online sets name no login.
    ranking = record["results"]["recommendation"]["ranking"]
    assert {row["name"] for row in ranking[: len(CANDIDATES)]} == set(CANDIDATES)
    assert record["results"]["recommendation"]["sets"] == 34
    assert {e["author"] for e in record["entries"] if e["kind"] == "recommendation"} == {
        "recommender", "chair:orgadmin",
    }  # fmt: skip
    missing = runner.invoke(cli, ["elections", "export", "999", "--out", str(out)])
    assert missing.exit_code == 1 and len(missing.output.strip().splitlines()) == 1


def test_the_public_page_shows_the_results_and_hands_out_a_record_that_verifies(
    client: TestClient, session: Session, demo_tree: None
) -> None:
    election = load_demo_election(session)
    assert election is not None
    session.commit()
    page = client.get(f"/elections/{election.id}")  # nobody logged in: the election is public
    assert page.status_code == 200
    assert page.text.count("<strong>当选</strong>") == 3 and "自己核验选举记录" in page.text
    assert "西湾远教站点（分会场）" in page.text
    record = client.get(f"/elections/{election.id}/record.json")
    assert record.headers["content-type"] == "application/json"
    assert verify(record.content) is None
    election.public = False
    session.commit()
    for path in ("", "/record.json", "/report", "/program.m3u8"):
        assert client.get(f"/elections/{election.id}{path}").status_code == 404, path
    for path in ("", "/live", "/questions"):
        assert client.get(f"/api/elections/{election.id}{path}").status_code == 404, path
    assert f'/elections/{election.id}"' not in client.get("/elections").text


def test_officers_record_only_what_their_role_and_the_step_allow_and_refusals_are_audited(
    session: Session, demo_tree: None
) -> None:
    branch = session.scalars(
        select(Organisation).where(Organisation.name == "东村第一党支部")
    ).one()
    chair, teller, scrutineer, outsider = (
        make_user(session, login, Role.member, branch) for login in ("zhu", "ji", "jian", "pang")
    )
    voters = register(session, branch, 10)
    register(session, session.get_one(Organisation, branch.parent_id), 1, first=11)
    voters[-1].active = False  # a member who has left is no voter
    register(session, branch, 1, first=12)
    election = create_election(session=session, actor=chair, org=branch, title="委员选举")
    session.commit()

    def say(user: Any, kind: str, **data: Any) -> None:
        record_fact(session=session, election=election, user=user, kind=kind, data=data)
        session.commit()

    electorate = electorate_fact(session=session, election=election)
    assert electorate["members"] == sorted([m.id for m in voters[:-1]] + [voters[-1].id + 2])
    with pytest.raises(PermissionDenied, match="electorate and the venues"):
        say(chair, "step", step=1)
    session.rollback()
    say(chair, "electorate", **electorate)
    say(chair, "venues", main="主会场")
    say(chair, "step", step=1)
    say(chair, "roll", round=1, present=9, expected=10)
    say(chair, "step", step=2)
    say(chair, "step", step=3)
    say(chair, "officers", scrutineers=["jian"], tellers=["ji", "jia"])
    for refused_user, kind, data in (
        (teller, "step", {"step": 4}),  # a teller does not move the steps
        (outsider, "step", {"step": 4}),  # nor does someone who holds no office
        (chair, "step", {"step": 6}),  # no step is skipped
    ):
        with pytest.raises(PermissionDenied):
            say(refused_user, kind, **data)
        session.rollback()
    for number in range(4, 9):
        say(chair, "step", step=number)
    say(teller, "ballot", round=1, number=1, marks={"甲": "o"})
    with pytest.raises(PermissionDenied, match="Only a teller enters ballots"):
        say(scrutineer, "ballot", round=1, number=2, marks={"甲": "o"})
    session.rollback()
    entries = session.scalars(select(ElectionEntry).order_by(ElectionEntry.seq)).all()
    assert [e.author for e in entries][-2:] == ["chair:zhu", "teller:ji"]
    refusals = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "election_refused").order_by(AuditEntry.id)
    )
    assert [(a.actor_login, a.detail["kind"]) for a in refusals] == [
        ("zhu", "step"),  # before the electorate and venues
        ("ji", "step"),
        ("pang", "step"),
        ("zhu", "step"),
        ("jian", "ballot"),
    ]


def test_the_api_takes_an_officers_facts_and_shows_the_count_to_anyone(
    client: TestClient, session: Session, demo_tree: None
) -> None:
    branch = session.scalars(
        select(Organisation).where(Organisation.name == "东村第一党支部")
    ).one()
    chair = make_user(session, "zhu", Role.member, branch)
    make_user(session, "ji", Role.member, branch)
    register(session, branch, 10)
    election = create_election(session=session, actor=chair, org=branch, title="委员选举")
    electorate = electorate_fact(session=session, election=election)
    session.commit()
    token = log_in(client, "zhu")
    url = f"/api/elections/{election.id}"

    def post(kind: str, **data: Any) -> Any:
        return client.post(
            f"{url}/facts", json={"kind": kind, "data": data}, headers={"X-CSRF-Token": token}
        )

    assert post("electorate", **electorate).status_code == 201
    assert post("venues", main="主会场", sub=[{"name": "西湾站点", "site": 3}]).status_code == 201
    assert post("step", step=1).status_code == 201
    assert post("roll", round=1, present=9, expected=10).json()["author"] == "chair:zhu"
    skipped = post("step", step=3)
    assert skipped.status_code == 403 and "不能跳过步骤" in skipped.json()["detail"]
    client.post("/logout", data={"csrf_token": token})
    standing = client.get(url).json()  # anyone: the election is public
    assert (standing["step"], standing["present"], standing["quorate"]) == (1, 9, True)
    token = log_in(client, "ji")
    assert post("step", step=2).status_code == 403  # not an officer
