"""Each kind of answer as the one JSON object ``--json`` prints, with the API's field names.

The keys the product documents stay as they are; beside them each list says how it
was cut: ``fetched`` (items otabot read), ``truncated`` (``OTABOT_MAX_JOBS`` cut the
list), and ``page``/``pages``/``page_size`` (null unless ``--page`` asked for one). A
card that could not read a part (a RAM policy without one action) has that part null
and says which in ``missing``.
"""

from __future__ import annotations

from typing import Any

from otabot.cli.views import Listing
from otabot.iot.errors import IotError
from otabot.query import answers
from otabot.query.statuses import TASK_STATUS_ORDER, status_token
from otabot.service import JobResult

Document = dict[str, Any]


def document(answer: answers.Answer, *, page_size: int, paged: bool) -> Document:
    """The JSON object for ``answer``."""
    if isinstance(answer, answers.DeviceAnswer):
        return device_document(answer)
    if isinstance(answer, answers.JobsAnswer):
        return jobs_document(answer, page_size, paged)
    if isinstance(answer, answers.JobAnswer):
        return job_document(answer.result, answer.query.instance)
    if isinstance(answer, answers.FailedAnswer):
        return failed_document(answer, page_size, paged)
    if isinstance(answer, answers.FirmwareAnswer):
        return firmware_document(answer, page_size, paged)
    raise TypeError(f"{type(answer).__name__} has no JSON form")  # pragma: no cover


def _listed(listing: Listing[Any], page_size: int, fetched: int, truncated: bool) -> Document:
    return {
        "fetched": fetched,
        "truncated": truncated,
        "page": listing.page,
        "pages": listing.pages,
        "page_size": page_size if listing.page is not None else None,
    }


def _missing(part: str, error: IotError | None, action: str) -> list[Document]:
    if error is None:
        return []
    return [
        {
            "part": part,
            "action": error.action or action,
            "code": error.code or None,
            "request_id": error.request_id,
        }
    ]


def device_document(answer: answers.DeviceAnswer) -> Document:
    query, result = answer.query, answer.result
    device, tasks = result.device.value, result.tasks.value
    return {
        "product_key": query.product_key,
        "device_name": query.device_name,
        "iot_instance_id": query.instance,
        "device": None if device is None else device.to_api(),
        "tasks": None if tasks is None else [task.to_api() for task in tasks],
        "missing": [
            *_missing("device", result.device.error, "QueryDeviceDetail"),
            *_missing("tasks", result.tasks.error, "ListOTAUnfinishedTaskByDevice"),
        ],
    }


def jobs_document(answer: answers.JobsAnswer, page_size: int, paged: bool) -> Document:
    query, result = answer.query, answer.result
    jobs = result.filtered(query.status)
    listing = Listing.of(jobs, query.page, page_size, paged)
    out: Document = {
        "product_key": query.product_key,
        "device_name": query.device_name,
        "firmware_id": answer.firmware_id,
        "iot_instance_id": query.instance,
        "total": len(jobs) if query.status is not None else result.total,
        "jobs": [job.to_api() for job in listing.items],
    }
    if answer.version is not None:
        out["firmware_version"] = answer.version.lookup.version
    out["status"] = None if query.status is None else status_token(query.status.value)
    out["total_unfiltered"] = result.total
    out.update(_listed(listing, page_size, len(result.jobs), result.truncated))
    return out


def task_counts(by_status: dict[str, int]) -> dict[str, int]:
    """Every task status (0 where none), in the one order counts are listed in."""
    counts = {status: by_status.get(status, 0) for status in TASK_STATUS_ORDER}
    counts.update((s, n) for s, n in by_status.items() if s not in counts)
    return counts


def job_document(result: JobResult, instance: str | None) -> Document:
    counts, task = result.counts.value, result.device_task.value
    lookup = result.lookup
    return {
        "iot_instance_id": instance,
        "job": result.job.to_api(),
        "task_counts": None if counts is None else task_counts(counts.by_status),
        "device_task": None if task is None else task.to_api(),
        "total_tasks": None if counts is None else counts.total,
        "device_name": lookup.device_name,
        "missing": [
            *_missing("task_counts", result.counts.error, "ListOTATaskByJob"),
            *_missing("device_task", result.device_task.error, "ListOTATaskByJob"),
        ],
    }


def failed_document(answer: answers.FailedAnswer, page_size: int, paged: bool) -> Document:
    query, result = answer.query, answer.result
    listing = Listing.of(result.tasks, query.page, page_size, paged)
    out = job_document(answer.job, query.instance)
    out["failed"] = [task.to_api() for task in listing.items]
    out["total_failed"] = result.total
    out.update(_listed(listing, page_size, len(result.tasks), result.truncated))
    return out


def firmware_document(answer: answers.FirmwareAnswer, page_size: int, paged: bool) -> Document:
    query = answer.query
    listing = Listing.of(answer.firmwares, query.page, page_size, paged)
    out: Document = {
        "product_key": query.product_key,
        "iot_instance_id": query.instance,
        "total": answer.total,
        "firmwares": [firmware.to_api() for firmware in listing.items],
    }
    if query.version is not None:
        out["version"] = query.version
    out.update(_listed(listing, page_size, len(answer.firmwares), answer.truncated))
    return out
