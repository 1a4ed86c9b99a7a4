"""The IoT Platform client: signed calls over one pooled session, typed answers, careful retries.

Requests go out as the official SDKs send them: ``POST /`` with every parameter in the
query string and an empty body, ``Format=JSON``, signed with V3 (ACS3-HMAC-SHA256) by
default or V1 (HMAC-SHA1). The auth object signs each send, so every attempt carries a
fresh nonce and timestamp.

Unlike the official SDKs, the client retries where a retry can help, and only there:
throttling and transient faults (5xx, timeouts, connection errors, a body that is not
the API's JSON), with exponential backoff and equal jitter, a bounded number of
attempts, and never past the caller's deadline or the policy's own. Every attempt,
retries included, passes the ``AttemptGate`` (the account-wide quota) first.

Secrets stay out of sight: a V1 request carries its ``Signature`` (and an STS
``SecurityToken``) in the URL, which ``urllib3`` logs at DEBUG and puts into its
connection errors, so the client redacts those URLs in both places.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from random import random as uniform_random
from typing import Any, Protocol, TypeVar

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from otabot import __version__
from otabot.clocks import Monotonic, Sleep
from otabot.config import Credentials, Settings
from otabot.counters import Counters
from otabot.iot import actions
from otabot.iot.errors import (
    IotError,
    QuotaBusyError,
    ThrottledError,
    UpstreamUnavailableError,
    error_for,
)
from otabot.iot.models import (
    UNFINISHED_TASK_STATUSES,
    DeviceDetail,
    Firmware,
    JobDetail,
    OtaJob,
    OtaTask,
    Page,
    TaskStatus,
    data_object,
    tasks_from_api,
)
from otabot.iot.signing import SignatureV1, SignatureV3, canonical_query

logger = logging.getLogger(__name__)

API_VERSION = "2018-01-20"
USER_AGENT = f"otabot/{__version__} (+python-requests)"
POOL_SIZE = 32
_REQUEST_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}
# An attempt with less time than this left before the deadline is not worth sending.
MIN_ATTEMPT_SECONDS = 0.01
# A full page of 100 jobs is about 60 KB; anything past this is not the API talking.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
# Upstream error fields end up in Slack messages and logs: keep them short.
MAX_FIELD_CHARS = 128
MAX_MESSAGE_CHARS = 500
MAX_RETRY_AFTER_SECONDS = 3600.0

T = TypeVar("T")

# calls asked for; attempts sent (retries included); attempts the API throttled; calls that
# ended in an error after any retries.
CLIENT_COUNTERS = ("calls", "attempts", "retries", "throttled", "failures")


class AttemptGate(Protocol):
    """Admits each upstream attempt; the service's account-wide quota limiter implements it."""

    def before_attempt(self, action: str, deadline: float | None) -> None:
        """Block until this attempt of ``action`` may go; ``QuotaBusyError`` if not before
        ``deadline``."""
        ...

    def after_attempt(self, action: str, throttled: bool) -> None:
        """Told after every attempt whether the API throttled it."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a retryable failure.

    Before retry *n* (1 for the first) the client waits a time drawn uniformly from
    ``[c/2, c]`` with ``c = min(max_delay, base * 2**n)`` (equal jitter): 0.1 to 0.2 s,
    then 0.2 to 0.4 s, ... after a transient fault; 0.5 to 1 s, 1 to 2 s, 2 to 4 s, ...
    up to 4 to 8 s after throttling. No attempt starts ``total_deadline`` seconds or more
    after the call began.
    """

    max_attempts: int = 4
    base_delay: float = 0.1
    throttle_base_delay: float = 0.5
    max_delay: float = 8.0
    total_deadline: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.throttle_base_delay, self.max_delay) < 0:
            raise ValueError("delays must not be negative")
        if self.total_deadline <= 0:
            raise ValueError("total_deadline must be positive")

    def delay(self, retry: int, *, throttled: bool, random: Callable[[], float]) -> float:
        """Seconds to wait before retry number ``retry``; ``random()`` is uniform in [0, 1)."""
        base = self.throttle_base_delay if throttled else self.base_delay
        ceiling = min(self.max_delay, base * 2.0**retry)
        return ceiling / 2 + random() * ceiling / 2


class IotClient:
    """A signed, retrying client of IoT Platform's OpenAPI (version 2018-01-20). Thread-safe."""

    def __init__(
        self,
        endpoint: str,
        credentials: Credentials,
        *,
        region_id: str = "cn-shanghai",
        signature: str = "v3",
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        gate: AttemptGate | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
        session: requests.Session | None = None,
        random: Callable[[], float] = uniform_random,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        if signature not in ("v1", "v3"):
            raise ValueError(f"signature must be 'v1' or 'v3', not {signature!r}")
        self._endpoint = endpoint.rstrip("/") + "/"
        self._access_key_id = credentials.access_key_id
        self._region_id = region_id
        self._signature = signature
        self._auth: AuthBase = (
            SignatureV3(credentials) if signature == "v3" else SignatureV1(credentials)
        )
        self._timeouts = (connect_timeout, read_timeout)
        self._retry = retry or RetryPolicy()
        self._gate = gate
        self._monotonic = monotonic
        self._sleep = sleep
        self._random = random
        self._owns_session = session is None
        self._session = session if session is not None else _pooled_session()
        if proxies:
            self._session.proxies.update(proxies)
        self._counters = Counters(*CLIENT_COUNTERS)
        install_url_redaction()

    @classmethod
    def from_settings(cls, settings: Settings, *, gate: AttemptGate | None = None) -> IotClient:
        """A client for the configured endpoint, credentials, region, signature and timeouts."""
        return cls(
            settings.endpoint,
            settings.credentials(),
            region_id=settings.region_id,
            signature=settings.signature,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            gate=gate,
            proxies=settings.proxies_for(settings.endpoint),
        )

    def __repr__(self) -> str:
        return (
            f"IotClient(endpoint={self._endpoint!r}, region_id={self._region_id!r}, "
            f"signature={self._signature!r}, access_key_id={self._access_key_id!r})"
        )

    def __enter__(self) -> IotClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def stats(self) -> dict[str, int | float]:
        """Counts since the client was made (see ``CLIENT_COUNTERS``)."""
        return self._counters.totals()

    def close(self) -> None:
        """Close the pooled connections (a session passed in stays the caller's to close)."""
        if self._owns_session:
            self._session.close()

    # --- the actions (one typed method each) ------------------------------------------
    # ``deadline`` is in ``monotonic()`` time: no attempt is made or waited for past it.
    # Each raises an ``IotError`` subclass on failure.

    def list_ota_jobs_by_device(
        self,
        product_key: str,
        device_name: str,
        firmware_id: str,
        current_page: int = 1,
        page_size: int = 100,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[OtaJob]:
        """One page of the device's update batches for one firmware (``ListOTAJobByDevice``)."""
        params = {"ProductKey": product_key, "DeviceName": device_name, "FirmwareId": firmware_id}
        return self._page(
            actions.LIST_OTA_JOB_BY_DEVICE,
            params,
            OtaJob.from_api,
            ("Data", "SimpleOTAJobInfo"),
            current_page,
            page_size,
            iot_instance_id,
            deadline,
        )

    def list_ota_unfinished_tasks_by_device(
        self,
        product_key: str,
        device_name: str,
        statuses: Sequence[TaskStatus] = UNFINISHED_TASK_STATUSES,
        module_name: str | None = None,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> tuple[OtaTask, ...]:
        """The device's tasks that have not finished (``ListOTAUnfinishedTaskByDevice``).

        The action does not page: every unfinished task comes in one answer.
        """
        params = {"ProductKey": product_key, "DeviceName": device_name}
        params.update(repeated("TaskStatusList", [status.value for status in statuses]))
        if module_name:
            params["ModuleName"] = module_name
        return self._call(
            actions.LIST_OTA_UNFINISHED_TASK_BY_DEVICE.name,
            _with_instance(params, iot_instance_id),
            tasks_from_api,
            deadline,
        )

    def query_device_detail(
        self,
        product_key: str,
        device_name: str,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> DeviceDetail:
        """The device's status and reported firmware (``QueryDeviceDetail``), never its
        ``DeviceSecret``: the answer's credential is dropped where the body is parsed."""
        params = {"ProductKey": product_key, "DeviceName": device_name}
        return self._call(
            actions.QUERY_DEVICE_DETAIL.name,
            _with_instance(params, iot_instance_id),
            lambda body: DeviceDetail.from_api(data_object(body)),
            deadline,
        )

    def list_ota_firmware(
        self,
        product_key: str,
        dest_version: str | None = None,
        current_page: int = 1,
        page_size: int = 100,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[Firmware]:
        """One page of a product's firmware packages (``ListOTAFirmware``), optionally only
        those of one ``DestVersion`` (an exact match)."""
        params = {"ProductKey": product_key}
        if dest_version:
            params["DestVersion"] = dest_version
        return self._page(
            actions.LIST_OTA_FIRMWARE,
            params,
            Firmware.from_api,
            ("FirmwareInfo", "SimpleFirmwareInfo"),
            current_page,
            page_size,
            iot_instance_id,
            deadline,
        )

    def query_ota_job(
        self, job_id: str, iot_instance_id: str | None = None, deadline: float | None = None
    ) -> JobDetail:
        """One update batch in full (``QueryOTAJob``)."""
        return self._call(
            actions.QUERY_OTA_JOB.name,
            _with_instance({"JobId": job_id}, iot_instance_id),
            lambda body: JobDetail.from_api(data_object(body)),
            deadline,
        )

    def list_ota_tasks_by_job(
        self,
        job_id: str,
        status: TaskStatus | None = None,
        device_names: Sequence[str] = (),
        current_page: int = 1,
        page_size: int = 100,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[OtaTask]:
        """One page of a job's device tasks (``ListOTATaskByJob``), optionally of one status
        or of the named devices; its ``total`` counts every task that matches."""
        params = {"JobId": job_id}
        if status is not None:
            params["TaskStatus"] = status.value
        params.update(repeated("DeviceNames", device_names))
        return self._page(
            actions.LIST_OTA_TASK_BY_JOB,
            params,
            OtaTask.from_api,
            ("Data", "SimpleOTATaskInfo"),
            current_page,
            page_size,
            iot_instance_id,
            deadline,
        )

    def list_ota_jobs_by_firmware(
        self,
        firmware_id: str,
        current_page: int = 1,
        page_size: int = 200,
        iot_instance_id: str | None = None,
        deadline: float | None = None,
    ) -> Page[OtaJob]:
        """One page of the update batches of a firmware package (``ListOTAJobByFirmware``)."""
        return self._page(
            actions.LIST_OTA_JOB_BY_FIRMWARE,
            {"FirmwareId": firmware_id},
            OtaJob.from_api,
            ("Data", "SimpleOTAJobInfo"),
            current_page,
            page_size,
            iot_instance_id,
            deadline,
        )

    def _page(
        self,
        action: actions.Action,
        params: dict[str, str],
        item: Callable[[dict[str, Any]], T],
        where: tuple[str, str],
        current_page: int,
        page_size: int,
        iot_instance_id: str | None,
        deadline: float | None,
    ) -> Page[T]:
        """One call of a paged list action; ``where`` is (container, wrapper) of its items."""
        params = {**params, "CurrentPage": str(current_page), "PageSize": str(page_size)}
        container, wrapper = where

        def parse(body: dict[str, Any]) -> Page[T]:
            return Page.from_api(
                body,
                item,
                container=container,
                wrapper=wrapper,
                current_page=current_page,
                page_size=page_size,
            )

        return self._call(action.name, _with_instance(params, iot_instance_id), parse, deadline)

    def _call(
        self,
        action: str,
        params: Mapping[str, str],
        parse: Callable[[dict[str, Any]], T],
        deadline: float | None,
    ) -> T:
        """Run one API call through the gate, retrying retryable failures within the limits."""
        self._count(calls=1)
        limit = self._monotonic() + self._retry.total_deadline
        if deadline is not None:
            limit = min(limit, deadline)
        query = {
            "Action": action,
            "Version": API_VERSION,
            "Format": "JSON",
            "RegionId": self._region_id,
            **params,
        }
        last_error: IotError | None = None
        attempt = 0
        while True:
            attempt += 1
            try:
                if limit - self._monotonic() < MIN_ATTEMPT_SECONDS:
                    raise UpstreamUnavailableError(
                        f"no time left to call {action} before the deadline",
                        code="otabot.DeadlineExceeded",
                    )
                if self._gate is not None:
                    self._gate.before_attempt(action, limit)
            except (QuotaBusyError, UpstreamUnavailableError):
                self._count(failures=1)
                if last_error is not None:
                    raise last_error from None
                raise
            # The gate grants no slot past the limit; a hair of time is still a real attempt.
            remaining = max(limit - self._monotonic(), MIN_ATTEMPT_SECONDS)
            self._count(attempts=1, retries=1 if attempt > 1 else 0)
            error: IotError | None = None
            try:
                return self._attempt(action, query, parse, remaining, attempt)
            except IotError as caught:
                error = caught
            finally:
                throttled = isinstance(error, ThrottledError)
                if throttled:
                    self._count(throttled=1)
                if self._gate is not None:
                    self._gate.after_attempt(action, throttled)
            assert error is not None  # the attempt either returned or raised an IotError
            last_error = error
            delay = self._retry_delay(error, attempt, limit)
            if delay is None:
                self._count(failures=1)
                raise error
            # INFO, not WARNING: backing off is the expected answer to a shared quota.
            logger.info(
                "%s attempt %d failed (%s); retrying in %.2f s",
                action,
                attempt,
                error,
                delay,
                extra={"iot_action": action, "attempt": attempt, "error_code": error.code},
            )
            self._sleep(delay)

    def _retry_delay(self, error: IotError, attempt: int, limit: float) -> float | None:
        """The wait before the next attempt, or None when the error must be raised now."""
        if not error.retryable or attempt >= self._retry.max_attempts:
            return None
        throttled = isinstance(error, ThrottledError)
        delay = self._retry.delay(attempt, throttled=throttled, random=self._random)
        if isinstance(error, ThrottledError) and error.retry_after:
            delay = max(delay, min(error.retry_after, self._retry.max_delay))
        if self._monotonic() + delay + MIN_ATTEMPT_SECONDS > limit:
            return None
        return delay

    def _attempt(
        self,
        action: str,
        query: Mapping[str, str],
        parse: Callable[[dict[str, Any]], T],
        remaining: float,
        attempt: int,
    ) -> T:
        """Send one signed request and turn the answer into a result or an ``IotError``."""
        connect_timeout, read_timeout = self._timeouts
        timeout = (min(connect_timeout, remaining), min(read_timeout, remaining))
        # The read timeout bounds each socket read, not the body: a body dripped a byte at
        # a time is cut off here, at the attempt's share of the deadline.
        read_deadline = self._monotonic() + remaining
        started = time.perf_counter()
        try:
            # Prepared without the session's cookie and header merging (the API sets no
            # cookies), signed by the auth object, and never redirected: a redirect would
            # carry the signed request, STS token included, to wherever it points.
            prepared = requests.Request(
                "POST",
                f"{self._endpoint}?{canonical_query(query)}",
                headers=_REQUEST_HEADERS,
                auth=self._auth,
            ).prepare()
            response = self._session.send(
                prepared, timeout=timeout, allow_redirects=False, stream=True
            )
            try:
                content = _read_capped(
                    response,
                    MAX_RESPONSE_BYTES,
                    deadline=read_deadline,
                    monotonic=self._monotonic,
                    read_timeout=timeout[1],
                )
            finally:
                response.close()  # back to the pool when read whole, else dropped
        except _TooLarge as cause:
            raise UpstreamUnavailableError(
                f"IoT Platform answered with a body larger than {MAX_RESPONSE_BYTES} bytes",
                code="otabot.MalformedResponse",
                request_id=_short(response.headers.get("x-acs-request-id")) or None,
                http_status=response.status_code,
                retryable=False,
            ) from cause
        except _TooSlow as cause:
            raise UpstreamUnavailableError(
                f"IoT Platform did not finish its answer within {remaining:.3g} s",
                code="otabot.ReadTimeout",
                request_id=_short(response.headers.get("x-acs-request-id")) or None,
                http_status=response.status_code,
            ) from cause
        except requests.ConnectTimeout as cause:
            raise UpstreamUnavailableError(
                f"could not connect to IoT Platform within {timeout[0]:g} s",
                code="otabot.ConnectTimeout",
            ) from scrub_exception(cause)
        except requests.Timeout as cause:
            raise UpstreamUnavailableError(
                f"IoT Platform did not answer within {timeout[1]:g} s",
                code="otabot.ReadTimeout",
            ) from scrub_exception(cause)
        except requests.RequestException as cause:
            raise UpstreamUnavailableError(
                f"could not reach IoT Platform ({type(cause).__name__})",
                code="otabot.ConnectionError",
            ) from scrub_exception(cause)
        elapsed_ms = (time.perf_counter() - started) * 1000
        status = response.status_code
        header_request_id = _short(response.headers.get("x-acs-request-id")) or None
        try:
            body: Any = json.loads(content)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            body = None
        request_id = (
            _short(body.get("RequestId") or header_request_id) if isinstance(body, dict) else ""
        )
        logger.debug(
            "%s attempt %d: HTTP %d in %.1f ms (RequestId %s)",
            action,
            attempt,
            status,
            elapsed_ms,
            request_id or header_request_id or "-",
            extra={"iot_action": action, "attempt": attempt, "http_status": status},
        )
        if not isinstance(body, dict):
            content_type = response.headers.get("Content-Type", "no content type")
            raise UpstreamUnavailableError(
                f"IoT Platform answered HTTP {status} with a body that is not its JSON "
                f"({_short(content_type)}, {len(content)} bytes)",
                code="otabot.MalformedResponse",
                request_id=header_request_id,
                http_status=status,
            )
        if status >= 400 or body.get("Success") in (False, "false"):
            raise _api_error(body, status, request_id, response.headers.get("Retry-After"))
        try:
            return parse(body)
        except (ValueError, TypeError, AttributeError, ArithmeticError, RecursionError) as cause:
            raise UpstreamUnavailableError(
                f"IoT Platform's answer to {action} is not shaped as documented: "
                + _short(str(cause), MAX_MESSAGE_CHARS),
                code="otabot.MalformedResponse",
                request_id=request_id or None,
                http_status=status,
                retryable=False,
            ) from cause

    def _count(self, **increments: int) -> None:
        for name, amount in increments.items():
            if amount:
                self._counters.add(name, amount)


def repeated(name: str, values: Sequence[str]) -> dict[str, str]:
    """A list parameter as the RPC style sends it: ``Name.1``, ``Name.2``, …"""
    return {f"{name}.{index}": value for index, value in enumerate(values, start=1)}


def _with_instance(params: dict[str, str], iot_instance_id: str | None) -> dict[str, str]:
    return {**params, "IotInstanceId": iot_instance_id} if iot_instance_id else params


def _api_error(
    body: Mapping[str, Any], status: int, request_id: str, retry_after: str | None
) -> IotError:
    """The typed error for either error shape: the gateway's or IoT's ``Success: false``."""
    code = _short(body.get("Code"))
    message = _short(body.get("ErrorMessage") or body.get("Message"), MAX_MESSAGE_CHARS)
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


class _TooLarge(Exception):
    """The upstream body is past ``MAX_RESPONSE_BYTES``."""


class _TooSlow(Exception):
    """The upstream body did not arrive whole before the attempt's deadline."""


# Reads that fail in urllib3 become the exceptions requests raises for them while streaming.
_READ_ERRORS: tuple[tuple[type[Exception], type[requests.RequestException]], ...] = (
    (urllib3.exceptions.ReadTimeoutError, requests.ReadTimeout),
    (urllib3.exceptions.SSLError, requests.exceptions.SSLError),
    (urllib3.exceptions.DecodeError, requests.exceptions.ContentDecodingError),
    (urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError),
    (urllib3.exceptions.HTTPError, requests.ConnectionError),
)


def _read_capped(
    response: requests.Response,
    limit: int,
    *,
    deadline: float | None = None,
    monotonic: Monotonic = time.monotonic,
    read_timeout: float | None = None,
) -> bytes:
    """The whole body, or ``_TooLarge`` as soon as it (or its declared length) passes ``limit``.

    With a ``deadline`` (in ``monotonic()`` time), ``_TooSlow`` once it has passed: each read
    takes what has arrived (``read1``), and the socket waits no longer than the time left.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge()
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    while True:
        if deadline is not None:
            left = deadline - monotonic()
            if left <= 0:
                raise _TooSlow()
            _wait_at_most(raw, min(left, read_timeout) if read_timeout else left)
        try:
            chunk = raw.read1(65_536, decode_content=True)
        except urllib3.exceptions.HTTPError as cause:
            for caught, raised in _READ_ERRORS:
                if isinstance(cause, caught):
                    raise raised(cause) from cause
            raise  # pragma: no cover - HTTPError is the last entry
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)


def _wait_at_most(raw: Any, seconds: float) -> None:
    """Shorten the socket's timeout for the next read (urllib3 resets it per request)."""
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, MIN_ATTEMPT_SECONDS))


def _short(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    """An upstream field as a string of at most ``limit`` characters (it ends up in messages)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)[: limit + 1]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pooled_session() -> requests.Session:
    """A session that keeps up to ``POOL_SIZE`` connections per host alive between calls.

    ``trust_env`` is off: only ``otabot.config`` reads the environment (proxies included,
    handed in once as ``proxies``), and requests scanning it for proxy variables on every
    call was the largest share of the client's own overhead.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# --- keeping signed URLs out of logs and exceptions --------------------------------------

_SIGNED_QUERY_RE = re.compile(r"(?<![A-Za-z])(Signature|SecurityToken)=[^&\s'\")]*")
_URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry")


def redact_signed_query(text: str) -> str:
    """``text`` with the values of ``Signature`` and ``SecurityToken`` query parameters hidden."""
    return _SIGNED_QUERY_RE.sub(r"\1=***", text)


class SignedUrlRedaction(logging.Filter):
    """Hides signatures and STS tokens in URLs that a library logs (urllib3 at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_signed_query(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def install_url_redaction() -> None:
    """Attach ``SignedUrlRedaction`` to the urllib3 loggers that print request URLs (once)."""
    for name in _URL_LOGGERS:
        library_logger = logging.getLogger(name)
        if not any(isinstance(f, SignedUrlRedaction) for f in library_logger.filters):
            library_logger.addFilter(SignedUrlRedaction())


def scrub_exception(error: BaseException) -> BaseException:
    """Redact signed URLs in ``error`` and everything it chains or wraps, in place.

    requests and urllib3 put the request URL (with a V1 signature and STS token) into
    their messages and keep the prepared request, headers included, on the exception.
    """
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        args: list[object] = []
        for arg in current.args:
            if isinstance(arg, BaseException):
                pending.append(arg)
                args.append(arg)
            elif isinstance(arg, str):
                args.append(redact_signed_query(arg))
            else:
                args.append(arg)
        current.args = tuple(args)
        for attribute in ("request", "response"):
            if getattr(current, attribute, None) is not None:
                setattr(current, attribute, None)
        url = getattr(current, "url", None)
        if isinstance(url, str):
            current.url = redact_signed_query(url)  # type: ignore[attr-defined]
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return error
