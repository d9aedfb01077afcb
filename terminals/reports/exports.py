"""Exports of a month's report cards and rankings as CSV and XLSX, headers in the reader's
language (Chinese by default), streamed: CSV row by row, XLSX from a spooled file in chunks."""

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence

from openpyxl import Workbook

from core.i18n import N_, gettext
from core.spreadsheet import Cell, safe_text
from terminals.reports.cards import CardView, MonthReport
from terminals.reports.labels import DUTY_LABELS, VERDICT_LABELS
from terminals.reports.rankings import Rankings
from terminals.sites.fields import tier_label

CHUNK = 64 * 1024
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CARD_HEADER = (
    N_("Site"),
    N_("Code"),
    N_("Tier"),
    N_("Organisation"),
    N_("Month"),
    N_("Score"),
    N_("Compliant"),
    N_("Minutes played"),
    N_("Group sessions"),
    N_("Days open"),
    N_("Short of"),
    N_("Months short in a row"),
)
SITE_RANK_HEADER = (N_("Rank"),) + CARD_HEADER
ORG_RANK_HEADER = (
    N_("Rank"),
    N_("Organisation"),
    N_("Sites"),
    N_("Sites that studied"),
    N_("Compliant sites"),
    N_("Participation rate"),
    N_("Minutes played"),
    N_("Members"),
    N_("Credit hours"),
    N_("Average hours per member"),
)


def _card_cells(card: CardView, locale: str) -> list[Cell]:
    short = [
        gettext(locale, DUTY_LABELS[row["duty"]]) + (f" {row['day']}" if row["day"] else "")
        for row in card.results
        if row["verdict"] == "short"
    ]
    return [
        card.name,
        card.code,
        tier_label(card.tier, locale),
        card.org_name,
        f"{card.year}-{card.month:02d}",
        round(card.score * 100, 1),
        gettext(locale, VERDICT_LABELS["met" if card.compliant else "short"]),
        card.minutes,
        card.group_sessions,
        card.open_days,
        "、".join(short),
        card.short_in_a_row,
    ]


def card_table(report: MonthReport, locale: str) -> tuple[list[str], Iterator[list[Cell]]]:
    """The header and rows of a month's cards."""
    header = [gettext(locale, text) for text in CARD_HEADER]
    return header, (_card_cells(card, locale) for card in report.cards)


def site_rank_table(found: Rankings, locale: str) -> tuple[list[str], Iterator[list[Cell]]]:
    header = [gettext(locale, text) for text in SITE_RANK_HEADER]
    return header, ([row.rank, *_card_cells(row.card, locale)] for row in found.sites)


def org_rank_table(found: Rankings, locale: str) -> tuple[list[str], Iterator[list[Cell]]]:
    header = [gettext(locale, text) for text in ORG_RANK_HEADER]
    rows: Iterator[list[Cell]] = (
        [
            row.rank,
            row.name,
            row.sites,
            row.studied,
            row.compliant,
            round(row.participation_rate * 100, 1),
            row.minutes,
            row.members,
            row.hours,
            row.average_hours,
        ]
        for row in found.orgs
    )
    return header, rows


def stream_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterator[bytes]:
    """A UTF-8 CSV with a byte order mark (so spreadsheet programs read the Chinese), in
    chunks."""
    out = io.StringIO()
    writer = csv.writer(out)
    out.write("\ufeff")
    writer.writerow([safe_text(cell) for cell in header])
    for row in rows:
        writer.writerow(["" if cell is None else safe_text(cell) for cell in row])
        if out.tell() >= CHUNK:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def stream_xlsx(
    sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Cell]]]],
) -> Iterator[bytes]:
    """An XLSX workbook, one sheet per (title, header, rows), written row by row to a spooled
    file and sent in chunks."""
    book = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = book.create_sheet(title[:31])
        sheet.append([safe_text(cell) for cell in header])
        for row in rows:
            sheet.append([safe_text(cell) for cell in row])
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as out:
        book.save(out)
        out.seek(0)
        while chunk := out.read(CHUNK):
            yield chunk
