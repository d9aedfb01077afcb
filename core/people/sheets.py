"""The sheet of invitation codes an admin prints (or downloads) once: one slip per member with
their name, organisation, masked ID number, code, expiry and the address to open.

The codes exist in plain text only in this response: the download is the same sheet as an
XLSX embedded in the page as a data: link, so no copy of the codes is kept on the server."""

import base64
from dataclasses import dataclass

from core.i18n import N_, gettext
from core.people.invitations import IssuedCode
from core.settings import get_settings
from core.spreadsheet import write_xlsx

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class InvitationSheet:
    """Codes to print, where to activate them, and the same as a spreadsheet download."""

    codes: list[IssuedCode]
    activate_url: str
    download: str


def invitation_sheet(codes: list[IssuedCode], locale: str) -> InvitationSheet | None:
    """The sheet of `codes` in the reader's language (None when there are none)."""
    if not codes:
        return None
    url = f"{get_settings().base_url}/activate"
    header = [
        gettext(locale, label)
        for label in (
            N_("Name"),
            N_("Organisation"),
            N_("ID number"),
            N_("Invitation code"),
            N_("Valid until"),
            N_("Open on a phone"),
        )
    ]
    rows = [
        (c.name, c.org_name, c.id_number_masked, c.code, c.expires_at.date().isoformat(), url)
        for c in codes
    ]
    data = write_xlsx(header, rows, title=gettext(locale, N_("Invitation codes")))
    download = f"data:{XLSX_TYPE};base64,{base64.b64encode(data).decode()}"
    return InvitationSheet(codes=codes, activate_url=url, download=download)
