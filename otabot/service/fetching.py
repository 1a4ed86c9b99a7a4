"""``Fetcher``: one cached, single-flight, cross-replica fetch, for every kind of lookup.

A ``Kind`` says how one kind of answer is fetched (its upstream calls), how long it
stays fresh, and how it is written to Redis. ``Fetcher.get`` answers, in order, from
the in-process cache (L1), from Redis (L2, read by every replica), by joining a fetch
already running for the same key (in this process, or in another replica holding the
Redis fetch lock), or by fetching through the quota. ``refresh=True`` skips both caches
and replaces their entry; it still shares a fetch with other refreshes running at the
same moment, and still waits its turn in the quota.

A fetch spends at most ``wait_budget`` seconds in all, waiting for another replica's
fetch and fetching included. The fetch lock lives ``lock_ttl`` seconds and is renewed
while its fetch runs, so a crashed holder costs the waiters at most that long.

Refusals that stay true for a while (not found, not permitted) are remembered for
``negative_ttl`` seconds (or the kind's ttl if shorter); every other error is passed on,
to every caller of the failed flight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from otabot.clocks import Monotonic, Sleep, WallClock, utc_datetime
from otabot.counters import Counters
from otabot.iot.errors import IotError, UpstreamUnavailableError
from otabot.service.cache import CacheEntry, LocalCache, decode_entry, encode_entry, is_remembered
from otabot.service.flight import SingleFlight
from otabot.service.redis_store import RedisCache
from otabot.service.results import Fetched

logger = logging.getLogger(__name__)

NEGATIVE_TTL = 15.0
# The cross-replica fetch lock: renewed while its fetch runs, so a crashed holder costs
# the replicas waiting for it at most this long.
LOCK_TTL = 3.0
# Our own refusals before any attempt (quota busy, no time left): no call was made.
NOT_SENT = frozenset({"otabot.QuotaBusy", "otabot.DeadlineExceeded"})

K = TypeVar("K", bound="Keyed")
K_contra = TypeVar("K_contra", bound="Keyed", contravariant=True)
V = TypeVar("V")
T = TypeVar("T")


class Keyed(Protocol):
    def cache_key(self) -> str: ...


class WouldCall(Exception):
    """A cache-only lookup needs the API: ``action`` is the call it would make first."""

    def __init__(self, action: str) -> None:
        super().__init__(f"not cached: it needs {action or 'an upstream call'}")
        self.action = action


class Calls:
    """The upstream calls of one fetch: each gets the fetch's deadline; calls that went out
    are counted (not those our own quota refused before sending) with their RequestIds."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.made = 0
        self.request_ids: list[str] = []

    def __call__(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            answer = method(*args, deadline=self.deadline, **kwargs)
        except IotError as error:
            if error.code not in NOT_SENT:
                self.made += 1
            raise
        self.made += 1
        request_id = getattr(answer, "request_id", "")
        if request_id:
            self.request_ids.append(request_id)
        return answer


@dataclass(frozen=True)
class Kind(Generic[K, V]):
    """One kind of answer: how to fetch it, how long it stays fresh, its Redis form."""

    name: str  # namespaces cache keys and counters: "jobs", "device", …
    ttl: float
    fetch: Callable[[K, Calls], V]
    encode: Callable[[V], Any]
    decode: Callable[[Any], V]
    key: Callable[[K], str] = lambda lookup: lookup.cache_key()
    action: str = ""  # the API action its fetch calls (first)

    def cache_key(self, lookup: K) -> str:
        return f"{self.name}:{self.key(lookup)}"


FETCHER_COUNTERS = ("lookups", "cache_hits", "cache_misses", "remembered", "upstream_calls")


class Fetcher:
    """Answers any ``Kind`` with as few upstream calls as answer correctly. Thread-safe."""

    def __init__(
        self,
        *,
        local: LocalCache,
        redis_cache: RedisCache | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
        wall_clock: WallClock = time.time,
        wait_budget: float = 10.0,
        negative_ttl: float = NEGATIVE_TTL,
        lock_ttl: float = LOCK_TTL,
        poll_interval: float = 0.05,
    ) -> None:
        self._local = local
        self._redis = redis_cache
        self._monotonic = monotonic
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._wait_budget = wait_budget
        self._negative_ttl = negative_ttl
        self._lock_ttl = lock_ttl
        self._poll_interval = poll_interval
        self._flights: SingleFlight[Fetched[Any]] = SingleFlight()
        self.counters = Counters(*FETCHER_COUNTERS, "replica_flight_joins")

    @property
    def single_flight_joins(self) -> int:
        return self._flights.joins

    @property
    def flight_counters(self) -> Counters:
        return self._flights.counters

    def get(
        self,
        kind: Kind[K, V],
        lookup: K,
        *,
        refresh: bool = False,
        cached_only: bool = False,
        counted: bool = True,
    ) -> Fetched[V]:
        """The kind's answer for ``lookup``; raises ``IotError`` subclasses. ``cached_only``:
        from L1 or L2 or not at all (``WouldCall``), never waiting for another fetch;
        ``counted=False`` (cached only): a look ahead, not counted as a lookup."""
        key = kind.cache_key(lookup)
        if cached_only:
            layer, entry = ("memory", None) if refresh else self._cached(kind, key)
            if entry is None:
                raise WouldCall(kind.action)
            if counted:
                self.counters.add("lookups", kind=kind.name)
                self.counters.add("cache_hits", kind=kind.name, layer=layer)
            return entry.answer()
        self.counters.add("lookups", kind=kind.name)
        if not refresh:
            entry = self._local.get(key)
            if entry is not None:
                self.counters.add("cache_hits", kind=kind.name, layer="memory")
                return entry.answer()
        flight_key = f"{key}#refresh" if refresh else key
        fetched, joined = self._flights.run(
            flight_key, lambda: self._lead(kind, lookup, key, refresh)
        )
        if joined:
            return replace(fetched, upstream_calls=0)  # another caller's fetch paid for it
        return fetched

    def peek(self, kind: Kind[K, V], lookup: K) -> Fetched[V] | None:
        """The cached answer (L1, then L2) if there is one, without any upstream call."""
        _, entry = self._cached(kind, kind.cache_key(lookup))
        if entry is None or entry.fetched is None:
            return None
        return entry.answer()

    def _cached(self, kind: Kind[Any, Any], key: str) -> tuple[str, CacheEntry | None]:
        """The entry in memory, else in Redis, and the layer it came from."""
        entry = self._local.get(key)
        if entry is not None:
            return "memory", entry
        return "redis", self._redis_entry(kind, key)

    def put(self, kind: Kind[K, V], lookup: K, fetched: Fetched[V]) -> None:
        """Remember an answer another fetch brought along (so it costs no call later)."""
        entry = CacheEntry(
            ttl=kind.ttl, stored_at=utc_datetime(self._wall_clock()), fetched=fetched
        )
        self._store(kind, kind.cache_key(lookup), entry)

    def _lead(self, kind: Kind[K, V], lookup: K, key: str, refresh: bool) -> Fetched[V]:
        """The one caller of a flight: L2, then the cross-replica fetch lock, then the API."""
        asked_at = utc_datetime(self._wall_clock())
        if not refresh:
            entry = self._redis_entry(kind, key)
            if entry is not None:
                self.counters.add("cache_hits", kind=kind.name, layer="redis")
                return entry.answer()
        self.counters.add("cache_misses", kind=kind.name)
        # One budget for the whole lookup: waiting for another replica, then fetching.
        deadline = self._monotonic() + self._wait_budget
        if self._redis is None:
            return self._fetch_and_store(kind, lookup, key, deadline)
        lock = self._redis.lock(key, self._lock_ttl)
        while not lock.acquire():
            entry = self._await_other_replica(kind, key, asked_at if refresh else None, deadline)
            if entry is not None:
                self.counters.add("replica_flight_joins", kind=kind.name)
                return entry.answer()
            if self._monotonic() >= deadline:
                raise UpstreamUnavailableError(
                    f"another replica's fetch of this lookup did not finish within "
                    f"{self._wait_budget:g} s",
                    code="otabot.DeadlineExceeded",
                )
            lock = self._redis.lock(key, self._lock_ttl)
        try:
            if not refresh:
                entry = self._redis_entry(kind, key)
                if entry is not None:
                    self.counters.add("cache_hits", kind=kind.name, layer="redis")
                    return entry.answer()
            return self._fetch_and_store(kind, lookup, key, deadline)
        finally:
            lock.release()

    def _await_other_replica(
        self, kind: Kind[Any, Any], key: str, since: Any, deadline: float
    ) -> CacheEntry | None:
        """Poll L2 while another replica fetches; None when its lock is gone or time is up."""
        assert self._redis is not None
        while self._monotonic() < deadline:
            self._sleep(self._poll_interval)
            entry = self._redis_entry(kind, key)
            if entry is not None and (since is None or entry.stored_at >= since):
                return entry
            if not self._redis.held(key):
                return None
        return None

    def _redis_entry(self, kind: Kind[Any, Any], key: str) -> CacheEntry | None:
        """The L2 entry (copied into L1 for its remaining life), or None."""
        if self._redis is None:
            return None
        found = self._redis.get(key)
        if found is None:
            return None
        text, remaining = found
        try:
            entry = decode_entry(text, remaining, kind.decode)
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.exception("ignoring an unreadable Redis cache entry for %s", key)
            return None
        self._local.put(key, entry)
        return entry

    def _store(self, kind: Kind[Any, Any], key: str, entry: CacheEntry) -> None:
        """Into L1 and L2, each keeping a newer answer it already holds (another replica's
        refresh may have finished first: then L1 takes that newer entry from L2)."""
        self._local.put(key, entry)
        if self._redis is None:
            return
        text = encode_entry(entry, kind.encode)
        if not self._redis.put(key, text, entry.ttl, as_of=entry.as_of):
            self._redis_entry(kind, key)

    def _fetch_and_store(
        self, kind: Kind[K, V], lookup: K, key: str, deadline: float
    ) -> Fetched[V]:
        fetched_at = utc_datetime(self._wall_clock())
        calls = Calls(deadline)
        try:
            value = kind.fetch(lookup, calls)
        except IotError as error:
            self.counters.add("upstream_calls", calls.made, kind=kind.name)
            if is_remembered(error):
                self.counters.add("remembered", kind=kind.name)
                ttl = min(self._negative_ttl, kind.ttl)
                entry = CacheEntry(ttl=ttl, stored_at=utc_datetime(self._wall_clock()), error=error)
                self._store(kind, key, entry)
            raise
        self.counters.add("upstream_calls", calls.made, kind=kind.name)
        fetched = Fetched(
            value=value,
            fetched_at=fetched_at,
            upstream_calls=calls.made,
            request_ids=tuple(calls.request_ids),
        )
        stored_at = utc_datetime(self._wall_clock())
        self._store(kind, key, CacheEntry(ttl=kind.ttl, stored_at=stored_at, fetched=fetched))
        return fetched
