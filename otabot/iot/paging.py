"""Pages, counted one way everywhere: the API's paging, the emulator's, and the pages people see."""

from __future__ import annotations

import math
from typing import TypeVar

T = TypeVar("T")


def page_count(items: int, page_size: int) -> int:
    """How many pages of ``page_size`` hold ``items``: 0 for none, as the API's ``PageCount``."""
    return math.ceil(items / page_size) if page_size > 0 else 0


def pages_to_show(items: int, page_size: int) -> int:
    """Pages a person is shown: at least one, so an empty answer is page 1 of 1."""
    return max(1, page_count(items, page_size))


def page_window(page: int, page_size: int) -> slice:
    """The slice of the whole list that page ``page`` (from 1) holds; empty past the end."""
    start = (max(page, 1) - 1) * page_size
    return slice(start, start + page_size)


def page_slice(items: tuple[T, ...], page: int, page_size: int) -> tuple[T, ...]:
    """Page ``page`` of ``items`` as shown to a person: a page past the end is the last one."""
    return items[page_window(min(page, pages_to_show(len(items), page_size)), page_size)]
