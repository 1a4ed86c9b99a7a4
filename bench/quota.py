"""The quota under load, against ``otabot emulator`` at each action's documented quota.

Starts the emulator as a subprocess on a free port, posts a generated fleet of 200
devices (two single-device jobs each), and runs two loads, every lookup asked at the
same moment, as people (a ``Caller`` per lookup, lookup k is person k mod 10's):

- **jobs lists**: 200 ``/ota DEVICE FIRMWARE`` of distinct devices (``ListOTAJobByDevice``,
  10 calls/s);
- **mixed**: 200 device cards (``QueryDeviceDetail`` at 50/s, then
  ``ListOTAUnfinishedTaskByDevice`` at 10/s), 100 job cards (the first job of half the
  devices: ``QueryOTAJob``, then ``ListOTATaskByJob``, 10/s each) and 200 jobs lists, all
  distinct and evenly mixed: 500 lookups, 800 calls over five actions.

Each load runs in one process (in-process quota), then from 4 processes sharing the quota
through Redis (``OTABOT_BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/14``, a
database this bench flushes). A process serves its lookups on 32 lookup threads, as
``otabot serve`` does (``--threads N``; 0: a thread per lookup). For each it prints, per
action, the most calls the emulator saw in any one second (must be <= the action's
limit), the most the limiters let go in any second by their own clocks, the sustained
rate (calls over the time from the action's first call to its last: about 96 % of the
limit when lookups keep the action busy throughout, less when they cannot), and the
throttling answers (must be 0). ``--margin`` is ``OTABOT_QUOTA_MARGIN``, the jitter
between a slot and the call's arrival the quota allows for.
Usage: ``python bench/quota.py`` (takes about two minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from processes import otabot_emulator

from otabot.config import Settings
from otabot.emulator.fleet import (
    LIGHT_PRODUCT_KEY,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)
from otabot.iot.client import IotClient, RetryPolicy
from otabot.iot.errors import IotError
from otabot.query.answers import look_up
from otabot.query.queries import DeviceQuery, JobQuery, JobsQuery, Query
from otabot.service import OtaService, QuotaLimiter
from otabot.service.fairness import CALLER, Caller
from otabot.service.quota import ActionQuota, MemoryActionQuota, MemoryQuota
from otabot.service.redis_store import (
    RedisActionQuota,
    RedisCache,
    RedisLink,
    ReplicaHeartbeat,
    connect,
)
from otabot.slack.app import LISTENER_THREADS
from tests.helpers import api_job

ACCESS_KEY = (SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET)
LIMITS = Settings().api_qps  # each action's documented quota, as otabot and the emulator use
USERS = 10  # people: the lookups are theirs in turn
# Seconds a lookup may wait for its slot in this bench (the busiest action takes ~20 s).
PATIENCE = 90.0


def device_names(count: int) -> list[str]:
    return [f"bench-{i:04d}" for i in range(count)]


def job_id(device_index: int, job_index: int) -> str:
    return f"BenchJob{device_index:05d}x{job_index:03d}"


def job_entry(
    job: str, devices: list[Any], stamp: str, status: str = "IN_PROGRESS", tag: str = "0"
) -> dict[str, Any]:
    """One job of the bench's product and firmware, in the emulator's fleet format."""
    tags = [{"Key": "bench", "Value": tag}]
    return api_job(job, stamp, status, UtcEndTime=None, Tags=tags, Devices=devices)


def fleet_of(devices: list[str], jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """A fleet in the emulator's file format: one product with these devices, one firmware."""
    return {
        "AccessKeys": {ACCESS_KEY[0]: ACCESS_KEY[1]},
        "IotInstanceId": None,
        "Products": [{"ProductKey": LIGHT_PRODUCT_KEY, "Devices": devices}],
        "Firmwares": [{"FirmwareId": SHOWCASE_FIRMWARE_ID, "ProductKey": LIGHT_PRODUCT_KEY}],
        "Jobs": jobs,
    }


def fleet_document(devices: list[str], jobs_per_device: int = 2) -> dict[str, Any]:
    """The product's devices, each in a few jobs of its own."""
    statuses = ("IN_PROGRESS", "COMPLETED", "CANCELED")
    jobs = [
        job_entry(
            job_id(d, j),
            [device],
            f"2026-{1 + (d + j) % 12:02d}-{1 + j:02d}T{d % 24:02d}:00:00.000Z",
            statuses[j % 3],
            str(j),
        )
        for d, device in enumerate(devices)
        for j in range(jobs_per_device)
    ]
    return fleet_of(devices, jobs)


def lookups(load: str, devices: list[str]) -> list[Query]:
    """The load's lookups, each distinct, in the order people made them: the kinds mixed
    evenly, so every action is asked for from the first moment to the last."""
    lists: list[Query] = [
        JobsQuery(LIGHT_PRODUCT_KEY, device, SHOWCASE_FIRMWARE_ID) for device in devices
    ]
    if load == "jobs":
        return lists
    cards: list[Query] = [DeviceQuery(LIGHT_PRODUCT_KEY, device) for device in devices]
    jobs: list[Query] = [
        JobQuery(job_id(d, 0), LIGHT_PRODUCT_KEY) for d in range(len(devices) // 2)
    ]
    kinds = (cards, jobs, lists)
    placed = [
        (i / len(kind), k, query) for k, kind in enumerate(kinds) for i, query in enumerate(kind)
    ]
    return [query for _, _, query in sorted(placed, key=lambda item: item[:2])]


def control(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call one of the emulator's ``/__emulator/...`` endpoints."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method="GET" if body is None else "POST"
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer


class RecordingLimiter(QuotaLimiter):
    """A ``QuotaLimiter`` that notes when each attempt was let through (wall time), by action."""

    def __init__(self, quota_for: Callable[[str, float], ActionQuota]) -> None:
        super().__init__(LIMITS, quota_for=quota_for, max_wait=PATIENCE)
        self.sent: list[tuple[str, float]] = []
        self._sent_lock = threading.Lock()

    def before_attempt(self, action: str, deadline: float | None) -> None:
        super().before_attempt(action, deadline)
        with self._sent_lock:
            self.sent.append((action, time.time()))


def build_service(url: str, limiter: QuotaLimiter, redis_cache: RedisCache | None) -> OtaService:
    settings = Settings.from_env(
        {
            "OTABOT_IOT_ENDPOINT": url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY[0],
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY[1],
        }
    )
    client = IotClient(
        settings.endpoint,
        settings.credentials(),
        retry=RetryPolicy(total_deadline=PATIENCE),
        gate=limiter,
    )
    return OtaService(client, limiter=limiter, redis_cache=redis_cache, wait_budget=PATIENCE)


def look_up_all(
    service: OtaService, share: list[tuple[int, Query]], start_at: float, threads: int
) -> list[str]:
    """Look every query up at once: on ``threads`` lookup threads, as ``otabot serve``
    runs them, or each on its own thread (``threads`` 0). Lookup k is person k mod
    USERS's. Returns the failures."""
    failures: list[str] = []
    lock = threading.Lock()

    def one(index: int, query: Query) -> None:
        CALLER.set(Caller(f"U{index % USERS:02d}"))
        try:
            look_up(service, query)
        except IotError as error:
            with lock:
                failures.append(f"{query}: {error}")

    pool = ThreadPoolExecutor(max_workers=threads or len(share))
    time.sleep(max(0.0, start_at - time.time()))
    for index, query in share:
        pool.submit(one, index, query)
    pool.shutdown(wait=True)
    return failures


def outcome(limiter: RecordingLimiter, failures: list[str]) -> dict[str, Any]:
    throttled = limiter.counters.by("throttled", "action")
    return {"sent": limiter.sent, "failures": failures, "throttled": throttled}


def share_of(
    options: argparse.Namespace, load: str, part: int = 0, parts: int = 1
) -> list[tuple[int, Query]]:
    """The lookups (numbered) that one of ``parts`` processes makes."""
    numbered = list(enumerate(lookups(load, device_names(options.devices))))
    return numbered[part::parts]


def worker(options: argparse.Namespace) -> None:
    """One of the replicas: prints a JSON line with its call times, throttling and failures."""
    link = RedisLink(connect(options.redis_url))
    replica = uuid.uuid4().hex[:12]
    account = ACCESS_KEY[0]
    heartbeat = ReplicaHeartbeat(link, account=account, replica=replica).start()
    limiter = RecordingLimiter(
        lambda action, qps: RedisActionQuota(
            link, qps, account=account, action=action, replica=replica, margin=options.margin
        )
    )
    service = build_service(options.worker, limiter, RedisCache(link, namespace=account))
    share = share_of(options, options.load, options.part, options.processes)
    failures = look_up_all(service, share, options.start_at, options.threads)
    print(json.dumps(outcome(limiter, failures)))
    heartbeat.stop()
    service.close()


def in_one_process(url: str, options: argparse.Namespace, load: str) -> dict[str, Any]:
    limiter = RecordingLimiter(
        lambda action, qps: MemoryActionQuota(MemoryQuota(qps, margin=options.margin))
    )
    service = build_service(url, limiter, None)
    failures = look_up_all(service, share_of(options, load), time.time(), options.threads)
    service.close()
    return outcome(limiter, failures)


def in_processes(url: str, options: argparse.Namespace, load: str) -> dict[str, Any]:
    redis_client = connect(options.redis_url)
    redis_client.flushdb()
    redis_client.close()
    start_at = time.time() + 2.0  # every worker starts its lookups at this moment
    same = ["--redis-url", options.redis_url, "--devices", str(options.devices)]
    same += ["--margin", str(options.margin), "--threads", str(options.threads)]
    same += ["--processes", str(options.processes), "--load", load, "--start-at", str(start_at)]
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, "--part", str(part), *same],
            stdout=subprocess.PIPE,
            text=True,
        )
        for part in range(options.processes)
    ]
    merged: dict[str, Any] = {"sent": [], "failures": [], "throttled": Counter()}
    for process in workers:
        out, _ = process.communicate(timeout=PATIENCE + 60)
        result = json.loads(out.strip().splitlines()[-1])
        merged["sent"] += [tuple(item) for item in result["sent"]]
        merged["failures"] += result["failures"]
        merged["throttled"].update(result["throttled"])
    return merged


def most_in_one_second(times: list[float]) -> int:
    """The most of ``times`` in any window of one second."""
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered[i:] if t < start + 1.0) for i, start in enumerate(ordered)),
        default=0,
    )


def sustained_rate(times: list[float]) -> float:
    """Calls per second from the first call to the last (the limiter paces, no burst)."""
    if len(times) < 2:
        return float("nan")
    return (len(times) - 1) / (max(times) - min(times))


def report(title: str, stats: dict[str, Any], result: dict[str, Any]) -> None:
    by_action: dict[str, int] = stats["by_action"]
    busiest: dict[str, int] = stats["max_in_any_second_by_action"]
    print(f"== {title}")
    print(f"   calls seen by the emulator  {stats['calls']}")
    print(f"   throttling answers          {stats['throttled']}  (must be 0)")
    print(f"   failed lookups              {len(result['failures'])}")
    for failure in result["failures"][:5]:
        print(f"     {failure}")
    print(
        f"   {'action':<31}{'calls':>6}{'busiest second':>16}{'limit':>7}"
        f"{'let go in a second':>20}{'calls/s':>9}{'throttled':>11}"
    )
    for action in sorted(by_action):
        times = [moment for name, moment in result["sent"] if name == action]
        print(
            f"   {action:<31}{by_action[action]:>6}{busiest.get(action, 0):>16}"
            f"{LIMITS[action]:>7g}{most_in_one_second(times):>20}"
            f"{sustained_rate(times):>9.2f}{int(result['throttled'].get(action, 0)):>11}"
        )
    sent = [moment for _, moment in result["sent"]]
    print(f"   first to last call          {max(sent) - min(sent):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--load", choices=("jobs", "mixed", "both"), default="both")
    parser.add_argument(
        "--threads",
        type=int,
        default=LISTENER_THREADS,
        help="lookup threads per process, as otabot serve has; 0: one per lookup "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=Settings().quota_margin,
        help="seconds of jitter the quota allows for (OTABOT_QUOTA_MARGIN; default %(default)s)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("OTABOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
    )
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        worker(options)
        return

    loads = ("jobs", "mixed") if options.load == "both" else (options.load,)
    threads = f"{options.threads} lookup threads" if options.threads else "a thread per lookup"
    with otabot_emulator() as url:
        control(url, "/__emulator/fleet", fleet_document(device_names(options.devices)))
        for load in loads:
            size = len(lookups(load, device_names(options.devices)))
            what = f"{size} lookups at once ({'jobs lists' if load == 'jobs' else 'mixed'})"
            control(url, "/__emulator/reset", {})
            result = in_one_process(url, options, load)
            report(f"{what}, one process, {threads}", control(url, "/__emulator/stats"), result)
            control(url, "/__emulator/reset", {})
            result = in_processes(url, options, load)
            report(
                f"{what}, {options.processes} processes sharing Redis, {threads} each",
                control(url, "/__emulator/stats"),
                result,
            )


if __name__ == "__main__":
    main()
