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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from otabot.iot import actions
from otabot.iot.models import (
    UNFINISHED_TASK_STATUSES,
    DeviceDetail,
    Firmware,
    JobDetail,
    OtaJob,
    OtaTask,
    Page,
    TaskStatus,
)
from otabot.service.fetching import Calls, Kind
from otabot.service.lookups import (
    DeviceLookup,
    FailedLookup,
    FirmwareJobsLookup,
    FirmwareLookup,
    JobLookup,
    JobsLookup,
    VersionLookup,
)
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

TASK_PAGE = actions.LIST_OTA_TASK_BY_JOB.max_page_size or 100
# The task count found by subtraction in a large job (every other status is asked for).
DERIVED_STATUS = TaskStatus.SUCCEEDED
# What counting a large job costs: the first page, the FAILED page, and a call for each
# other status but the derived one. A job of at most this many pages is paged through.
COUNTING_CALLS = len(TaskStatus)


class IotSource(Protocol):
    """What the service needs of ``IotClient`` (tests may pass a small fake)."""

    def list_ota_jobs_by_device(
        self,
        product_key: str,
        device_name: str,
        firmware_id: str,
        current_page: int = 1,
        page_size: int = 100,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[OtaJob]: ...

    def list_ota_unfinished_tasks_by_device(
        self,
        product_key: str,
        device_name: str,
        statuses: Sequence[TaskStatus] = UNFINISHED_TASK_STATUSES,
        module_name: str | None = None,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> tuple[OtaTask, ...]: ...

    def query_device_detail(
        self,
        product_key: str,
        device_name: str,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> DeviceDetail: ...

    def list_ota_firmware(
        self,
        product_key: str,
        dest_version: str | None = None,
        current_page: int = 1,
        page_size: int = 100,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[Firmware]: ...

    def query_ota_job(
        self, job_id: str, iot_instance_id: str | None = None, deadline: float | None = None
    ) -> JobDetail: ...

    def list_ota_tasks_by_job(
        self,
        job_id: str,
        status: TaskStatus | None = None,
        device_names: Sequence[str] = (),
        current_page: int = 1,
        page_size: int = 100,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[OtaTask]: ...

    def list_ota_jobs_by_firmware(
        self,
        firmware_id: str,
        current_page: int = 1,
        page_size: int = 200,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[OtaJob]: ...

    def close(self) -> None: ...


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


def _unique_jobs(jobs: list[OtaJob]) -> list[OtaJob]:
    """Each job once (a job that moves between pages while paging shows up twice)."""
    seen: dict[str, OtaJob] = {}
    for job in jobs:
        seen.setdefault(job.job_id, job)
    return list(seen.values())


def _unique_tasks(tasks: list[OtaTask]) -> tuple[OtaTask, ...]:
    """Each device's task once (a task that moves between pages while paging shows up twice)."""
    seen: dict[str, OtaTask] = {}
    for task in tasks:
        seen.setdefault(task.device_name, task)
    return tuple(seen.values())


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

    jobs: Kind[JobsLookup, JobList]
    firmware_jobs: Kind[FirmwareJobsLookup, JobList]
    device: Kind[DeviceLookup, DeviceDetail]
    unfinished: Kind[DeviceLookup, tuple[OtaTask, ...]]
    job: Kind[JobLookup, JobDetail]
    job_tasks: Kind[JobLookup, JobTasks]
    device_task: Kind[JobLookup, OtaTask | None]
    failed: Kind[FailedLookup, TaskList]
    firmwares: Kind[FirmwareLookup, FirmwareList]
    version: Kind[VersionLookup, tuple[Firmware, ...]]

    @classmethod
    def build(cls, client: IotSource, ttls: Ttls, cap: int) -> Kinds:
        def jobs(lookup: JobsLookup, calls: Calls) -> JobList:
            size = actions.LIST_OTA_JOB_BY_DEVICE.max_page_size or 100
            found, total = every_page(
                calls,
                client.list_ota_jobs_by_device,
                lookup.product_key,
                lookup.device_name,
                lookup.firmware_id,
                page_size=size,
                cap=cap,
                iot_instance_id=lookup.iot_instance_id,
            )
            return JobList(newest_first(_unique_jobs(found))[:cap], total)

        def firmware_jobs(lookup: FirmwareJobsLookup, calls: Calls) -> JobList:
            size = actions.LIST_OTA_JOB_BY_FIRMWARE.max_page_size or 200
            found, total = every_page(
                calls,
                client.list_ota_jobs_by_firmware,
                lookup.firmware_id,
                page_size=size,
                cap=cap,
                iot_instance_id=lookup.iot_instance_id,
            )
            return JobList(newest_first(_unique_jobs(found))[:cap], total)

        def device(lookup: DeviceLookup, calls: Calls) -> DeviceDetail:
            return calls(
                client.query_device_detail,
                lookup.product_key,
                lookup.device_name,
                iot_instance_id=lookup.iot_instance_id,
            )

        def unfinished(lookup: DeviceLookup, calls: Calls) -> tuple[OtaTask, ...]:
            tasks = calls(
                client.list_ota_unfinished_tasks_by_device,
                lookup.product_key,
                lookup.device_name,
                iot_instance_id=lookup.iot_instance_id,
            )
            return _recent_first(tasks)

        def job(lookup: JobLookup, calls: Calls) -> JobDetail:
            return calls(
                client.query_ota_job, lookup.job_id, iot_instance_id=lookup.iot_instance_id
            )

        def tasks_page(calls: Calls, lookup: JobLookup, **options: Any) -> Page[OtaTask]:
            return calls(
                client.list_ota_tasks_by_job,
                lookup.job_id,
                iot_instance_id=lookup.iot_instance_id,
                **{"page_size": TASK_PAGE, **options},
            )

        def remaining_pages(
            calls: Calls, lookup: JobLookup, first: Page[OtaTask], pages: int
        ) -> list[OtaTask]:
            """Pages 2… of the job's tasks, until ``pages`` or one comes back empty."""
            found: list[OtaTask] = []
            for number in range(2, pages + 1) if first.items else ():
                answer = tasks_page(calls, lookup, current_page=number)
                if not answer.items:
                    break
                found.extend(answer.items)
            return found

        def job_tasks(lookup: JobLookup, calls: Calls) -> JobTasks:
            first = tasks_page(calls, lookup)
            pages = -(-first.total // TASK_PAGE)
            if first.total <= len(first.items) or (pages <= COUNTING_CALLS and first.total <= cap):
                everything = _unique_tasks(
                    [*first.items, *remaining_pages(calls, lookup, first, pages)]
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

        def device_task(lookup: JobLookup, calls: Calls) -> OtaTask | None:
            assert lookup.device_name is not None
            page = tasks_page(calls, lookup, device_names=(lookup.device_name,))
            return next(
                (task for task in page.items if task.device_name == lookup.device_name), None
            )

        def failed(lookup: FailedLookup, calls: Calls) -> TaskList:
            found, total = every_page(
                calls,
                client.list_ota_tasks_by_job,
                lookup.job_id,
                page_size=TASK_PAGE,
                cap=cap,
                status=TaskStatus.FAILED,
                iot_instance_id=lookup.iot_instance_id,
            )
            return TaskList(_recent_first(found), total)

        def firmwares(lookup: FirmwareLookup, calls: Calls) -> FirmwareList:
            size = actions.LIST_OTA_FIRMWARE.max_page_size or 100
            found, total = every_page(
                calls,
                client.list_ota_firmware,
                lookup.product_key,
                page_size=size,
                cap=cap,
                iot_instance_id=lookup.iot_instance_id,
            )
            return FirmwareList(newest_firmware_first(tuple(found))[:cap], total)

        def version(lookup: VersionLookup, calls: Calls) -> tuple[Firmware, ...]:
            page = calls(
                client.list_ota_firmware,
                lookup.product_key,
                dest_version=lookup.version,
                page_size=actions.LIST_OTA_FIRMWARE.max_page_size or 100,
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
