"""A query answered: which service use cases it takes, and what comes back for the front ends.

``look_up`` is the one place that turns a ``Query`` into service calls — a version
resolved before the jobs it names are listed, a firmware list filtered by version —
so ``/ota`` and ``otabot`` make exactly the same calls for the same query. What comes
back is an ``Answer``: one type per kind of card, each with the query it answers and
its ``provenance`` (for a two-step answer, both steps merged: the upstream calls this
answer cost in all, the oldest fetch time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from otabot.iot.models import Firmware
from otabot.iot.paging import page_slice, pages_to_show
from otabot.query.queries import (
    DeviceQuery,
    FailedQuery,
    FirmwareQuery,
    JobQuery,
    JobsQuery,
    Query,
    version_lookup,
    with_firmware,
)
from otabot.service import (
    DeviceLookup,
    DeviceResult,
    FailedLookup,
    FirmwareJobsLookup,
    FirmwareLookup,
    FirmwareResult,
    JobLookup,
    JobResult,
    JobsLookup,
    JobsResult,
    TasksResult,
    VersionLookup,
    VersionResult,
)
from otabot.service.results import FirmwareJobsResult, JobListing, Provenance

T = TypeVar("T")


class OtaLookups(Protocol):
    """What the front ends need of ``otabot.service.OtaService``."""

    def jobs(self, lookup: JobsLookup, refresh: bool = False) -> JobsResult: ...

    def device(self, lookup: DeviceLookup, refresh: bool = False) -> DeviceResult: ...

    def job(self, lookup: JobLookup, refresh: bool = False) -> JobResult: ...

    def failed(self, lookup: FailedLookup, refresh: bool = False) -> TasksResult: ...

    def firmwares(self, lookup: FirmwareLookup, refresh: bool = False) -> FirmwareResult: ...

    def resolve_version(self, lookup: VersionLookup, refresh: bool = False) -> VersionResult: ...

    def firmware_jobs(
        self, lookup: FirmwareJobsLookup, refresh: bool = False
    ) -> FirmwareJobsResult: ...


@dataclass(frozen=True)
class Shown(Generic[T]):
    """The page of a list a person is shown (a page asked past the end shows the last)."""

    items: tuple[T, ...]
    page: int
    pages: int

    @classmethod
    def of(cls, items: tuple[T, ...], asked: int, page_size: int) -> Shown[T]:
        pages = pages_to_show(len(items), page_size)
        page = min(max(asked, 1), pages)
        return cls(page_slice(items, page, page_size), page, pages)


def job_partial(result: JobResult) -> bool:
    """Whether a job card lacks a part its RAM policy kept away."""
    return result.counts.error is not None or result.device_task.error is not None


@dataclass(frozen=True)
class DeviceAnswer:
    query: DeviceQuery
    result: DeviceResult

    @property
    def provenance(self) -> Provenance:
        return self.result.provenance

    @property
    def partial(self) -> bool:
        return self.result.device.error is not None or self.result.tasks.error is not None


@dataclass(frozen=True)
class JobsAnswer:
    """Jobs of a package: of one device, or all of them.

    ``query`` names the package by FirmwareId; ``version`` is how the user named it,
    when by version.
    """

    query: JobsQuery
    result: JobListing
    version: VersionResult | None
    provenance: Provenance

    @property
    def firmware_id(self) -> str:
        return self.query.firmware_id or ""

    partial = False


@dataclass(frozen=True)
class JobAnswer:
    query: JobQuery
    result: JobResult

    @property
    def provenance(self) -> Provenance:
        return self.result.provenance

    @property
    def partial(self) -> bool:
        return job_partial(self.result)


@dataclass(frozen=True)
class FailedAnswer:
    """A job's failed devices, and the job card they belong to."""

    query: FailedQuery
    job: JobResult
    result: TasksResult

    @property
    def provenance(self) -> Provenance:
        return Provenance.of(self.job.provenance, self.result.provenance)

    @property
    def partial(self) -> bool:
        return job_partial(self.job)


@dataclass(frozen=True)
class FirmwareAnswer:
    """A product's packages, newest first; with a version, only that version's."""

    query: FirmwareQuery
    firmwares: tuple[Firmware, ...]
    total: int
    version: VersionResult | None
    provenance: Provenance

    @property
    def truncated(self) -> bool:
        return self.total > len(self.firmwares)

    @property
    def product_name(self) -> str:
        """The product's name, from the first package that has one ('' when none does)."""
        return next((f.product_name for f in self.firmwares if f.product_name), "")

    partial = False


@dataclass(frozen=True)
class VersionChoice:
    """A version names several packages (other modules, full and delta): which one?"""

    query: JobsQuery
    version: VersionResult

    @property
    def provenance(self) -> Provenance:
        return self.version.provenance

    partial = False


@dataclass(frozen=True)
class VersionMissing:
    """No package of the product has the version; ``version.newest`` are the newest ones."""

    query: JobsQuery | FirmwareQuery
    version: VersionResult

    @property
    def provenance(self) -> Provenance:
        return self.version.provenance

    partial = False


Answer = (
    DeviceAnswer
    | JobsAnswer
    | JobAnswer
    | FailedAnswer
    | FirmwareAnswer
    | VersionChoice
    | VersionMissing
)


def look_up(service: OtaLookups, query: Query, *, refresh: bool = False) -> Answer:
    """Ask the service what ``query`` names; ``IotError``s propagate to the caller."""
    if isinstance(query, DeviceQuery):
        return DeviceAnswer(query, service.device(query.lookup(), refresh=refresh))
    if isinstance(query, JobQuery):
        return JobAnswer(query, service.job(query.lookup(), refresh=refresh))
    if isinstance(query, FailedQuery):
        # The job card first: it is usually cached (the list is opened from it), and it
        # brings the failed list along for free (a job of up to 700 devices, or 100 failed).
        job = service.job(query.job().lookup(), refresh=refresh)
        return FailedAnswer(query, job, service.failed(query.lookup(), refresh=refresh))
    if isinstance(query, FirmwareQuery):
        return _firmware(service, query, refresh)
    return _jobs(service, query, refresh)


def _jobs(service: OtaLookups, query: JobsQuery, refresh: bool) -> Answer:
    version: VersionResult | None = None
    if query.firmware_id is None:
        assert query.version is not None
        version = service.resolve_version(version_lookup(query), refresh=refresh)
        if not version.matches:
            return VersionMissing(query, version)
        if len(version.matches) > 1:
            return VersionChoice(query, version)
        query = with_firmware(query, version.matches[0].firmware_id)
    assert query.firmware_id is not None
    result: JobListing
    firmware_id, instance = query.firmware_id, query.instance
    if query.device_name is not None:
        lookup = JobsLookup(query.product_key, query.device_name, firmware_id, instance)
        result = service.jobs(lookup, refresh=refresh)
    else:
        result = service.firmware_jobs(FirmwareJobsLookup(firmware_id, instance), refresh=refresh)
    steps = (result.provenance,) if version is None else (version.provenance, result.provenance)
    return JobsAnswer(query, result, version, Provenance.of(*steps))


def _firmware(service: OtaLookups, query: FirmwareQuery, refresh: bool) -> Answer:
    if query.version is None:
        listed = service.firmwares(query.lookup(), refresh=refresh)
        return FirmwareAnswer(query, listed.firmwares, listed.total, None, listed.provenance)
    version = service.resolve_version(version_lookup(query), refresh=refresh)
    if not version.matches:
        return VersionMissing(query, version)
    matches = version.matches
    return FirmwareAnswer(query, matches, len(matches), version, version.provenance)


def products_of(answer: Answer) -> frozenset[str]:
    """Every product an answer shows something of (for ``OTABOT_ALLOWED_PRODUCTS``)."""
    found: list[str | None] = [getattr(answer.query, "product_key", None)]
    if isinstance(answer, JobAnswer):
        found.append(answer.result.job.product_key)
    elif isinstance(answer, FailedAnswer):
        found.append(answer.job.job.product_key)
        found.extend(task.product_key for task in answer.result.tasks)
    elif isinstance(answer, JobsAnswer):
        found.extend(job.product_key for job in answer.result.jobs)
    elif isinstance(answer, FirmwareAnswer):
        found.extend(firmware.product_key for firmware in answer.firmwares)
    return frozenset(_named(found))


def _named(products: Iterable[str | None]) -> Iterable[str]:
    return (product for product in products if product)
