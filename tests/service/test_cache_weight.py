"""The in-process cache is bounded by what its entries hold, not by how many there are:
a few lists of a thousand jobs cannot fill a replica's memory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from otabot.iot.errors import DeviceNotFoundError
from otabot.service.cache import CacheEntry, LocalCache, weight
from otabot.service.results import Fetched, Part
from tests.helpers import FakeClock

NOW = datetime(2026, 11, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Listing:
    items: tuple[int, ...]
    total: int = 0


@dataclass(frozen=True)
class Card:
    detail: str
    tasks: Part[tuple[int, ...]]


def entry(value: object) -> CacheEntry:
    return CacheEntry(ttl=60, stored_at=NOW, fetched=Fetched(value, NOW))


def test_an_entry_weighs_one_plus_the_items_it_holds() -> None:
    assert weight(entry(Listing(tuple(range(1000))))) == 1001
    assert weight(entry(Card("x", Part(value=(1, 2, 3))))) == 4  # a part's items too
    assert weight(entry("a device")) == 1
    assert weight(CacheEntry(ttl=15, stored_at=NOW, error=DeviceNotFoundError("no"))) == 1


def test_the_cache_keeps_what_fits_and_lets_the_least_recently_used_go() -> None:
    cache = LocalCache(10, monotonic=FakeClock())
    cache.put("a", entry(Listing((1, 2, 3, 4))))  # weighs 5
    cache.put("b", entry(Listing((1, 2, 3))))  # weighs 4: 9 in all
    assert cache.get("a") is not None and len(cache) == 2
    cache.put("c", entry(Listing((1, 2))))  # weighs 3: "b", the least recently used, goes
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None


def test_an_entry_heavier_than_the_whole_cache_is_not_kept() -> None:
    cache = LocalCache(10, monotonic=FakeClock())
    cache.put("small", entry(Listing((1,))))
    cache.put("huge", entry(Listing(tuple(range(50)))))
    assert cache.get("huge") is None and cache.get("small") is not None
