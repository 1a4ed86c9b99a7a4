"""``OtaService``: the lookup use case, as few upstream calls as can answer correctly.

A lookup is answered, in order, from the in-process cache (L1), from Redis (L2, read
by every replica), by joining a fetch already running for the same query (in this
process, or in another replica holding the Redis fetch lock), or by fetching every page
of ``ListOTAJobByDevice`` through the account-wide ``QuotaLimiter``. ``refresh=True``
skips both caches and replaces their entry; it still shares a fetch with other
refreshes running at the same moment, and still waits its turn in the quota.

A lookup spends at most ``wait_budget`` seconds in all, waiting for another replica's
fetch and fetching included. The Redis fetch lock lives ``lock_ttl`` (3 s) and its holder
renews it while fetching, so a crashed holder costs the waiters at most that long: they
take over as soon as its lock is gone.

Not-found answers are cached for ``negative_ttl`` seconds (15 s, or the cache ttl if
shorter); every other error is passed on, to every caller of the failed flight.

Degraded quota split: with ``OTABOT_REDIS_URL`` set and Redis unreachable, each replica
keeps serving with its own cache and a local limiter of ``OTABOT_API_QPS / N`` calls per
second, ``N`` being the number of replicas it last saw heartbeating in Redis (a replica
that never reached Redis assumes it is alone). One warning is logged when Redis goes
away and one info line when it is back; it is probed again every 5 s.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime
from typing import Protocol

from otabot.clocks import Monotonic, Sleep, WallClock, utc_datetime
from otabot.config import Settings
from otabot.counters import Counters
from otabot.iot.errors import IotError, NotFoundError, UpstreamUnavailableError
from otabot.iot.models import OtaJob, Page
from otabot.service.cache import CacheEntry, LocalCache, from_json, to_json
from otabot.service.flight import SingleFlight
from otabot.service.lookup import Lookup, LookupResult, newest_first
from otabot.service.quota import QuotaLimiter
from otabot.service.redis_store import LockHeartbeat, RedisCache, RedisLink, RedisQuota, connect

logger = logging.getLogger(__name__)

UPSTREAM_PAGE_SIZE = 100  # the API's maximum
NEGATIVE_TTL = 15.0
# The cross-replica fetch lock: renewed while its fetch runs, so a crashed holder costs
# the replicas waiting for it at most this long.
LOCK_TTL = 3.0
# Our own refusals before any attempt (quota busy, no time left): no call was made.
NOT_SENT = frozenset({"otabot.QuotaBusy", "otabot.DeadlineExceeded"})


class JobSource(Protocol):
    """What the service needs of ``IotClient`` (tests may pass a small fake)."""

    def list_ota_jobs_by_device(
        self,
        product_key: str,
        device_name: str,
        firmware_id: str,
        current_page: int = 1,
        page_size: int = 100,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[OtaJob]: ...

    def close(self) -> None: ...


SERVICE_COUNTERS = (
    "lookups",
    "cache_hits",
    "redis_cache_hits",
    "cache_misses",
    "negative_cached",
    "replica_flight_joins",
    "upstream_calls",
)


class OtaService:
    """Answers ``Lookup`` queries with every job, newest first, cached and within quota."""

    def __init__(
        self,
        client: JobSource,
        *,
        cache_ttl: float = 60.0,
        max_jobs: int = 1000,
        negative_ttl: float = NEGATIVE_TTL,
        cache_size: int = 1024,
        limiter: QuotaLimiter | None = None,
        redis_cache: RedisCache | None = None,
        link: RedisLink | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
        wall_clock: WallClock = time.time,
        wait_budget: float = 10.0,
        lock_ttl: float = LOCK_TTL,
        poll_interval: float = 0.05,
    ) -> None:
        """``monotonic`` must be the client's too: deadlines passed to it are in its time."""
        self._client = client
        self._cache_ttl = cache_ttl
        self._negative_ttl = min(negative_ttl, cache_ttl)
        self._max_jobs = max_jobs
        self._limiter = limiter
        self._redis_cache = redis_cache
        self._link = link
        self._monotonic = monotonic
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._wait_budget = wait_budget
        self._lock_ttl = lock_ttl
        self._poll_interval = poll_interval
        self._local = LocalCache(cache_size, monotonic=monotonic)
        self._flights = SingleFlight()
        self._counters = Counters(*SERVICE_COUNTERS)

    @classmethod
    def from_settings(cls, settings: Settings) -> OtaService:
        """Client, limiter and caches as configured: Redis-backed when OTABOT_REDIS_URL is set."""
        from otabot.iot.client import IotClient

        account = settings.access_key_id or "anonymous"
        link: RedisLink | None = None
        redis_cache: RedisCache | None = None
        if settings.redis_url:
            link = RedisLink(connect(settings.redis_url))
            backend = RedisQuota(link, settings.api_qps, account=account)
            limiter = QuotaLimiter(settings.api_qps, backend=backend)
            redis_cache = RedisCache(link, namespace=account)
        else:
            limiter = QuotaLimiter(settings.api_qps)
        client = IotClient.from_settings(settings, gate=limiter)
        return cls(
            client,
            cache_ttl=settings.cache_ttl,
            max_jobs=settings.max_jobs,
            limiter=limiter,
            redis_cache=redis_cache,
            link=link,
        )

    def lookup(self, query: Lookup, refresh: bool = False) -> LookupResult:
        """Every job of the query's device and firmware; raises ``IotError`` subclasses."""
        self._counters.add("lookups")
        key = query.cache_key()
        if not refresh:
            entry = self._local.get(key)
            if entry is not None:
                self._counters.add("cache_hits")
                return entry.answer()
        flight_key = f"{key}#refresh" if refresh else key
        result, _joined = self._flights.run(flight_key, lambda: self._lead(query, key, refresh))
        return result

    def _lead(self, query: Lookup, key: str, refresh: bool) -> LookupResult:
        """The one caller of a flight: L2, then the cross-replica fetch lock, then the API."""
        asked_at = utc_datetime(self._wall_clock())
        if not refresh:
            entry = self._redis_entry(key)
            if entry is not None:
                self._counters.add("redis_cache_hits")
                return entry.answer()
        self._counters.add("cache_misses")
        # One budget for the whole lookup: waiting for another replica, then fetching.
        deadline = self._monotonic() + self._wait_budget
        if self._redis_cache is None:
            return self._fetch_and_store(query, key, deadline)
        token = uuid.uuid4().hex
        while not self._redis_cache.acquire(key, token, self._lock_ttl):
            entry = self._await_other_replica(key, asked_at if refresh else None, deadline)
            if entry is not None:
                self._counters.add("replica_flight_joins")
                return entry.answer()
            if self._monotonic() >= deadline:
                raise UpstreamUnavailableError(
                    f"another replica's fetch of this lookup did not finish within "
                    f"{self._wait_budget:g} s",
                    code="otabot.DeadlineExceeded",
                )
        heartbeat = LockHeartbeat(self._redis_cache, key, token, self._lock_ttl)
        try:
            heartbeat.start()
            if not refresh:
                entry = self._redis_entry(key)
                if entry is not None:
                    self._counters.add("redis_cache_hits")
                    return entry.answer()
            return self._fetch_and_store(query, key, deadline)
        finally:
            heartbeat.stop()
            self._redis_cache.release(key, token)

    def _await_other_replica(
        self, key: str, since: datetime | None, deadline: float
    ) -> CacheEntry | None:
        """Poll L2 while another replica fetches; None when its lock is gone or time is up."""
        assert self._redis_cache is not None
        while self._monotonic() < deadline:
            self._sleep(self._poll_interval)
            entry = self._redis_entry(key)
            if entry is not None and (since is None or entry.stored_at >= since):
                return entry
            if not self._redis_cache.held(key):
                return None
        return None

    def _redis_entry(self, key: str) -> CacheEntry | None:
        """The L2 entry (copied into L1 for its remaining life), or None."""
        if self._redis_cache is None:
            return None
        found = self._redis_cache.get(key)
        if found is None:
            return None
        text, remaining = found
        try:
            entry = from_json(text, remaining)
        except (ValueError, KeyError, TypeError):
            logger.exception("ignoring an unreadable Redis cache entry for %s", key)
            return None
        self._local.put(key, entry)
        return entry

    def _store(self, key: str, entry: CacheEntry) -> None:
        """Into L1 and L2, each keeping a newer answer it already holds (another replica's
        refresh may have finished first: then L1 takes that newer entry from L2)."""
        self._local.put(key, entry)
        if self._redis_cache is None:
            return
        if not self._redis_cache.put(key, to_json(entry), entry.ttl, as_of=entry.as_of):
            self._redis_entry(key)

    def _fetch_and_store(self, query: Lookup, key: str, deadline: float) -> LookupResult:
        try:
            result = self._fetch(query, deadline)
        except NotFoundError as error:
            self._counters.add("negative_cached")
            entry = CacheEntry(
                ttl=self._negative_ttl, stored_at=utc_datetime(self._wall_clock()), error=error
            )
            self._store(key, entry)
            raise
        self._store(
            key,
            CacheEntry(
                ttl=self._cache_ttl, stored_at=utc_datetime(self._wall_clock()), result=result
            ),
        )
        return result

    def _fetch(self, query: Lookup, deadline: float) -> LookupResult:
        """Every page, 100 jobs at a time, until ``Total`` or the ``max_jobs`` cap, all of
        them before ``deadline`` (in ``monotonic`` time)."""
        fetched_at = utc_datetime(self._wall_clock())
        jobs: dict[str, OtaJob] = {}
        request_ids: list[str] = []
        page = 1
        total = 0
        while True:
            try:
                answer = self._client.list_ota_jobs_by_device(
                    query.product_key,
                    query.device_name,
                    query.firmware_id,
                    current_page=page,
                    page_size=UPSTREAM_PAGE_SIZE,
                    iot_instance_id=query.iot_instance_id,
                    deadline=deadline,
                )
            except IotError as error:
                if error.code not in NOT_SENT:
                    self._counters.add("upstream_calls")
                raise
            self._counters.add("upstream_calls")
            request_ids.append(answer.request_id)
            total = answer.total
            for job in answer.items:
                jobs.setdefault(job.job_id, job)
            wanted = min(total, self._max_jobs)
            if not answer.items or len(jobs) >= wanted or page * UPSTREAM_PAGE_SIZE >= wanted:
                break
            page += 1
        ordered = newest_first(list(jobs.values()))[: self._max_jobs]
        return LookupResult(
            lookup=query,
            jobs=ordered,
            total=total,
            fetched_at=fetched_at,
            truncated=total > len(ordered),
            request_ids=tuple(request_ids),
            upstream_calls=len(request_ids),
        )

    def stats(self) -> dict[str, float | int]:
        """Counters since start: calls, retries, cache, single-flight, quota waits, throttling."""
        data = self._counters.totals()
        data["single_flight_joins"] = self._flights.joins
        client_stats = getattr(self._client, "stats", None)
        data["retries"] = client_stats()["retries"] if callable(client_stats) else 0
        if self._limiter is not None:
            data.update(self._limiter.stats())
            data["quota_wait_seconds"] = round(data["quota_wait_seconds"], 3)
        data["cached_entries"] = len(self._local)
        if self._link is not None:
            data["redis_degraded"] = int(self._link.degraded)
            data["redis_failures"] = self._link.failures
        return data

    def close(self) -> None:
        """Close the client and the Redis connections (of ``link``)."""
        self._client.close()
        if self._link is not None:
            self._link.client.close()
