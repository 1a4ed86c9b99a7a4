"""Watching, against ``otabot emulator`` (the sample rollout, and a generated fleet).

1. **Upstream calls per watched job per hour.** The sample rollout (41 devices) watched
   in three channels for an hour on a fake clock (``OTABOT_WATCH_INTERVAL`` 30 s), its
   calls counted by the emulator; against the naive figure: five people each refreshing
   the job card once a minute (a refresh's calls measured, times 300).
2. **People's quota wait, with 50 live watches against none.** Ten people look job cards
   up in bursts for ``PEOPLE_SECONDS`` (real time, the emulator at its documented
   quotas); each attempt's wait for the quota is timed. Then again while 50 watched jobs
   are polled every 30 s. People's wait must not grow: polls give way to them.

Usage: ``python bench/watch.py`` (about two and a half minutes).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from typing import Any

from processes import otabot_emulator  # (it puts the repository on sys.path: tests.helpers)
from quota import control

from otabot.config import Settings
from otabot.emulator.fleet import (
    LIGHT_PRODUCT_KEY,
    ROLLOUT_JOB_ID,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    sample_fleet,
)
from otabot.iot.client import IotClient, RetryPolicy
from otabot.iot.errors import IotError
from otabot.query.queries import WatchQuery
from otabot.service import JobLookup, OtaService, QuotaLimiter
from otabot.service.fairness import CALLER, Caller
from otabot.slack.access import Requester
from otabot.watch.posting import Posted
from otabot.watch.store import MemoryWatchStore
from otabot.watch.watcher import Watcher
from tests.helpers import FakeClock

ACCESS_KEY = (SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET)
INTERVAL = 30.0
CHANNELS = ("C0INCIDENT", "C0ROLLOUT", "C0LIGHTS")
NAIVE_PEOPLE, NAIVE_PER_HOUR = 5, 60
WATCHES = 50
PEOPLE = 10
PEOPLE_SECONDS = 60.0
BURST_EVERY = 6.0  # each person: a burst of lookups about this often
BURST = 2


class CountingPoster:
    """Slack's Web API as the watcher sees it, answering at once and counting."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def _answer(self) -> Posted:
        with self._lock:
            self.calls += 1
            return Posted(ts=f"1700000000.{self.calls:06d}")

    def post(self, channel: str, message: Any, *, thread_ts: str | None = None) -> Posted:
        return self._answer()

    def update(self, channel: str, ts: str, message: Any) -> Posted:
        return self._answer()

    def permalink(self, channel: str, ts: str) -> str | None:
        return None


class TimedLimiter(QuotaLimiter):
    """The quota, timing each attempt's wait by who asked: a person, or a poll."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.api_qps)
        self.waits: dict[bool, list[float]] = {False: [], True: []}
        self._waits_lock = threading.Lock()

    def before_attempt(self, action: str, deadline: float | None) -> None:
        started = time.monotonic()
        super().before_attempt(action, deadline)
        caller = CALLER.get()
        with self._waits_lock:
            self.waits[bool(caller and caller.background)].append(time.monotonic() - started)


def settings_for(url: str) -> Settings:
    return Settings.from_env(
        {
            "OTABOT_IOT_ENDPOINT": url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY[0],
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY[1],
            "OTABOT_WATCH_INTERVAL": str(int(INTERVAL)),
            "OTABOT_MAX_WATCHES": str(WATCHES),
        }
    )


# --- 1. calls per watched job per hour ------------------------------------------------------


def calls_per_hour(url: str) -> tuple[int, int, int]:
    """(watched, naive, calls of one refresh): upstream calls in an hour of the rollout."""
    settings = settings_for(url)
    clock = FakeClock(wall_epoch=1_700_000_000.0)  # part 1 runs on it
    limiter = QuotaLimiter(settings.api_qps, monotonic=clock, sleep=clock.sleep)
    client = IotClient(
        settings.endpoint, settings.credentials(), gate=limiter, monotonic=clock, sleep=clock.sleep
    )
    service = OtaService(
        client, limiter=limiter, monotonic=clock, sleep=clock.sleep, wall_clock=clock.wall
    )
    poster = CountingPoster()
    store = MemoryWatchStore(monotonic=clock)
    watcher = Watcher(
        settings,
        service,
        store,
        poster,
        wall_clock=clock.wall,
        monotonic=clock,  # type: ignore[arg-type]
    )
    for channel in CHANNELS:
        watcher.begin(Requester("T1", channel, "U1"), WatchQuery(ROLLOUT_JOB_ID, LIGHT_PRODUCT_KEY))
    control(url, "/__emulator/reset", {})
    for _ in range(int(3600 / INTERVAL)):
        clock.sleep(INTERVAL)
        watcher.tick()
    watched = int(control(url, "/__emulator/stats")["calls"])
    control(url, "/__emulator/reset", {})
    clock.sleep(INTERVAL)  # the quota's own pacing is on this clock too
    service.job(JobLookup(ROLLOUT_JOB_ID), refresh=True)
    refresh = int(control(url, "/__emulator/stats")["calls"])
    service.close()
    return watched, NAIVE_PEOPLE * NAIVE_PER_HOUR * refresh, refresh


# --- 2. people's quota wait, with and without watches ---------------------------------------


def generated_fleet(jobs: int) -> dict[str, Any]:
    """The sample fleet plus ``jobs`` running jobs of 20 devices each."""
    document = sample_fleet().to_dict()
    firmware = document["Firmwares"][0]["FirmwareId"]
    for index in range(jobs):
        devices = [f"bench-{index:03d}-{n:02d}" for n in range(20)]
        document["Products"][0]["Devices"].extend(devices)
        document["Jobs"].append(
            {
                "JobId": f"BenchWatch{index:05d}xxxxxxxxxx",
                "FirmwareId": firmware,
                "ProductKey": LIGHT_PRODUCT_KEY,
                "JobStatus": "IN_PROGRESS",
                "JobType": "UPGRADE_FIRMWARE",
                "SelectionType": "STATIC",
                "TargetSelection": "SPECIFIC",
                "UtcCreate": "2026-11-01T00:00:00.000Z",
                "UtcModified": "2026-11-01T00:00:00.000Z",
                "UtcStartTime": "2026-11-01T00:00:00.000Z",
                "Devices": devices,
            }
        )
    return document


def people_looking_up(service: OtaService, job_ids: list[str], seconds: float) -> int:
    """Ten people refreshing job cards in bursts for ``seconds``; the lookups that failed."""
    failures = [0]
    lock = threading.Lock()
    ends = time.monotonic() + seconds

    def person(index: int) -> None:
        CALLER.set(Caller(f"U{index:02d}"))
        rng = random.Random(index)
        time.sleep(rng.uniform(0, BURST_EVERY))
        while time.monotonic() < ends:
            for _ in range(BURST):
                CALLER.set(Caller(f"U{index:02d}"))
                try:
                    service.job(JobLookup(rng.choice(job_ids)), refresh=True)
                except IotError:
                    with lock:
                        failures[0] += 1
            time.sleep(rng.uniform(0.5, 1.5) * BURST_EVERY)

    threads = [threading.Thread(target=person, args=(index,)) for index in range(PEOPLE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    return failures[0]


def people_wait(url: str, watches: int) -> dict[str, float]:
    """People's quota wait (and the polls') while ``watches`` jobs are watched."""
    settings = settings_for(url)
    limiter = TimedLimiter(settings)
    client = IotClient(
        settings.endpoint,
        settings.credentials(),
        retry=RetryPolicy(total_deadline=60),
        gate=limiter,
    )
    service = OtaService(client, limiter=limiter, wait_budget=60)
    poster = CountingPoster()
    watcher = Watcher(settings, service, MemoryWatchStore(), poster, limiter=limiter)  # type: ignore[arg-type]
    watched = [f"BenchWatch{index:05d}xxxxxxxxxx" for index in range(watches)]
    for job_id in watched:  # started as people would, spread over the first interval
        watcher.begin(Requester("T1", "C1", "U1"), WatchQuery(job_id, LIGHT_PRODUCT_KEY))
    watcher.start()
    limiter.waits = {False: [], True: []}
    looked_up = [f"BenchWatch{index:05d}xxxxxxxxxx" for index in range(WATCHES, WATCHES + 10)]
    failures = people_looking_up(service, looked_up, PEOPLE_SECONDS)
    watcher.stop(time.monotonic() + 5)
    service.close()
    people, polls = limiter.waits[False], limiter.waits[True]
    ordered = sorted(people)
    return {
        "attempts": len(people),
        "mean_ms": 1000 * statistics.fmean(people),
        "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
        "max_ms": 1000 * ordered[-1],
        "failures": failures,
        "poll_calls": len(polls),
    }


def main() -> None:
    with otabot_emulator("--qps", "1000") as url:  # an hour of fake time in seconds
        watched, naive, refresh = calls_per_hour(url)
        print(
            f"calls per watched job per hour: {watched} (polled every {INTERVAL:.0f} s, "
            f"watched in {len(CHANNELS)} channels) against {naive} naive "
            f"({NAIVE_PEOPLE} people refreshing once a minute, {refresh} calls a refresh): "
            f"{naive / max(watched, 1):.1f}x fewer"
        )
    with otabot_emulator() as url:  # the documented quotas
        control(url, "/__emulator/fleet", generated_fleet(WATCHES + 10))
        for watches in (0, WATCHES):
            control(url, "/__emulator/reset", {})
            found = people_wait(url, watches)
            throttled = control(url, "/__emulator/stats")["throttled"]
            print(
                f"people's quota wait with {watches:2d} live watches: "
                f"mean {found['mean_ms']:.0f} ms, p95 {found['p95_ms']:.0f} ms, "
                f"max {found['max_ms']:.0f} ms over {found['attempts']} attempts "
                f"({found['failures']} failed, {throttled} throttled; "
                f"{found['poll_calls']} poll calls meanwhile)"
            )


if __name__ == "__main__":
    main()
