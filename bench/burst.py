"""An incident burst, then a steady overload, at four ``otabot serve`` replicas.

Four ``otabot serve --http`` replicas share Redis (``--redis-url``, default
``redis://127.0.0.1:6379/6``, a database this bench flushes) in front of ``otabot
emulator --qps 10``; Slack is the demo's Slack side, which signs the requests, keeps
the response_urls and notes when each post arrived. Requests go to the replicas in turn,
as a load balancer would send them.

1. **Burst**: 200 distinct ``/ota DEVICE FIRMWARE`` lookups at once from 10 people (20
   each), and 1 s in an eleventh person's single lookup. Prints answered with jobs
   (target 200/200), the most calls in any second (<= 10), throttling answers (0), the
   sustained rate (>= 9.5/s), the longest wait, the share of those who waited over 3 s
   that were told within 3 s (100%), and the eleventh person's wait (<= 2 s).
2. **Steady overload**: 20 lookups/s for 45 s from 20 people, 12/s of devices not asked
   before and 8/s of devices answered moments ago. Prints the p95 wait of the cached
   ones (target <= 0.2 s) and whether every lookup was answered, or told when to retry,
   within OTABOT_MAX_WAIT.

Usage: ``python bench/burst.py [--overload-seconds 45]`` (about two minutes).
Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis
import requests
from processes import otabot_emulator, otabot_serve
from quota import control, device_names, fleet_document

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otabot.demo.slack_side import Recorded, SlackSide
from otabot.demo.web import SlackServer
from otabot.emulator.fleet import (
    LIGHT_PRODUCT_KEY,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)
from tests.helpers import BOT_TOKEN, SIGNING_SECRET

QPS = 10
MAX_WAIT = 120.0
QUEUED = "Queued for the IoT API"
TOLD_WITHIN = 3.0


@dataclass
class Lookup:
    """One /ota lookup as its person lived it: sent, acked, told, answered (monotonic)."""

    user: str
    device: str
    response_url: str
    cached: bool = False
    sent: float = 0.0
    acked: float | None = None
    told_in_ack: bool = False
    posts: list[Recorded] = field(default_factory=list)

    @property
    def response_id(self) -> str:
        return self.response_url.rsplit("/", 1)[1]

    def notice(self) -> Recorded | None:
        return next((p for p in self.posts if QUEUED in json.dumps(p.body)), None)

    def final(self) -> Recorded | None:
        return next((p for p in reversed(self.posts) if QUEUED not in json.dumps(p.body)), None)

    def answered_with_jobs(self) -> bool:
        final = self.final()
        return final is not None and "BenchJob" in json.dumps(final.body)

    def told_to_retry(self) -> bool:
        final = self.final()
        return final is not None and "try again" in json.dumps(final.body)

    def wait(self) -> float | None:
        final = self.final()
        return None if final is None else final.at - self.sent

    def told_at(self) -> float | None:
        if self.told_in_ack:
            return self.acked
        notice = self.notice()
        return None if notice is None else notice.at


class Bench:
    """The replicas and Slack's side, and how a lookup is sent to them."""

    def __init__(self, side: SlackSide, replicas: list[str]) -> None:
        self.side = side
        self._replicas = itertools.cycle(replicas)
        self._lock = threading.Lock()
        self._devices: dict[str, str] = {}  # response_id -> device
        self._answered_at: dict[str, float] = {}  # device -> when its jobs were last posted
        self._scanned = 0  # posts looked at so far
        self._session = requests.Session()
        self._session.mount(
            "http://", requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=64)
        )

    def lookup(self, user: str, device: str, *, cached: bool = False) -> Lookup:
        lookup = Lookup(user, device, self.side.open_response_url(), cached=cached)
        with self._lock:
            self._devices[lookup.response_id] = device
        return lookup

    def answered_since(self, since: float) -> list[str]:
        """Devices whose jobs were posted after ``since`` (monotonic): cached now."""
        posts = self.side.posts
        with self._lock:
            for posted in posts[self._scanned :]:
                device = self._devices.get(posted.response_id)
                if (
                    device is not None
                    and posted.status == 200
                    and "BenchJob" in json.dumps(posted.body)
                ):
                    self._answered_at[device] = posted.at
            self._scanned = len(posts)
            return sorted(device for device, at in self._answered_at.items() if at >= since)

    def send(self, lookup: Lookup) -> Lookup:
        with self._lock:
            replica = next(self._replicas)
        form = self.side.command_form(
            f"light/{lookup.device} {SHOWCASE_FIRMWARE_ID}",
            lookup.response_url,
            user_id=lookup.user,
        )
        body = urlencode(form)
        lookup.sent = time.monotonic()
        reply = self._session.post(replica, data=body, headers=self.side.sign(body), timeout=10)
        lookup.acked = time.monotonic()
        if reply.status_code != 200:
            raise SystemExit(f"a replica answered HTTP {reply.status_code}: {reply.text[:200]}")
        if reply.text and QUEUED in reply.text:
            lookup.told_in_ack = True
        return lookup

    def collect(self, lookups: list[Lookup], timeout: float) -> None:
        """Wait until each lookup has its final post (or ``timeout``), then file the posts."""
        deadline = time.monotonic() + timeout
        wanted = {lookup.response_id: lookup for lookup in lookups}
        while True:
            by_id: dict[str, list[Recorded]] = defaultdict(list)
            for posted in self.side.posts:
                if posted.response_id in wanted and posted.status == 200:
                    by_id[posted.response_id].append(posted)
            for response_id, lookup in wanted.items():
                lookup.posts = by_id.get(response_id, [])
            if all(lookup.final() is not None for lookup in lookups):
                return
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)


def slack_side() -> SlackServer:
    return SlackServer(SlackSide(SIGNING_SECRET, BOT_TOKEN), threads=16, name="bench-slack")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def burst(bench: Bench, devices: list[str], users: int) -> tuple[list[Lookup], float]:
    """One lookup per device, from ``users`` people in turn, all sent at once (32 senders);
    the lookups and when they started."""
    lookups = [bench.lookup(f"U{n % users:07d}", device) for n, device in enumerate(devices)]
    senders = 32
    start = threading.Barrier(senders + 1)

    def send_share(share: list[Lookup]) -> None:
        start.wait(30)
        for lookup in share:
            bench.send(lookup)

    with ThreadPoolExecutor(senders) as pool:
        futures = [pool.submit(send_share, lookups[i::senders]) for i in range(senders)]
        start.wait(30)
        began = time.monotonic()
        for future in futures:
            future.result()
    return lookups, began


def report_burst(
    lookups: list[Lookup], eleventh: Lookup, stats: dict[str, Any], span: float
) -> bool:
    answered = sum(lookup.answered_with_jobs() for lookup in lookups)
    waits = [w for lookup in lookups if (w := lookup.wait()) is not None]
    long_waits = [lookup for lookup in lookups if (lookup.wait() or 0) > TOLD_WITHIN]
    told = [
        lookup
        for lookup in long_waits
        if (at := lookup.told_at()) is not None and at - lookup.sent <= TOLD_WITHIN
    ]
    in_ack = sum(lookup.told_in_ack for lookup in long_waits)
    share = len(told) / len(long_waits) if long_waits else 1.0
    calls = stats.get("calls", 0)
    rate = (calls - 1) / stats["span_seconds"] if stats.get("span_seconds") else float("nan")
    eleventh_wait = eleventh.wait()
    print(f"== burst: {len(lookups)} lookups from 10 people at once, 4 replicas, Redis")
    print(f"   answered with jobs              {answered}/{len(lookups)}  (target all)")
    print(f"   most calls in any one second    {stats.get('max_calls_in_any_second')}  (<= {QPS})")
    print(f"   throttling answers              {stats.get('throttled')}  (0)")
    print(f"   sustained call rate             {rate:.2f}/s  (>= {0.95 * QPS:.1f})")
    print(f"   calls seen by the emulator      {calls} over {span:.1f} s")
    print(f"   calls in each second            {' '.join(map(str, stats.get('per_second', [])))}")
    print(
        f"   longest wait                    {max(waits):.1f} s; "
        f"median {statistics.median(waits):.1f} s"
    )
    print(
        f"   waited > {TOLD_WITHIN:.0f} s and told within {TOLD_WITHIN:.0f} s   "
        f"{len(told)}/{len(long_waits)} = {share:.0%}  ({in_ack} in the ack, the rest by notice)"
    )
    print(
        "   an eleventh person's lookup     "
        + (f"{eleventh_wait:.2f} s" if eleventh_wait is not None else "NOT answered")
        + "  (sent 1 s in; <= 2 s)"
    )
    missed = [lookup for lookup in lookups if not lookup.answered_with_jobs()]
    for lookup in missed[:3]:
        final = lookup.final()
        said = "nothing" if final is None else str(final.body.get("text", ""))[:160]
        print(f"     {lookup.device} got {said!r}")
    return (
        answered == len(lookups)
        and stats.get("max_calls_in_any_second", 99) <= QPS
        and stats.get("throttled") == 0
        and rate >= 0.95 * QPS
        and share == 1.0
        and eleventh.answered_with_jobs()
        and eleventh_wait is not None
        and eleventh_wait <= 2.0
    )


def overload(
    bench: Bench, fresh: list[str], seconds: float, per_second: int, new: int
) -> list[Lookup]:
    """``per_second`` lookups a second for ``seconds`` from 20 people in turn: ``new`` of
    them of devices not asked before, the rest of devices answered in the last 30 s."""
    fresh_devices = iter(fresh)
    lookups: list[Lookup] = []
    people = itertools.cycle(f"U{n:07d}" for n in range(100, 120))
    began = time.monotonic()
    recent: list[str] = []
    futures = []
    with ThreadPoolExecutor(32) as senders:
        for n in range(int(seconds * per_second)):
            due = began + n / per_second
            time.sleep(max(0.0, due - time.monotonic()))
            if n % per_second == 0:
                recent = bench.answered_since(time.monotonic() - 30) or recent
            if n % per_second < new or not recent:
                lookup = bench.lookup(next(people), next(fresh_devices))
            else:
                lookup = bench.lookup(next(people), recent[n % len(recent)], cached=True)
            lookups.append(lookup)
            futures.append(senders.submit(bench.send, lookup))
        for future in futures:
            future.result()
    return lookups


def report_overload(lookups: list[Lookup], stats: dict[str, Any], seconds: float) -> bool:
    cached = [w for lookup in lookups if lookup.cached and (w := lookup.wait()) is not None]
    new = [w for lookup in lookups if not lookup.cached and (w := lookup.wait()) is not None]
    settled = [
        lookup
        for lookup in lookups
        if (lookup.answered_with_jobs() or lookup.told_to_retry())
        and (lookup.wait() or MAX_WAIT + 1) <= MAX_WAIT
    ]
    retry = sum(lookup.told_to_retry() for lookup in lookups)
    rate = len(lookups) / seconds
    print(f"== steady overload: {rate:.0f} lookups/s for {seconds:.0f} s, 4 replicas")
    print(
        f"   cached lookups' wait            p95 {percentile(cached, 0.95):.3f} s, "
        f"max {max(cached):.3f} s over {len(cached)}  (p95 <= 0.2 s)"
    )
    print(
        f"   new lookups' wait               p50 {percentile(new, 0.5):.1f} s, "
        f"p95 {percentile(new, 0.95):.1f} s, max {max(new):.1f} s over {len(new)}"
    )
    print(
        f"   answered or told to retry       {len(settled)}/{len(lookups)} within "
        f"{MAX_WAIT:.0f} s ({retry} told to retry)"
    )
    print(
        f"   most calls in any one second    {stats.get('max_calls_in_any_second')}; "
        f"throttling answers {stats.get('throttled')}"
    )
    return (
        len(settled) == len(lookups)
        and percentile(cached, 0.95) <= 0.2
        and stats.get("throttled") == 0
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--overload-seconds", type=float, default=45.0, help="0 skips it")
    parser.add_argument(
        "--margin", type=float, help="OTABOT_QUOTA_MARGIN for the replicas (default: otabot's)"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("OTABOT_BURST_REDIS_URL", "redis://127.0.0.1:6379/6"),
    )
    args = parser.parse_args()
    new_per_second, per_second = 12, 20
    devices = device_names(200 + 1 + int(args.overload_seconds * new_per_second))
    burst_devices, eleventh_device, fresh = devices[:200], devices[200], devices[201:]
    redis.Redis.from_url(args.redis_url).flushdb()
    with ExitStack() as stack:
        iot = stack.enter_context(otabot_emulator("--qps", str(QPS)))
        control(iot, "/__emulator/fleet", fleet_document(devices, jobs_per_device=1))
        side = stack.enter_context(slack_side())
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"{side.base_url}/api/",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": SAMPLE_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SAMPLE_ACCESS_KEY_SECRET,
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "OTABOT_IOT_ENDPOINT": iot,
            "OTABOT_REDIS_URL": args.redis_url,
            "OTABOT_PRODUCT_ALIASES": f"light={LIGHT_PRODUCT_KEY}",
            "OTABOT_QUOTA_ACCOUNT": "bench",
            "OTABOT_API_QPS": str(QPS),
            "OTABOT_MAX_WAIT": str(MAX_WAIT),
            "OTABOT_LOG_LEVEL": "WARNING",
        }
        if args.margin is not None:
            env["OTABOT_QUOTA_MARGIN"] = str(args.margin)
        replicas = [
            stack.enter_context(otabot_serve(env, "--http", "--port", "0"))
            for _ in range(args.replicas)
        ]
        bench = Bench(side, [f"{url}/slack/events" for url in replicas])
        time.sleep(1.5)  # the replicas' heartbeats: each knows the others are there

        eleventh = bench.lookup("U0000011", eleventh_device)

        def eleventh_person() -> None:
            time.sleep(1.0)
            bench.send(eleventh)

        late = threading.Thread(target=eleventh_person)
        late.start()
        lookups, began = burst(bench, burst_devices, users=10)
        late.join()
        bench.collect([*lookups, eleventh], timeout=MAX_WAIT)
        span = max((p.at for lookup in lookups for p in lookup.posts), default=began) - began
        ok = report_burst(lookups, eleventh, control(iot, "/__emulator/stats"), span)

        seconds = args.overload_seconds
        if seconds > 0:
            control(iot, "/__emulator/reset", {})
            steady = overload(bench, fresh, seconds, per_second, new_per_second)
            bench.collect(steady, timeout=MAX_WAIT + 10)
            ok = report_overload(steady, control(iot, "/__emulator/stats"), seconds) and ok
    print("targets:", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
