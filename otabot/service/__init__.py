"""The use cases: each on-call question answered cached, single-flight, within the quotas."""

from __future__ import annotations

from otabot.service.lookups import (
    DeviceLookup,
    FailedLookup,
    FirmwareJobsLookup,
    FirmwareLookup,
    JobLookup,
    JobsLookup,
    VersionLookup,
)
from otabot.service.quota import QuotaLimiter
from otabot.service.results import (
    DeviceResult,
    FirmwareResult,
    JobResult,
    JobsResult,
    TasksResult,
    VersionResult,
)
from otabot.service.service import OtaService

__all__ = [
    "DeviceLookup",
    "DeviceResult",
    "FailedLookup",
    "FirmwareJobsLookup",
    "FirmwareLookup",
    "FirmwareResult",
    "JobLookup",
    "JobResult",
    "JobsLookup",
    "JobsResult",
    "OtaService",
    "QuotaLimiter",
    "TasksResult",
    "VersionLookup",
    "VersionResult",
]
