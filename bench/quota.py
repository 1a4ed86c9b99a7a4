"""The quota under load, against ``otabot emulator --qps 10``.

Starts the emulator as a subprocess on a free port, posts a generated fleet of 200
devices, and runs 200 concurrent lookups of distinct devices:

1. in one process (in-process ``QuotaLimiter``);
2. from 4 processes sharing the quota through Redis (``OTABOT_BENCH_REDIS_URL``,
   default ``redis://127.0.0.1:6379/14``, a database this bench flushes).

For each it prints the most calls the emulator saw in any one second (must be <= 10),
its throttling answers (must be 0) and the sustained call rate (target >= 9.5/s:
calls over the time from the first to the last, as the limiter released them).
Usage: ``python bench/quota.py`` (takes about a minute).
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
from typing import Any

from processes import otabot_emulator

from otabot.config import Settings
from otabot.iot.client import IotClient, RetryPolicy
from otabot.iot.errors import IotError
from otabot.service import JobsLookup, OtaService, QuotaLimiter
from otabot.service.fairness import CALLER, Caller
from otabot.service.quota import ActionQuota
from otabot.service.redis_store import (
    RedisActionQuota,
    RedisCache,
    RedisLink,
    ReplicaHeartbeat,
    connect,
)

PRODUCT = "a19mzPZabcd"
ACTION = "ListOTAJobByDevice"
FIRMWARE = "FJFx8JzpnhpIsKftRjjm030100"
ACCESS_KEY = ("testid", "testsecret")
QPS = 10.0
USERS = 10  # the lookups come from ten people, twenty each
PATIENCE = 90.0  # seconds a lookup may wait for its slot in this bench (200 calls take ~20 s)


def device_names(count: int) -> list[str]:
    return [f"bench-{i:04d}" for i in range(count)]


def fleet_document(devices: list[str], jobs_per_device: int = 2) -> dict[str, Any]:
    """A fleet in the emulator's file format: one product, one firmware, a few jobs per device."""
    jobs = []
    for d, device in enumerate(devices):
        for j in range(jobs_per_device):
            stamp = f"2026-{1 + (d + j) % 12:02d}-{1 + j:02d}T{d % 24:02d}:00:00.000Z"
            jobs.append(
                {
                    "JobId": f"BenchJob{d:05d}x{j:03d}",
                    "FirmwareId": FIRMWARE,
                    "ProductKey": PRODUCT,
                    "JobStatus": ("IN_PROGRESS", "COMPLETED", "CANCELED")[j % 3],
                    "JobType": "UPGRADE_FIRMWARE",
                    "SelectionType": "STATIC",
                    "TargetSelection": "SPECIFIC",
                    "UtcCreate": stamp,
                    "UtcModified": stamp,
                    "UtcStartTime": stamp,
                    "UtcEndTime": None,
                    "Tags": [{"Key": "bench", "Value": str(j)}],
                    "Devices": [device],
                }
            )
    return {
        "AccessKeys": {ACCESS_KEY[0]: ACCESS_KEY[1]},
        "IotInstanceId": None,
        "Products": [{"ProductKey": PRODUCT, "Devices": devices}],
        "Firmwares": [{"FirmwareId": FIRMWARE, "ProductKey": PRODUCT}],
        "Jobs": jobs,
    }


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
    """A ``QuotaLimiter`` that notes when each attempt was let through (wall time)."""

    def __init__(self, qps: float, quota: ActionQuota | None = None) -> None:
        quotas = {ACTION: quota} if quota is not None else None
        super().__init__(qps, quotas=quotas, max_wait=PATIENCE)
        self.sent: list[float] = []
        self._sent_lock = threading.Lock()

    def before_attempt(self, action: str, deadline: float | None) -> None:
        super().before_attempt(action, deadline)
        with self._sent_lock:
            self.sent.append(time.time())


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


def lookup_all(service: OtaService, devices: list[str], start_at: float) -> list[str]:
    """Look every device up at once, one thread each; returns the failures."""
    failures: list[str] = []
    lock = threading.Lock()

    def one(device: str) -> None:
        CALLER.set(Caller(f"U{int(device.rsplit('-', 1)[1]) % USERS:02d}"))
        try:
            service.jobs(JobsLookup(PRODUCT, device, FIRMWARE))
        except IotError as error:
            with lock:
                failures.append(f"{device}: {error}")

    threads = [threading.Thread(target=one, args=(device,)) for device in devices]
    time.sleep(max(0.0, start_at - time.time()))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE + 30)
    return failures


def worker(url: str, redis_url: str, devices: list[str], start_at: float) -> None:
    """One of the replicas: prints a JSON line with its call times and failures."""
    link = RedisLink(connect(redis_url))
    replica = uuid.uuid4().hex[:12]
    heartbeat = ReplicaHeartbeat(link, account=ACCESS_KEY[0], replica=replica).start()
    quota = RedisActionQuota(link, QPS, account=ACCESS_KEY[0], action=ACTION, replica=replica)
    limiter = RecordingLimiter(QPS, quota)
    service = build_service(url, limiter, RedisCache(link, namespace=ACCESS_KEY[0]))
    failures = lookup_all(service, devices, start_at)
    print(json.dumps({"sent": limiter.sent, "failures": failures, "stats": service.stats()}))
    heartbeat.stop()
    service.close()


def sustained_rate(sent: list[float]) -> float:
    """Calls per second from the first call to the last (the limiter paces, no burst)."""
    if len(sent) < 2:
        return float("nan")
    return (len(sent) - 1) / (max(sent) - min(sent))


def report(title: str, stats: dict[str, Any], sent: list[float], failures: list[str]) -> None:
    print(f"== {title}")
    print(f"   calls seen by the emulator      {stats.get('calls')}")
    print(f"   most calls in any one second    {stats.get('max_calls_in_any_second')}  (limit 10)")
    print(f"   throttling answers              {stats.get('throttled')}  (must be 0)")
    print(f"   sustained call rate             {sustained_rate(sent):.2f}/s  (target >= 9.5)")
    times = sorted(sent)
    let_go = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    print(f"   most let go in any one second   {let_go}  (by the limiters' own clocks)")
    print(f"   first to last call              {max(sent) - min(sent):.1f} s")
    print(f"   failed lookups                  {len(failures)}")
    for failure in failures[:5]:
        print(f"     {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("OTABOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
    )
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--names", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        worker(options.worker, options.redis_url, options.names.split(","), options.start_at)
        return

    devices = device_names(options.devices)
    with otabot_emulator("--qps", f"{QPS:g}") as url:
        control(url, "/__emulator/fleet", fleet_document(devices))

        control(url, "/__emulator/reset", {})
        limiter = RecordingLimiter(QPS)
        service = build_service(url, limiter, None)
        failures = lookup_all(service, devices, time.time())
        service.close()
        report(
            f"{len(devices)} concurrent lookups, one process",
            control(url, "/__emulator/stats"),
            limiter.sent,
            failures,
        )

        redis_client = connect(options.redis_url)
        redis_client.flushdb()
        redis_client.close()
        control(url, "/__emulator/reset", {})
        start_at = time.time() + 2.0  # every worker starts its threads at this moment
        shares = [devices[i :: options.processes] for i in range(options.processes)]
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    url,
                    "--redis-url",
                    options.redis_url,
                    "--names",
                    ",".join(share),
                    "--start-at",
                    str(start_at),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for share in shares
        ]
        sent: list[float] = []
        failures = []
        for process in workers:
            out, _ = process.communicate(timeout=PATIENCE + 60)
            outcome = json.loads(out.strip().splitlines()[-1])
            sent += outcome["sent"]
            failures += outcome["failures"]
        report(
            f"{len(devices)} concurrent lookups, {options.processes} processes sharing Redis",
            control(url, "/__emulator/stats"),
            sent,
            failures,
        )


if __name__ == "__main__":
    main()
