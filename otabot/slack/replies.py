"""From a parsed command to the message that answers it: the lookup, and errors in words."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from otabot.clocks import WallClock, utc_datetime
from otabot.iot.errors import (
    AuthenticationError,
    DeviceNotFoundError,
    FirmwareNotFoundError,
    FirmwareProductMismatchError,
    ForbiddenError,
    InstanceNotFoundError,
    InvalidRequestError,
    IotError,
    ProductNotFoundError,
    ThrottledError,
    UpstreamUnavailableError,
)
from otabot.service import JobsLookup, JobsResult
from otabot.slack.blocks import Message, code, error_message, escape, jobs_message
from otabot.slack.grammar import OtaCommand


class LookupService(Protocol):
    """What the Slack layer needs of ``otabot.service.OtaService``."""

    def jobs(self, lookup: JobsLookup, refresh: bool = False) -> JobsResult: ...


@dataclass(frozen=True)
class Reply:
    """The message to send and what the audit line says about how it was made."""

    message: Message
    outcome: str
    upstream_calls: int = 0
    cache_hit: bool = False


def answer(
    service: LookupService,
    command: OtaCommand,
    *,
    refresh: bool,
    page_size: int,
    wall_clock: WallClock,
    shared_by: str | None = None,
) -> Reply:
    """Look the command up and render its page, or explain the IoT error; other errors raise."""
    try:
        result = service.jobs(command.lookup, refresh=refresh)
    except IotError as error:
        problem, retryable = explain(error, command)
        message = error_message(
            problem,
            command=command,
            request_id=error.request_id,
            error_code=error.code or None,
            retryable=retryable,
        )
        return Reply(message, outcome=f"error:{error.code or type(error).__name__}")
    message = jobs_message(
        result, command, page_size=page_size, now=utc_datetime(wall_clock()), shared_by=shared_by
    )
    return Reply(message, "ok", result.provenance.upstream_calls, result.provenance.from_cache)


def explain(error: IotError, command: OtaCommand) -> tuple[str, bool]:
    """What went wrong, in words (escaped mrkdwn), and whether a Retry button can help."""
    lookup = command.lookup
    product, device = code(lookup.product_key), code(lookup.device_name)
    firmware = code(lookup.firmware_id)
    if isinstance(error, ThrottledError):
        after = error.retry_after
        # Bounded whatever the upstream said: a NaN or endless Retry-After is no advice.
        wait = math.ceil(after) if after is not None and 1 <= after <= 3600 else 1
        return f"IoT API busy — try again in {wait} s.", True
    if isinstance(error, DeviceNotFoundError):
        return f"Device {device} not found in product {product}.", False
    if isinstance(error, ProductNotFoundError):
        # A known alias would have been resolved to its key, so what was typed is neither.
        return f"Product {product} not found: no such ProductKey and no alias of that name.", False
    if isinstance(error, FirmwareProductMismatchError):
        return f"Firmware {firmware} does not belong to product {product}.", False
    if isinstance(error, FirmwareNotFoundError):
        return f"Firmware {firmware} not found.", False
    if isinstance(error, InstanceNotFoundError):
        if lookup.iot_instance_id:
            return f"IoT instance {code(lookup.iot_instance_id)} not found.", False
        return "This account needs an IoT instance ID — add `instance=ID`.", False
    if isinstance(error, ForbiddenError):
        return "otabot's credentials may not read this device — tell your otabot admin.", False
    if isinstance(error, AuthenticationError):
        return "IoT Platform rejected otabot's credentials — tell your otabot admin.", False
    if isinstance(error, UpstreamUnavailableError):
        return "IoT Platform is not answering right now — try again in a moment.", True
    if isinstance(error, InvalidRequestError):
        return f"IoT Platform refused the query: {escape(error.message)}", False
    return f"IoT Platform call failed: {escape(error.message)}", error.retryable


APOLOGY = (
    "Sorry — something went wrong inside otabot while answering this. "
    "It is logged for the admins; try again in a moment."
)
