"""The recommendation round (公推) online: a member logs in and gives one set of names on the
election's recommendation page, stored under their member id with no login; a second set, too
many names, or someone the round does not name is refused with the reason on the page; an
officer enters a paper set for a member; once the round closes the page shows the ranked list
with each recommender's weight. The chair records the electorate, the venues (terminal sites
around the branch, rooms), opens and closes the round and confirms the initial candidates from
the same page."""

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Member, Organisation, OrgKind, Role, User
from core.people.service import create_org
from streaming.elections.models import Election, ElectionEntry
from streaming.elections.service import create_election, electorate_fact, record_fact
from terminals.sites.models import Site
from tests.factories import csrf_token, log_in, make_user


def member_of(session: Session, org: Organisation, serial: int, user: User | None) -> Member:
    member = Member(
        org_id=org.id,
        name=f"党员{serial}",
        id_number_hash=f"hash-{serial}",
        id_number_masked=f"1101**********{serial:04d}",
        user_id=user.id if user else None,
    )
    session.add(member)
    session.commit()
    return member


def recommendations(session: Session, election: Election) -> list[ElectionEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(ElectionEntry)
            .where(ElectionEntry.election_id == election.id)
            .where(ElectionEntry.kind == "recommendation")
            .order_by(ElectionEntry.seq)
        )
    )


def test_a_member_recommends_online_once_and_sees_the_ranked_list(
    client: TestClient, session: Session
) -> None:
    general = create_org(session=session, name="东村党总支", kind=OrgKind.general_branch)
    branch = create_org(
        session=session, name="东村第一党支部", kind=OrgKind.branch, parent_id=general.id
    )
    chair = make_user(session, "zhu", Role.member, branch)
    wang, qian, pang = (
        make_user(session, login, Role.member, branch) for login in ("wang", "qian", "pang")
    )
    voter = member_of(session, branch, 1, wang)
    paper = member_of(session, branch, 2, None)  # recommends on paper at the venue
    member_of(session, branch, 3, None)
    outside = member_of(session, general, 4, qian)  # recommends with half a voter's weight
    election = create_election(session=session, actor=chair, org=branch, title="委员选举")
    session.commit()

    def chair_says(kind: str, **data: Any) -> None:
        record_fact(session=session, election=election, user=chair, kind=kind, data=data)
        session.commit()

    url = f"/elections/{election.id}/recommend"
    assert client.get(url, follow_redirects=False).headers["location"] == f"/login?next={url}"
    chair_says("electorate", **electorate_fact(session=session, election=election))
    chair_says("venues", main="主会场")
    log_in(client, "wang")
    assert 'data-phase=""' in client.get(url).text  # not opened yet: no form
    chair_says("recommendation_opened", names=2, weight=1000, extra=[
        {"member": outside.id, "weight": 500},
    ])  # fmt: skip
    page = client.get(url)
    assert page.text.count('name="name"') == 2 and 'id="recommend-form"' in page.text
    token = csrf_token(client)
    given = client.post(
        url, data={"csrf_token": token, "name": ["甲", "乙"]}, follow_redirects=False
    )
    assert given.status_code == 303
    stored = recommendations(session, election)
    assert [(e.author, e.data) for e in stored] == [
        ("recommender", {"member": voter.id, "names": ["甲", "乙"]})
    ]
    assert "wang" not in str(stored[0].data) + stored[0].author  # pseudonymous: no login
    shown = client.get(url + "?done")
    assert 'id="given"' in shown.text and 'data-name="乙"' in shown.text
    assert 'id="recommend-form"' not in shown.text
    again = client.post(url, data={"csrf_token": token, "name": ["丙"]})
    assert again.status_code == 403 and "已经推荐过了" in again.text
    assert len(recommendations(session, election)) == 1

    log_in(client, "pang")  # an account that is no member of the party organisation
    assert 'id="not-eligible"' in client.get(url).text
    refused = client.post(url, data={"csrf_token": csrf_token(client), "name": ["甲"]})
    assert refused.status_code == 403

    log_in(client, "qian")
    token = csrf_token(client)
    too_many = client.post(url, data={"csrf_token": token, "name": ["甲", "乙", "丙"]})
    assert too_many.status_code == 403 and "每份推荐最多 2 人" in too_many.text
    assert 'value="乙"' in too_many.text  # what was written is kept on the form
    assert 'id="paper-form"' not in client.get(url).text  # for officers only
    for_another = {"csrf_token": token, "member": str(paper.id), "name": ["丙"]}
    assert client.post(url, data=for_another).status_code == 403  # not an officer
    assert client.post(url, data={"csrf_token": token, "name": ["甲", ""]}).status_code == 200
    # The chair enters a member's paper set at the venue (under the chair's name): the form
    # offers the members who have not recommended yet.
    log_in(client, "zhu")
    page = client.get(url)
    offered = re.findall(r'<option value="(\d+)">', page.text)
    assert sorted(offered) == sorted(str(m) for m in (paper.id, paper.id + 1))
    entered = client.post(
        url,
        data={"csrf_token": csrf_token(client), "member": str(paper.id), "name": ["丙", "乙"]},
        follow_redirects=False,
    )
    assert entered.headers["location"] == f"{url}?done=paper"
    assert [e.author for e in recommendations(session, election)] == [
        "recommender", "recommender", "chair:zhu",
    ]  # fmt: skip
    chair_says("recommendation_closed")
    page = client.get(url)
    ranked = re.findall(r'data-name="([^"]+)" data-rank="(\d+)" data-weight="(\d+)"', page.text)
    # 甲: a voter's 1 and an extra recommender's ½; 乙: two voters; 丙: one.
    assert ranked == [("乙", "1", "2000"), ("甲", "2", "1500"), ("丙", "3", "1000")]


def test_the_chair_prepares_the_vote_and_confirms_the_candidates_from_the_page(
    client: TestClient, session: Session
) -> None:
    general = create_org(session=session, name="东村党总支", kind=OrgKind.general_branch)
    branch = create_org(
        session=session, name="东村第一党支部", kind=OrgKind.branch, parent_id=general.id
    )
    far = create_org(session=session, name="远方党支部", kind=OrgKind.branch)
    near_site = Site(code="500101001", name="西湾远教站点", org_id=general.id, tier="basic")
    far_site = Site(code="500101002", name="远方站点", org_id=far.id, tier="basic")
    session.add_all([near_site, far_site])
    chair = make_user(session, "zhu", Role.member, branch)
    wang = make_user(session, "wang", Role.member, branch)
    voters = [member_of(session, branch, 1, wang), member_of(session, branch, 2, None)]
    masses = member_of(session, general, 3, make_user(session, "qun", Role.member, general))
    election = create_election(session=session, actor=chair, org=branch, title="委员选举")
    session.commit()
    url = f"/elections/{election.id}/recommend"
    token = log_in(client, "zhu")

    def chair_posts(kind: str, **fields: Any) -> Any:
        return client.post(f"{url}/chair", data={"csrf_token": token, "kind": kind, **fields})

    def last(kind: str) -> dict[str, Any]:
        session.expire_all()
        entries = session.scalars(
            select(ElectionEntry)
            .where(ElectionEntry.election_id == election.id, ElectionEntry.kind == kind)
            .order_by(ElectionEntry.seq)
        ).all()
        return entries[-1].data

    page = client.get(url)
    assert 'id="electorate-form"' in page.text and near_site.name in page.text
    assert far_site.name not in page.text  # only the sites around the branch are offered
    assert chair_posts("electorate").status_code == 200
    assert last("electorate") == {"members": [m.id for m in voters]}
    assert chair_posts("venues", main="东村党员活动室", site=str(far_site.id)).status_code == 404
    assert (
        chair_posts(
            "venues", main="东村党员活动室", site=str(near_site.id), rooms="村委会议室\n"
        ).status_code
        == 200
    )
    assert last("venues") == {
        "main": "东村党员活动室",
        "sub": [{"name": "西湾远教站点", "site": near_site.id}, {"name": "村委会议室"}],
    }
    assert chair_posts("recommendation_opened", names="two").status_code == 400
    assert f'name="extra" value="{masses.id}"' in client.get(url).text  # beside the electorate
    assert (
        chair_posts("recommendation_opened", names="2", extra=str(voters[1].id)).status_code == 404
    )
    opened = chair_posts("recommendation_opened", names="2", extra=str(masses.id), weight="0.5")
    assert opened.status_code == 200
    assert last("recommendation_opened") == {
        "names": 2,
        "weight": 1000,
        "extra": [{"member": masses.id, "weight": 500}],
    }

    token = log_in(client, "wang")
    client.post(url, data={"csrf_token": token, "name": ["陈建国", "李秀兰"]})
    token = log_in(client, "qun")  # a representative of the masses, at half a voter's weight
    client.post(url, data={"csrf_token": token, "name": ["陈建国"]})
    assert chair_posts("recommendation_closed").status_code == 403  # not the chair

    token = log_in(client, "zhu")
    assert chair_posts("recommendation_closed").status_code == 200
    ranked = client.get(url).text
    assert 'data-name="陈建国" data-rank="1" data-weight="1500"' in ranked
    assert 'data-name="李秀兰" data-rank="2" data-weight="1000"' in ranked
    assert 'id="confirm-form"' in client.get(url).text
    unnamed = chair_posts("candidates_confirmed", candidate=["陈建国"], by=" ")
    assert unnamed.status_code == 403 and "须写明确定方" in unnamed.text
    confirmed = chair_posts("candidates_confirmed", candidate=["陈建国", "李秀兰"], by="支委会")
    assert confirmed.status_code == 200
    assert last("candidates_confirmed") == {"candidates": ["陈建国", "李秀兰"], "by": "支委会"}
    assert 'id="chair"' in client.get(url).text
