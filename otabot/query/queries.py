"""The queries a user can make, each with its canonical text.

A query is what ``/ota`` text, a command line or a button names, checked: every
identifier has its format, aliases are resolved to ProductKeys, defaults (the default
product, the default instance) are filled in. ``args()`` spells it back as words the
parser reads to the same query — ProductKeys rather than aliases, ``page=N``,
``instance=…`` — so a button's value is simply the query's text, and the ``/ota …``
and ``otabot …`` a message suggests are the query too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from otabot.iot.models import JobStatus
from otabot.query.statuses import status_token
from otabot.service import (
    DeviceLookup,
    FailedLookup,
    FirmwareLookup,
    JobLookup,
    VersionLookup,
)

MAX_PAGE = 10_000


def _options(**options: str | int | None) -> tuple[str, ...]:
    """``key=value`` words for the options that are set (a page only when past the first)."""
    words = []
    for key, value in options.items():
        if value is None or (key == "page" and value == 1):
            continue
        words.append(f"{key}={value}")
    return tuple(words)


@dataclass(frozen=True)
class HelpQuery:
    """``/ota help``, ``otabot … help``: what to type."""


@dataclass(frozen=True)
class DeviceQuery:
    """The device card: a device's status and the OTA updates pending or running on it."""

    product_key: str
    device_name: str
    instance: str | None = None

    command: ClassVar[str] = "device"

    def args(self) -> tuple[str, ...]:
        return (f"{self.product_key}/{self.device_name}", *_options(instance=self.instance))

    def lookup(self) -> DeviceLookup:
        return DeviceLookup(self.product_key, self.device_name, self.instance)


@dataclass(frozen=True)
class JobsQuery:
    """The jobs of a firmware package, given by FirmwareId or by version: those of one
    device (``ListOTAJobByDevice``), or without a device every job of the package
    (``ListOTAJobByFirmware``)."""

    product_key: str
    device_name: str | None
    firmware_id: str | None
    version: str | None = None
    status: JobStatus | None = None
    page: int = 1
    instance: str | None = None

    command: ClassVar[str] = "jobs"

    def args(self) -> tuple[str, ...]:
        status = status_token(self.status) if self.status else None
        if self.device_name is None:
            return _options(
                firmware=self.firmware_id,
                version=self.version if not self.firmware_id else None,
                product=self.product_key,
                status=status,
                page=self.page,
                instance=self.instance,
            )
        firmware = self.firmware_id if self.firmware_id else f"version={self.version}"
        options = _options(status=status, page=self.page, instance=self.instance)
        return (f"{self.product_key}/{self.device_name}", firmware, *options)


@dataclass(frozen=True)
class JobQuery:
    """The job card; with a device, that device's task in the job too.

    The product is optional (the job names its own); buttons carry it, so a click can
    be checked against ``OTABOT_ALLOWED_PRODUCTS`` before any call.
    """

    job_id: str
    product_key: str | None = None
    device_name: str | None = None
    instance: str | None = None

    command: ClassVar[str] = "job"

    def args(self) -> tuple[str, ...]:
        return (
            self.job_id,
            *_options(product=self.product_key, device=self.device_name, instance=self.instance),
        )

    def lookup(self) -> JobLookup:
        return JobLookup(self.job_id, self.instance, self.device_name)

    def failed(self, product_key: str | None = None) -> FailedQuery:
        """The job's failed devices (from the job card: the device is left out)."""
        return FailedQuery(self.job_id, product_key or self.product_key, None, 1, self.instance)


@dataclass(frozen=True)
class FailedQuery:
    """A job's failed devices with their reasons, a page at a time, beside the job card
    (with a device, that device's task too)."""

    job_id: str
    product_key: str | None = None
    device_name: str | None = None
    page: int = 1
    instance: str | None = None

    command: ClassVar[str] = "job"

    def args(self) -> tuple[str, ...]:
        return (
            self.job_id,
            "status=failed",
            *_options(
                product=self.product_key,
                device=self.device_name,
                page=self.page,
                instance=self.instance,
            ),
        )

    def job(self) -> JobQuery:
        return JobQuery(self.job_id, self.product_key, self.device_name, self.instance)

    def lookup(self) -> FailedLookup:
        return FailedLookup(self.job_id, self.instance)


@dataclass(frozen=True)
class FirmwareQuery:
    """A product's firmware packages, optionally only those of one version."""

    product_key: str
    version: str | None = None
    page: int = 1
    instance: str | None = None

    command: ClassVar[str] = "firmware"

    def args(self) -> tuple[str, ...]:
        return (
            self.product_key,
            *_options(version=self.version, page=self.page, instance=self.instance),
        )

    def lookup(self) -> FirmwareLookup:
        return FirmwareLookup(self.product_key, self.instance)


@dataclass(frozen=True)
class WatchQuery:
    """Watch a job: its card posted in the channel and kept current until the job ends.

    Not a lookup (nothing is shown to the one who asks); Slack alone serves it. The
    product, when known, lets a click be checked against ``OTABOT_ALLOWED_PRODUCTS``.
    """

    job_id: str
    product_key: str | None = None
    instance: str | None = None

    command: ClassVar[str] = "watch"

    def args(self) -> tuple[str, ...]:
        return (self.job_id, *_options(product=self.product_key, instance=self.instance))

    def job(self) -> JobQuery:
        """The job card the watch keeps current (the whole job: no device)."""
        return JobQuery(self.job_id, self.product_key, None, self.instance)


def at_page(query: PagedQuery, page: int) -> PagedQuery:
    """The same list query at another page (within 1 and ``MAX_PAGE``)."""
    return replace(query, page=max(1, min(page, MAX_PAGE)))


def with_firmware(query: JobsQuery, firmware_id: str) -> JobsQuery:
    """The same jobs query for one package (a version resolved)."""
    return replace(query, firmware_id=firmware_id, version=None)


def version_lookup(query: JobsQuery | FirmwareQuery) -> VersionLookup:
    """Which packages of the query's product have the version it names."""
    return VersionLookup(query.product_key, query.version or "", query.instance)


Query = DeviceQuery | JobsQuery | JobQuery | FailedQuery | FirmwareQuery
PagedQuery = JobsQuery | FailedQuery | FirmwareQuery
# Anything ``/ota`` text or a button can ask for: a lookup, or watching a job.
SlashQuery = Query | WatchQuery


def query_text(query: SlashQuery) -> str:
    """The query as ``/ota`` takes it (and a button carries it): ``jobs PK/light1 FW page=2``."""
    # The device card is the one query without a keyword: its DEVICE word says it all.
    words = query.args() if isinstance(query, DeviceQuery) else (query.command, *query.args())
    return " ".join(words)


def command_line(query: Query) -> tuple[str, ...]:
    """The query as an ``otabot`` command line: ``otabot jobs PK/light1 FW page=2``."""
    return ("otabot", query.command, *query.args())
