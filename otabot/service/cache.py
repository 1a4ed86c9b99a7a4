"""What the service remembers: lookup results, and briefly the "not found" answers.

``CacheEntry`` holds either a ``LookupResult`` or a ``NotFoundError`` (negative
caching: a mistyped device repeated by ten people costs one call). ``LocalCache`` is
the in-process L1, a bounded cachetools cache whose entries expire at their own time
(results after ``OTABOT_CACHE_TTL``, not-found answers sooner), timed by the injected
``monotonic`` clock. ``to_json``/``from_json`` are the L2 (Redis) form of an entry.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cachetools import TLRUCache

from otabot.clocks import Monotonic
from otabot.iot import errors
from otabot.iot.models import OtaJob
from otabot.service.lookup import Lookup, LookupResult

# Errors worth remembering: the query names something that does not exist.
NEGATIVE_ERRORS: dict[str, type[errors.NotFoundError]] = {
    cls.__name__: cls
    for cls in (
        errors.NotFoundError,
        errors.ProductNotFoundError,
        errors.DeviceNotFoundError,
        errors.FirmwareNotFoundError,
        errors.FirmwareProductMismatchError,
        errors.InstanceNotFoundError,
    )
}


@dataclass(frozen=True)
class CacheEntry:
    """A remembered answer (a result or a not-found error) and how long it stays valid."""

    ttl: float
    stored_at: datetime
    result: LookupResult | None = None
    error: errors.NotFoundError | None = None

    def answer(self) -> LookupResult:
        """The cached result marked ``from_cache``, or the cached error raised anew."""
        if self.error is not None:
            raise errors.fresh_copy(self.error)
        assert self.result is not None
        return replace(self.result, from_cache=True)

    @property
    def as_of(self) -> datetime:
        """When the answer was fetched (a result) or learnt (a not-found error)."""
        return self.result.fetched_at if self.result is not None else self.stored_at


def to_json(entry: CacheEntry) -> str:
    """The entry as JSON text (jobs with the API's field names)."""
    data: dict[str, Any] = {"stored_at": entry.stored_at.isoformat()}
    if entry.error is not None:
        data["error"] = {
            "class": type(entry.error).__name__,
            "message": entry.error.message,
            "code": entry.error.code,
            "request_id": entry.error.request_id,
            "http_status": entry.error.http_status,
        }
    if entry.result is not None:
        result = entry.result
        data["result"] = {
            "lookup": [
                result.lookup.product_key,
                result.lookup.device_name,
                result.lookup.firmware_id,
                result.lookup.iot_instance_id,
            ],
            "jobs": [job.to_api() for job in result.jobs],
            "total": result.total,
            "fetched_at": result.fetched_at.isoformat(),
            "truncated": result.truncated,
            "request_ids": list(result.request_ids),
            "upstream_calls": result.upstream_calls,
        }
    return json.dumps(data, separators=(",", ":"))


def from_json(text: str, ttl: float) -> CacheEntry:
    """The entry ``to_json`` wrote; raises ``ValueError`` (or ``KeyError``) on other text."""
    data = json.loads(text)
    stored_at = datetime.fromisoformat(data["stored_at"])
    if "error" in data:
        raw = data["error"]
        cls = NEGATIVE_ERRORS.get(raw["class"], errors.NotFoundError)
        error = cls(
            raw["message"],
            code=raw["code"],
            request_id=raw["request_id"],
            http_status=raw["http_status"],
        )
        return CacheEntry(ttl=ttl, stored_at=stored_at, error=error)
    raw = data["result"]
    product_key, device_name, firmware_id, instance = raw["lookup"]
    result = LookupResult(
        lookup=Lookup(product_key, device_name, firmware_id, instance),
        jobs=tuple(OtaJob.from_api(job) for job in raw["jobs"]),
        total=int(raw["total"]),
        fetched_at=datetime.fromisoformat(raw["fetched_at"]),
        truncated=bool(raw["truncated"]),
        request_ids=tuple(raw["request_ids"]),
        upstream_calls=int(raw["upstream_calls"]),
    )
    return CacheEntry(ttl=ttl, stored_at=stored_at, result=result)


def _expires(_key: str, entry: CacheEntry, now: float) -> float:
    return now + entry.ttl


class LocalCache:
    """The in-process L1: at most ``maxsize`` entries, each expiring after its own ttl."""

    def __init__(self, maxsize: int = 1024, *, monotonic: Monotonic = time.monotonic):
        self._cache: TLRUCache[str, CacheEntry] = TLRUCache(
            maxsize=maxsize, ttu=_expires, timer=monotonic
        )
        self._lock = threading.Lock()

    def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            return self._cache.get(key)

    def put(self, key: str, entry: CacheEntry) -> None:
        """Remember ``entry``, unless a newer answer is already held (a slow fetch that
        finishes after a refresh must not bring back older jobs)."""
        if entry.ttl <= 0:
            return
        with self._lock:
            current = self._cache.get(key)
            if current is not None and current.as_of > entry.as_of:
                return
            self._cache[key] = entry

    def __len__(self) -> int:
        with self._lock:
            self._cache.expire()
            return len(self._cache)
