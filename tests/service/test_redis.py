"""The Redis backend with the real Redis: shared quota, shared cache, shared fetches,
and serving on when Redis goes away (and sharing again when it is back)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from otabot.iot.errors import DeviceNotFoundError, UpstreamUnavailableError
from otabot.service import JobsLookup, OtaService, QuotaLimiter
from otabot.service.redis_store import FetchLock, RedisActionQuota, RedisCache, RedisLink, connect
from tests.helpers import LIGHT_PRODUCT_KEY, SAMPLE_ACCESS_KEY_ID, SHOWCASE_FIRMWARE_ID
from tests.service.fakes import (
    EPOCH,
    FakeClock,
    FakeJobSource,
    FirstCallAnswersLate,
    TcpProxy,
    make_job,
)

pytestmark = pytest.mark.redis
ACTION = "ListOTAJobByDevice"

QUOTA_KEY = f"otabot:quota:{{{SAMPLE_ACCESS_KEY_ID}}}:{ACTION}"


def replica(
    url: str, source: FakeJobSource, *, qps: float = 10, link: RedisLink | None = None
) -> OtaService:
    """One replica's service: its own process-local state, Redis shared."""
    link = link or RedisLink(connect(url))
    quota = RedisActionQuota(link, qps, account=SAMPLE_ACCESS_KEY_ID, action=ACTION)
    limiter = QuotaLimiter(qps, quotas={ACTION: quota}, max_wait=30)
    source.gate = limiter
    return OtaService(
        source,
        limiter=limiter,
        redis_cache=RedisCache(link, namespace=SAMPLE_ACCESS_KEY_ID),
        link=link,
        poll_interval=0.01,
    )


def max_in_any_second(scores: list[float]) -> int:
    scores = sorted(scores)
    return max(
        sum(1 for t in scores[i:] if t < start + 1_000_000) for i, start in enumerate(scores)
    )


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = connect(redis_url)
    yield client
    client.close()


def test_a_result_fetched_by_one_replica_costs_the_other_no_call(redis_url: str) -> None:
    jobs = {"light1": [make_job(i) for i in range(120)]}
    first_source, second_source = FakeJobSource(jobs), FakeJobSource(jobs)
    first, second = replica(redis_url, first_source), replica(redis_url, second_source)
    fetched = first.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
    shared = second.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
    assert len(first_source.calls) == 2 and second_source.calls == []
    assert shared.provenance.from_cache and shared.jobs == fetched.jobs
    assert shared.provenance.request_ids == fetched.provenance.request_ids
    assert second.stats()["redis_cache_hits"] == 1
    first.close()
    second.close()


def test_a_not_found_answer_is_shared_too(redis_url: str) -> None:
    def missing() -> DeviceNotFoundError:
        return DeviceNotFoundError("no such device", code="iot.device.NotExistedDevice")

    first_source = FakeJobSource(errors={"lihgt1": missing})
    second_source = FakeJobSource(errors={"lihgt1": missing})
    first, second = replica(redis_url, first_source), replica(redis_url, second_source)
    for service in (first, second):
        with pytest.raises(DeviceNotFoundError, match="no such device"):
            service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "lihgt1", SHOWCASE_FIRMWARE_ID))
    assert len(first_source.calls) == 1 and second_source.calls == []


def test_a_refresh_on_one_replica_replaces_the_redis_entry(redis_url: str) -> None:
    jobs = {"light1": [make_job(1)]}
    first_source, second_source = FakeJobSource(jobs), FakeJobSource(jobs)
    first, second = replica(redis_url, first_source), replica(redis_url, second_source)
    first.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
    jobs["light1"] = [make_job(1), make_job(2)]
    second.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID), refresh=True)
    third = replica(redis_url, FakeJobSource(jobs))
    assert third.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)).total == 2


def test_concurrent_lookups_on_two_replicas_share_one_fetch(redis_url: str) -> None:
    jobs = {"light1": [make_job(i) for i in range(10)]}
    first_source, second_source = FakeJobSource(jobs), FakeJobSource(jobs)
    first, second = replica(redis_url, first_source), replica(redis_url, second_source)
    first_source.release.clear()
    results = []
    leader = threading.Thread(
        target=lambda: results.append(
            first.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
        )
    )
    leader.start()
    assert first_source.entered.wait(5)
    follower = threading.Thread(
        target=lambda: results.append(
            second.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
        )
    )
    follower.start()
    for _ in range(100):  # let the follower find the lock before the leader publishes
        if second.stats()["cache_misses"] == 1:
            break
        threading.Event().wait(0.01)
    first_source.release.set()
    leader.join(10)
    follower.join(10)
    assert len(results) == 2 and results[0].jobs == results[1].jobs
    assert second_source.calls == []
    assert second.stats()["replica_flight_joins"] == 1


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    port = urlsplit(redis_url).port or 6379
    relay = TcpProxy(port).start()
    yield relay
    relay.stop()


def test_unreachable_redis_degrades_to_local_quota_and_cache_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = TcpProxy(6379).start()
    port = dead.port
    dead.stop()  # nothing listens on this port any more
    source = FakeJobSource({"light1": [make_job(1)]})
    service = replica(f"redis://127.0.0.1:{port}/15", source)
    with caplog.at_level(logging.WARNING, logger="otabot.service.redis_store"):
        for _ in range(5):
            result = service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
        service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light2", SHOWCASE_FIRMWARE_ID))
    assert result.provenance.from_cache and len(source.calls) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "serving with the local quota and cache" in warnings[0].getMessage()
    assert service.stats()["redis_degraded"] == 1


def test_redis_lost_mid_run_then_back_is_used_again(
    redis_url: str, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    url = f"redis://127.0.0.1:{proxy.port}/{urlsplit(redis_url).path.strip('/')}"
    link = RedisLink(connect(url), monotonic=clock, retry_interval=5)
    source = FakeJobSource({name: [make_job(1)] for name in ("light1", "light2", "light3")})
    service = replica(url, source, link=link)
    service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
    assert not link.degraded

    proxy.stop()
    with caplog.at_level(logging.INFO, logger="otabot.service.redis_store"):
        service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light2", SHOWCASE_FIRMWARE_ID))
        assert link.degraded
        proxy.start()
        service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light2", SHOWCASE_FIRMWARE_ID), refresh=True)
        assert link.degraded  # not retried before the interval
        clock.advance(6)
        service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light3", SHOWCASE_FIRMWARE_ID))
    assert not link.degraded
    levels = [r.levelname for r in caplog.records]
    assert levels.count("WARNING") == 1 and levels.count("INFO") == 1
    other = replica(redis_url, FakeJobSource())
    assert other.jobs(
        JobsLookup(LIGHT_PRODUCT_KEY, "light3", SHOWCASE_FIRMWARE_ID)
    ).provenance.from_cache


def test_an_older_answer_does_not_replace_a_newer_redis_entry(redis_client: redis.Redis) -> None:
    results = RedisCache(RedisLink(redis_client), namespace=SAMPLE_ACCESS_KEY_ID)
    assert results.put("light1", "newer", 60, as_of=EPOCH + timedelta(seconds=2))
    assert not results.put("light1", "older", 5, as_of=EPOCH + timedelta(seconds=1))
    found = results.get("light1")
    assert found is not None and found[0] == "newer"
    assert found[1] == pytest.approx(60, abs=1)  # the newer entry keeps its own ttl


def test_a_newer_answer_replaces_the_redis_entry_with_its_own_ttl(
    redis_client: redis.Redis,
) -> None:
    results = RedisCache(RedisLink(redis_client), namespace=SAMPLE_ACCESS_KEY_ID)
    results.put("light1", "older", 60, as_of=EPOCH + timedelta(seconds=1))
    assert results.put("light1", "newer", 15, as_of=EPOCH + timedelta(seconds=2))
    found = results.get("light1")
    assert found is not None and found[0] == "newer"
    assert found[1] == pytest.approx(15, abs=1)


def test_an_expired_redis_entry_compares_with_nothing(redis_client: redis.Redis) -> None:
    results = RedisCache(RedisLink(redis_client), namespace=SAMPLE_ACCESS_KEY_ID)
    results.put("light1", "newer", 60, as_of=EPOCH + timedelta(seconds=2))
    redis_client.delete(f"otabot:{SAMPLE_ACCESS_KEY_ID}:result:light1")  # as if it had expired
    assert results.put("light1", "older", 60, as_of=EPOCH + timedelta(seconds=1))


def test_a_shared_write_to_unreachable_redis_degrades_instead_of_raising() -> None:
    dead = TcpProxy(6379).start()
    port = dead.port
    dead.stop()
    link = RedisLink(connect(f"redis://127.0.0.1:{port}/15"))
    results = RedisCache(link, namespace=SAMPLE_ACCESS_KEY_ID)
    assert not results.put("light1", "text", 60, as_of=EPOCH)
    assert link.degraded


def test_a_fetch_finishing_after_another_replicas_refresh_keeps_the_newer_redis_entry(
    redis_url: str, redis_client: redis.Redis
) -> None:
    clock = FakeClock()
    jobs = {"light1": [make_job(1)]}

    def service(source: FakeJobSource | FirstCallAnswersLate) -> OtaService:
        link = RedisLink(connect(redis_url), monotonic=clock)
        return OtaService(
            source,
            redis_cache=RedisCache(link, namespace=SAMPLE_ACCESS_KEY_ID),
            link=link,
            monotonic=clock,
            sleep=clock.sleep,
            wall_clock=clock.wall,
        )

    slow_source = FirstCallAnswersLate(FakeJobSource(jobs))
    slow, refresher = service(slow_source), service(FakeJobSource(jobs))
    lookup = JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
    late = threading.Thread(target=slow.jobs, args=(lookup,))
    late.start()
    assert slow_source.entered.wait(5)
    redis_client.delete(
        f"otabot:{SAMPLE_ACCESS_KEY_ID}:fetching:jobs:{lookup.cache_key()}"
    )  # its lock lapsed
    clock.advance(1)
    jobs["light1"] = [make_job(1), make_job(2)]
    assert refresher.jobs(lookup, refresh=True).total == 2
    slow_source.release.set()
    late.join(5)
    assert service(FakeJobSource()).jobs(lookup).total == 2
    assert slow.jobs(lookup).total == 2  # its own L1 took the newer entry from Redis


def lock_key(lookup: JobsLookup) -> str:
    return f"otabot:{SAMPLE_ACCESS_KEY_ID}:fetching:jobs:{lookup.cache_key()}"


class ClockedReplica:
    """A replica on a fake clock whose sleeps run ``on_sleep`` (to play the other replica)."""

    def __init__(self, redis_url: str, source: FakeJobSource, **options: float) -> None:
        self.clock = FakeClock()
        self.start = self.clock()
        self.on_sleep: Callable[[float], None] = lambda now: None
        link = RedisLink(connect(redis_url), monotonic=self.clock)
        self.service = OtaService(
            source,
            redis_cache=RedisCache(link, namespace=SAMPLE_ACCESS_KEY_ID),
            link=link,
            monotonic=self.clock,
            sleep=self._sleep,
            wall_clock=self.clock.wall,
            poll_interval=0.05,
            **options,
        )

    def _sleep(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.on_sleep(self.clock())


LIGHT1 = JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)


def behind_a_held_lock(
    redis_url: str, redis_client: redis.Redis, holder: str = "replica-a", **options: Any
) -> tuple[FakeJobSource, ClockedReplica, JobsLookup]:
    """Replica b with light1's jobs to fetch, while ``holder`` holds light1's fetch lock."""
    source = FakeJobSource({"light1": [make_job(1)]})
    replica_b = ClockedReplica(redis_url, source, **options)
    redis_client.set(lock_key(LIGHT1), holder, px=60_000)
    return source, replica_b, LIGHT1


def test_waiting_for_another_replica_and_fetching_share_one_budget(
    redis_url: str, redis_client: redis.Redis
) -> None:
    source, replica_b, lookup = behind_a_held_lock(redis_url, redis_client, wait_budget=10)

    def holder_gives_up(now: float) -> None:
        if now >= replica_b.start + 4:
            redis_client.delete(lock_key(lookup))

    replica_b.on_sleep = holder_gives_up
    assert replica_b.service.jobs(lookup).total == 1
    assert source.calls[0][2] == pytest.approx(replica_b.start + 10)  # not 4 + 10


def test_a_lookup_gives_up_when_another_replica_holds_the_lock_past_its_budget(
    redis_url: str, redis_client: redis.Redis
) -> None:
    source, replica_b, lookup = behind_a_held_lock(redis_url, redis_client, wait_budget=10)
    with pytest.raises(UpstreamUnavailableError, match="another replica"):
        replica_b.service.jobs(lookup)
    assert replica_b.clock() - replica_b.start <= 10 + 0.05
    assert source.calls == []


def test_a_waiter_takes_over_at_once_when_the_holders_lock_expires(
    redis_url: str, redis_client: redis.Redis
) -> None:
    _, replica_b, lookup = behind_a_held_lock(redis_url, redis_client, "crashed-replica")
    replica_b.on_sleep = lambda now: redis_client.delete(lock_key(lookup))  # it expires
    assert replica_b.service.jobs(lookup).total == 1
    assert replica_b.clock() - replica_b.start == pytest.approx(0.05)  # one poll


def test_the_fetch_lock_is_short_and_held_only_while_fetching(
    redis_url: str, redis_client: redis.Redis
) -> None:
    source = FakeJobSource({"light1": [make_job(1)]})
    replica_a = ClockedReplica(redis_url, source)
    lookup = JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
    source.release.clear()
    leader = threading.Thread(target=replica_a.service.jobs, args=(lookup,))
    leader.start()
    assert source.entered.wait(5)
    assert 0 < redis_client.pttl(lock_key(lookup)) <= 5_000  # a crash costs seconds, not 30
    source.release.set()
    leader.join(5)
    assert not redis_client.exists(lock_key(lookup))
    assert not [t for t in threading.enumerate() if t.name.startswith("otabot-fetch-lock")]


def test_the_fetch_lock_is_released_when_the_fetch_fails(
    redis_url: str, redis_client: redis.Redis
) -> None:
    def down() -> UpstreamUnavailableError:
        return UpstreamUnavailableError("down", code="ServiceUnavailable")

    replica_a = ClockedReplica(redis_url, FakeJobSource(errors={"light1": down}))
    lookup = JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
    with pytest.raises(UpstreamUnavailableError):
        replica_a.service.jobs(lookup)
    assert not redis_client.exists(lock_key(lookup))


def test_the_fetch_lock_is_released_when_the_fetch_is_interrupted(
    redis_url: str, redis_client: redis.Redis
) -> None:
    def interrupted() -> UpstreamUnavailableError:
        raise KeyboardInterrupt

    replica_a = ClockedReplica(redis_url, FakeJobSource(errors={"light1": interrupted}))
    lookup = JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
    with pytest.raises(KeyboardInterrupt):
        replica_a.service.jobs(lookup)
    assert not redis_client.exists(lock_key(lookup))
    assert not [t for t in threading.enumerate() if t.name.startswith("otabot-fetch-lock")]


class Ticks:
    """The heartbeat's pause, stepped by the test: each ``tick()`` lets one renewal run."""

    def __init__(self) -> None:
        self._ticks = threading.Semaphore(0)
        self.stopped = threading.Event()
        self.pauses: list[float] = []
        self.renewed = threading.Semaphore(0)

    def wait(self, seconds: float) -> bool:
        if self.pauses:
            self.renewed.release()  # the previous tick's renewal is done
        self.pauses.append(seconds)
        self._ticks.acquire(timeout=5)
        return self.stopped.is_set()

    def release_one(self) -> None:
        self._ticks.release()

    def tick(self) -> None:
        self._ticks.release()
        assert self.renewed.acquire(timeout=5)

    def stop(self) -> None:
        self.stopped.set()
        self._ticks.release()


def heartbeat_lock(redis_client: redis.Redis) -> tuple[Ticks, FetchLock]:
    """light1's fetch lock with a 3 s ttl, taken, its heartbeat on ``Ticks``."""
    ticks = Ticks()
    lock = FetchLock(RedisLink(redis_client), "otabot:test:fetching:light1", 3, wait=ticks.wait)
    assert lock.acquire()
    return ticks, lock


def test_the_heartbeat_renews_the_fetch_lock_while_the_fetch_runs(
    redis_client: redis.Redis,
) -> None:
    ticks, lock = heartbeat_lock(redis_client)
    redis_client.pexpire("otabot:test:fetching:light1", 100)  # about to lapse
    ticks.tick()
    assert redis_client.pttl("otabot:test:fetching:light1") > 2_000
    assert ticks.pauses[0] == pytest.approx(1)  # a third of the ttl
    ticks.stop()
    lock.release()
    assert not lock.renewing
    assert not redis_client.exists("otabot:test:fetching:light1")


def test_the_heartbeat_stops_when_the_lock_is_no_longer_its_own(
    redis_client: redis.Redis,
) -> None:
    ticks, lock = heartbeat_lock(redis_client)
    redis_client.set("otabot:test:fetching:light1", "someone-else", px=3_000)  # it lapsed
    ticks.release_one()  # its renewal finds another's token
    lock.release()
    assert not lock.renewing and not ticks.stopped.is_set()
    assert redis_client.get("otabot:test:fetching:light1") == b"someone-else"
    assert 2_000 < redis_client.pttl("otabot:test:fetching:light1") <= 3_000


def test_a_fetch_lock_is_taken_once_and_degrades_to_taken_without_redis(
    redis_client: redis.Redis,
) -> None:
    link = RedisLink(redis_client)
    first = FetchLock(link, "otabot:test:fetching:light2", 3)
    second = FetchLock(link, "otabot:test:fetching:light2", 3)
    assert first.acquire() and not second.acquire()
    first.release()
    gone = RedisLink(connect("redis://127.0.0.1:1/0"))
    assert FetchLock(gone, "otabot:test:fetching:light2", 3).acquire()  # fetch locally
    assert gone.degraded
