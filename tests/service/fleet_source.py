"""``FleetSource``: an in-memory IoT Platform with the client's seven calls, counting each.

Small enough to read in one go, so a service test states its world (devices, jobs with
their tasks, firmware packages) and counts exactly which calls an answer cost. Paging
follows the API: ``Total`` counts everything that matches, pages slice it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from otabot.iot.errors import (
    DeviceNotFoundError,
    ForbiddenError,
    IotError,
    JobNotFoundError,
)
from otabot.iot.models import (
    UNFINISHED_TASK_STATUSES,
    DeviceDetail,
    DeviceStatus,
    Firmware,
    FirmwareType,
    FirmwareVerification,
    JobDetail,
    JobStatus,
    JobType,
    OtaJob,
    OtaTask,
    Page,
    TaskStatus,
)
from otabot.iot.paging import page_count, page_window
from tests.helpers import LIGHT_PRODUCT_KEY

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def task(
    job_id: str, device: str, status: str, minute: int = 0, reason: str | None = None
) -> OtaTask:
    return OtaTask(
        task_id=f"T-{job_id}-{device}",
        status=TaskStatus(status),
        job_id=job_id,
        firmware_id="FW1",
        product_key=LIGHT_PRODUCT_KEY,
        device_name=device,
        iot_id=f"iot-{device}",
        src_version="1.0.0",
        dest_version="2.0.0",
        description=reason,
        progress=100 if status == "SUCCEEDED" else 40,
        utc_modified=EPOCH + timedelta(minutes=minute),
    )


def job_detail(job_id: str, status: str = "IN_PROGRESS") -> JobDetail:
    return JobDetail(
        job_id=job_id,
        firmware_id="FW1",
        product_key=LIGHT_PRODUCT_KEY,
        status=JobStatus(status),
        job_type=JobType.UPGRADE_FIRMWARE,
        name="light-fw",
        description="",
        dest_version="2.0.0",
        src_versions=("1.0.0",),
        selection_type="STATIC",
        target_selection="SPECIFIC",
        gray_percent=None,
        dynamic_mode=None,
        overwrite_mode=None,
        maximum_per_minute=None,
        retry_count=1,
        retry_interval=60,
        timeout_in_minutes=1440,
        need_push=True,
        need_confirm=False,
        multi_module_mode=False,
        utc_create=EPOCH,
        utc_modified=EPOCH,
        utc_start_time=EPOCH,
        utc_end_time=None,
        utc_schedule_time=None,
        utc_schedule_finish_time=None,
    )


def firmware(firmware_id: str, version: str, day: int = 0, delta: bool = False) -> Firmware:
    return Firmware(
        firmware_id=firmware_id,
        product_key=LIGHT_PRODUCT_KEY,
        name="light-fw",
        dest_version=version,
        src_version="1.0.0" if delta else None,
        module_name="default",
        firmware_type=FirmwareType.DELTA if delta else FirmwareType.FULL,
        verification=FirmwareVerification.VERIFIED,
        size=1024,
        utc_create=EPOCH + timedelta(days=day),
    )


def ota_job(
    job_id: str,
    day: int = 0,
    status: str = "COMPLETED",
    *,
    at: datetime | None = None,
    **fields: Any,
) -> OtaJob:
    """A job made ``day`` days after EPOCH (or ``at``); ``fields`` replace the rest."""
    created = at or EPOCH + timedelta(days=day)
    job = OtaJob(
        job_id=job_id,
        firmware_id="FW1",
        product_key=LIGHT_PRODUCT_KEY,
        status=JobStatus(status),
        job_type=JobType.UPGRADE_FIRMWARE,
        selection_type="STATIC",
        target_selection="SPECIFIC",
        utc_create=created,
        utc_modified=created,
        utc_start_time=created,
        utc_end_time=None,
    )
    return dataclasses.replace(job, **fields)


def page_of(items: Sequence[object], current_page: int, page_size: int, request: str) -> Page:  # type: ignore[type-arg]
    return Page(
        items=tuple(items[page_window(current_page, page_size)]),
        total=len(items),
        page_count=page_count(len(items), page_size),
        current_page=current_page,
        page_size=page_size,
        request_id=request,
    )


@dataclass(frozen=True)
class JobsCall:
    """A ``list_ota_jobs_by_device`` call, as a fake answers it."""

    product_key: str
    device_name: str
    firmware_id: str
    current_page: int
    page_size: int
    deadline: float | None


class JobsByDevice:
    """``list_ota_jobs_by_device`` as ``IotSource`` has it, written once for the fakes: a
    subclass answers ``jobs_page(call)``."""

    def list_ota_jobs_by_device(
        self,
        product_key: str,
        device_name: str,
        firmware_id: str,
        current_page: int = 1,
        page_size: int = 100,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[OtaJob]:
        call = JobsCall(product_key, device_name, firmware_id, current_page, page_size, deadline)
        return self.jobs_page(call)

    def jobs_page(self, call: JobsCall) -> Page[OtaJob]:
        raise NotImplementedError


@dataclass
class FleetSource(JobsByDevice):
    """The world a test states; ``forbidden`` actions answer as a RAM policy without them."""

    devices: dict[str, DeviceDetail] = field(default_factory=dict)
    jobs: dict[str, JobDetail] = field(default_factory=dict)
    tasks: dict[str, list[OtaTask]] = field(default_factory=dict)
    firmwares: list[Firmware] = field(default_factory=list)
    firmware_jobs: dict[str, list[OtaJob]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)
    deadlines: list[float | None] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_device(self, name: str, status: str = "ONLINE", version: str = "1.0.0") -> None:
        self.devices[name] = DeviceDetail(
            product_key=LIGHT_PRODUCT_KEY,
            device_name=name,
            iot_id=f"iot-{name}",
            status=DeviceStatus(status),
            product_name="Smart light",
            firmware_version=version,
        )

    def _call(self, action: str, deadline: float | None) -> str:
        with self._lock:
            self.calls[action] += 1
            self.deadlines.append(deadline)
            request = f"REQ-{action}-{self.calls[action]}"
        if action in self.forbidden:
            error: IotError = ForbiddenError(
                "The RAM user may not call this action.",
                code="iot.common.RamActionPermissionDeny",
                request_id=request,
            )
            error.action = action
            raise error
        return request

    def jobs_page(self, call: JobsCall) -> Page[OtaJob]:
        request = self._call("ListOTAJobByDevice", call.deadline)
        jobs = self.firmware_jobs.get(call.firmware_id, [])
        return page_of(jobs, call.current_page, call.page_size, request)

    def list_ota_unfinished_tasks_by_device(
        self,
        product_key: str,
        device_name: str,
        statuses: Sequence[TaskStatus] = UNFINISHED_TASK_STATUSES,
        module_name: str | None = None,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> tuple[OtaTask, ...]:
        self._call("ListOTAUnfinishedTaskByDevice", deadline)
        if device_name not in self.devices:
            raise DeviceNotFoundError("no such device", code="iot.device.NotExistedDevice")
        return tuple(
            found
            for tasks in self.tasks.values()
            for found in tasks
            if found.device_name == device_name and found.status in statuses
        )

    def query_device_detail(
        self,
        product_key: str,
        device_name: str,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> DeviceDetail:
        self._call("QueryDeviceDetail", deadline)
        if device_name not in self.devices:
            raise DeviceNotFoundError("no such device", code="iot.device.NotExistedDevice")
        return self.devices[device_name]

    def list_ota_firmware(
        self,
        product_key: str,
        dest_version: str | None = None,
        current_page: int = 1,
        page_size: int = 100,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[Firmware]:
        request = self._call("ListOTAFirmware", deadline)
        matching = [f for f in self.firmwares if dest_version in (None, f.dest_version)]
        return page_of(matching, current_page, page_size, request)

    def query_ota_job(
        self, job_id: str, iot_instance_id: str | None = None, deadline: float | None = None
    ) -> JobDetail:
        self._call("QueryOTAJob", deadline)
        if job_id not in self.jobs:
            raise JobNotFoundError("no such job", code="iot.ota.JobNotFound")
        return self.jobs[job_id]

    def list_ota_tasks_by_job(
        self,
        job_id: str,
        status: TaskStatus | None = None,
        device_names: Sequence[str] = (),
        current_page: int = 1,
        page_size: int = 100,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[OtaTask]:
        request = self._call("ListOTATaskByJob", deadline)
        matching = [
            found
            for found in self.tasks.get(job_id, [])
            if (status is None or found.status == status)
            and (not device_names or found.device_name in device_names)
        ]
        return page_of(matching, current_page, page_size, request)

    def list_ota_jobs_by_firmware(
        self,
        firmware_id: str,
        current_page: int = 1,
        page_size: int = 200,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[OtaJob]:
        request = self._call("ListOTAJobByFirmware", deadline)
        return page_of(self.firmware_jobs.get(firmware_id, []), current_page, page_size, request)

    def close(self) -> None:
        pass
