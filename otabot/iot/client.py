"""The IoT Platform client: one typed method per action, careful retries, typed errors.

Each call runs one retry loop here; its pieces live next door, each changeable alone:
``transport`` sends one signed attempt and reads its answer under the attempt's deadline,
``decoding`` turns an answer into the result or the typed error it means, and
``redaction`` keeps signed URLs out of logs and exceptions.

Unlike the official SDKs, the client retries where a retry can help, and only there:
throttling and transient faults (5xx, timeouts, connection errors, a body that is not
the API's JSON), with exponential backoff and equal jitter, a bounded number of
attempts, and never past the caller's deadline or the policy's own. Every attempt,
retries included, passes the ``AttemptGate`` (the account-wide quota) first. Every
error a call raises says which action it was about (``IotError.action``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from random import random as uniform_random
from typing import Any, Protocol, TypeVar

import requests
from requests.auth import AuthBase

from otabot.clocks import Monotonic, Sleep
from otabot.config import CredentialsProvider, Settings
from otabot.counters import Counters
from otabot.iot import actions
from otabot.iot.decoding import decode
from otabot.iot.errors import (
    IotError,
    QuotaBusyError,
    ThrottledError,
    UpstreamUnavailableError,
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
from otabot.iot.redaction import install_url_redaction, scrub_exception
from otabot.iot.signing import SignatureV1, SignatureV3
from otabot.iot.transport import MIN_ATTEMPT_SECONDS, Transport

logger = logging.getLogger(__name__)

API_VERSION = "2018-01-20"

T = TypeVar("T")
# Turns the body of a successful answer into the call's result.
Parse = Callable[[dict[str, Any]], T]

# calls asked for; attempts sent (retries included); attempts the API throttled; calls that
# ended in an error after any retries.
# An attempt is signed before it waits for its quota slot (so only the send follows the
# slot); one that waited longer than this is signed again, well inside the API's 15 min.
RESIGN_AFTER_SECONDS = 60.0
CLIENT_COUNTERS = ("calls", "attempts", "retries", "throttled", "failures")


class AttemptGate(Protocol):
    """Admits each upstream attempt; the service's account-wide quota limiter implements it."""

    def before_attempt(self, action: str, deadline: float | None) -> None:
        """Block until this attempt of ``action`` may go; ``QuotaBusyError`` if not before
        ``deadline``."""
        ...

    def after_attempt(self, action: str, throttled: bool, written_at: float | None) -> None:
        """Told after every attempt whether the API throttled it, and when its request had
        been written whole (``monotonic`` time; None when unknown or never written)."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a retryable failure.

    Before retry *n* (1 for the first) the client waits a time drawn uniformly from
    ``[c/2, c]`` with ``c = min(max_delay, base * 2**n)`` (equal jitter): 0.1 to 0.2 s,
    then 0.2 to 0.4 s, ... after a transient fault; 0.5 to 1 s, 1 to 2 s, 2 to 4 s, ...
    up to 4 to 8 s after throttling. No attempt starts ``total_deadline`` seconds or more
    after the first one went (the wait for the first one's quota turn is bounded by the
    caller's deadline, or by ``total_deadline`` when there is none).
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
        credentials: CredentialsProvider,
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
        auth: AuthBase = SignatureV3(credentials) if signature == "v3" else SignatureV1(credentials)
        self._transport = Transport(
            endpoint,
            auth,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            monotonic=monotonic,
            session=session,
            proxies=proxies,
        )
        self._credentials = credentials
        self._region_id = region_id
        self._signature = signature
        self._retry = retry or RetryPolicy()
        self._gate = gate
        self._monotonic = monotonic
        self._sleep = sleep
        self._random = random
        self._counters = Counters(*CLIENT_COUNTERS)
        install_url_redaction()

    @classmethod
    def from_settings(cls, settings: Settings, *, gate: AttemptGate | None = None) -> IotClient:
        """A client for the configured endpoint, credentials, region, signature and timeouts.

        The credential chain is asked for credentials now, so a deployment without any
        stops here with where it looked (``CredentialsNotFoundError``), and again for every
        attempt, so credentials that rotate are always current.
        """
        settings.credentials()
        return cls(
            settings.endpoint,
            settings.credentials_provider,
            region_id=settings.region_id,
            signature=settings.signature,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            gate=gate,
            proxies=settings.proxies_for(settings.endpoint),
        )

    def __repr__(self) -> str:
        return (
            f"IotClient(endpoint={self._transport.endpoint!r}, region_id={self._region_id!r}, "
            f"signature={self._signature!r}, credentials={self._credentials!r})"
        )

    def __enter__(self) -> IotClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def stats(self) -> dict[str, int | float]:
        """Counts since the client was made (see ``CLIENT_COUNTERS``)."""
        totals = self._counters.totals()
        totals.pop("answers", None)
        return totals

    def close(self) -> None:
        """Close the pooled connections (a session passed in stays the caller's to close)."""
        self._transport.close()

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

        The action does not page: every unfinished task comes in one answer. ``statuses``
        must name at least one status (the API requires one).
        """
        if not statuses:
            raise ValueError("ask for at least one task status")
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
        parse: Parse[T],
        deadline: float | None,
    ) -> T:
        """Run one API call; any ``IotError`` it ends in names ``action`` and is scrubbed."""
        self._count(action, calls=1)
        # The caller's deadline bounds the wait for a quota turn too; the retry policy's
        # own budget starts once the first attempt goes.
        limit = self._monotonic() + self._retry.total_deadline if deadline is None else deadline
        query = {
            "Action": action,
            "Version": API_VERSION,
            "Format": "JSON",
            "RegionId": self._region_id,
            **params,
        }
        try:
            return self._attempts(action, query, parse, limit)
        except IotError as error:
            error.action = action
            scrub_exception(error)  # also drops the locals of the frames it has left
            raise

    def _attempts(self, action: str, query: Mapping[str, str], parse: Parse[T], limit: float) -> T:
        """Attempts through the gate until one succeeds, or an error must be raised: one
        that cannot be retried, the last attempt's, or the deadline's (``limit``)."""
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
                prepared = self._transport.prepare(query)
                if self._gate is not None:
                    waited_from = self._monotonic()
                    self._gate.before_attempt(action, limit)
                    if self._monotonic() - waited_from > RESIGN_AFTER_SECONDS:
                        prepared = self._transport.prepare(query)  # a fresher signature
                if attempt == 1:
                    limit = min(limit, self._monotonic() + self._retry.total_deadline)
            except (QuotaBusyError, UpstreamUnavailableError):
                self._count(action, failures=1)
                if last_error is not None:
                    raise last_error from None
                raise
            # The gate grants no slot past the limit; a hair of time is still a real attempt.
            remaining = max(limit - self._monotonic(), MIN_ATTEMPT_SECONDS)
            self._count(action, attempts=1, retries=1 if attempt > 1 else 0)
            error: IotError | None = None
            try:
                answer = self._transport.send(prepared, remaining)
                return decode(action, answer, parse, attempt=attempt)
            except IotError as caught:
                error = caught
            finally:
                throttled = isinstance(error, ThrottledError)
                if throttled:
                    self._count(action, throttled=1)
                code = "OK" if error is None else error.code or type(error).__name__
                self._counters.add("answers", action=action, code=code)
                if self._gate is not None:
                    self._gate.after_attempt(action, throttled, self._transport.written_at())
            assert error is not None  # the attempt either returned or raised an IotError
            last_error = error
            delay = self._retry_delay(error, attempt, limit)
            if delay is None:
                self._count(action, failures=1)
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

    def _count(self, action: str, **increments: int) -> None:
        for name, amount in increments.items():
            if amount:
                self._counters.add(name, amount, action=action)

    @property
    def counters(self) -> Counters:
        """Calls, attempts, retries, throttling and failures by action, and every answer by
        action and code (``OK`` or the error's): for metrics."""
        return self._counters


def repeated(name: str, values: Sequence[str]) -> dict[str, str]:
    """A list parameter as the RPC style sends it: ``Name.1``, ``Name.2``, …"""
    return {f"{name}.{index}": value for index, value in enumerate(values, start=1)}


def _with_instance(params: dict[str, str], iot_instance_id: str | None) -> dict[str, str]:
    return {**params, "IotInstanceId": iot_instance_id} if iot_instance_id else params
