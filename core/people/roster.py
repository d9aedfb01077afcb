"""Rosters: the members of an admin's subtree in from, and out to, XLSX or CSV files.

An import is all or nothing. Every row is checked first; if any row has a problem, nothing
changes and every problem is reported with its row number. Rows are matched to members by the
keyed hash of the ID number, so importing the same file again changes nothing. Each row counts
once: "added" (a new ID number), "updated" (a known member with a different name, organisation,
phone or date of joining) or "unchanged". An empty phone or date cell leaves the stored value
alone, and members missing from the file stay as they are: an import never deactivates anyone.
Exports show ID numbers masked only.
"""

import enum
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit.service import record
from core.errors import InvalidInput, PlatformError
from core.i18n import LOCALES, N_, gettext
from core.people.invitations import IssuedCode, issue_invitations
from core.people.logins import sync_login
from core.people.members import members_within
from core.people.models import Member, Organisation, Role, User
from core.people.orgs import org_name_paths
from core.people.permissions import can_manage_org, managed_orgs
from core.people.service import check_joined_on, check_member_name, check_phone
from core.security import hash_id_number, mask_id_number, normalise_id_number
from core.spreadsheet import Cell, read_table, write_csv, write_xlsx

MAX_ROSTER_BYTES = 5 * 1024 * 1024
MAX_ROSTER_ROWS = 20_000
# Rows looked up per query (well under every engine's limit on bound parameters).
_BATCH = 500

LABELS = {
    "name": N_("Name"),
    "id_number": N_("ID number"),
    "org": N_("Organisation"),
    "phone": N_("Phone"),
    "joined_on": N_("Joined on"),
}
# Headings spreadsheet users write for the same columns, besides the labels in every language.
_SYNONYMS = {
    "name": ("姓名", "党员姓名"),
    "id_number": ("id", "身份证", "身份证号", "身份证号码", "公民身份号码"),
    "org": (
        "org",
        "org_id",
        "organization",
        "组织",
        "所在组织",
        "党组织",
        "所在党组织",
        "所在支部",
    ),
    "phone": ("telephone", "mobile", "电话", "手机", "手机号", "手机号码", "联系电话"),
    "joined_on": ("joined", "入党日期", "入党时间"),
}
_MISSING_COLUMN = {
    "name": N_("The first row has no “Name” column."),
    "id_number": N_("The first row has no “ID number” column."),
    "org": N_("The first row has no “Organisation” column."),
}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")


class RosterFormat(enum.StrEnum):
    """File formats of a roster export."""

    xlsx = "xlsx"
    csv = "csv"


@dataclass(frozen=True)
class RowError:
    """A problem in one row of a roster file (row 1 is the heading)."""

    row: int
    error: PlatformError


@dataclass
class ImportReport:
    """What an import did, or (when not `applied`) what it would do and what stopped it."""

    applied: bool = False
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    # With `invite`: a code for each member in the file who has no login yet, shown once.
    invitations: list[IssuedCode] = field(default_factory=list)


@dataclass
class _Row:
    number: int
    name: str
    digest: str
    masked: str
    org: Organisation
    phone: str | None  # None: keep the stored value
    joined_on: date | None  # None: keep the stored value


def _fold(heading: str) -> str:
    return re.sub(r"[\s_]+", "", heading).lower()


def _headings() -> dict[str, str]:
    known = {}
    for key, label in LABELS.items():
        spellings = (key, label, *(gettext(locale, label) for locale in LOCALES), *_SYNONYMS[key])
        for spelling in spellings:
            known[_fold(spelling)] = key
    return known


def _columns(header: Sequence[Cell]) -> dict[str, int]:
    known = _headings()
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = known.get(_fold(str(cell))) if cell is not None else None
        if key is not None and key not in columns:
            columns[key] = index
    for key, message in _MISSING_COLUMN.items():
        if key not in columns:
            raise InvalidInput(message)
    return columns


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    return str(cell).strip()


def _id_number(cell: Cell, hash_key: str) -> tuple[str, str]:
    if isinstance(cell, int | float):
        raise InvalidInput(
            N_("The ID number is stored as a number, which loses digits: format it as text.")
        )
    if "*" in _text(cell):
        raise InvalidInput(N_("The ID number is masked (as in an export): give the full number."))
    number = normalise_id_number(_text(cell))
    return hash_id_number(number, key=hash_key), mask_id_number(number)


def _joined_on(cell: Cell) -> date | None:
    if isinstance(cell, datetime):
        return check_joined_on(cell.date())
    if isinstance(cell, date):
        return check_joined_on(cell)
    value = _text(cell)
    if not value:
        return None
    for pattern in _DATE_FORMATS:
        try:
            return check_joined_on(datetime.strptime(value, pattern).date())
        except ValueError:
            continue
    raise InvalidInput(N_("The date of joining is not a date such as 2001-07-01."))


class _Organisations:
    """Finds an organisation the admin manages by its id or by its names from the top; the
    last names alone will do when they are unambiguous ("第一支部", "镇党委/第一支部")."""

    def __init__(self, session: Session, actor: User) -> None:
        self.by_id = {
            org.id: org for org in session.scalars(select(Organisation).where(managed_orgs(actor)))
        }
        paths = org_name_paths(session=session)
        self.by_names: dict[str, list[Organisation]] = {}
        for org in self.by_id.values():
            names = paths[org.id].split("/")
            for start in range(len(names)):
                self.by_names.setdefault("/".join(names[start:]), []).append(org)

    def find(self, cell: Cell) -> Organisation:
        value = _text(cell)
        if not value:
            raise InvalidInput(N_("The organisation is missing."))
        if value.isascii() and value.isdigit():
            org = self.by_id.get(int(value))
            if org is None:
                raise InvalidInput(
                    N_("No organisation you administer has the id %(id)s."), id=value
                )
            return org
        names = "/".join(part.strip() for part in value.replace("／", "/").split("/"))
        found = self.by_names.get(names, [])
        if not found:
            raise InvalidInput(N_("No organisation you administer is called %(name)s."), name=value)
        if len(found) > 1:
            raise InvalidInput(
                N_(
                    "Several organisations are called %(name)s: write the names from the top, "
                    "separated by “/”."
                ),
                name=value,
            )
        return found[0]


def _parse(
    number: int,
    cells: Sequence[Cell],
    columns: dict[str, int],
    orgs: _Organisations,
    hash_key: str,
) -> tuple[_Row | None, list[PlatformError]]:
    def cell(key: str) -> Cell:
        index = columns.get(key)
        return cells[index] if index is not None and index < len(cells) else None

    problems: list[PlatformError] = []
    values: dict[str, Any] = {}
    steps = (
        ("name", lambda: check_member_name(_text(cell("name")))),
        ("id", lambda: _id_number(cell("id_number"), hash_key)),
        ("org", lambda: orgs.find(cell("org"))),
        ("phone", lambda: check_phone(_text(cell("phone"))) or None),
        ("joined_on", lambda: _joined_on(cell("joined_on"))),
    )
    for key, step in steps:
        try:
            values[key] = step()
        except PlatformError as exc:
            problems.append(exc)
    if problems:
        return None, problems
    digest, masked = values["id"]
    row = _Row(
        number, values["name"], digest, masked, values["org"], values["phone"], values["joined_on"]
    )
    return row, []


def _members_by_digest(session: Session, digests: list[str]) -> dict[str, Member]:
    found: dict[str, Member] = {}
    for start in range(0, len(digests), _BATCH):
        batch = digests[start : start + _BATCH]
        for member in session.scalars(select(Member).where(Member.id_number_hash.in_(batch))):
            found[member.id_number_hash] = member
    return found


def _common_org(paths: list[str]) -> int | None:
    """The lowest organisation above (or at) every path given: where the import is filed."""
    if not paths:
        return None
    parts = [path.strip("/").split("/") for path in paths]
    common = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return int(common[-1]) if common else None


def import_roster(
    *,
    session: Session,
    actor: User,
    data: bytes,
    hash_key: str,
    apply: bool = True,
    file_name: str = "",
    address: str = "",
    invite: bool = False,
) -> ImportReport:
    """Check a roster file row by row and, when every row is right and `apply` is set, add and
    update its members in the actor's subtree in this one transaction. With `invite`, every
    member in the file who has no login yet gets an invitation code (core/people/invitations.py
    says why codes rather than passwords)."""
    if len(data) > MAX_ROSTER_BYTES:
        raise InvalidInput(
            N_("The file is larger than the %(limit)s MB limit."),
            limit=MAX_ROSTER_BYTES // 1024**2,
        )
    table: Iterator[tuple[int, list[Cell]]] = read_table(data, max_rows=MAX_ROSTER_ROWS)
    heading = next(table, None)
    if heading is None:
        raise InvalidInput(N_("The file is empty."))
    columns = _columns(heading[1])
    orgs = _Organisations(session, actor)
    report = ImportReport()
    rows: list[_Row] = []
    first_seen: dict[str, int] = {}
    for number, cells in table:
        row, problems = _parse(number, cells, columns, orgs, hash_key)
        report.errors.extend(RowError(number, problem) for problem in problems)
        if row is None:
            continue
        if row.digest in first_seen:
            report.errors.append(
                RowError(
                    number,
                    InvalidInput(
                        N_("The same ID number is already in row %(row)s."),
                        row=first_seen[row.digest],
                    ),
                )
            )
            continue
        first_seen[row.digest] = number
        rows.append(row)
    existing = _members_by_digest(session, [row.digest for row in rows])
    additions: list[_Row] = []
    changes: list[tuple[Member, dict[str, Any]]] = []
    touched: list[str] = []
    for row in rows:
        member = existing.get(row.digest)
        if member is not None and not can_manage_org(actor, member.org):
            report.errors.append(
                RowError(
                    row.number,
                    InvalidInput(
                        N_("This ID number belongs to a member outside your organisations.")
                    ),
                )
            )
            continue
        wanted = {"name": row.name, "org_id": row.org.id}
        wanted |= {"phone": row.phone} if row.phone is not None else {}
        wanted |= {"joined_on": row.joined_on} if row.joined_on is not None else {}
        diff = {k: v for k, v in wanted.items() if member is None or getattr(member, k) != v}
        if (member is None or "org_id" in diff) and not row.org.active:
            report.errors.append(
                RowError(
                    row.number,
                    InvalidInput(
                        N_("%(name)s is deactivated: nothing new can be added to it."),
                        name=row.org.name,
                    ),
                )
            )
            continue
        touched.append(row.org.path)
        if member is None:
            additions.append(row)
        elif diff:
            touched.append(member.org.path)
            changes.append((member, diff))
        else:
            report.unchanged += 1
    report.added, report.updated = len(additions), len(changes)
    report.errors.sort(key=lambda problem: problem.row)
    if report.errors or not apply:
        return report
    imported = [existing[row.digest] for row in rows if row.digest in existing]
    for row in additions:
        member = Member(
            org_id=row.org.id,
            name=row.name,
            id_number_hash=row.digest,
            id_number_masked=row.masked,
            phone=row.phone or "",
            joined_on=row.joined_on,
        )
        session.add(member)
        imported.append(member)
    for member, diff in changes:
        for key, value in diff.items():
            setattr(member, key, value)
    try:
        session.flush()
    except IntegrityError as exc:
        raise InvalidInput(
            N_("Another change to the roster came in meanwhile: import the file again.")
        ) from exc
    for member, _diff in changes:
        session.refresh(member)
        sync_login(session=session, member=member)
    report.applied = True
    record(
        session=session,
        action="roster_imported",
        actor=actor,
        target_type="roster",
        org_id=_common_org(touched),
        address=address,
        detail={
            "file": file_name[:200],
            "rows": len(rows),
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
        },
    )
    if invite:
        for member in imported:
            session.refresh(member)
        report.invitations = issue_invitations(
            session=session,
            actor=actor,
            members=[m for m in imported if m.user_id is None],
            org_id=None,
            address=address,
            via="roster",
        )
    return report


def export_roster(
    *,
    session: Session,
    actor: User,
    file_format: RosterFormat,
    locale: str,
    org_id: int | None = None,
    address: str = "",
) -> bytes:
    """The members of the actor's subtree (or of `org_id`'s) as a spreadsheet in the reader's
    language, ID numbers masked; the export is audited."""
    statement = members_within(session=session, actor=actor, org_id=org_id)
    members = list(session.scalars(statement.order_by(Member.org_id, Member.name, Member.id)))
    paths = org_name_paths(session=session)
    header = [gettext(locale, label) for label in LABELS.values()]
    header.append(gettext(locale, N_("Active")))
    yes, no = gettext(locale, N_("Yes")), gettext(locale, N_("No"))
    rows = [
        (
            member.name,
            member.id_number_masked,
            paths[member.org_id],
            member.phone,
            member.joined_on.isoformat() if member.joined_on else "",
            yes if member.active else no,
        )
        for member in members
    ]
    if file_format is RosterFormat.xlsx:
        data = write_xlsx(header, rows, title=gettext(locale, N_("Roster")))
    else:
        data = write_csv(header, rows)
    record(
        session=session,
        action="roster_exported",
        actor=actor,
        target_type="roster",
        org_id=org_id if org_id is not None else _common_org(_admin_paths(actor)),
        address=address,
        detail={"format": file_format.value, "members": len(rows), "org_id": org_id},
    )
    return data


def _admin_paths(actor: User) -> list[str]:
    return [g.org.path for g in actor.grants if g.role is Role.org_admin]
