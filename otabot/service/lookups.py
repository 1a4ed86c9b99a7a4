"""What can be asked of the service: one frozen key per kind of lookup.

Each names everything its answer depends on, and ``cache_key()`` spells it as a stable
string (safe in Redis keys). The front ends build these from a parsed query; pages and
status filters are not part of a lookup — they are slices of its answer, so turning a
page never costs an upstream call.
"""

from __future__ import annotations

from dataclasses import dataclass


def _key(*parts: str | None) -> str:
    return "|".join(part or "" for part in parts)


@dataclass(frozen=True)
class JobsLookup:
    """Every job of one device for one firmware (``ListOTAJobByDevice``, all pages)."""

    product_key: str
    device_name: str
    firmware_id: str
    iot_instance_id: str | None = None

    def cache_key(self) -> str:
        return _key(self.product_key, self.device_name, self.firmware_id, self.iot_instance_id)


@dataclass(frozen=True)
class DeviceLookup:
    """A device's status and its unfinished OTA tasks (the device card)."""

    product_key: str
    device_name: str
    iot_instance_id: str | None = None

    def cache_key(self) -> str:
        return _key(self.product_key, self.device_name, self.iot_instance_id)


@dataclass(frozen=True)
class JobLookup:
    """One job, its task counts, and (with ``device_name``) that device's task in it."""

    job_id: str
    iot_instance_id: str | None = None
    device_name: str | None = None

    def cache_key(self) -> str:
        return _key(self.job_id, self.iot_instance_id)

    def without_device(self) -> JobLookup:
        return JobLookup(self.job_id, self.iot_instance_id)


@dataclass(frozen=True)
class FailedLookup:
    """Every failed device task of one job, with the reasons (``TaskDesc``)."""

    job_id: str
    iot_instance_id: str | None = None

    def cache_key(self) -> str:
        return _key(self.job_id, self.iot_instance_id)


@dataclass(frozen=True)
class FirmwareLookup:
    """Every firmware package of a product (``ListOTAFirmware``, all pages)."""

    product_key: str
    iot_instance_id: str | None = None

    def cache_key(self) -> str:
        return _key(self.product_key, self.iot_instance_id)


@dataclass(frozen=True)
class VersionLookup:
    """The firmware packages of a product whose ``DestVersion`` is ``version``."""

    product_key: str
    version: str
    iot_instance_id: str | None = None

    def cache_key(self) -> str:
        return _key(self.product_key, self.version, self.iot_instance_id)


@dataclass(frozen=True)
class FirmwareJobsLookup:
    """Every job of one firmware package (``ListOTAJobByFirmware``, all pages)."""

    firmware_id: str
    iot_instance_id: str | None = None

    def cache_key(self) -> str:
        return _key(self.firmware_id, self.iot_instance_id)
