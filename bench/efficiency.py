"""Scripted incidents: how many upstream calls do a crowd's lookups really cost?

Two incidents, each through ``OtaService.from_settings`` against an in-process emulator
(``EmulatorServer``), from 20 threads, in a shuffled (seeded) order:

- **jobs lists**: ten devices are in trouble; people run 50 jobs lookups (5 per device),
  turn 300 pages and press refresh 10 times; each device's first lookup comes early.
  Emulator at 10 calls/s. Naive: one call per interaction (every list fits a page of
  100); minimum: one per distinct lookup plus one per refresh.
- **device first**: ten devices in three rollout jobs (250, 60 and 20 devices, with
  failures). People open 30 device cards (each device's first early), 40 job cards from
  those cards' ``Job`` buttons (with the device), turn 60 pages of the jobs' failed
  devices, then refresh 3 device cards and 2 job cards. Each interaction is one
  person's (a ``Caller`` of its own), answered by ``look_up`` as ``/ota`` answers it.
  Emulator and otabot at each action's documented quota. Counted per action:
  *naive* fetches every card whole at every interaction, nothing cached or shared;
  *minimum* fetches each distinct device's card and each distinct job's card once, plus
  each refresh. A card's calls: the device card one ``QueryDeviceDetail`` and one
  ``ListOTAUnfinishedTaskByDevice``; the job card one ``QueryOTAJob`` and the fewest
  ``ListOTATaskByJob`` calls that count its tasks by status and hold every failed task
  and every device's: its pages of 100 (counting status by status would take 7 calls,
  and each device's task one more, so for these jobs of at most 7 pages the pages are
  fewest). The failed devices' card is the job card plus its failed list, which those
  pages hold.

Usage: ``python bench/efficiency.py`` (``--seed N``, ``--threads N``, ``--incident``).
"""

from __future__ import annotations

import argparse
import math
import queue
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from otabot.config import Settings
from otabot.emulator.fleet import LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID, Fleet
from otabot.emulator.server import EmulatorServer
from otabot.iot.errors import IotError
from otabot.iot.paging import page_slice, pages_to_show
from otabot.query.answers import look_up
from otabot.query.queries import DeviceQuery, FailedQuery, JobQuery
from otabot.service import JobsLookup, OtaService
from otabot.service.fairness import CALLER, Caller

sys.path.insert(0, str(Path(__file__).parent))
from quota import ACCESS_KEY, fleet_document, fleet_of, job_entry

DEVICES = [f"incident-{i:02d}" for i in range(10)]
JOBS_PER_DEVICE = 12
PAGE_SIZE = 5
TASK_PAGE = 100  # ListOTATaskByJob's largest page
T = TypeVar("T")


def run_crowd(steps: Iterable[T], threads: int, act: Callable[[int, T], None]) -> float:
    """``act(person, step)`` for every step, from ``threads`` people taking the next step
    in order; the seconds it took."""
    work: queue.Queue[T] = queue.Queue()
    for step in steps:
        work.put(step)

    def person(index: int) -> None:
        while True:
            try:
                step = work.get_nowait()
            except queue.Empty:
                return
            act(index, step)

    started = time.monotonic()
    people = [threading.Thread(target=person, args=(index,)) for index in range(threads)]
    for thread in people:
        thread.start()
    for thread in people:
        thread.join(120)
    return time.monotonic() - started


def emulator_settings(emulator: EmulatorServer) -> Settings:
    return Settings.from_env(
        {
            "OTABOT_IOT_ENDPOINT": emulator.url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY[0],
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY[1],
        }
    )


def print_service_stats(service: OtaService, failures: list[str]) -> None:
    stats = service.stats()
    print(
        f"cache hits {stats['cache_hits']}, misses {stats['cache_misses']}, "
        f"single-flight joins {stats['single_flight_joins']}, "
        f"quota wait {stats['quota_wait_seconds']} s, throttled {stats['throttled']}"
    )
    print(f"failed interactions         {len(failures)}")
    for failure in failures[:5]:
        print(f"  {failure}")


# --- the jobs-list incident -------------------------------------------------------------


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


def jobs_incident(seed: int, threads: int) -> None:
    fleet = Fleet.from_dict(fleet_document(DEVICES, jobs_per_device=JOBS_PER_DEVICE))
    script = incident_script(seed)
    failures: list[str] = []
    lock = threading.Lock()
    with EmulatorServer(fleet, qps=10) as emulator:
        service = OtaService.from_settings(emulator_settings(emulator))

        def act(index: int, step: Interaction) -> None:
            query = JobsLookup(LIGHT_PRODUCT_KEY, step.device, SHOWCASE_FIRMWARE_ID)
            try:
                result = service.jobs(query, refresh=step.kind == "refresh")
            except IotError as error:
                with lock:
                    failures.append(f"{step}: {error}")
                return
            shown = page_slice(result.jobs, step.page, PAGE_SIZE)
            assert shown and step.page <= pages_to_show(len(result.jobs), PAGE_SIZE)

        elapsed = run_crowd(script, threads, act)
        calls = emulator.stats()["calls"]
        service.close()

    lookups = sum(1 for step in script if step.kind == "lookup")
    turns = sum(1 for step in script if step.kind == "page")
    refreshes = sum(1 for step in script if step.kind == "refresh")
    naive = len(script)  # every device's jobs fit one page of 100
    minimum = len(DEVICES) + refreshes
    print(
        f"== jobs lists: {lookups} lookups over {len(DEVICES)} devices, {turns} page turns, "
        f"{refreshes} refreshes, {threads} threads, {elapsed:.1f} s"
    )
    print(f"upstream calls (emulator)   {calls}")
    print(f"naive (one per interaction) {naive}  (calls / naive = {calls / naive:.3f})")
    print(
        f"minimum                     {minimum}  (one per distinct lookup + one per refresh; "
        f"calls / minimum = {calls / minimum:.2f}, target 1.00)"
    )
    print_service_stats(service, failures)


# --- the device-first incident ----------------------------------------------------------


@dataclass(frozen=True)
class RolloutJob:
    """One of the incident's jobs: its size, its failures and the incident devices in it."""

    job_id: str
    tasks: int
    failed: int
    devices: tuple[str, ...]

    @property
    def failed_pages(self) -> int:
        return pages_to_show(self.failed, PAGE_SIZE)

    @property
    def task_calls(self) -> int:
        """The fewest ListOTATaskByJob calls for its card (see the module's docstring)."""
        pages = math.ceil(self.tasks / TASK_PAGE)
        assert pages <= 7, "a larger job is counted status by status"
        return pages


ROLLOUTS = (
    RolloutJob("IncidentRolloutA0000000001", 250, 12, tuple(DEVICES[0:4])),
    RolloutJob("IncidentRolloutB0000000001", 60, 7, tuple(DEVICES[4:7])),
    RolloutJob("IncidentRolloutC0000000001", 20, 3, tuple(DEVICES[7:10])),
)
JOB_OF = {device: rollout for rollout in ROLLOUTS for device in rollout.devices}
REASONS = (
    "download timed out",
    "signature verification failed",
    "device went offline during install",
    "insufficient storage",
)
QUERY_DEVICE_DETAIL = "QueryDeviceDetail"
LIST_UNFINISHED = "ListOTAUnfinishedTaskByDevice"
QUERY_OTA_JOB = "QueryOTAJob"
LIST_TASKS = "ListOTATaskByJob"
CARD_ACTIONS = (QUERY_DEVICE_DETAIL, LIST_UNFINISHED, QUERY_OTA_JOB, LIST_TASKS)


def rollout_document() -> dict[str, Any]:
    """The incident's fleet: each job over its incident devices (in progress) and lamps,
    ``failed`` of the lamps FAILED with a reason, a few still going, the rest done."""
    devices: list[str] = []
    jobs = []
    for number, rollout in enumerate(ROLLOUTS):
        lamps = [
            f"lamp-{number}-{index:03d}" for index in range(rollout.tasks - len(rollout.devices))
        ]
        devices += [*rollout.devices, *lamps]
        tasks: list[dict[str, Any]] = [
            {"DeviceName": device, "TaskStatus": "IN_PROGRESS", "Progress": "40"}
            for device in rollout.devices
        ]
        for index, lamp in enumerate(lamps):
            stamp = f"2026-11-{1 + index % 28:02d}T{index % 24:02d}:{index % 60:02d}:00.000Z"
            task = {"DeviceName": lamp, "TaskStatus": "SUCCEEDED", "UtcModified": stamp}
            if index < rollout.failed:
                task |= {"TaskStatus": "FAILED", "TaskDesc": REASONS[index % len(REASONS)]}
            elif index < rollout.failed + 6:
                task["TaskStatus"] = ("QUEUED", "NOTIFIED", "IN_PROGRESS")[index % 3]
            tasks.append(task)
        jobs.append(job_entry(rollout.job_id, tasks, "2026-11-01T00:00:00.000Z", tag=str(number)))
    return fleet_of(devices, jobs)


CardQuery = DeviceQuery | JobQuery | FailedQuery


@dataclass(frozen=True)
class Step:
    query: CardQuery
    refresh: bool = False


def device_first_script(seed: int) -> tuple[list[Step], list[Step]]:
    """The incident's interactions, then its refreshes (after everything else)."""
    rng = random.Random(seed)

    def job_card(device: str) -> JobQuery:
        return JobQuery(JOB_OF[device].job_id, LIGHT_PRODUCT_KEY, device)

    first = [Step(DeviceQuery(LIGHT_PRODUCT_KEY, device)) for device in DEVICES]
    rest = [Step(DeviceQuery(LIGHT_PRODUCT_KEY, rng.choice(DEVICES))) for _ in range(20)]
    rest += [Step(job_card(rng.choice(DEVICES))) for _ in range(40)]
    for _ in range(60):
        rollout = rng.choice(ROLLOUTS)
        page = rng.randint(1, rollout.failed_pages)
        rest.append(Step(FailedQuery(rollout.job_id, LIGHT_PRODUCT_KEY, None, page)))
    rng.shuffle(rest)
    refreshes = [
        Step(DeviceQuery(LIGHT_PRODUCT_KEY, rng.choice(DEVICES)), refresh=True) for _ in range(3)
    ]
    refreshes += [Step(job_card(rng.choice(DEVICES)), refresh=True) for _ in range(2)]
    return first + rest, refreshes


def card_calls(query: CardQuery) -> Counter[str]:
    """The calls one card costs fetched whole: per action."""
    if isinstance(query, DeviceQuery):
        return Counter({QUERY_DEVICE_DETAIL: 1, LIST_UNFINISHED: 1})
    rollout = next(r for r in ROLLOUTS if r.job_id == query.job_id)
    return Counter({QUERY_OTA_JOB: 1, LIST_TASKS: rollout.task_calls})


def card_key(query: CardQuery) -> tuple[str, str]:
    """What a card's fetch is shared by: the device, or the job (whatever its page)."""
    if isinstance(query, DeviceQuery):
        return ("device", query.device_name)
    return ("job", query.job_id)


def naive_and_minimum(steps: list[Step]) -> tuple[Counter[str], Counter[str]]:
    naive: Counter[str] = Counter()
    distinct: dict[tuple[str, str], CardQuery] = {}
    minimum: Counter[str] = Counter()
    for step in steps:
        naive += card_calls(step.query)
        if step.refresh:
            minimum += card_calls(step.query)
        else:
            distinct.setdefault(card_key(step.query), step.query)
    for query in distinct.values():
        minimum += card_calls(query)
    return naive, minimum


def kinds_of(steps: list[Step]) -> str:
    cards = Counter(type(step.query).__name__ for step in steps if not step.refresh)
    refreshes = sum(1 for step in steps if step.refresh)
    return (
        f"{cards['DeviceQuery']} device cards over {len(DEVICES)} devices, "
        f"{cards['JobQuery']} job cards over {len(ROLLOUTS)} jobs, "
        f"{cards['FailedQuery']} failed-device pages, {refreshes} refreshes"
    )


def device_first_incident(seed: int, threads: int) -> None:
    fleet = Fleet.from_dict(rollout_document())
    interactions, refreshes = device_first_script(seed)
    failures: list[str] = []
    lock = threading.Lock()
    with EmulatorServer(fleet) as emulator:
        service = OtaService.from_settings(emulator_settings(emulator))

        def act(person: int, step: Step) -> None:
            CALLER.set(Caller(f"U{person:02d}"))
            try:
                look_up(service, step.query, refresh=step.refresh)
            except IotError as error:
                with lock:
                    failures.append(f"{step}: {error}")

        elapsed = run_crowd(interactions, threads, act)
        elapsed += run_crowd(refreshes, threads, act)
        by_action: dict[str, int] = emulator.stats()["by_action"]
        service.close()

    steps = interactions + refreshes
    naive, minimum = naive_and_minimum(steps)
    print(f"== device first: {kinds_of(steps)}, {threads} people, {elapsed:.1f} s")
    print(f"{'action':<32}{'calls':>7}{'naive':>7}{'minimum':>9}{'/naive':>9}{'/minimum':>10}")
    rows = [
        (action, by_action.get(action, 0), naive[action], minimum[action])
        for action in CARD_ACTIONS
    ]
    others = sorted(set(by_action) - set(CARD_ACTIONS))
    rows += [(action, by_action[action], 0, 0) for action in others]
    rows.append(("all", sum(by_action.values()), naive.total(), minimum.total()))
    for action, calls, most, least in rows:
        print(
            f"{action:<32}{calls:>7}{most:>7}{least:>9}"
            f"{calls / most if most else math.nan:>9.3f}"
            f"{calls / least if least else math.nan:>10.2f}"
        )
    print_service_stats(service, failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--incident", choices=("jobs", "device", "both"), default="both")
    options = parser.parse_args()
    if options.incident in ("jobs", "both"):
        jobs_incident(options.seed, options.threads)
    if options.incident in ("device", "both"):
        device_first_incident(options.seed, options.threads)


if __name__ == "__main__":
    main()
