"""Each kind of answer as readable text for a terminal: a title line, fields or a table, and
a summary line that says when it was fetched (the same words ``/ota`` uses). Times UTC.

``paged`` is whether the user asked for a page (``--page``): without it every item
fetched is listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from otabot.cli.text import fields, plain, printable, table, utc
from otabot.iot.models import DeviceDetail, Firmware, JobDetail, OtaJob, OtaTask
from otabot.query import answers, words
from otabot.query.explain import (
    device_details_refused,
    device_tasks_refused,
    job_tasks_refused,
)
from otabot.query.phrases import Phrase, dotted, plural
from otabot.query.statuses import TASK_STATUS_ORDER, ordered_counts, status_words
from otabot.service import JobResult
from otabot.service.results import Part

T = TypeVar("T")

JOB_COLUMNS = (
    "STATUS",
    "JOB ID",
    "TYPE",
    "SELECTION",
    "TARGET",
    "CREATED",
    "STARTED",
    "ENDED",
    "TAGS",
)
TASK_COLUMNS = ("STATUS", "MODULE", "VERSIONS", "JOB ID", "SINCE")
FAILED_COLUMNS = ("DEVICE", "PROGRESS", "VERSIONS", "FAILED", "REASON")
FIRMWARE_COLUMNS = (
    "NAME",
    "VERSION",
    "MODULE",
    "TYPE",
    "VERIFICATION",
    "SIZE",
    "CREATED",
    "FIRMWARE ID",
)
TIMES = "times in UTC"


def view(answer: answers.Answer, *, now: datetime, page_size: int, paged: bool) -> list[str]:
    """The lines that show ``answer`` (version questions are not answers: see ``query``)."""
    if isinstance(answer, answers.DeviceAnswer):
        return device_view(answer, now)
    if isinstance(answer, answers.JobsAnswer):
        return jobs_view(answer, now, page_size, paged)
    if isinstance(answer, answers.JobAnswer):
        return job_view(answer.result, answer, now)
    if isinstance(answer, answers.FailedAnswer):
        return [*job_view(answer.job, answer, now), "", *failed_view(answer, page_size, paged)]
    if isinstance(answer, answers.FirmwareAnswer):
        return firmware_view(answer, now, page_size, paged)
    raise TypeError(f"{type(answer).__name__} is not shown as text")  # pragma: no cover


def missing_parts(answer: answers.Answer) -> list[Phrase]:
    """What a partial answer could not show, each with the action to allow."""
    found: list[Phrase] = []
    if isinstance(answer, answers.DeviceAnswer):
        result = answer.result
        if result.device.error is not None:
            found.append(device_details_refused(result.device.error))
        if result.tasks.error is not None:
            found.append(device_tasks_refused(result.tasks.error))
    elif isinstance(answer, answers.JobAnswer | answers.FailedAnswer):
        job = answer.result if isinstance(answer, answers.JobAnswer) else answer.job
        error = job.counts.error or job.device_task.error
        if error is not None:
            found.append(job_tasks_refused(error))
    return found


@dataclass(frozen=True)
class Listing(Generic[T]):
    """The items a command lists: all of them, or the page asked for (``page`` set)."""

    items: tuple[T, ...]
    page: int | None = None
    pages: int | None = None

    @classmethod
    def of(cls, items: tuple[T, ...], asked: int, page_size: int, paged: bool) -> Listing[T]:
        if not paged:
            return cls(items)
        shown = answers.Shown.of(items, asked, page_size)
        return cls(shown.items, shown.page, shown.pages)

    def words(self, asked: int) -> str | None:
        if self.page is None or self.pages is None:
            return None
        return words.page_of(self.page, self.pages, asked)


def _page(
    items: tuple[T, ...], asked: int, page_size: int, paged: bool
) -> tuple[tuple[T, ...], str | None]:
    """The items to list and the page words (none when every item is listed)."""
    listing = Listing.of(items, asked, page_size, paged)
    return listing.items, listing.words(asked)


def _fetched(answer: answers.Answer, now: datetime) -> str:
    return plain(words.fetched(answer.provenance, now))


def _title(head: str, product: str, instance: str | None, *middle: str | None) -> str:
    """``head · product PK · … · default instance``."""
    return dotted([head, f"product {product}", *middle, plain(words.instance(instance))])


def _rows(columns: tuple[str, ...], rows: list[tuple[str, ...]], empty: str) -> list[str]:
    """A table of the rows, or ``(empty)`` when there are none."""
    return table(columns, rows) if rows else [f"({empty})"]


def _summary(
    parts: list[str | None], answer: answers.Answer, now: datetime, cut: str | None
) -> str:
    """``12 jobs: … · page 1 of 3 · fetched 06:49:31 UTC · … · times in UTC``."""
    return dotted([*parts, _fetched(answer, now), cut, TIMES])


# --- the device card --------------------------------------------------------------------


def device_view(answer: answers.DeviceAnswer, now: datetime) -> list[str]:
    query, result = answer.query, answer.result
    device = result.device.value
    product = query.product_key
    if device is not None and device.product_name:
        product = f"{device.product_name} ({query.product_key})"
    out = [_title(f"OTA · {query.device_name}", product, query.instance)]
    out.extend(fields([("device", _device_line(result.device))]))
    tasks = result.tasks.value
    if tasks is None:
        out.append("tasks   (not readable)")
    elif not tasks:
        out.append(words.NO_UPDATE)
    else:
        out.extend(table(TASK_COLUMNS, [_task_row(task) for task in tasks]))
    out.append(_summary([], answer, now, None))
    return [printable(line) for line in out]


def _device_line(part: Part[DeviceDetail]) -> str:
    device = part.value
    if device is None:
        return "(not readable)"
    return dotted(
        [
            words.device_status(device.status.value),
            f"firmware {device.firmware_version or 'not reported'}",
            f"last online {utc(device.utc_online)}" if device.utc_online else "last online unknown",
            f"nickname {device.nickname}" if device.nickname else None,
        ]
    )


def _task_row(task: OtaTask) -> tuple[str, ...]:
    return (
        task.status.value,
        task.module_name or "-",
        words.task_versions(task),
        task.job_id,
        utc(task.utc_modified or task.utc_create),
    )


# --- jobs lists -------------------------------------------------------------------------


def jobs_view(answer: answers.JobsAnswer, now: datetime, page_size: int, paged: bool) -> list[str]:
    query, result = answer.query, answer.result
    jobs = result.filtered(query.status)
    shown, page_words = _page(jobs, query.page, page_size, paged)
    subject = query.device_name or f"firmware {answer.firmware_id}"
    out = [
        _title(
            f"OTA jobs · {subject}",
            query.product_key,
            query.instance,
            f"firmware {answer.firmware_id}",
        )
    ]
    resolved = plain(words.version_resolved(answer))
    if resolved:
        out.append(resolved)
    shown_status = f"{status_words(query.status.value)} " if query.status is not None else ""
    out.extend(_rows(JOB_COLUMNS, [_job_row(job) for job in shown], f"no {shown_status}jobs"))
    counts = ", ".join(f"{n} {status_words(s)}" for s, n in words.job_counts(result.counts))
    total = plural(len(result.jobs), "job") + (f": {counts}" if counts else "")
    only = f"showing only {shown_status}({len(jobs)})" if query.status is not None else None
    cut = words.cut(len(result.jobs), result.total, "jobs")
    out.append(_summary([total, only, page_words], answer, now, cut))
    return [printable(line) for line in out]


def _job_row(job: OtaJob) -> tuple[str, ...]:
    return (
        job.status.value,
        job.job_id,
        job.job_type.value,
        job.selection_type or "-",
        job.target_selection or "-",
        utc(job.utc_create),
        utc(job.utc_start_time),
        utc(job.utc_end_time),
        ",".join(f"{key}={value}" for key, value in job.tags) or "-",
    )


# --- the job card and its failed devices ------------------------------------------------


def job_view(
    result: JobResult, answer: answers.JobAnswer | answers.FailedAnswer, now: datetime
) -> list[str]:
    query, job = answer.query, result.job
    out = [
        _title(f"OTA job · {job.job_id or query.job_id}", job.product_key or "?", query.instance)
    ]
    device = query.device_name
    out.extend(
        fields(
            [
                *_job_fields(job, now),
                ("tasks", _counts_line(result)),
                ("device", None if device is None else _device_task_line(result, device)),
            ]
        )
    )
    out.append(_summary([], answer, now, None))
    return [printable(line) for line in out]


def _job_fields(job: JobDetail, now: datetime) -> list[tuple[str, str | None]]:
    target = f"target {job.target_selection or '?'}"
    if job.gray_percent:
        target += f" ({job.gray_percent} %)"
    schedule = None
    if job.utc_schedule_time is not None:
        schedule = utc(job.utc_schedule_time)
        if job.utc_schedule_finish_time is not None:
            schedule += f" to {utc(job.utc_schedule_finish_time)}"
    return [
        ("status", dotted([job.status.value, words.job_span(job, now)])),
        ("type", job.job_type.value or "?"),
        (
            "package",
            dotted([job.name or None, words.job_versions(job), f"firmware {job.firmware_id}"]),
        ),
        ("selection", dotted([job.selection_type or "?", target])),
        ("schedule", schedule),
        ("retries", words.retries(job) or None),
        ("times", _times(job)),
        ("tags", ", ".join(f"{key}={value}" for key, value in job.tags) or None),
        ("about", job.description or None),
    ]


def _times(job: OtaJob | JobDetail) -> str:
    return dotted([f"{name} {utc(moment)}" for name, moment in words.job_moments(job)])


def _counts_line(result: JobResult) -> str:
    counts = result.counts.value
    if counts is None:
        return "(not readable)"
    ordered = ordered_counts(counts.by_status, TASK_STATUS_ORDER)
    if not ordered:
        return "no device has a task in this job"
    return " · ".join(f"{n} {status_words(s)}" for s, n in ordered) + f" … of {counts.total}"


def _device_task_line(result: JobResult, device_name: str) -> str:
    part = result.device_task
    if part.error is not None:
        return f"{device_name}: (not readable)"
    task = part.value
    if task is None:
        return f"{device_name} has no task in this job"
    return f"{device_name}: " + dotted(
        [
            task.status.value,
            f"{task.progress} %" if task.progress is not None else None,
            words.task_versions(task),
            task.description,
        ]
    )


def failed_view(answer: answers.FailedAnswer, page_size: int, paged: bool) -> list[str]:
    result = answer.result
    shown, page_words = _page(result.tasks, answer.query.page, page_size, paged)
    out = [dotted([f"failed devices: {result.total}", page_words])]
    rows = [_failed_row(task) for task in shown]
    out.extend(_rows(FAILED_COLUMNS, rows, "no device has failed in this job"))
    cut = words.cut(len(result.tasks), result.total, "failed devices")
    return [printable(line) for line in (out if cut is None else [*out, cut])]


def _failed_row(task: OtaTask) -> tuple[str, ...]:
    return (
        task.device_name,
        f"{task.progress} %" if task.progress is not None else "-",
        words.task_versions(task),
        utc(task.utc_modified),
        task.description or "no reason given",
    )


# --- firmware ---------------------------------------------------------------------------


def firmware_view(
    answer: answers.FirmwareAnswer, now: datetime, page_size: int, paged: bool
) -> list[str]:
    query = answer.query
    shown, page_words = _page(answer.firmwares, query.page, page_size, paged)
    out = [
        _title(
            f"Firmware · {answer.product_name or query.product_key}",
            query.product_key,
            query.instance,
            plain(words.version_resolved(answer)) or None,
        )
    ]
    rows = [_firmware_row(firmware) for firmware in shown]
    out.extend(_rows(FIRMWARE_COLUMNS, rows, "this product has no firmware packages"))
    cut = words.cut(len(answer.firmwares), answer.total, "packages")
    summary = [plural(len(answer.firmwares), "package"), page_words]
    out.append(_summary(summary, answer, now, cut))
    return [printable(line) for line in out]


def _firmware_row(firmware: Firmware) -> tuple[str, ...]:
    return (
        firmware.name or "-",
        words.versions(firmware),
        firmware.module_name,
        words.firmware_kind(firmware),
        words.verification_words(firmware),
        words.size_words(firmware.size),
        utc(firmware.utc_create),
        firmware.firmware_id,
    )
