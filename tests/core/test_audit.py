"""The audit log as admins read it: their subtree and their own actions, filters, export."""

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.audit.service import AuditFilter, export_log, page_entries, record
from core.people.models import Role
from tests.factories import make_tree, make_user


def test_each_admin_reads_their_subtree_and_own_actions(session: Session) -> None:
    tree = make_tree(session)
    root = make_user(session, "root", Role.platform_admin, tree.district)
    town_admin = make_user(session, "town", Role.org_admin, tree.town)
    branch_admin = make_user(session, "branch", Role.org_admin, tree.branch)
    record(session=session, action="org_renamed", actor=root, org_id=tree.sibling.id)
    record(session=session, action="member_added", actor=branch_admin, org_id=tree.branch.id)
    record(session=session, action="roster_exported", actor=branch_admin, org_id=None)
    record(session=session, action="org_created", actor=root, org_id=tree.other.id)
    record(session=session, action="login_failed", actor_login="ghost")
    session.commit()

    def seen(viewer: object) -> list[str]:
        found = page_entries(session=session, viewer=viewer, wanted=AuditFilter())  # type: ignore[arg-type]
        return [entry.action for entry in found.items]

    assert seen(root) == [
        "login_failed",
        "org_created",
        "roster_exported",
        "member_added",
        "org_renamed",
    ]
    assert seen(town_admin) == ["member_added", "org_renamed"]
    assert seen(branch_admin) == ["roster_exported", "member_added"]
    town_admin.active = False
    assert seen(town_admin) == []


def test_filters_and_paging(session: Session) -> None:
    tree = make_tree(session)
    root = make_user(session, "root", Role.platform_admin, tree.district)
    other = make_user(session, "other", Role.platform_admin, tree.district)
    for number in range(5):
        record(session=session, action="role_granted", actor=root, target_id=number)
    record(session=session, action="role_revoked", actor=other)
    old = record(session=session, action="role_granted", actor=other)
    session.execute(
        update(AuditEntry)
        .where(AuditEntry.id == old.id)
        .values(at=datetime(2020, 1, 1, tzinfo=UTC))
    )
    session.commit()

    def ids(wanted: AuditFilter, page: int = 1, per_page: int = 50) -> list[str]:
        found = page_entries(
            session=session, viewer=root, wanted=wanted, page=page, per_page=per_page
        )
        return [f"{e.actor_login}:{e.action}:{e.target_id}" for e in found.items]

    assert ids(AuditFilter(actor="root"), page=2, per_page=2) == [
        "root:role_granted:2",
        "root:role_granted:1",
    ]
    assert ids(AuditFilter(action="role_revoked")) == ["other:role_revoked:"]
    recent = datetime.now(UTC) - timedelta(hours=1)
    assert len(ids(AuditFilter(actor="other", since=recent))) == 1
    assert ids(AuditFilter(until=datetime(2021, 1, 1, tzinfo=UTC))) == ["other:role_granted:"]


def test_export_is_recorded_in_the_file_it_makes(session: Session) -> None:
    tree = make_tree(session)
    root = make_user(session, "root", Role.platform_admin, tree.district)
    record(session=session, action="user_created", actor=root, detail={"login": "=cmd"})
    data = export_log(session=session, viewer=root, wanted=AuditFilter(), locale="en")
    session.commit()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Time (UTC)", "Account", "Action"]
    assert [row[2] for row in rows[1:]] == ["audit_exported", "user_created"]
    assert rows[2][7] == '{"login": "=cmd"}'
    stored = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert stored == ["user_created", "audit_exported"]
