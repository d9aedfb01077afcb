"""What the live-event tests share: an organisation's members with logins, for events."""

import pytest
from sqlalchemy.orm import Session

from core.people.models import Member, Role
from tests.factories import Tree, make_user
from tests.terminals.study import make_member


@pytest.fixture
def people(session: Session, tree: Tree) -> dict[str, Member]:
    make_user(session, "adm", Role.org_admin, tree.general)
    make_user(session, "far", Role.org_admin, tree.other)
    return {
        login: make_member(session, org, name, serial, login=login)[0]
        for login, org, name, serial in (
            ("chair", tree.branch, "张主持", 1),
            ("ma", tree.branch, "马党员", 2),
            ("niu", tree.sibling, "牛党员", 3),
            ("yang", tree.branch, "杨党员", 4),
            ("outsider", tree.other, "外区党员", 5),
        )
    }
