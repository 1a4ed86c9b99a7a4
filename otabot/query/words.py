"""The sentences both front ends say about an answer: when it was fetched, which page,
what a version resolved to, and the words for statuses, sizes, spans and kinds."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from otabot.iot.models import (
    DeviceStatus,
    Firmware,
    FirmwareType,
    FirmwareVerification,
    JobDetail,
    JobStatus,
    OtaJob,
    OtaTask,
)
from otabot.query.answers import FirmwareAnswer, JobsAnswer, VersionChoice
from otabot.query.phrases import Code, Moment, Phrase, joined, phrase, plural
from otabot.query.statuses import JOB_STATUS_ORDER, ordered_counts, status_words
from otabot.service import VersionResult
from otabot.service.results import Provenance

NO_UPDATE = "No OTA update is pending or running on this device."
VERIFICATION_WORDS = {
    FirmwareVerification.UNVERIFIED: "unverified",
    FirmwareVerification.VERIFIED: "verified",
    FirmwareVerification.VERIFYING: "verifying",
    FirmwareVerification.VERIFICATION_FAILED: "verification failed",
}
DEVICE_STATUS_WORDS = {
    DeviceStatus.ONLINE.value: "online",
    DeviceStatus.OFFLINE.value: "offline",
    DeviceStatus.UNACTIVE.value: "not activated",
    DeviceStatus.DISABLE.value: "disabled",
}


def fetched(provenance: Provenance, now: datetime, *, shared: bool = False) -> Phrase:
    """When the answer was fetched: ``fetched 06:49:31 UTC`` or ``cached, fetched 26 s ago``.

    A copy shared in a channel gives the date and time (a relative age would go stale).
    """
    if shared:
        return ("fetched ", Moment(provenance.fetched_at, date=True, seconds=True))
    if provenance.from_cache:
        return (f"cached, fetched {duration_words(provenance.age_seconds(now))} ago",)
    return ("fetched ", Moment(provenance.fetched_at, date=False, seconds=True))


def instance(iot_instance_id: str | None) -> Phrase:
    """``instance iot-…`` or ``default instance``."""
    if iot_instance_id:
        return ("instance ", Code(iot_instance_id))
    return ("default instance",)


def page_of(page: int, pages: int, asked: int) -> str:
    """``page 2 of 3``; a page asked past the end says the last one is shown instead."""
    words = f"page {page} of {pages}"
    if asked > pages:
        words += f" (there is no page {asked}; this is the last page)"
    return words


def duration_words(seconds: float) -> str:
    """A short, rounded span for a glance: ``45 s``, ``12 min``, ``26 h``, ``437 d``."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{round(seconds)} s"
    if seconds < 120 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} d"


def job_span(job: OtaJob | JobDetail, now: datetime) -> str | None:
    """How long a job ran (``ran for 26 h``) or has been running (``running for 437 d``).

    An on-call reader spots a stuck rollout from this without subtracting dates.
    """
    if job.utc_start_time is None:
        return None
    if job.utc_end_time is not None:
        return "ran for " + duration_words((job.utc_end_time - job.utc_start_time).total_seconds())
    if job.status == JobStatus.IN_PROGRESS:
        return "running for " + duration_words((now - job.utc_start_time).total_seconds())
    return None


def job_moments(job: OtaJob | JobDetail) -> list[tuple[str, datetime]]:
    """A job's times that are set: created, started, ended, modified."""
    moments = (
        ("created", job.utc_create),
        ("started", job.utc_start_time),
        ("ended", job.utc_end_time),
        ("modified", job.utc_modified),
    )
    return [(name, moment) for name, moment in moments if moment is not None]


def size_words(size: int | None) -> str:
    """``512 B``, ``3.4 KiB``, ``1.0 MiB``; ``size unknown`` when the API gave none."""
    if size is None:
        return "size unknown"
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def firmware_kind(firmware: Firmware) -> str:
    """``full`` or ``delta`` (an unknown type as its number)."""
    if firmware.firmware_type == FirmwareType.DELTA:
        return "delta"
    if firmware.firmware_type == FirmwareType.FULL:
        return "full"
    return f"type {int(firmware.firmware_type)}"


def verification_words(firmware: Firmware) -> str:
    known = VERIFICATION_WORDS.get(FirmwareVerification(firmware.verification))
    return known or f"status {int(firmware.verification)}"


def versions(firmware: Firmware) -> str:
    """``1.1.0 → 1.2.0`` for a delta package, ``1.2.0`` for a full one."""
    if firmware.src_version:
        return f"{firmware.src_version} → {firmware.dest_version}"
    return firmware.dest_version


def job_versions(job: JobDetail) -> str:
    """``1.0.0, 1.1.0 → 1.2.0`` (``any → 1.2.0`` when the job names no source version)."""
    sources = ", ".join(job.src_versions) if job.src_versions else "any"
    return f"{sources} → {job.dest_version or '?'}"


def task_versions(task: OtaTask) -> str:
    return f"{task.src_version or '?'} → {task.dest_version or '?'}"


def retries(job: JobDetail) -> str:
    """``1 retry every 60 min · timeout 1440 min`` (the parts the API gave)."""
    parts = []
    if job.retry_count:
        every = f" every {job.retry_interval} min" if job.retry_interval else ""
        parts.append(plural(job.retry_count, "retry", "retries") + every)
    elif job.retry_count == 0:
        parts.append("no retries")
    if job.timeout_in_minutes:
        parts.append(f"timeout {job.timeout_in_minutes} min")
    return " · ".join(parts)


def device_status(status: str) -> str:
    return DEVICE_STATUS_WORDS.get(status, status_words(status))


def job_counts(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Jobs by status, in status order (unknown statuses last)."""
    return ordered_counts(counts, JOB_STATUS_ORDER)


def cut(shown: int, total: int, noun: str) -> str | None:
    """The note for a list ``OTABOT_MAX_JOBS`` cut (None when it holds everything)."""
    if total <= shown:
        return None
    # The API lists in no set order, so the cut keeps the first fetched, not the newest.
    return (
        f"showing {shown} of {total} {noun}: the first {shown} the API listed, newest first "
        "(OTABOT_MAX_JOBS cut the rest, which may hold newer ones)"
    )


def version_resolved(answer: JobsAnswer | FirmwareAnswer) -> Phrase:
    """``version 1.2.0 is firmware FJFx…`` (``1.2.0 matched v1.2.0``); () when not by version."""
    version = answer.version
    if version is None or not version.matches:
        return ()
    asked = version.lookup.version
    spelled = (
        ()
        if version.matched_version in (None, asked)
        else (" (as ", Code(version.matched_version or ""), ")")
    )
    if isinstance(answer, FirmwareAnswer):
        return phrase("version ", Code(asked), spelled)
    return phrase("version ", Code(asked), spelled, " is firmware ", Code(answer.firmware_id))


def version_missing(version: VersionResult) -> Phrase:
    """No package has the version: say so, and the newest versions instead."""
    lookup = version.lookup
    said = phrase(
        "No firmware package of product ",
        Code(lookup.product_key),
        " has version ",
        Code(lookup.version),
        ".",
    )
    if not version.newest:
        return phrase(said, " The product has no firmware packages.")
    spellings = dict.fromkeys(firmware.dest_version for firmware in version.newest)
    newest = joined((Code(spelling),) for spelling in spellings)
    return phrase(said, " Newest versions: ", newest, ".")


def version_choice(choice: VersionChoice) -> Phrase:
    """The question when a version names several packages."""
    version = choice.version
    return (
        "Version ",
        Code(version.lookup.version),
        " of product ",
        Code(version.lookup.product_key),
        f" names {len(version.matches)} packages — which one?",
    )


def candidate(firmware: Firmware) -> Phrase:
    """One package a version names: ``FWID (module default, delta 1.0.0 → 2.5.0)``."""
    return (
        Code(firmware.firmware_id),
        f" (module {firmware.module_name}, {firmware_kind(firmware)}"
        + (f" {versions(firmware)})" if firmware.src_version else ")"),
    )
