"""Reading and writing tables as office software does."""

import pytest

from core.errors import InvalidInput
from core.spreadsheet import read_table, safe_text, write_csv
from tests.factories import roster_csv, roster_xlsx

pytestmark = pytest.mark.engine_neutral


def test_cells_that_would_run_as_formulas_are_quoted() -> None:
    assert [safe_text(v) for v in ("=1+1", "+86", "-x", "@SUM(A1)", "王芳", 7)] == [
        "'=1+1",
        "'+86",
        "'-x",
        "'@SUM(A1)",
        "王芳",
        7,
    ]
    data = write_csv(["姓名"], [["=cmd|' /C calc'!A0"], [None]])
    assert data.startswith("\ufeff".encode()) and b"'=cmd" in data


def test_csv_with_semicolons_and_xlsx_read_alike() -> None:
    rows: list[list[object]] = [["a", "b"], ["1", "二"], ["", ""], ["3", "四"]]
    semicolons = "\n".join(";".join(str(c) for c in row) for row in rows).encode()
    expected = [(1, ["a", "b"]), (2, ["1", "二"]), (4, ["3", "四"])]
    assert list(read_table(semicolons, max_rows=10)) == expected
    assert list(read_table(roster_csv(rows), max_rows=10)) == expected
    from_xlsx = [
        (n, [str(c) for c in cells]) for n, cells in read_table(roster_xlsx(rows), max_rows=10)
    ]
    assert from_xlsx == expected


def test_row_limit_counts_rows_with_content() -> None:
    rows: list[list[object]] = [["h"]] + [[str(n)] for n in range(3)]
    assert len(list(read_table(roster_csv(rows), max_rows=3))) == 4
    with pytest.raises(InvalidInput, match="more than 2 rows"):
        list(read_table(roster_csv(rows), max_rows=2))
