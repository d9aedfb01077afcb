"""Long lists one page at a time, with the total that paging links need."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
PER_PAGE = 50
MAX_PER_PAGE = 200
# Far beyond any real list; keeps OFFSET (and so the query's cost) bounded.
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items, the total over all pages and where this page is."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one, even when empty)."""
        return max(1, -(-self.total // self.per_page))


def paginate(
    session: Session, statement: Select[Any], *, page: int = 1, per_page: int = PER_PAGE
) -> Page[Any]:
    """Page `page` (from 1) of an ordered SELECT of one entity, and the total row count."""
    page = min(max(page, 1), MAX_PAGE)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    total = session.scalar(counted) or 0
    items = list(session.scalars(statement.limit(per_page).offset((page - 1) * per_page)))
    return Page(items=items, total=total, page=page, per_page=per_page)


def page_links(path: str, params: Mapping[str, str], page: Page[Any]) -> dict[str, Any]:
    """Where a page of a list is, and links to the pages before and after it that keep the
    list's other query parameters."""
    kept = {key: value for key, value in params.items() if key != "page" and value}

    def link(number: int) -> str:
        return f"{path}?{urlencode({**kept, 'page': number})}"

    return {
        "page": page.page,
        "pages": page.pages,
        "total": page.total,
        "prev": link(page.page - 1) if page.page > 1 else None,
        "next": link(page.page + 1) if page.page < page.pages else None,
    }
