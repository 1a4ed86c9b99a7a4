"""Per-call cost of otabot's IotClient against the official aliyun-python-sdk-core client.

Both clients call ``ListOTAJobByDevice`` (light1, the showcase firmware: 14 jobs, page
size 100) on one in-process emulator (port 0, a quota high enough never to throttle),
one call at a time. After a warm-up, the calls run in interleaved rounds (the order of
the clients alternating between rounds) so that drift on the machine hits both alike.
otabot's time includes parsing into typed ``OtaJob`` results; the SDK's includes
``json.loads`` of its body, the least a caller of it must do.

Printed: median and p90 wall milliseconds per call for each client, the mean CPU time
the calling thread spent per call (the client's own cost, the emulator's threads
excluded), and the ratios (target: otabot's median is not slower, ratio <= 1). Usage:
``python bench/client_overhead.py [--calls 300] [--rounds 10] [--warmup 30]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable

from aliyunsdkcore.client import AcsClient
from aliyunsdkiot.request.v20180120.ListOTAJobByDeviceRequest import ListOTAJobByDeviceRequest

from otabot.config import Credentials
from otabot.emulator.fleet import (
    LIGHT_PRODUCT_KEY,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
    sample_fleet,
)
from otabot.emulator.server import EmulatorServer
from otabot.iot.client import IotClient

DEVICE = "light1"
PAGE_SIZE = 100
EXPECTED_JOBS = 14


def otabot_call(client: IotClient) -> Callable[[], int]:
    """One otabot call, returning the number of jobs (checked, so no call is a no-op)."""

    def call() -> int:
        page = client.list_ota_jobs_by_device(
            LIGHT_PRODUCT_KEY, DEVICE, SHOWCASE_FIRMWARE_ID, page_size=PAGE_SIZE
        )
        return len(page.items)

    return call


def sdk_core_call(client: AcsClient, port: int) -> Callable[[], int]:
    """One call as the SDK's documentation writes it: a fresh request object each time."""

    def call() -> int:
        request = ListOTAJobByDeviceRequest()
        request.set_endpoint(f"127.0.0.1:{port}")
        request.set_protocol_type("http")
        request.set_accept_format("JSON")
        request.set_ProductKey(LIGHT_PRODUCT_KEY)
        request.set_DeviceName(DEVICE)
        request.set_FirmwareId(SHOWCASE_FIRMWARE_ID)
        request.set_CurrentPage(1)
        request.set_PageSize(PAGE_SIZE)
        body = json.loads(client.do_action_with_exception(request))
        return len(body["Data"]["SimpleOTAJobInfo"])

    return call


def timed(
    call: Callable[[], int], count: int, wall: list[float], cpu: list[float] | None = None
) -> None:
    """Run ``call`` ``count`` times; record wall time, and this thread's CPU time if asked."""
    for _ in range(count):
        started = time.perf_counter()
        started_cpu = time.thread_time()
        jobs = call()
        if cpu is not None:
            cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
        if jobs != EXPECTED_JOBS:
            raise SystemExit(f"expected {EXPECTED_JOBS} jobs, got {jobs}")


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per client")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=30, help="untimed calls per client")
    args = parser.parse_args()
    per_round = max(1, args.calls // args.rounds)

    with EmulatorServer(sample_fleet(), qps=1_000_000) as server:
        credentials = Credentials(SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET)
        otabot_v3 = IotClient(server.url, credentials, signature="v3")
        otabot_v1 = IotClient(server.url, credentials, signature="v1")
        sdk = AcsClient(SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET, "cn-shanghai")
        contenders: dict[str, Callable[[], int]] = {
            "otabot IotClient, V3 (default)": otabot_call(otabot_v3),
            "otabot IotClient, V1": otabot_call(otabot_v1),
            "aliyun-python-sdk-core AcsClient, V1": sdk_core_call(sdk, server.port),
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        cpu: dict[str, list[float]] = {name: [] for name in contenders}
        for call in contenders.values():
            timed(call, args.warmup, [])
        names = list(contenders)
        for round_number in range(args.rounds):
            order = names if round_number % 2 == 0 else names[::-1]
            for name in order:
                gc.collect()
                timed(contenders[name], per_round, samples[name], cpu[name])
        otabot_v3.close()
        otabot_v1.close()
        emulator_calls = server.stats()["calls"]

    print(
        f"ListOTAJobByDevice, {EXPECTED_JOBS} jobs a page, against an in-process emulator: "
        f"{per_round * args.rounds} timed calls per client in {args.rounds} interleaved rounds "
        f"({emulator_calls} calls served)"
    )
    print(f"{'client':<40} {'median ms':>10} {'p90 ms':>10} {'client CPU ms':>14}")
    medians = {}
    cpu_means = {}
    for name, values in samples.items():
        medians[name] = statistics.median(values)
        cpu_means[name] = statistics.fmean(cpu[name])
        print(
            f"{name:<40} {medians[name] * 1000:>10.3f} {p90(values) * 1000:>10.3f} "
            f"{cpu_means[name] * 1000:>14.3f}"
        )
    sdk = names[2]
    for name in names[:2]:
        ratio = medians[name] / medians[sdk]
        cpu_ratio = cpu_means[name] / cpu_means[sdk]
        verdict = "not slower" if ratio <= 1.0 else "SLOWER"
        print(
            f"ratio {name} / sdk-core: median {ratio:.2f} ({verdict}), client CPU {cpu_ratio:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
