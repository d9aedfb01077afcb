"""Roster import (all or nothing, idempotent, row-by-row report) and masked export."""

import csv
import io
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit.models import AuditEntry
from core.errors import InvalidInput
from core.i18n import error_text
from core.people import roster
from core.people.models import Member, OrgKind, Role, User
from core.people.roster import ImportReport, RosterFormat, export_roster, import_roster
from core.people.service import add_member, create_org
from tests.factories import Tree, id_number, make_user, roster_csv, roster_xlsx

KEY = "test-key"
HEADINGS = ["姓名", "身份证号", "组织", "电话", "入党日期"]


@pytest.fixture
def admin(session: Session, tree: Tree) -> User:
    return make_user(session, "adm", Role.org_admin, tree.town)


def _import(session: Session, actor: User, data: bytes, *, apply: bool = True) -> ImportReport:
    report = import_roster(session=session, actor=actor, data=data, hash_key=KEY, apply=apply)
    session.commit()
    return report


def _members(session: Session) -> dict[str, tuple[str, int, str, date | None]]:
    session.expire_all()
    return {
        m.id_number_masked: (m.name, m.org_id, m.phone, m.joined_on)
        for m in session.scalars(select(Member))
    }


def _problems(report: ImportReport) -> list[tuple[int, str]]:
    return [(p.row, error_text("en", p.error)) for p in report.errors]


def test_import_then_import_again_changes_nothing(
    session: Session, tree: Tree, admin: User
) -> None:
    rows = [
        HEADINGS,
        ["王芳", id_number(1), "第一支部", 13800138000, date(2001, 7, 1)],
        ["张伟", id_number(2), "镇党委/村党总支/第二支部", "0571-88888888", "2010/6/30"],
        ["刘洋", id_number(3), str(tree.general.id), None, None],
    ]
    data = roster_xlsx(rows)

    first = _import(session, admin, data)
    assert (first.applied, first.added, first.updated, first.unchanged) == (True, 3, 0, 0)
    stored = _members(session)
    assert stored[id_number(1)[:4] + "*" * 10 + id_number(1)[-4:]] == (
        "王芳",
        tree.branch.id,
        "13800138000",
        date(2001, 7, 1),
    )
    updated_at = list(session.scalars(select(Member.updated_at)))

    again = _import(session, admin, data)
    assert (again.applied, again.added, again.updated, again.unchanged) == (True, 0, 0, 3)
    assert _members(session) == stored
    assert list(session.scalars(select(Member.updated_at))) == updated_at
    actions = list(session.scalars(select(AuditEntry.action)))
    assert actions == ["roster_imported", "roster_imported"]
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert last is not None and last.detail["unchanged"] == 3 and last.org_id == tree.general.id


def test_changed_rows_are_updates_and_empty_cells_keep_values(
    session: Session, tree: Tree, admin: User
) -> None:
    _import(
        session,
        admin,
        roster_xlsx(
            [
                HEADINGS,
                ["王芳", id_number(1), "第一支部", "13800138000", "2001-07-01"],
                ["张伟", id_number(2), "第一支部", "", ""],
            ]
        ),
    )
    report = _import(
        session,
        admin,
        roster_csv(
            [
                ["Name", "ID number", "Organisation"],
                ["王芳", id_number(1).lower(), "第二支部"],  # moved; phone and date kept
                ["张伟", id_number(2), "第一支部"],
                ["赵六", id_number(3), "第一支部"],
            ]
        ),
    )
    assert (report.added, report.updated, report.unchanged) == (1, 1, 1)
    moved = next(m for m in _members(session).values() if m[0] == "王芳")
    assert moved == ("王芳", tree.sibling.id, "13800138000", date(2001, 7, 1))


def test_every_problem_is_reported_and_nothing_changes(
    session: Session, tree: Tree, admin: User
) -> None:
    create_org(session=session, name="第一支部", kind=OrgKind.branch, parent_id=tree.town.id)
    add_member(
        session=session, org_id=tree.other.id, name="外人", id_number=id_number(9), hash_key=KEY
    )
    session.commit()
    before = _members(session)
    rows = [
        HEADINGS,
        ["王芳", id_number(1), "村党总支/第一支部", "", ""],  # fine
        ["", "12345", "不存在的支部", "phone?", "昨天"],  # row 3: five problems
        [],  # row 4 is empty and skipped
        ["张伟", id_number(1), "第二支部", "", ""],  # row 5: the same number as row 2
        ["刘洋", id_number(2), "第一支部", "", ""],  # row 6: two orgs have this name
        ["外人", id_number(9), "第二支部", "", ""],  # row 7: a member outside the subtree
        ["数字", int(id_number(3)[:17]), "第二支部", "", ""],  # row 8: number cell
        ["长名", id_number(4), "第二支部", "", date(2999, 1, 1)],  # row 9: future date
        ["名" * 121, "1101**********0006", str(tree.other.id), "", ""],  # row 10
    ]
    report = _import(session, admin, roster_xlsx(rows))
    assert not report.applied
    problems = _problems(report)
    rows_with_problems = sorted({row for row, _ in problems})
    assert rows_with_problems == [3, 5, 6, 7, 8, 9, 10]
    text = "\n".join(f"{row}: {message}" for row, message in problems)
    for expected in (
        "3: The name is required.",
        "3: An ID number has 18 characters",
        "3: No organisation you administer is called 不存在的支部.",
        "3: A phone number may contain only",
        "3: The date of joining is not a date",
        "5: The same ID number is already in row 2.",
        "6: Several organisations are called 第一支部",
        "7: This ID number belongs to a member outside your organisations.",
        "8: The ID number is stored as a number",
        "9: The date of joining cannot be in the future.",
        "10: A name has at most 120 characters.",
        "10: The ID number is masked",
        f"10: No organisation you administer has the id {tree.other.id}.",
    ):
        assert expected in text, text
    assert _members(session) == before
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_a_deactivated_organisation_takes_no_new_members(
    session: Session, tree: Tree, admin: User
) -> None:
    tree.sibling.active = False
    session.commit()
    report = _import(session, admin, roster_csv([HEADINGS, ["王芳", id_number(1), "第二支部"]]))
    assert _problems(report) == [(2, "第二支部 is deactivated: nothing new can be added to it.")]


def test_check_only_counts_without_changing(session: Session, tree: Tree, admin: User) -> None:
    report = _import(
        session, admin, roster_csv([HEADINGS, ["王芳", id_number(1), "第一支部"]]), apply=False
    )
    assert (report.applied, report.added, report.errors) == (False, 1, [])
    assert _members(session) == {}


def test_gbk_csv_from_spreadsheet_software(session: Session, tree: Tree, admin: User) -> None:
    data = roster_csv([HEADINGS, ["王芳", id_number(1), "第一支部", "", "2001.7.1"]], "gb18030")
    report = _import(session, admin, data)
    assert report.added == 1 and list(_members(session).values())[0][3] == date(2001, 7, 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (roster_csv([["姓名", "组织"], ["王芳", "第一支部"]]), "no “ID number” column"),
        (b"", "The file is empty."),
        (b"\xd0\xcf\x11\xe0" + b"\0" * 100, "Old .xls files"),
        (roster_xlsx([HEADINGS])[:300], "could not be read"),
        (b"\xff\xfe\x00\x00binary", "neither an XLSX file nor a CSV file"),
    ],
)
def test_unreadable_files(session: Session, admin: User, data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        import_roster(session=session, actor=admin, data=data, hash_key=KEY)


def test_row_and_size_limits(
    session: Session, tree: Tree, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roster, "MAX_ROSTER_ROWS", 2)
    rows = [HEADINGS] + [["王", id_number(n), "第一支部"] for n in range(3)]
    with pytest.raises(InvalidInput, match="more than 2 rows"):
        import_roster(session=session, actor=admin, data=roster_xlsx(rows), hash_key=KEY)
    monkeypatch.setattr(roster, "MAX_ROSTER_BYTES", 10)
    with pytest.raises(InvalidInput, match="larger than"):
        import_roster(session=session, actor=admin, data=b"x" * 11, hash_key=KEY)


def test_row_numbers_follow_the_sheet_past_empty_rows(session: Session, admin: User) -> None:
    book_rows: list[list[object]] = [HEADINGS, ["王芳", id_number(1), "第一支部"]]
    book_rows += [[] for _ in range(5)] + [["", id_number(2), "第一支部"]]
    report = _import(session, admin, roster_xlsx(book_rows))
    assert _problems(report) == [(8, "The name is required.")]


def test_export_is_masked_scoped_and_audited(session: Session, tree: Tree, admin: User) -> None:
    add_member(
        session=session,
        org_id=tree.branch.id,
        name="=HYPERLINK(1)",
        id_number=id_number(1),
        hash_key=KEY,
        phone="13800138000",
        joined_on=date(2001, 7, 1),
    )
    add_member(
        session=session, org_id=tree.other.id, name="外人", id_number=id_number(2), hash_key=KEY
    )
    session.commit()

    xlsx = export_roster(
        session=session, actor=admin, file_format=RosterFormat.xlsx, locale="zh_CN"
    )
    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == ["姓名", "身份证号", "组织", "电话", "入党日期", "有效"]
    assert values[1:] == [
        [
            "'=HYPERLINK(1)",
            id_number(1)[:4] + "*" * 10 + id_number(1)[-4:],
            "区委/镇党委/村党总支/第一支部",
            "13800138000",
            "2001-07-01",
            "是",
        ]
    ]
    text = export_roster(
        session=session,
        actor=admin,
        file_format=RosterFormat.csv,
        locale="en",
        org_id=tree.branch.id,
    ).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:2] == ["Name", "ID number"] and len(lines) == 2
    for number in (id_number(1), id_number(2)):
        assert number not in text
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.detail["format"], e.detail["members"]) for e in entries] == [
        ("roster_exported", "xlsx", 1),
        ("roster_exported", "csv", 1),
    ]


def test_exported_dates_are_read_back(session: Session, tree: Tree, admin: User) -> None:
    data = roster_xlsx([HEADINGS, ["王芳", id_number(1), "第一支部", "", datetime(2001, 7, 1)]])
    assert _import(session, admin, data).added == 1
    assert list(_members(session).values())[0][3] == date(2001, 7, 1)
