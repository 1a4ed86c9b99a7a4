"""What the service remembers: fetched answers, and briefly the answers that say "no".

``CacheEntry`` holds either a ``Fetched`` value or a remembered refusal — a not-found
(a mistyped device repeated by ten people costs one call) or a RAM permission error.
``LocalCache`` is the in-process L1, a cachetools cache bounded by what its entries hold
(``weight``), whose entries expire at their own time, timed by the injected ``monotonic``
clock. ``encode_entry`` and ``decode_entry`` are the L2 (Redis) form of an entry: JSON
with the API's field names.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cachetools import TLRUCache

from otabot.clocks import Monotonic
from otabot.iot import errors
from otabot.service.results import Fetched

# Refusals worth remembering: the query names something that does not exist, or that
# otabot's credentials may not read. Both stay true for longer than a person retypes.
REMEMBERED_ERRORS: dict[str, type[errors.IotError]] = {
    cls.__name__: cls
    for cls in (
        errors.NotFoundError,
        errors.ProductNotFoundError,
        errors.DeviceNotFoundError,
        errors.FirmwareNotFoundError,
        errors.FirmwareProductMismatchError,
        errors.InstanceNotFoundError,
        errors.JobNotFoundError,
        errors.ForbiddenError,
    )
}


def is_remembered(error: errors.IotError) -> bool:
    return isinstance(error, errors.NotFoundError | errors.ForbiddenError)


@dataclass(frozen=True)
class CacheEntry:
    """A remembered answer (a fetched value or a refusal) and how long it stays valid."""

    ttl: float
    stored_at: datetime
    fetched: Fetched[Any] | None = None
    error: errors.IotError | None = None

    def answer(self) -> Fetched[Any]:
        """The value served again (it costs no call), or the refusal raised anew."""
        if self.error is not None:
            raise errors.fresh_copy(self.error)
        assert self.fetched is not None
        return self.fetched.cached()

    @property
    def as_of(self) -> datetime:
        """When the answer was fetched (a value) or learnt (a refusal)."""
        return self.fetched.fetched_at if self.fetched is not None else self.stored_at


def encode_entry(entry: CacheEntry, encode_value: Callable[[Any], Any]) -> str:
    """The entry as JSON text; the value through its kind's encoder."""
    data: dict[str, Any] = {"stored_at": entry.stored_at.isoformat()}
    if entry.error is not None:
        data["error"] = {
            "class": type(entry.error).__name__,
            "message": entry.error.message,
            "code": entry.error.code,
            "request_id": entry.error.request_id,
            "http_status": entry.error.http_status,
            "action": entry.error.action,
        }
    if entry.fetched is not None:
        data["fetched"] = {
            "value": encode_value(entry.fetched.value),
            "fetched_at": entry.fetched.fetched_at.isoformat(),
            "request_ids": list(entry.fetched.request_ids),
            "upstream_calls": entry.fetched.upstream_calls,
        }
    return json.dumps(data, separators=(",", ":"))


def decode_entry(text: str, ttl: float, decode_value: Callable[[Any], Any]) -> CacheEntry:
    """The entry ``encode_entry`` wrote; ``ValueError``/``KeyError``/``TypeError`` otherwise."""
    data = json.loads(text)
    stored_at = datetime.fromisoformat(data["stored_at"])
    if "error" in data:
        raw = data["error"]
        cls = REMEMBERED_ERRORS.get(raw["class"], errors.NotFoundError)
        error = cls(
            raw["message"],
            code=raw["code"],
            request_id=raw["request_id"],
            http_status=raw["http_status"],
        )
        error.action = raw.get("action")
        return CacheEntry(ttl=ttl, stored_at=stored_at, error=error)
    raw = data["fetched"]
    fetched = Fetched(
        value=decode_value(raw["value"]),
        fetched_at=datetime.fromisoformat(raw["fetched_at"]),
        request_ids=tuple(raw["request_ids"]),
        upstream_calls=int(raw["upstream_calls"]),
    )
    return CacheEntry(ttl=ttl, stored_at=stored_at, fetched=fetched)


def _expires(_key: str, entry: CacheEntry, now: float) -> float:
    return now + entry.ttl


def weight(entry: CacheEntry) -> int:
    """What an entry weighs in the L1: 1, plus the API items it holds (a job, a task, a
    firmware package), so that a few lists of a thousand jobs cannot fill memory."""
    return 1 + _items(entry.fetched.value if entry.fetched is not None else None)


def _items(value: object, depth: int = 0) -> int:
    """The items of the tuples in a result (its parts included), not looking deeper."""
    if isinstance(value, tuple):
        return len(value)
    if depth < 2 and dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(_items(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    return 0


# The L1 holds this much weight: about 10,000 API items (a few MB), or 5,000 small answers.
MAX_WEIGHT = 10_000


class LocalCache:
    """The in-process L1: entries weighing ``max_weight`` in all (see ``weight``), each
    expiring after its own ttl; the least recently used go first when it is full."""

    def __init__(self, max_weight: int = MAX_WEIGHT, *, monotonic: Monotonic = time.monotonic):
        self._cache: TLRUCache[str, CacheEntry] = TLRUCache(
            maxsize=max_weight, ttu=_expires, timer=monotonic, getsizeof=weight
        )
        self._lock = threading.Lock()

    def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            return self._cache.get(key)

    def put(self, key: str, entry: CacheEntry) -> None:
        """Remember ``entry``, unless a newer answer is already held (a slow fetch that
        finishes after a refresh must not bring back older data)."""
        if entry.ttl <= 0:
            return
        with self._lock:
            current = self._cache.get(key)
            if current is not None and current.as_of > entry.as_of:
                return
            try:
                self._cache[key] = entry
            except ValueError:
                return  # larger than the whole cache: served once, kept in Redis only

    def __len__(self) -> int:
        with self._lock:
            self._cache.expire()
            return len(self._cache)
