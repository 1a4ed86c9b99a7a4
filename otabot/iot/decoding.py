"""From an answer as the wire delivered it to a typed result, or to the typed error it means.

Both error shapes of the API end here: the gateway's (HTTP 4xx/5xx with ``Code`` and
``Message``) and IoT's (``Success: false`` with ``Code`` and ``ErrorMessage``, HTTP 200).
What the API says reaches messages and logs only bounded: fields cut short, a
``Retry-After`` used only when it is a sane number of seconds. A body that is not the
API's JSON (an HTML page from a proxy, a truncated body, JSON nested deeper than Python
parses) or that is not shaped as documented (a count that is NaN or negative, a missing
``Data``) is ``UpstreamUnavailableError`` with code ``otabot.MalformedResponse``.

Credentials an answer carries (``DeviceSecret``) are dropped while the JSON is parsed,
so no object built from the answer, result or error, ever holds one.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from otabot.iot.errors import IotError, ThrottledError, UpstreamUnavailableError, error_for

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Fields of an answer that are credentials: never kept, whatever object they sit in.
SECRET_FIELDS = frozenset({"DeviceSecret"})
# Upstream error fields end up in Slack messages and logs: keep them short.
MAX_FIELD_CHARS = 128
MAX_MESSAGE_CHARS = 500
MAX_RETRY_AFTER_SECONDS = 3600.0
# What a shape check in ``parse`` raises when the answer is not what the documentation says.
_SHAPE_ERRORS = (ValueError, TypeError, AttributeError, ArithmeticError, RecursionError)


@dataclass(frozen=True)
class Answer:
    """What one attempt got back: status, headers (case-insensitive), the whole body."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    elapsed_ms: float = 0.0

    @property
    def request_id(self) -> str | None:
        return header_request_id(self.headers)


def header_request_id(headers: Mapping[str, str]) -> str | None:
    """The gateway's ``x-acs-request-id`` header, shortened, if it sent one."""
    return shorten(headers.get("x-acs-request-id")) or None


def decode(
    action: str, answer: Answer, parse: Callable[[dict[str, Any]], T], *, attempt: int = 1
) -> T:
    """``parse(body)`` of a successful answer to ``action``; else the ``IotError`` it means."""
    body = _json_object(answer.content)
    request_id = shorten(body.get("RequestId") or answer.request_id) if body is not None else ""
    logger.debug(
        "%s attempt %d: HTTP %d in %.1f ms (RequestId %s)",
        action,
        attempt,
        answer.status,
        answer.elapsed_ms,
        request_id or answer.request_id or "-",
        extra={"iot_action": action, "attempt": attempt, "http_status": answer.status},
    )
    if body is None:
        content_type = answer.headers.get("Content-Type", "no content type")
        raise UpstreamUnavailableError(
            f"IoT Platform answered HTTP {answer.status} with a body that is not its JSON "
            f"({shorten(content_type)}, {len(answer.content)} bytes)",
            code="otabot.MalformedResponse",
            request_id=answer.request_id,
            http_status=answer.status,
        )
    if answer.status >= 400 or body.get("Success") in (False, "false"):
        raise _api_error(body, answer.status, request_id, answer.headers.get("Retry-After"))
    try:
        return parse(body)
    except _SHAPE_ERRORS as cause:
        raise UpstreamUnavailableError(
            f"IoT Platform's answer to {action} is not shaped as documented: "
            + shorten(str(cause), MAX_MESSAGE_CHARS),
            code="otabot.MalformedResponse",
            request_id=request_id or None,
            http_status=answer.status,
            retryable=False,
        ) from cause


def shorten(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    """An upstream field as a string of at most ``limit`` characters (it ends up in messages)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)[: limit + 1]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_object(content: bytes) -> dict[str, Any] | None:
    """The body as a JSON object without its secret fields; None when it is not one."""
    try:
        body: Any = json.loads(content, object_hook=_without_secrets)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        return None
    return body if isinstance(body, dict) else None


def _without_secrets(item: dict[str, Any]) -> dict[str, Any]:
    for name in SECRET_FIELDS:
        item.pop(name, None)
    return item


def _api_error(
    body: Mapping[str, Any], status: int, request_id: str, retry_after: str | None
) -> IotError:
    """The typed error for either error shape: the gateway's or IoT's ``Success: false``."""
    code = shorten(body.get("Code"))
    message = shorten(body.get("ErrorMessage") or body.get("Message"), MAX_MESSAGE_CHARS)
    if not code and not message:
        message = f"IoT Platform answered HTTP {status} without an error code"
    error = error_for(code, message, request_id=request_id or None, http_status=status)
    if isinstance(error, ThrottledError) and retry_after:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = math.nan
        if 0 <= seconds <= MAX_RETRY_AFTER_SECONDS:  # also false for nan
            error.retry_after = seconds
        else:
            logger.debug("ignoring a Retry-After that is not a sane number of seconds")
    return error
