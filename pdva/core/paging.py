"""Paging for lists: one page of a queryset (counted and sliced in the database) and its page links.

Each list on a page has its own page parameter (``param``), so several paged lists can share one page;
links keep every other query parameter (filters) as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

PAGE_SIZE = 50


@dataclass(frozen=True)
class PageLink:
    label: str
    url: str | None  # None: a gap ("…") or the current page
    current: bool = False


@dataclass(frozen=True)
class Paged:
    page: Page
    param: str
    links: list[PageLink]
    previous_url: str | None
    next_url: str | None

    @property
    def items(self) -> list[Any]:
        return list(self.page.object_list)

    @property
    def count(self) -> int:
        return self.page.paginator.count


class CountedRows:
    """Rows to page with their own count: a COUNT without the joins the rows need only for display."""

    def __init__(self, rows: Any, count: Any) -> None:
        self.rows, self._count = rows, count

    def count(self) -> int:
        return self._count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: Any) -> Any:
        return self.rows[index]

    def __iter__(self) -> Any:
        return iter(self.rows)


def page_numbers(current: int, last: int, around: int = 2) -> list[int | None]:
    """1 … current-2 .. current+2 … last; None marks a gap."""
    wanted = {1, last, *range(current - around, current + around + 1)}
    numbers = sorted(n for n in wanted if 1 <= n <= last)
    out: list[int | None] = []
    for n in numbers:
        if out and out[-1] is not None and n - out[-1] > 1:
            out.append(None)
        out.append(n)
    return out


def paged(request: HttpRequest, items: Any, *, param: str = "page", per_page: int | None = None) -> Paged:
    """The requested page of ``items`` (a queryset: COUNT and LIMIT/OFFSET in SQL); out-of-range or
    malformed page numbers give the nearest page rather than an error."""
    page = Paginator(items, per_page or PAGE_SIZE).get_page(request.GET.get(param))

    def url(number: int) -> str:
        query = request.GET.copy()
        if number == 1:
            query.pop(param, None)
        else:
            query[param] = str(number)
        encoded = query.urlencode()
        return f"?{encoded}" if encoded else "?"

    links = [
        PageLink("…", None)
        if n is None
        else PageLink(str(n), None if n == page.number else url(n), current=n == page.number)
        for n in page_numbers(page.number, page.paginator.num_pages)
    ]
    return Paged(
        page=page,
        param=param,
        links=links if page.paginator.num_pages > 1 else [],
        previous_url=url(page.previous_page_number()) if page.has_previous() else None,
        next_url=url(page.next_page_number()) if page.has_next() else None,
    )
