"""What the service answers: the values of each lookup kind, and where each answer came from.

``Fetched`` wraps any value with its provenance (when it was fetched, whether this
answer came from a cache, and the upstream calls and RequestIds *this* answer cost:
none when it came from a cache). The composite results a front end renders
(``DeviceResult``, ``JobResult``, …) hold parts, each either a value or the error
that kept it away, so a card can show what it could fetch and say what it could not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Generic, TypeVar

from otabot.iot.errors import IotError
from otabot.iot.models import (
    DeviceDetail,
    Firmware,
    JobDetail,
    JobStatus,
    OtaJob,
    OtaTask,
    TaskStatus,
)
from otabot.service import lookups

V = TypeVar("V")

_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Fetched(Generic[V]):
    """A value and its provenance."""

    value: V
    fetched_at: datetime
    from_cache: bool = False
    upstream_calls: int = 0
    request_ids: tuple[str, ...] = ()

    def cached(self) -> Fetched[V]:
        """The same value served again from a cache: it cost this answer no call."""
        return replace(self, from_cache=True, upstream_calls=0)


@dataclass(frozen=True)
class Provenance:
    """Where a (possibly composite) answer came from."""

    fetched_at: datetime
    from_cache: bool
    upstream_calls: int
    request_ids: tuple[str, ...]

    @classmethod
    def of(cls, *parts: Fetched[Any] | Provenance) -> Provenance:
        """Parts merged (fetched values, or the steps of a several-step answer): the oldest
        fetch time, cached only if every part was, the calls and RequestIds of them all."""
        return cls(
            fetched_at=min(part.fetched_at for part in parts),
            from_cache=all(part.from_cache for part in parts),
            upstream_calls=sum(part.upstream_calls for part in parts),
            request_ids=tuple(rid for part in parts for rid in part.request_ids if rid),
        )

    def age_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.fetched_at).total_seconds())


# --- the values each kind caches ------------------------------------------------------


def newest_first(jobs: tuple[OtaJob, ...] | list[OtaJob]) -> tuple[OtaJob, ...]:
    """Jobs ordered by ``UtcCreate``, newest first (JobId breaks ties, so order is stable)."""
    return tuple(
        sorted(jobs, key=lambda job: (job.utc_create or _OLDEST, job.job_id), reverse=True)
    )


def newest_firmware_first(firmwares: tuple[Firmware, ...]) -> tuple[Firmware, ...]:
    return tuple(
        sorted(
            firmwares,
            key=lambda firmware: (firmware.utc_create or _OLDEST, firmware.firmware_id),
            reverse=True,
        )
    )


@dataclass(frozen=True)
class JobList:
    """Every job of a list lookup (up to the cap), newest first; ``total`` as the API said."""

    jobs: tuple[OtaJob, ...]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.jobs)


@dataclass(frozen=True)
class TaskList:
    """Tasks of one job (up to the cap); ``total`` as the API said."""

    tasks: tuple[OtaTask, ...]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.tasks)


@dataclass(frozen=True)
class FirmwareList:
    """Every firmware package of a product (up to the cap), newest first."""

    firmwares: tuple[Firmware, ...]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.firmwares)


@dataclass(frozen=True)
class JobTasks:
    """A job's tasks, counted by status with as few calls as the job's size allows.

    ``counts`` has every task status (0 where none). ``failed`` holds the failed tasks
    fetched along the way (all of them when ``failed_complete``). ``everything`` holds
    every task when the whole job fit in one page (so a device's task is found here
    without another call), else None.
    """

    total: int
    counts: dict[str, int]
    failed: tuple[OtaTask, ...]
    failed_complete: bool
    everything: tuple[OtaTask, ...] | None = None

    def task_of(self, device_name: str) -> OtaTask | None:
        """The device's task if this job's tasks are all here (else ``LookupError``)."""
        if self.everything is None:
            raise LookupError("not every task of this job is at hand")
        for task in self.everything:
            if task.device_name == device_name:
                return task
        return None


def count_statuses(tasks: tuple[OtaTask, ...]) -> dict[str, int]:
    """Tasks per status, every known status present (0 where none), unknown ones after."""
    counted = Counter(task.status.value for task in tasks)
    counts = {status.value: counted.pop(status.value, 0) for status in TaskStatus}
    counts.update(sorted(counted.items()))
    return counts


# --- what the front ends render -------------------------------------------------------


@dataclass(frozen=True)
class Part(Generic[V]):
    """One part of a card: its value, or the error that kept it away (never both)."""

    value: V | None = None
    error: IotError | None = None


@dataclass(frozen=True)
class JobListing:
    """Every job of a list lookup (up to the cap), newest first, and where they came from."""

    jobs: tuple[OtaJob, ...]
    total: int
    provenance: Provenance

    @property
    def truncated(self) -> bool:
        return self.total > len(self.jobs)

    @cached_property
    def counts(self) -> dict[str, int]:
        """How many jobs have each status, by the status's value."""
        return dict(Counter(job.status.value for job in self.jobs))

    def filtered(self, status: JobStatus | None) -> tuple[OtaJob, ...]:
        """The jobs with this status (all of them when ``status`` is None)."""
        if status is None:
            return self.jobs
        return tuple(job for job in self.jobs if job.status == status)


@dataclass(frozen=True)
class JobsResult(JobListing):
    """Every job of one device for one firmware."""

    lookup: lookups.JobsLookup = field(kw_only=True)


@dataclass(frozen=True)
class FirmwareJobsResult(JobListing):
    """Every job of one firmware package."""

    lookup: lookups.FirmwareJobsLookup = field(kw_only=True)


@dataclass(frozen=True)
class DeviceResult:
    """The device card: the device (status, reported firmware) and its unfinished tasks."""

    lookup: lookups.DeviceLookup
    device: Part[DeviceDetail]
    tasks: Part[tuple[OtaTask, ...]]
    provenance: Provenance


@dataclass(frozen=True)
class TaskCounts:
    """How many device tasks a job has, in all and by status."""

    total: int
    by_status: dict[str, int]


@dataclass(frozen=True)
class JobResult:
    """The job card: the job, its task counts, and the asked-for device's task in it."""

    lookup: lookups.JobLookup
    job: JobDetail
    counts: Part[TaskCounts]
    device_task: Part[OtaTask | None]  # no value and no error: the device has no task here
    provenance: Provenance


@dataclass(frozen=True)
class TasksResult:
    """A job's failed device tasks (up to the cap), most recently changed first."""

    lookup: lookups.FailedLookup
    tasks: tuple[OtaTask, ...]
    total: int
    provenance: Provenance

    @property
    def truncated(self) -> bool:
        return self.total > len(self.tasks)


@dataclass(frozen=True)
class FirmwareResult:
    """A product's firmware packages (up to the cap), newest first."""

    lookup: lookups.FirmwareLookup
    firmwares: tuple[Firmware, ...]
    total: int
    provenance: Provenance

    @property
    def truncated(self) -> bool:
        return self.total > len(self.firmwares)


@dataclass(frozen=True)
class VersionResult:
    """A version resolved: the packages with it (``matches``; several means ask which),
    the spelling that matched (``2.5.0`` for ``v2.5.0``), and the product's newest
    packages when nothing matched (for the suggestion)."""

    lookup: lookups.VersionLookup
    matches: tuple[Firmware, ...]
    matched_version: str | None
    newest: tuple[Firmware, ...]
    provenance: Provenance
