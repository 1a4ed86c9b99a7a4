"""``otabot jobs DEVICE FIRMWARE``: the ``/ota`` lookup from a terminal, through ``OtaService``.

A table of every job (newest first) with a summary line, or one JSON object with
``--json``. Formats are checked before any call (exit 2); an upstream failure is one
line that names the problem and the API's RequestId (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any, TextIO

from otabot.cli.process import EXIT_OK, CommandError, UsageError
from otabot.config import DEVICE_NAME_RE, IDENTIFIER_RE, Settings
from otabot.iot import errors
from otabot.iot.models import JobStatus, OtaJob
from otabot.iot.paging import page_slice, pages_to_show
from otabot.logs import configure_logging
from otabot.service import JobsLookup, JobsResult, OtaService

STATUS_CHOICES = {
    "in_progress": JobStatus.IN_PROGRESS,
    "completed": JobStatus.COMPLETED,
    "canceled": JobStatus.CANCELED,
}
COLUMNS = ("STATUS", "JOB ID", "TYPE", "SELECTION", "TARGET", "CREATED", "STARTED", "ENDED", "TAGS")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "jobs",
        help="list the OTA jobs of a device for a firmware",
        description=(
            "Which OTA update batches has DEVICE been in for FIRMWARE, and where do they "
            "stand? Newest first. DEVICE is ProductKey/DeviceName, alias/DeviceName "
            "(OTABOT_PRODUCT_ALIASES) or a bare DeviceName with --product or "
            "OTABOT_DEFAULT_PRODUCT_KEY."
        ),
    )
    parser.add_argument("device", metavar="DEVICE", help="ProductKey/DeviceName, alias/Name, Name")
    parser.add_argument("firmware", metavar="FIRMWARE", help="FirmwareId")
    parser.add_argument("--product", metavar="PK", help="ProductKey (or alias) for a bare DEVICE")
    parser.add_argument(
        "--instance", metavar="ID", help="IotInstanceId (default OTABOT_IOT_INSTANCE_ID)"
    )
    parser.add_argument(
        "--status", choices=sorted(STATUS_CHOICES), help="only jobs with this status"
    )
    parser.add_argument(
        "--page",
        metavar="N",
        type=_page_number,
        help="show page N of OTABOT_PAGE_SIZE jobs (default: every job)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def _page_number(text: str) -> int:
    try:
        page = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a page number: {text!r}") from None
    if page < 1:
        raise argparse.ArgumentTypeError("pages start at 1")
    return page


def build_lookup(args: argparse.Namespace, settings: Settings) -> JobsLookup:
    """The query the arguments name, formats checked; ``UsageError`` says what is wrong."""
    device: str = args.device
    given_product = settings.resolve_product(args.product) if args.product else None
    if "/" in device:
        prefix, _, device_name = device.partition("/")
        product_key = settings.resolve_product(prefix)
        if given_product is not None and given_product != product_key:
            raise UsageError(
                f"DEVICE names product {product_key} but --product says {given_product}"
            )
    else:
        device_name = device
        product = given_product or settings.default_product_key
        if product is None:
            raise UsageError(
                f"no product for {device!r}: write ProductKey/{device}, "
                "pass --product, or set OTABOT_DEFAULT_PRODUCT_KEY"
            )
        product_key = product
    instance = args.instance or settings.iot_instance_id
    if not IDENTIFIER_RE.fullmatch(product_key):
        raise UsageError(f"{product_key!r} is not a ProductKey (letters, digits, - and _)")
    if not DEVICE_NAME_RE.fullmatch(device_name):
        raise UsageError(f"{device_name!r} is not a DeviceName (4-32 letters, digits and -_@.:)")
    if not IDENTIFIER_RE.fullmatch(args.firmware):
        raise UsageError(f"{args.firmware!r} is not a FirmwareId (letters, digits, - and _)")
    if instance is not None and not IDENTIFIER_RE.fullmatch(instance):
        raise UsageError(f"{instance!r} is not an IotInstanceId (letters, digits, - and _)")
    return JobsLookup(product_key, device_name, args.firmware, instance)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    configure_logging(settings)
    query = build_lookup(args, settings)
    service = OtaService.from_settings(settings)
    try:
        result = service.jobs(query)
    except errors.IotError as error:
        raise CommandError(describe_error(error, query)) from None
    finally:
        service.close()
    status = STATUS_CHOICES[args.status] if args.status else None
    if args.json:
        print_json(result, status, args.page, settings.page_size)
    else:
        print_table(result, status, args.page, settings.page_size)
    return EXIT_OK


def describe_error(error: errors.IotError, query: JobsLookup) -> str:
    """One line in words, with the API's code and RequestId."""
    if isinstance(error, errors.DeviceNotFoundError):
        words = f"device {query.device_name} not found in product {query.product_key}"
    elif isinstance(error, errors.ProductNotFoundError):
        words = f"product {query.product_key} not found"
    elif isinstance(error, errors.FirmwareProductMismatchError):
        words = f"firmware {query.firmware_id} does not belong to product {query.product_key}"
    elif isinstance(error, errors.FirmwareNotFoundError):
        words = f"firmware {query.firmware_id} not found"
    elif isinstance(error, errors.InstanceNotFoundError):
        words = f"IoT instance {query.iot_instance_id or '(none)'} not found"
    elif isinstance(error, errors.ThrottledError):
        wait = f" in {error.retry_after:.0f} s" if error.retry_after else ""
        words = f"IoT API busy, try again{wait}: {error.message}"
    elif isinstance(error, errors.AuthenticationError):
        words = f"credentials rejected: {error.message}"
    elif isinstance(error, errors.UpstreamUnavailableError):
        words = f"IoT API unavailable: {error.message}"
    else:
        words = error.message
    if error.code:
        words += f" [{error.code}]"
    return words + f" (RequestId {error.request_id or 'none'})"


def _selected(
    result: JobsResult, status: JobStatus | None, page: int | None, page_size: int
) -> tuple[tuple[OtaJob, ...], int, int]:
    """The jobs to show, the page shown and the page count (1 of 1 without --page)."""
    jobs = result.filtered(status)
    if page is None:
        return jobs, 1, 1
    pages = pages_to_show(len(jobs), page_size)
    return page_slice(jobs, page, page_size), min(page, pages), pages


def print_json(
    result: JobsResult,
    status: JobStatus | None,
    page: int | None,
    page_size: int,
    out: TextIO | None = None,
) -> None:
    jobs, _, _ = _selected(result, status, page, page_size)
    document = {
        "product_key": result.lookup.product_key,
        "device_name": result.lookup.device_name,
        "firmware_id": result.lookup.firmware_id,
        "iot_instance_id": result.lookup.iot_instance_id,
        "total": result.total,
        "jobs": [job.to_api() for job in jobs],
    }
    print(json.dumps(document, ensure_ascii=False), file=out or sys.stdout)


def _printable(text: str) -> str:
    """API text made safe for a terminal: control characters shown escaped, not obeyed."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _row(job: OtaJob) -> tuple[str, ...]:
    tags = ",".join(f"{key}={value}" for key, value in job.tags) or "-"
    return tuple(
        _printable(cell)
        for cell in (
            job.status.value,
            job.job_id,
            job.job_type.value,
            job.selection_type or "-",
            job.target_selection or "-",
            _when(job.utc_create),
            _when(job.utc_start_time),
            _when(job.utc_end_time),
            tags,
        )
    )


def summary(
    result: JobsResult,
    status: JobStatus | None,
    page: int,
    pages: int,
    asked_page: int | None = None,
) -> str:
    """``12 jobs: 3 IN_PROGRESS, 9 COMPLETED · fetched … · page 1 of 3 · …``.

    ``asked_page`` is the ``--page`` typed: the page shown is then always named, and a
    page past the end says the last one is shown instead.
    """
    counts = ", ".join(f"{count} {name}" for name, count in sorted(result.counts.items()))
    noun = "job" if result.total == 1 else "jobs"
    parts = [f"{result.total} {noun}" + (f": {counts}" if counts else "")]
    if status is not None:
        parts.append(f"{len(result.filtered(status))} {status.value} shown")
    if pages > 1 or asked_page is not None:
        parts.append(f"page {page} of {pages}")
    if asked_page is not None and asked_page > page:
        parts.append(f"there is no page {asked_page}, so the last one is shown")
    fetched = result.provenance.fetched_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    parts.append(f"fetched {fetched}" + (" (from cache)" if result.provenance.from_cache else ""))
    if result.truncated:
        parts.append(f"only the newest {len(result.jobs)} fetched (OTABOT_MAX_JOBS)")
    return " · ".join(parts)


def print_table(
    result: JobsResult,
    status: JobStatus | None,
    page: int | None,
    page_size: int,
    out: TextIO | None = None,
) -> None:
    stream = out or sys.stdout
    jobs, shown_page, pages = _selected(result, status, page, page_size)
    query = result.lookup
    print(
        f"OTA jobs · {query.device_name} · product {query.product_key} · "
        f"firmware {query.firmware_id} · instance {query.iot_instance_id or '-'}",
        file=stream,
    )
    if jobs:
        rows = [COLUMNS, *(_row(job) for job in jobs)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        for row in rows:
            print(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip(),
                file=stream,
            )
    else:
        print("(no jobs" + (f" with status {status.value})" if status else ")"), file=stream)
    print(summary(result, status, shown_page, pages, page) + " · times in UTC", file=stream)
