"""Watches in Redis: shared by replicas, one poller per job at a time, nothing lost when a
replica stops or dies, and Redis away costs a pause, not the watches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from slack_sdk import WebClient

from otabot.demo.slack_side import Fault, SlackSide
from otabot.service.redis_store import RedisLink, connect
from otabot.watch.posting import ChannelPoster
from otabot.watch.records import Watch, WatchedJob
from otabot.watch.redis_watches import RedisPauses, RedisWatchStore
from otabot.watch.render import words_message
from otabot.watch.store import Reserved
from tests.helpers import BOT_TOKEN, EXAMPLE_JOB_ID
from tests.service.fakes import TcpProxy
from tests.watch.conftest import DANA, INTERVAL, rig_for
from tests.world import RecordingService

NOW = 1_700_000_000.0
JOB_A = WatchedJob("JobA")


def watch(channel: str = "C1", job: WatchedJob = JOB_A, ts: str = "1.1") -> Watch:
    return Watch(channel, job.job_id, job.instance, None, "T1", "U1", NOW, NOW + 3600, ts=ts)


@pytest.fixture
def stores(redis_url: str) -> Iterator[tuple[RedisWatchStore, RedisWatchStore]]:
    """Two replicas' stores over one Redis."""
    links = [RedisLink(connect(redis_url)) for _ in range(2)]
    yield RedisWatchStore(links[0], namespace="t"), RedisWatchStore(links[1], namespace="t")
    for link in links:
        link.client.close()


def test_a_reservation_is_one_per_job_and_channel_within_the_limit(
    stores: tuple[RedisWatchStore, RedisWatchStore],
) -> None:
    one, two = stores
    assert one.reserve(watch(), limit=2, now=NOW).outcome is Reserved.RESERVED
    assert two.reserve(watch(), limit=2, now=NOW).outcome is Reserved.PENDING
    assert two.reserve(watch("C2"), limit=2, now=NOW).outcome is Reserved.RESERVED
    full = two.reserve(watch("C3"), limit=2, now=NOW)
    assert (full.outcome, full.live) == (Reserved.FULL, 2)
    assert one.activate(watch(), due=NOW + 30)
    existing = two.reserve(watch(), limit=5, now=NOW)
    assert existing.outcome is Reserved.EXISTING and existing.watch == watch()


def test_a_reservation_whose_card_never_came_lapses(
    stores: tuple[RedisWatchStore, RedisWatchStore],
) -> None:
    one, two = stores
    one.reserve(watch(), limit=1, now=NOW)
    assert two.reserve(watch("C2"), limit=1, now=NOW + 60).outcome is Reserved.FULL
    assert two.reserve(watch("C2"), limit=1, now=NOW + 121).outcome is Reserved.RESERVED


def test_one_replica_at_a_time_holds_a_jobs_lease(
    stores: tuple[RedisWatchStore, RedisWatchStore],
) -> None:
    one, two = stores
    one.activate(watch(), due=NOW)
    assert two.due(NOW, 10) == [JOB_A]
    assert one.claim(JOB_A, "r1", 30)
    assert not two.claim(JOB_A, "r2", 30)
    assert not two.extend(JOB_A, "r2", 30) and one.extend(JOB_A, "r1", 30)
    two.release(JOB_A, "r2", NOW + 99)  # not its lease: nothing changes
    one.release(JOB_A, "r1", NOW + 30)
    assert two.due(NOW + 29, 10) == [] and two.due(NOW + 30, 10) == [JOB_A]
    assert two.claim(JOB_A, "r2", 30)


def test_a_lease_its_holder_stops_renewing_lapses(
    stores: tuple[RedisWatchStore, RedisWatchStore],
) -> None:
    one, two = stores
    assert one.claim(JOB_A, "r1", 0.2)
    deadline = time.monotonic() + 5
    while not two.claim(JOB_A, "r2", 30):
        assert time.monotonic() < deadline, "the lease never lapsed"
        time.sleep(0.02)


def test_a_job_without_watches_leaves_the_schedule_when_released(
    stores: tuple[RedisWatchStore, RedisWatchStore],
) -> None:
    one, two = stores
    one.activate(watch(), due=NOW)
    assert two.remove(watch())
    one.claim(JOB_A, "r1", 30)
    one.release(JOB_A, "r1", NOW + 30)
    assert one.due(NOW + 1000, 10) == []


def test_a_save_is_only_for_the_card_still_watched(
    stores: tuple[RedisWatchStore, RedisWatchStore],
) -> None:
    one, two = stores
    one.activate(watch(), due=NOW)
    assert not two.save(watch(ts="9.9"))  # another card
    assert two.remove(watch())
    assert not one.save(watch())  # ended meanwhile: not brought back
    assert one.live() == 0 and one.find(watch().id) is None


def test_redis_away_reserves_nothing_and_polls_nothing() -> None:
    link = RedisLink(connect("redis://127.0.0.1:1/0", timeout=0.2))
    store = RedisWatchStore(link)
    assert store.reserve(watch(), limit=5, now=NOW).outcome is Reserved.UNAVAILABLE
    assert store.due(NOW, 10) == [] and not store.claim(JOB_A, "r1", 30)
    assert store.live() == 0


def test_another_replica_takes_the_watch_over_when_one_stops(
    redis_url: str, recorder: SlackSide
) -> None:
    service = RecordingService()
    links = [RedisLink(connect(redis_url)) for _ in range(2)]
    first, second = (
        rig_for(recorder, store=RedisWatchStore(link), service=service, replica=name)
        for link, name in zip(links, ("first", "second"), strict=True)
    )
    assert first.watch(DANA).outcome == "watching"
    first.fail_tasks("lamp0010")
    first.later()
    second.watcher.tick()
    assert len(first.updates()) == 1  # one edit: the first replica polled
    first.watcher.stop(deadline=first.clock() + 5)
    assert second.watcher.live() == 1  # nothing lost
    first.fail_tasks("lamp0011")
    second.later(INTERVAL)
    assert len(second.updates()) == 2 and ":x: 5 failed" in str(second.updates()[-1])
    assert [w.job_id for w in second.watches()] == [EXAMPLE_JOB_ID]
    for link in links:
        link.client.close()


def test_stop_watching_while_redis_is_away_refuses_and_the_watch_goes_on(
    redis_url: str, recorder: SlackSide
) -> None:
    proxy = TcpProxy(urlsplit(redis_url).port or 6379).start()
    url = f"redis://127.0.0.1:{proxy.port}/{urlsplit(redis_url).path.strip('/')}"
    link = RedisLink(connect(url, timeout=0.2), retry_interval=0.0)
    rig = rig_for(recorder, store=RedisWatchStore(link))
    try:
        assert rig.watch(DANA).outcome == "watching"
        proxy.stop()
        reply = rig.stop(DANA)
        assert reply.outcome == "store_unavailable" and reply.message is not None
        assert "cannot reach the store its watches live in" in str(reply.message)
        assert rig.updates() == []  # the card does not claim a stop that did not happen
        proxy.start()
        assert rig.watcher.live() == 1
        assert rig.stop(DANA).outcome == "stopped"
        assert rig.watcher.live() == 0
    finally:
        proxy.stop()
        link.client.close()


def test_slacks_retry_after_holds_back_every_replica(redis_url: str, recorder: SlackSide) -> None:
    """Slack counts the workspace's calls: a 429 one replica got pauses the others too."""
    links = [RedisLink(connect(redis_url)) for _ in range(2)]
    first, second = (
        ChannelPoster(
            WebClient(base_url=recorder.api_url, token=BOT_TOKEN),
            pauses=RedisPauses(link, namespace="t"),
        )
        for link in links
    )
    recorder.fail("chat.update", Fault("ratelimited", status=429, retry_after="45"))
    card = words_message("the card")
    refused = first.update("C1", "1.1", card)
    assert (refused.error, refused.retry_after) == ("ratelimited", 45)
    held = second.update("C1", "1.1", card)
    assert held.error == "ratelimited" and 44 < (held.retry_after or 0) <= 45
    assert len(recorder.calls("chat.update")) == 1  # the second replica made no call
    RedisPauses(links[1], namespace="t").pause("chat.update", 5)  # a shorter one, later
    assert 44 < second.paused_for("chat.update") <= 45  # does not cut the longer short
    for link in links:
        link.client.close()
