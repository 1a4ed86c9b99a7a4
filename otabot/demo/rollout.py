"""The demo's rollout moving along, so a watched card can be seen to change.

The sample fleet's 2.1.0 rollout (``ROLLOUT_JOB_ID``, see ``otabot.emulator.fleet``)
stands still until someone watches it in the demo. Then, every ``STEP_SECONDS``, its
unfinished tasks move one stage on through the emulator's fleet (what
``POST /__emulator/fleet`` does): three QUEUED devices are NOTIFIED, NOTIFIED ones
start, running ones gain ``PROGRESS_STEP`` % and succeed at 100 — except two that fail
with a reason, so the card's thread hears of them. After about two minutes every task
has finished and the job COMPLETES, which ends the watch. A few minutes later, once
nobody watches it, the sample story comes back for the next person.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from otabot.clocks import Monotonic, WallClock, utc_datetime
from otabot.emulator.fleet import ROLLOUT_JOB_ID, Fleet
from otabot.iot.times import format_utc, parse_utc
from otabot.periodic import repeat

if TYPE_CHECKING:
    from otabot.emulator.server import EmulatorServer

logger = logging.getLogger(__name__)

STEP_SECONDS = 15.0
# The demo checks watched jobs this often, so each step shows on the card within seconds.
WATCH_INTERVAL = 5.0
REPLAY_AFTER_SECONDS = 180.0
PROGRESS_STEP = 30
NOTIFIED_PER_STEP = 3
# Devices that fail when their download completes, and why (shown in the card's thread).
FAILS = {
    "lamp-31": "checksum mismatch after download",
    "lamp-36": "device went offline during install",
}
UNFINISHED = ("CONFIRM", "QUEUED", "NOTIFIED", "IN_PROGRESS")


def happening_now(fleet: Fleet, now: datetime) -> Fleet:
    """The fleet with every date moved on by whole days, so the newest thing that happened
    is within the last day: the sample's story (a device online this morning, a rollout
    started hours ago) reads the same whenever the demo runs, each time of day kept."""
    document = fleet.to_dict()
    stamps = list(_stamps(document))
    if not stamps:
        return fleet
    # What has happened, that is: a job's schedule may lie ahead, and stays as far ahead.
    newest = max(parse_utc(value) for _, key, value in stamps if key != "UtcScheduleTime")
    days = (now - newest).days  # whole days: never past now
    if days == 0:
        return fleet
    for holder, key, value in stamps:
        holder[key] = format_utc(parse_utc(value) + timedelta(days=days))
    return Fleet.from_dict(document)


def _stamps(node: Any) -> Iterator[tuple[Any, Any, str]]:
    """Every ``Utc*`` date in a fleet document: (the dict or list holding it, key, value)."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if isinstance(value, dict | list):
            yield from _stamps(value)
        elif isinstance(key, str) and key.startswith("Utc") and isinstance(value, str) and value:
            yield node, key, value


def advanced(fleet: Fleet, at: datetime, job_id: str = ROLLOUT_JOB_ID) -> Fleet:
    """The fleet one step further on in ``job_id``'s rollout (the same fleet when it is over)."""
    document = fleet.to_dict()
    job = next((job for job in document["Jobs"] if job["JobId"] == job_id), None)
    if job is None or job["JobStatus"] != "IN_PROGRESS":
        return fleet
    stamp = format_utc(at.replace(microsecond=0))
    notified = 0
    for task in job["Devices"]:
        status = task.get("TaskStatus")
        if status not in UNFINISHED:
            continue
        if status == "IN_PROGRESS":
            _run(task)
        elif status == "NOTIFIED":
            task.update(TaskStatus="IN_PROGRESS", Progress="5", TaskDesc="downloading")
        elif notified < NOTIFIED_PER_STEP:
            task.update(TaskStatus="NOTIFIED", Progress="0")
            notified += 1
        else:
            continue
        task["UtcModified"] = stamp
    job["UtcModified"] = stamp
    if not any(task.get("TaskStatus") in UNFINISHED for task in job["Devices"]):
        job.update(JobStatus="COMPLETED", UtcEndTime=stamp)
    return Fleet.from_dict(document)


def _run(task: dict[str, Any]) -> None:
    progress = int(task.get("Progress") or 0) + PROGRESS_STEP
    if progress < 100:
        task.update(
            Progress=str(progress), TaskDesc="installing" if progress > 50 else "downloading"
        )
    elif task["DeviceName"] in FAILS:
        task.update(TaskStatus="FAILED", TaskDesc=FAILS[task["DeviceName"]])
    else:
        task.update(TaskStatus="SUCCEEDED", Progress="100")
        task.pop("TaskDesc", None)


class RolloutMover:
    """Moves the sample rollout along while it is watched; ``start()``, ``stop()``."""

    def __init__(
        self,
        emulator: EmulatorServer,
        *,
        is_watched: Callable[[str], bool],
        step_seconds: float = STEP_SECONDS,
        job_id: str = ROLLOUT_JOB_ID,
        wall_clock: WallClock = time.time,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._emulator = emulator
        self._is_watched = is_watched
        self._step_seconds = step_seconds
        self._job_id = job_id
        self._wall = wall_clock
        self._monotonic = monotonic
        self._story = emulator.fleet  # the sample as it was, for the next person
        self._finished_at: float | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otabot-demo-rollout", daemon=True)

    def start(self) -> RolloutMover:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.ident is not None:
            self._thread.join(self._step_seconds + 1)

    def step(self) -> bool:
        """Move the rollout one step; False once it is over."""
        before = self._emulator.fleet
        after = advanced(before, utc_datetime(self._wall()), self._job_id)
        if after is before:
            return False
        self._emulator.set_fleet(after)
        return True

    def _over(self) -> bool:
        job = self._emulator.fleet.job(self._job_id)
        return job is None or job.job_status != "IN_PROGRESS"  # what ``advanced`` leaves be

    def _run(self) -> None:
        failed = "the demo rollout could not move on"
        repeat(self.turn, self._step_seconds, self._stopped, log=logger, failed=failed)

    def turn(self) -> None:
        watched = self._is_watched(self._job_id)
        if self._finished_at is None:
            if watched and self.step():
                return
            if self._over():  # the watch ended with the rollout: the replay clock starts
                self._finished_at = self._monotonic()
            return
        if not watched and self._monotonic() - self._finished_at >= REPLAY_AFTER_SECONDS:
            self._emulator.set_fleet(self._story)
            self._finished_at = None
