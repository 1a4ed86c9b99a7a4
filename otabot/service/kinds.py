"""The kinds of answer the service fetches: which calls each makes, and its Redis form.

Every kind fetches with as few calls as give a correct answer:

- ``jobs`` / ``firmware_jobs``: every page of ``ListOTAJobByDevice`` (100 a page) or
  ``ListOTAJobByFirmware`` (200 a page), up to the cap.
- ``device``: ``QueryDeviceDetail``; ``unfinished``: ``ListOTAUnfinishedTaskByDevice``
  (one call: it does not page).
- ``job``: ``QueryOTAJob``.
- ``job_tasks``: the task counts of a job. Its unfiltered ``ListOTATaskByJob`` pages of
  100 answer it outright and hold every task, failed ones and any device's included: one
  call for a job of up to 100 devices, and every page while that takes no more calls
  than counting does (up to 700 devices, within the cap). A larger job is counted: one
  page of its FAILED tasks (their count, and the first 100 with reasons), one call per
  other status with ``PageSize=1`` for its ``Total``, and the last status by
  subtraction: 7 calls with the first page.
- ``device_task``: one device's task in a job (``DeviceNames.1``), when the job's tasks
  are not all at hand.
- ``failed``: every FAILED task of a job, 100 a page, up to the cap.
- ``firmwares``: every package of a product; ``version``: the packages of one
  ``DestVersion`` (an exact match, one call).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from otabot.iot import actions
from otabot.iot.models import (
    DeviceDetail,
    Firmware,
    JobDetail,
    OtaJob,
    OtaTask,
    Page,
    TaskStatus,
)
from otabot.iot.paging import page_count
from otabot.service import lookups
from otabot.service.fetching import Calls, Kind
from otabot.service.results import (
    FirmwareList,
    JobList,
    JobTasks,
    TaskList,
    count_statuses,
    newest_firmware_first,
    newest_first,
)

T = TypeVar("T")

# The largest page of each paged action (every page of a list is asked for at this size).
JOBS_PAGE = actions.LIST_OTA_JOB_BY_DEVICE.max_page_size or 100
FIRMWARE_JOBS_PAGE = actions.LIST_OTA_JOB_BY_FIRMWARE.max_page_size or 200
FIRMWARE_PAGE = actions.LIST_OTA_FIRMWARE.max_page_size or 100
TASK_PAGE = actions.LIST_OTA_TASK_BY_JOB.max_page_size or 100
# The task count found by subtraction in a large job (every other status is asked for).
DERIVED_STATUS = TaskStatus.SUCCEEDED
# What counting a large job costs: the first page, the FAILED page, and a call for each
# other status but the derived one. A job of at most this many pages is paged through.
COUNTING_CALLS = len(TaskStatus)


class IotSource(Protocol):
    """What the service needs of ``IotClient`` (tests may pass a small fake): its read
    actions, and ``close``. Each action is called through ``Calls``, which adds the fetch's
    ``deadline=``, so only what it returns is typed here; ``IotClient`` has the arguments."""

    def list_ota_jobs_by_device(self, *args: Any, **options: Any) -> Page[OtaJob]: ...

    def list_ota_unfinished_tasks_by_device(
        self, *args: Any, **options: Any
    ) -> tuple[OtaTask, ...]: ...

    def query_device_detail(self, *args: Any, **options: Any) -> DeviceDetail: ...

    def list_ota_firmware(self, *args: Any, **options: Any) -> Page[Firmware]: ...

    def query_ota_job(self, *args: Any, **options: Any) -> JobDetail: ...

    def list_ota_tasks_by_job(self, *args: Any, **options: Any) -> Page[OtaTask]: ...

    def list_ota_jobs_by_firmware(self, *args: Any, **options: Any) -> Page[OtaJob]: ...

    def close(self) -> None: ...


class _InInstance(Protocol):
    """A lookup, as far as the IoT instance it asks in goes."""

    @property
    def iot_instance_id(self) -> str | None: ...


@dataclass(frozen=True)
class Ttls:
    """How long each kind of answer stays fresh, from ``OTABOT_CACHE_TTL``.

    Jobs lists: the setting itself. A device's status and unfinished tasks move fastest
    (at most 15 s); a job and its task counts at most 30 s; firmware packages rarely
    change, so five times the setting (5 min by default).
    """

    jobs: float
    device: float
    job: float
    firmware: float

    @classmethod
    def from_cache_ttl(cls, cache_ttl: float) -> Ttls:
        return cls(
            jobs=cache_ttl,
            device=min(cache_ttl, 15.0),
            job=min(cache_ttl, 30.0),
            firmware=cache_ttl * 5,
        )


def every_page(
    calls: Calls,
    method: Callable[..., Page[T]],
    *args: Any,
    page_size: int,
    cap: int,
    **options: Any,
) -> tuple[list[T], int]:
    """``method``'s pages 1, 2, … until the API's ``Total`` or ``cap`` items; the items and
    the Total."""
    items: list[T] = []
    page = 1
    while True:
        answer = calls(method, *args, current_page=page, page_size=page_size, **options)
        items.extend(answer.items)
        total = answer.total
        wanted = min(total, cap)
        if not answer.items or len(items) >= wanted or page * page_size >= wanted:
            return items[:cap], total
        page += 1


def _unique(items: list[T], key: Callable[[T], str]) -> list[T]:
    """Each item once by ``key`` (one that moves between pages while paging shows up twice)."""
    seen: dict[str, T] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())


def _recent_first(tasks: list[OtaTask] | tuple[OtaTask, ...]) -> tuple[OtaTask, ...]:
    return tuple(
        sorted(
            tasks,
            key=lambda task: (
                task.utc_modified.timestamp() if task.utc_modified else 0.0,
                task.device_name,
            ),
            reverse=True,
        )
    )


# --- Redis forms ------------------------------------------------------------------------


def _jobs_to_json(value: JobList) -> Any:
    return {"jobs": [job.to_api() for job in value.jobs], "total": value.total}


def _jobs_from_json(data: Any) -> JobList:
    return JobList(tuple(OtaJob.from_api(job) for job in data["jobs"]), int(data["total"]))


def _tasks_to_json(tasks: tuple[OtaTask, ...]) -> Any:
    return [task.to_api() for task in tasks]


def _tasks_from_json(data: Any) -> tuple[OtaTask, ...]:
    return tuple(OtaTask.from_api(task) for task in data)


def _job_tasks_to_json(value: JobTasks) -> Any:
    return {
        "total": value.total,
        "counts": value.counts,
        "failed": _tasks_to_json(value.failed),
        "failed_complete": value.failed_complete,
        "everything": None if value.everything is None else _tasks_to_json(value.everything),
    }


def _job_tasks_from_json(data: Any) -> JobTasks:
    everything = data["everything"]
    return JobTasks(
        total=int(data["total"]),
        counts={str(status): int(count) for status, count in data["counts"].items()},
        failed=_tasks_from_json(data["failed"]),
        failed_complete=bool(data["failed_complete"]),
        everything=None if everything is None else _tasks_from_json(everything),
    )


def _task_list_to_json(value: TaskList) -> Any:
    return {"tasks": _tasks_to_json(value.tasks), "total": value.total}


def _task_list_from_json(data: Any) -> TaskList:
    return TaskList(_tasks_from_json(data["tasks"]), int(data["total"]))


def _firmwares_to_json(firmwares: tuple[Firmware, ...]) -> Any:
    return [firmware.to_api() for firmware in firmwares]


def _firmwares_from_json(data: Any) -> tuple[Firmware, ...]:
    return tuple(Firmware.from_api(firmware) for firmware in data)


def _firmware_list_to_json(value: FirmwareList) -> Any:
    return {"firmwares": _firmwares_to_json(value.firmwares), "total": value.total}


def _firmware_list_from_json(data: Any) -> FirmwareList:
    return FirmwareList(_firmwares_from_json(data["firmwares"]), int(data["total"]))


# --- the kinds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kinds:
    """Every kind of answer, bound to one client, its ttls and the list cap."""

    jobs: Kind[lookups.JobsLookup, JobList]
    firmware_jobs: Kind[lookups.FirmwareJobsLookup, JobList]
    device: Kind[lookups.DeviceLookup, DeviceDetail]
    unfinished: Kind[lookups.DeviceLookup, tuple[OtaTask, ...]]
    job: Kind[lookups.JobLookup, JobDetail]
    job_tasks: Kind[lookups.JobLookup, JobTasks]
    device_task: Kind[lookups.JobLookup, OtaTask | None]
    failed: Kind[lookups.FailedLookup, TaskList]
    firmwares: Kind[lookups.FirmwareLookup, FirmwareList]
    version: Kind[lookups.VersionLookup, tuple[Firmware, ...]]

    @classmethod
    def build(cls, client: IotSource, ttls: Ttls, cap: int) -> Kinds:
        def pages(
            calls: Calls,
            lookup: _InInstance,
            size: int,
            method: Callable[..., Page[T]],
            *args: Any,
            **options: Any,
        ) -> tuple[list[T], int]:
            """Every page of ``method`` in the lookup's instance, ``size`` a page, up to the
            cap: the items and the API's Total."""
            instance = lookup.iot_instance_id
            return every_page(
                calls, method, *args, page_size=size, cap=cap, iot_instance_id=instance, **options
            )

        def job_list(found: list[OtaJob], total: int) -> JobList:
            return JobList(newest_first(_unique(found, lambda job: job.job_id))[:cap], total)

        def jobs(lookup: lookups.JobsLookup, calls: Calls) -> JobList:
            device = (lookup.product_key, lookup.device_name, lookup.firmware_id)
            return job_list(
                *pages(calls, lookup, JOBS_PAGE, client.list_ota_jobs_by_device, *device)
            )

        def firmware_jobs(lookup: lookups.FirmwareJobsLookup, calls: Calls) -> JobList:
            method = client.list_ota_jobs_by_firmware
            return job_list(*pages(calls, lookup, FIRMWARE_JOBS_PAGE, method, lookup.firmware_id))

        def device(lookup: lookups.DeviceLookup, calls: Calls) -> DeviceDetail:
            return calls(
                client.query_device_detail,
                lookup.product_key,
                lookup.device_name,
                iot_instance_id=lookup.iot_instance_id,
            )

        def unfinished(lookup: lookups.DeviceLookup, calls: Calls) -> tuple[OtaTask, ...]:
            tasks = calls(
                client.list_ota_unfinished_tasks_by_device,
                lookup.product_key,
                lookup.device_name,
                iot_instance_id=lookup.iot_instance_id,
            )
            return _recent_first(tasks)

        def job(lookup: lookups.JobLookup, calls: Calls) -> JobDetail:
            return calls(
                client.query_ota_job, lookup.job_id, iot_instance_id=lookup.iot_instance_id
            )

        def tasks_page(calls: Calls, lookup: lookups.JobLookup, **options: Any) -> Page[OtaTask]:
            return calls(
                client.list_ota_tasks_by_job,
                lookup.job_id,
                iot_instance_id=lookup.iot_instance_id,
                **{"page_size": TASK_PAGE, **options},
            )

        def remaining_pages(
            calls: Calls, lookup: lookups.JobLookup, first: Page[OtaTask], pages: int
        ) -> list[OtaTask]:
            """Pages 2… of the job's tasks, until ``pages`` or one comes back empty."""
            found: list[OtaTask] = []
            for number in range(2, pages + 1) if first.items else ():
                answer = tasks_page(calls, lookup, current_page=number)
                if not answer.items:
                    break
                found.extend(answer.items)
            return found

        def job_tasks(lookup: lookups.JobLookup, calls: Calls) -> JobTasks:
            first = tasks_page(calls, lookup)
            pages = page_count(first.total, TASK_PAGE)
            if first.total <= len(first.items) or (pages <= COUNTING_CALLS and first.total <= cap):
                everything = tuple(
                    _unique(
                        [*first.items, *remaining_pages(calls, lookup, first, pages)],
                        lambda task: task.device_name,
                    )
                )
                failed = tuple(task for task in everything if task.status == TaskStatus.FAILED)
                return JobTasks(
                    total=len(everything),
                    counts=count_statuses(everything),
                    failed=_recent_first(failed),
                    failed_complete=True,
                    everything=everything,
                )
            failed_page = tasks_page(calls, lookup, status=TaskStatus.FAILED)
            counts = {TaskStatus.FAILED.value: failed_page.total}
            for status in TaskStatus:
                if status not in (TaskStatus.FAILED, DERIVED_STATUS):
                    counts[status.value] = tasks_page(
                        calls, lookup, status=status, page_size=1
                    ).total
            # Tasks move while we count: the subtraction may come out below zero.
            counts[DERIVED_STATUS.value] = max(0, first.total - sum(counts.values()))
            return JobTasks(
                total=first.total,
                counts={status.value: counts[status.value] for status in TaskStatus},
                failed=_recent_first(failed_page.items),
                failed_complete=failed_page.total <= len(failed_page.items),
            )

        def device_task(lookup: lookups.JobLookup, calls: Calls) -> OtaTask | None:
            assert lookup.device_name is not None
            page = tasks_page(calls, lookup, device_names=(lookup.device_name,))
            return next(
                (task for task in page.items if task.device_name == lookup.device_name), None
            )

        def failed(lookup: lookups.FailedLookup, calls: Calls) -> TaskList:
            method, failed = client.list_ota_tasks_by_job, TaskStatus.FAILED
            found, total = pages(calls, lookup, TASK_PAGE, method, lookup.job_id, status=failed)
            return TaskList(_recent_first(found), total)

        def firmwares(lookup: lookups.FirmwareLookup, calls: Calls) -> FirmwareList:
            method = client.list_ota_firmware
            found, total = pages(calls, lookup, FIRMWARE_PAGE, method, lookup.product_key)
            return FirmwareList(newest_firmware_first(tuple(found))[:cap], total)

        def version(lookup: lookups.VersionLookup, calls: Calls) -> tuple[Firmware, ...]:
            page = calls(
                client.list_ota_firmware,
                lookup.product_key,
                dest_version=lookup.version,
                page_size=FIRMWARE_PAGE,
                iot_instance_id=lookup.iot_instance_id,
            )
            exact = tuple(item for item in page.items if item.dest_version == lookup.version)
            return newest_firmware_first(exact)

        a = actions
        return cls(
            jobs=Kind(
                "jobs",
                ttls.jobs,
                jobs,
                _jobs_to_json,
                _jobs_from_json,
                action=a.LIST_OTA_JOB_BY_DEVICE.name,
            ),
            firmware_jobs=Kind(
                "firmware_jobs",
                ttls.jobs,
                firmware_jobs,
                _jobs_to_json,
                _jobs_from_json,
                action=a.LIST_OTA_JOB_BY_FIRMWARE.name,
            ),
            device=Kind(
                "device",
                ttls.device,
                device,
                DeviceDetail.to_api,
                DeviceDetail.from_api,
                action=a.QUERY_DEVICE_DETAIL.name,
            ),
            unfinished=Kind(
                "unfinished",
                ttls.device,
                unfinished,
                _tasks_to_json,
                _tasks_from_json,
                action=a.LIST_OTA_UNFINISHED_TASK_BY_DEVICE.name,
            ),
            job=Kind(
                "job",
                ttls.job,
                job,
                JobDetail.to_api,
                JobDetail.from_api,
                action=a.QUERY_OTA_JOB.name,
            ),
            job_tasks=Kind(
                "job_tasks",
                ttls.job,
                job_tasks,
                _job_tasks_to_json,
                _job_tasks_from_json,
                key=lambda lookup: lookup.without_device().cache_key(),
                action=a.LIST_OTA_TASK_BY_JOB.name,
            ),
            device_task=Kind(
                "device_task",
                ttls.job,
                device_task,
                lambda task: None if task is None else task.to_api(),
                lambda data: None if data is None else OtaTask.from_api(data),
                key=lambda lookup: f"{lookup.cache_key()}|{lookup.device_name}",
                action=a.LIST_OTA_TASK_BY_JOB.name,
            ),
            failed=Kind(
                "failed",
                ttls.job,
                failed,
                _task_list_to_json,
                _task_list_from_json,
                action=a.LIST_OTA_TASK_BY_JOB.name,
            ),
            firmwares=Kind(
                "firmwares",
                ttls.firmware,
                firmwares,
                _firmware_list_to_json,
                _firmware_list_from_json,
                action=a.LIST_OTA_FIRMWARE.name,
            ),
            version=Kind(
                "version",
                ttls.firmware,
                version,
                _firmwares_to_json,
                _firmwares_from_json,
                action=a.LIST_OTA_FIRMWARE.name,
            ),
        )
