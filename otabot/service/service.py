"""``OtaService``: the on-call questions, each answered with as few upstream calls as it takes.

One method per use case; each composes cached ``Kind``s (``otabot.service.kinds``)
fetched through one ``Fetcher`` (cache, single-flight, Redis, quota):

- ``jobs``: every job of a device for a firmware (``/ota DEVICE FIRMWARE``);
- ``device``: the device and its unfinished tasks (the device card);
- ``job``: a job, its task counts and a device's task in it (the job card);
- ``failed``: a job's failed devices with their reasons;
- ``firmwares``: a product's packages; ``resolve_version``: which packages a version
  names; ``firmware_jobs``: the jobs of one package.

Parts of a card that otabot's credentials may not read (a RAM policy without
``iot:QueryDeviceDetail``, say) come back as a ``Part`` holding the error, so the card
shows what it could fetch and names the action the operator must allow. Any other
failure of any part fails the whole answer (with its ``Retry``); the parts already
fetched stay cached, so the retry costs only what is missing.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from otabot.clocks import Monotonic, Sleep, WallClock
from otabot.config import Settings
from otabot.counters import Counters
from otabot.iot.errors import ForbiddenError
from otabot.iot.models import OtaTask
from otabot.service.cache import MAX_WEIGHT, LocalCache
from otabot.service.fairness import Caller
from otabot.service.fetching import LOCK_TTL, NEGATIVE_TTL, Fetcher, Keyed, Kind
from otabot.service.kinds import IotSource, Kinds, Ttls
from otabot.service.lookups import (
    DeviceLookup,
    FailedLookup,
    FirmwareJobsLookup,
    FirmwareLookup,
    JobLookup,
    JobsLookup,
    VersionLookup,
)
from otabot.service.quota import MemoryActionQuota, MemoryQuota, QuotaLimiter
from otabot.service.redis_store import (
    RedisActionQuota,
    RedisCache,
    RedisLink,
    ReplicaHeartbeat,
    connect,
)
from otabot.service.results import (
    DeviceResult,
    Fetched,
    FirmwareJobsResult,
    FirmwareResult,
    JobResult,
    JobsResult,
    Part,
    Provenance,
    TaskCounts,
    TaskList,
    TasksResult,
    VersionResult,
)

K = TypeVar("K", bound=Keyed)
V = TypeVar("V")

# How many of a product's newest packages to suggest when a version matches none.
NEWEST_SUGGESTED = 5


def other_spelling(version: str) -> str | None:
    """``v2.5.0`` for ``2.5.0`` and the other way round (None when neither applies)."""
    if version[:1] in ("v", "V") and version[1:2].isdigit():
        return version[1:]
    if version[:1].isdigit():
        return "v" + version
    return None


class OtaService:
    """Answers the on-call questions, cached and within each action's quota. Thread-safe."""

    def __init__(
        self,
        client: IotSource,
        *,
        cache_ttl: float = 60.0,
        max_items: int = 1000,
        negative_ttl: float = NEGATIVE_TTL,
        cache_weight: int = MAX_WEIGHT,
        limiter: QuotaLimiter | None = None,
        redis_cache: RedisCache | None = None,
        link: RedisLink | None = None,
        heartbeat: ReplicaHeartbeat | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
        wall_clock: WallClock = time.time,
        wait_budget: float = 10.0,
        lock_ttl: float = LOCK_TTL,
        poll_interval: float = 0.05,
    ) -> None:
        """``monotonic`` must be the client's too: deadlines passed to it are in its time."""
        self._client = client
        self._limiter = limiter
        self._link = link
        self._heartbeat = heartbeat
        self._only_cached = False
        self._counted = True
        self._local = LocalCache(cache_weight, monotonic=monotonic)
        self.ttls = Ttls.from_cache_ttl(cache_ttl)
        self.kinds = Kinds.build(client, self.ttls, max_items)
        self._fetcher = Fetcher(
            local=self._local,
            redis_cache=redis_cache,
            monotonic=monotonic,
            sleep=sleep,
            wall_clock=wall_clock,
            wait_budget=wait_budget,
            negative_ttl=negative_ttl,
            lock_ttl=lock_ttl,
            poll_interval=poll_interval,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OtaService:
        """Client, limiter and caches as configured: Redis-backed when OTABOT_REDIS_URL is set."""
        from otabot.iot.client import IotClient

        account = settings.quota_account
        link: RedisLink | None = None
        redis_cache: RedisCache | None = None
        heartbeat: ReplicaHeartbeat | None = None
        if settings.redis_url:
            redis_link = link = RedisLink(connect(settings.redis_url))
            replica = uuid.uuid4().hex[:12]
            heartbeat = ReplicaHeartbeat(link, account=account, replica=replica).start()
            limiter = QuotaLimiter(
                settings.api_qps,
                quota_for=lambda action, qps: RedisActionQuota(
                    redis_link,
                    qps,
                    account=account,
                    action=action,
                    replica=replica,
                    margin=settings.quota_margin,
                ),
                max_wait=settings.max_wait,
            )
            redis_cache = RedisCache(link, namespace=account)
        else:
            limiter = QuotaLimiter(
                settings.api_qps,
                quota_for=lambda action, qps: MemoryActionQuota(
                    MemoryQuota(qps, margin=settings.quota_margin)
                ),
                max_wait=settings.max_wait,
            )
        client = IotClient.from_settings(settings, gate=limiter)
        return cls(
            client,
            cache_ttl=settings.cache_ttl,
            max_items=settings.max_jobs,
            limiter=limiter,
            redis_cache=redis_cache,
            link=link,
            heartbeat=heartbeat,
            wait_budget=settings.max_wait,
        )

    # --- the use cases ----------------------------------------------------------------

    def jobs(self, lookup: JobsLookup, refresh: bool = False) -> JobsResult:
        """Every job of the device for the firmware, newest first; raises ``IotError``s."""
        fetched = self._get(self.kinds.jobs, lookup, refresh=refresh)
        value = fetched.value
        return JobsResult(value.jobs, value.total, Provenance.of(fetched), lookup=lookup)

    def firmware_jobs(
        self, lookup: FirmwareJobsLookup, refresh: bool = False
    ) -> FirmwareJobsResult:
        """Every job of one firmware package, newest first."""
        fetched = self._get(self.kinds.firmware_jobs, lookup, refresh=refresh)
        value = fetched.value
        return FirmwareJobsResult(value.jobs, value.total, Provenance.of(fetched), lookup=lookup)

    def device(self, lookup: DeviceLookup, refresh: bool = False) -> DeviceResult:
        """The device card: the device and its unfinished tasks."""
        detail = self._part(self.kinds.device, lookup, refresh)
        tasks = self._part(self.kinds.unfinished, lookup, refresh)
        if detail.error is not None and tasks.error is not None:
            raise detail.error
        return DeviceResult(
            lookup,
            device=_value_part(detail),
            tasks=_value_part(tasks),
            provenance=Provenance.of(*_fetched(detail, tasks)),
        )

    def job(self, lookup: JobLookup, refresh: bool = False) -> JobResult:
        """The job card: the job, its task counts, and the device's task when one is named."""
        job = self._get(self.kinds.job, lookup.without_device(), refresh=refresh)
        tasks = self._part(self.kinds.job_tasks, lookup.without_device(), refresh)
        parts: list[Fetched[Any]] = [job, *_fetched(tasks)]
        summary = tasks.value.value if tasks.value is not None else None
        counts: Part[TaskCounts] = Part(error=tasks.error)
        if tasks.value is not None and summary is not None:
            counts = Part(TaskCounts(summary.total, summary.counts))
            if summary.failed_complete:  # the failed list came along: a later click is free
                failed = TaskList(summary.failed, len(summary.failed))
                self._fetcher.put(
                    self.kinds.failed,
                    FailedLookup(lookup.job_id, lookup.iot_instance_id),
                    Fetched(failed, tasks.value.fetched_at),
                )
        device_task: Part[OtaTask | None] = Part()
        if lookup.device_name is not None:
            if summary is not None and summary.everything is not None:
                device_task = Part(summary.task_of(lookup.device_name))
            else:
                fetched = self._part(self.kinds.device_task, lookup, refresh)
                device_task = _value_part(fetched)
                parts.extend(_fetched(fetched))
        return JobResult(lookup, job.value, counts, device_task, Provenance.of(*parts))

    def failed(self, lookup: FailedLookup, refresh: bool = False) -> TasksResult:
        """Every failed device task of the job (up to the cap), most recently changed first."""
        fetched = self._get(self.kinds.failed, lookup, refresh=refresh)
        return TasksResult(lookup, fetched.value.tasks, fetched.value.total, Provenance.of(fetched))

    def firmwares(self, lookup: FirmwareLookup, refresh: bool = False) -> FirmwareResult:
        """Every firmware package of the product (up to the cap), newest first."""
        fetched = self._get(self.kinds.firmwares, lookup, refresh=refresh)
        value = fetched.value
        return FirmwareResult(lookup, value.firmwares, value.total, Provenance.of(fetched))

    def resolve_version(self, lookup: VersionLookup, refresh: bool = False) -> VersionResult:
        """The packages whose ``DestVersion`` is the version: exact first, then the same
        version with or without a leading ``v``. With none, the product's newest packages.

        A product whose package list is cached answers without a call; otherwise one
        ``ListOTAFirmware`` with ``DestVersion`` per spelling tried.
        """
        spellings = [lookup.version]
        alternative = other_spelling(lookup.version)
        if alternative is not None:
            spellings.append(alternative)
        product = FirmwareLookup(lookup.product_key, lookup.iot_instance_id)
        listed = None if refresh else self._fetcher.peek(self.kinds.firmwares, product)
        parts: list[Fetched[Any]] = []
        for spelling in spellings:
            if listed is not None:
                matches = tuple(f for f in listed.value.firmwares if f.dest_version == spelling)
                parts = [listed]
            else:
                asked = VersionLookup(lookup.product_key, spelling, lookup.iot_instance_id)
                fetched = self._get(self.kinds.version, asked, refresh=refresh)
                matches, parts = fetched.value, [*parts, fetched]
            if matches:
                return VersionResult(lookup, matches, spelling, (), Provenance.of(*parts))
        if listed is None:
            listed = self._get(self.kinds.firmwares, product, refresh=refresh)
            parts.append(listed)
        newest = listed.value.firmwares[:NEWEST_SUGGESTED]
        return VersionResult(lookup, (), None, newest, Provenance.of(*parts))

    # --- answering from the caches only ----------------------------------------------

    def cached(self, *, counted: bool = True) -> OtaService:
        """This service answering from its caches only: a use case that would need the API
        raises ``WouldCall`` (naming the action it would call first) instead of waiting.
        ``counted=False``: a look ahead (the ack's), left out of the lookup counters."""
        view = copy.copy(self)
        view._only_cached = True
        view._counted = counted
        return view

    def estimate(self, actions: Sequence[str], user: str) -> float:
        """Seconds a new lookup of ``user`` that calls ``actions`` would wait for its turns."""
        if self._limiter is None:
            return 0.0
        return self._limiter.estimate(actions, Caller(user))

    def _get(self, kind: Kind[K, V], lookup: K, *, refresh: bool = False) -> Fetched[V]:
        return self._fetcher.get(
            kind, lookup, refresh=refresh, cached_only=self._only_cached, counted=self._counted
        )

    # --- parts ------------------------------------------------------------------------

    def _part(self, kind: Kind[K, V], lookup: K, refresh: bool) -> Part[Fetched[V]]:
        """One part of a card: fetched, or the permission error that kept it away."""
        try:
            return Part(self._get(kind, lookup, refresh=refresh))
        except ForbiddenError as error:
            return Part(error=error)

    # --- operations -------------------------------------------------------------------

    @property
    def limiter(self) -> QuotaLimiter | None:
        """The quota every call waits for (background work reads how busy it is)."""
        return self._limiter

    @property
    def redis_link(self) -> RedisLink | None:
        """The link to Redis (None without it), for others that keep state there too."""
        return self._link

    def stats(self) -> dict[str, float | int]:
        """Counters since start: calls, retries, cache, single-flight, quota waits, throttling."""
        counters = self._fetcher.counters
        data = counters.totals()
        data["cache_hits"] = counters.count("cache_hits", layer="memory")
        data["redis_cache_hits"] = counters.count("cache_hits", layer="redis")
        data["single_flight_joins"] = self._fetcher.single_flight_joins
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

    def counters(self) -> dict[str, Counters]:
        """Every counter the service's parts keep, by part (for metrics): ``lookups`` (the
        fetcher: lookups, cache hits by layer, upstream calls by kind), ``flights``,
        ``iot`` (the client: calls, retries, answers by action and code), ``quota`` (the
        limiter, by action) and ``redis`` (the link's failures)."""
        parts = {"lookups": self._fetcher.counters, "flights": self._fetcher.flight_counters}
        client_counters = getattr(self._client, "counters", None)
        if isinstance(client_counters, Counters):
            parts["iot"] = client_counters
        if self._limiter is not None:
            parts["quota"] = self._limiter.counters
        if self._link is not None:
            parts["redis"] = self._link.counters
        return parts

    def waiting(self) -> int:
        """Upstream attempts of this replica waiting for a quota slot now."""
        return self._limiter.waiting() if self._limiter is not None else 0

    @property
    def redis_degraded(self) -> bool:
        """Whether Redis is configured but unusable now (serving on local quota and cache)."""
        return self._link is not None and self._link.degraded

    def on_quota_wait(self, observe: Callable[[str, float], None]) -> None:
        """Call ``observe(action, seconds)`` with each upstream attempt's quota wait."""
        if self._limiter is not None:
            self._limiter.on_wait(observe)

    def close(self) -> None:
        """Close the client and the Redis connections (of ``link``)."""
        self._client.close()
        if self._heartbeat is not None:
            self._heartbeat.stop()
        if self._link is not None:
            self._link.client.close()


def _value_part(part: Part[Fetched[V]]) -> Part[V]:
    return Part(error=part.error) if part.value is None else Part(part.value.value)


def _fetched(*parts: Part[Fetched[Any]]) -> list[Fetched[Any]]:
    return [part.value for part in parts if part.value is not None]
