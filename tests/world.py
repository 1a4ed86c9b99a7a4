"""One small world for the front-end tests: a fleet in memory, the real ``OtaService`` over
it, and a record of every use case the front ends asked for.

The Slack suite and the CLI suite both run queries against ``RecordingService``, so
"which query did this input name" is answered the same way in both: by the service
calls it made (none for a refused input).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from otabot.iot.errors import DeviceNotFoundError
from otabot.iot.models import DeviceDetail, DeviceStatus, OtaJob, OtaTask, Page
from otabot.service import OtaService
from tests.helpers import (
    EXAMPLE_JOB_ID,
    LIGHT_PRODUCT_KEY,
    METER_PRODUCT_KEY,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)
from tests.service.fakes import FakeClock
from tests.service.fleet_source import FleetSource, firmware, job_detail, ota_job, task

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": SAMPLE_ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SAMPLE_ACCESS_KEY_SECRET,
    "OTABOT_PRODUCT_ALIASES": f"light={LIGHT_PRODUCT_KEY},meter={METER_PRODUCT_KEY}",
    "OTABOT_PAGE_SIZE": "5",
}
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class WorldSource(FleetSource):
    """``FleetSource`` where a device's jobs need the device to exist, as the API's do."""

    def list_ota_jobs_by_device(
        self, product_key: str, device_name: str, *args: Any, **kw: Any
    ) -> Page[OtaJob]:
        page = super().list_ota_jobs_by_device(product_key, device_name, *args, **kw)
        if device_name not in self.devices:
            raise DeviceNotFoundError(
                "no such device", code="iot.device.NotExistedDevice", request_id="REQ-404"
            )
        return page


def fleet() -> WorldSource:
    """light1 updating 1.1.0 → 1.2.0 in JOB (40 devices, 3 failed); packages 1.2.0 (one),
    2.5.0 (full and delta) and 3.0.0 (spelled v3.0.0); FIRMWARE's 12 jobs."""
    source = WorldSource(
        firmwares=[
            dataclasses.replace(firmware(SHOWCASE_FIRMWARE_ID, "1.2.0", day=3), name="light-fw"),
            firmware("FWfull", "2.5.0", day=5),
            firmware("FWdelta", "2.5.0", day=6, delta=True),
            firmware("FWv3", "v3.0.0", day=9),
        ]
    )
    for name in ("light1", "light2", "light3"):
        source.add_device(name, version="1.1.0")
    source.devices["light1"] = dataclasses.replace(
        source.devices["light1"], nickname="lobby", utc_online=EPOCH + timedelta(hours=5)
    )
    source.jobs[EXAMPLE_JOB_ID] = dataclasses.replace(
        job_detail(EXAMPLE_JOB_ID), firmware_id=SHOWCASE_FIRMWARE_ID, dest_version="1.2.0"
    )
    tasks: list[OtaTask] = []
    reasons = ("download timed out", "signature verification failed", "insufficient storage")
    for index in range(40):
        name = "light1" if index == 0 else f"lamp{index:04d}"
        status = "IN_PROGRESS" if index < 4 else "FAILED" if index < 7 else "SUCCEEDED"
        reason = reasons[index % 3] if status == "FAILED" else None
        made = dataclasses.replace(
            task(EXAMPLE_JOB_ID, name, status, index, reason),
            firmware_id=SHOWCASE_FIRMWARE_ID,
            dest_version="1.2.0",
            src_version="1.1.0",
            module_name="default",
        )
        tasks.append(made)
    source.tasks[EXAMPLE_JOB_ID] = tasks
    statuses = ("IN_PROGRESS", "COMPLETED", "CANCELED")
    source.firmware_jobs[SHOWCASE_FIRMWARE_ID] = [
        dataclasses.replace(
            ota_job(f"J{i:04d}", i, statuses[i % 3]), firmware_id=SHOWCASE_FIRMWARE_ID
        )
        for i in range(12)
    ]
    return source


def _use_case(name: str) -> Callable[..., Any]:
    """A method that records the use case asked for, then asks the real service."""

    def ask(self: RecordingService, lookup: Any, refresh: bool = False) -> Any:
        return self._ask(name, lookup, refresh)

    ask.__name__ = name
    return ask


class CachedView:
    """A recording service answering from its caches only (``OtaService.cached``): a use
    case that needs the API raises ``WouldCall`` and is not recorded (the real lookup that
    follows is)."""

    def __init__(self, recording: RecordingService) -> None:
        self._recording = recording

    def __getattr__(self, use_case: str) -> Callable[..., Any]:
        recording = self._recording

        def ask(lookup: Any, refresh: bool = False) -> Any:
            answer = getattr(recording.inner.cached(), use_case)(lookup, refresh=refresh)
            recording.record(use_case, lookup, refresh)
            return answer

        return ask


class RecordingService:
    """The real ``OtaService`` over a ``WorldSource``, recording each use case asked for."""

    def __init__(self, source: FleetSource | None = None, max_items: int = 1000) -> None:
        self.source = source if source is not None else fleet()
        self.clock = FakeClock()
        self.inner = OtaService(
            self.source,
            max_items=max_items,
            monotonic=self.clock,
            sleep=self.clock.sleep,
            wall_clock=self.clock.wall,
        )
        self.calls: list[tuple[str, object]] = []
        self.refreshes: list[bool] = []
        self._lock = threading.Lock()

    @property
    def upstream(self) -> int:
        """Calls that reached the (in-memory) IoT Platform."""
        return sum(self.source.calls.values())

    def record(self, use_case: str, lookup: Any, refresh: bool) -> None:
        with self._lock:
            self.calls.append((use_case, lookup))
            self.refreshes.append(refresh)

    def _ask(self, use_case: str, lookup: Any, refresh: bool) -> Any:
        self.record(use_case, lookup, refresh)
        return getattr(self.inner, use_case)(lookup, refresh=refresh)

    def cached(self, *, counted: bool = True) -> Any:
        return CachedView(self)

    def estimate(self, actions: Any, user: str) -> float:
        return self.inner.estimate(actions, user)

    jobs = _use_case("jobs")
    device = _use_case("device")
    job = _use_case("job")
    failed = _use_case("failed")
    firmwares = _use_case("firmwares")
    resolve_version = _use_case("resolve_version")
    firmware_jobs = _use_case("firmware_jobs")

    def close(self) -> None:
        pass


def device(name: str, **changes: Any) -> DeviceDetail:
    """A device of PRODUCT, as QueryDeviceDetail describes it."""
    base = DeviceDetail(LIGHT_PRODUCT_KEY, name, f"iot-{name}", DeviceStatus.ONLINE, "Smart light")
    return dataclasses.replace(base, **changes)
