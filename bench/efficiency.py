"""A scripted incident: how many upstream calls do a crowd's lookups really cost?

Ten devices are in trouble. From 20 threads, people run 50 lookups (5 per device), turn
300 pages and press refresh 10 times, in a shuffled (seeded) order; each device's
first lookup comes early, page turns and refreshes follow. Everything goes through
``OtaService.from_settings`` against an in-process emulator (``EmulatorServer``, 10 qps).

Printed: upstream calls counted by the emulator, against the naive count (one call per
interaction and page of 100) and the minimum (one per distinct lookup plus one per
refresh). Usage: ``python bench/efficiency.py`` (``--seed N``).
"""

from __future__ import annotations

import argparse
import queue
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from otabot.config import Settings
from otabot.emulator.fleet import Fleet
from otabot.emulator.server import EmulatorServer
from otabot.iot.errors import IotError
from otabot.iot.paging import page_slice, pages_to_show
from otabot.service import JobsLookup, OtaService

sys.path.insert(0, str(Path(__file__).parent))
from quota import FIRMWARE, PRODUCT, fleet_document

DEVICES = [f"incident-{i:02d}" for i in range(10)]
JOBS_PER_DEVICE = 12
PAGE_SIZE = 5


@dataclass(frozen=True)
class Interaction:
    kind: str  # "lookup", "page" or "refresh"
    device: str
    page: int = 1


def incident_script(seed: int) -> list[Interaction]:
    """50 lookups, 300 page turns and 10 refreshes over 10 devices, first lookups early."""
    rng = random.Random(seed)
    first = [Interaction("lookup", device) for device in DEVICES]
    rest = [Interaction("lookup", device) for device in DEVICES for _ in range(4)]
    rest += [Interaction("page", rng.choice(DEVICES), rng.randint(1, 3)) for _ in range(300)]
    rest += [Interaction("refresh", device) for device in DEVICES]
    rng.shuffle(rest)
    return first + rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=20)
    options = parser.parse_args()

    fleet = Fleet.from_dict(fleet_document(DEVICES, jobs_per_device=JOBS_PER_DEVICE))
    script = incident_script(options.seed)
    with EmulatorServer(fleet, qps=10) as emulator:
        settings = Settings.from_env(
            {
                "OTABOT_IOT_ENDPOINT": emulator.url,
                "ALIBABA_CLOUD_ACCESS_KEY_ID": "testid",
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "testsecret",
            }
        )
        service = OtaService.from_settings(settings)
        work: queue.Queue[Interaction] = queue.Queue()
        for interaction in script:
            work.put(interaction)
        failures: list[str] = []
        lock = threading.Lock()

        def person() -> None:
            while True:
                try:
                    step = work.get_nowait()
                except queue.Empty:
                    return
                query = JobsLookup(PRODUCT, step.device, FIRMWARE)
                try:
                    result = service.jobs(query, refresh=step.kind == "refresh")
                except IotError as error:
                    with lock:
                        failures.append(f"{step}: {error}")
                    continue
                shown = page_slice(result.jobs, step.page, PAGE_SIZE)
                assert shown and step.page <= pages_to_show(len(result.jobs), PAGE_SIZE)

        started = time.monotonic()
        people = [threading.Thread(target=person) for _ in range(options.threads)]
        for thread in people:
            thread.start()
        for thread in people:
            thread.join(120)
        elapsed = time.monotonic() - started
        stats = service.stats()
        calls = emulator.stats()["calls"]
        service.close()

    lookups = sum(1 for step in script if step.kind == "lookup")
    turns = sum(1 for step in script if step.kind == "page")
    refreshes = sum(1 for step in script if step.kind == "refresh")
    naive = len(script)  # every device's jobs fit one page of 100
    minimum = len(DEVICES) + refreshes
    print(
        f"incident: {lookups} lookups over {len(DEVICES)} devices, {turns} page turns, "
        f"{refreshes} refreshes, {options.threads} threads, {elapsed:.1f} s"
    )
    print(f"upstream calls (emulator)   {calls}")
    print(f"naive (one per interaction) {naive}  (calls / naive = {calls / naive:.3f})")
    print(
        f"minimum                     {minimum}  (one per distinct lookup + one per refresh; "
        f"calls / minimum = {calls / minimum:.2f}, target 1.00)"
    )
    print(
        f"cache hits {stats['cache_hits']}, misses {stats['cache_misses']}, "
        f"single-flight joins {stats['single_flight_joins']}, "
        f"quota wait {stats['quota_wait_seconds']} s, throttled {stats['throttled']}"
    )
    print(f"failed interactions         {len(failures)}")
    for failure in failures[:5]:
        print(f"  {failure}")


if __name__ == "__main__":
    main()
