"""The emulated IoT Platform's state and rules, free of any wire format (moto's models.py).

``IotPlatform`` holds the fleet and the per-account bookkeeping the real service
keeps: used nonces, each action's call window per AccessKeyId behind
``Throttling.User``, call statistics and injected faults. Its actions take typed
arguments and return fleet objects or a ``Page`` of them; the wire layer
(``responses.py``) parses requests into those arguments and serialises the results.
Every rule here is a plain method, tested with fake clocks: ``monotonic`` for quota
windows, nonce expiry and statistics, ``wall_clock`` for the timestamp check.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from otabot import clocks
from otabot.config import DEVICE_NAME_RE, IDENTIFIER_RE
from otabot.counters import Counters
from otabot.emulator.exceptions import (
    FirmwareAndProductKeyMismatch,
    FirmwareNotFound,
    InstanceNotFound,
    InvalidAccessKeyIdNotFound,
    InvalidFormattedDeviceName,
    InvalidFormattedProductKey,
    InvalidPageParams,
    InvalidTaskStatus,
    InvalidTimeStampExpired,
    InvalidTimeStampFormat,
    JobNotFound,
    NotExistedDevice,
    NotExistedProduct,
    SignatureNonceUsed,
    ThrottlingUser,
)
from otabot.emulator.fleet import (
    TASK_STATUSES,
    Fleet,
    FleetDevice,
    FleetFirmware,
    FleetJob,
    FleetProduct,
    FleetTask,
)
from otabot.iot import actions
from otabot.iot.models import UNFINISHED_TASK_STATUSES
from otabot.iot.paging import page_count, page_window
from otabot.iot.times import parse_utc

# An injected latency longer than this is a mistake (and past what a sleep can take).
MAX_LATENCY_MS = 3_600_000.0

T = TypeVar("T")

TIMESTAMP_TOLERANCE = 15 * 60
# A nonce must be remembered as long as a request carrying it could still pass the
# timestamp check: signed at T, first seen as early as T - 15 min, replayable until T + 15 min.
NONCE_TTL = 2 * TIMESTAMP_TOLERANCE
FAULT_ERRORS = (
    "ServiceUnavailable",
    "InternalError",
    "Throttling",
    "timeout",
    "malformed",
    "reset",
)
UNFINISHED_STATUSES = tuple(status.value for status in UNFINISHED_TASK_STATUSES)
NO_ACTION = "(none)"
OTHER_ACTION = "(other)"  # an action the emulator does not serve: not a label of its own


def parse_timestamp(text: str) -> float:
    """A ``YYYY-MM-DDThh:mm:ssZ`` timestamp (V1 ``Timestamp`` / V3 ``x-acs-date``) as POSIX time."""
    try:
        return parse_utc(text, strict=True).timestamp()
    except ValueError:
        raise InvalidTimeStampFormat() from None


def action_label(action: str) -> str:
    """How statistics name an action: bounded, whatever a client sends."""
    if not action:
        return NO_ACTION
    return action if action in actions.ACTIONS else OTHER_ACTION


class NonceRegistry:
    """Nonces seen per AccessKeyId, each kept for ``ttl`` seconds."""

    def __init__(self, ttl: float = NONCE_TTL) -> None:
        self._ttl = ttl
        self._seen: dict[tuple[str, str], float] = {}
        self._order: deque[tuple[float, tuple[str, str]]] = deque()

    def use(self, access_key_id: str, nonce: str, now: float) -> None:
        """Record a nonce; ``SignatureNonceUsed`` if this key used it within the TTL."""
        self._forget_before(now - self._ttl)
        key = (access_key_id, nonce)
        if key in self._seen:
            raise SignatureNonceUsed()
        self._seen[key] = now
        self._order.append((now, key))

    def clear(self) -> None:
        self._seen.clear()
        self._order.clear()

    def __len__(self) -> int:
        return len(self._seen)

    def _forget_before(self, cutoff: float) -> None:
        while self._order and self._order[0][0] <= cutoff:
            _, key = self._order.popleft()
            self._seen.pop(key, None)


class SlidingWindow:
    """Times of events within the last ``width`` seconds."""

    def __init__(self, width: float = 1.0) -> None:
        self._width = width
        self._times: deque[float] = deque()

    def count(self, now: float) -> int:
        """Events in the window ``(now - width, now]``."""
        while self._times and self._times[0] <= now - self._width:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float) -> int:
        """Record an event; return the count in the window including it."""
        self.count(now)
        self._times.append(now)
        return len(self._times)


def quota_limits(qps: float | Mapping[str, float] | None) -> dict[str, int]:
    """Calls per second per action: each action's documented quota, one number for every
    action, or a mapping by action name (actions it leaves out keep their documented one)."""
    limits: dict[str, float] = {
        name: float(rate) for name, rate in actions.documented_qps().items()
    }
    if isinstance(qps, Mapping):
        unknown = set(qps) - set(limits)
        if unknown:
            raise ValueError(f"not actions the emulator serves: {', '.join(sorted(unknown))}")
        limits.update(qps)
    elif qps is not None:
        limits = dict.fromkeys(limits, float(qps))
    if not all(rate > 0 for rate in limits.values()):
        raise ValueError("qps must be positive")
    return {name: max(1, math.floor(rate)) for name, rate in limits.items()}


class UserQuota:
    """``Throttling.User`` past an action's limit of admitted calls in any one-second window.

    Kept per AccessKeyId and per action: calls of one action never use another's quota.
    Refused calls do not use the quota either: a client that backs off gets back in.
    """

    def __init__(self, limits: Mapping[str, int]) -> None:
        self.limits = dict(limits)
        self._windows: dict[tuple[str, str], SlidingWindow] = {}

    def admit(self, access_key_id: str, action: str, now: float) -> None:
        window = self._windows.setdefault((access_key_id, action), SlidingWindow())
        if window.count(now) >= self.limits[action]:
            raise ThrottlingUser()
        window.add(now)

    def clear(self) -> None:
        self._windows.clear()


# Calls are counted per second from the first for this long (an hour), then only in total.
MAX_SECONDS_COUNTED = 3600


@dataclass(frozen=True)
class Faults:
    """Injected misbehaviour: ``latency_ms`` on every call, ``error`` on the next ``count``;
    with ``action``, only that action's calls."""

    latency_ms: float = 0.0
    error: str | None = None
    count: int | None = None
    action: str | None = None

    @classmethod
    def from_dict(cls, data: object) -> Faults:
        """Validate the body of ``POST /__emulator/faults``; ``ValueError`` says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        unknown = set(data) - {"latency_ms", "error", "count", "action"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
        latency = data.get("latency_ms", 0)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            raise ValueError("latency_ms must be a number >= 0")
        if not (math.isfinite(latency) and latency <= MAX_LATENCY_MS):  # a sleep can take it
            raise ValueError(f"latency_ms must be a number from 0 to {MAX_LATENCY_MS:.0f}")
        error = data.get("error")
        if error is not None and error not in FAULT_ERRORS:
            raise ValueError(f"error must be one of {', '.join(FAULT_ERRORS)}")
        count = data.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise ValueError("count must be an integer")
        if count is not None and count < 0:
            raise ValueError("count must be >= 0")
        action = data.get("action")
        if action is not None and action not in actions.ACTIONS:
            raise ValueError(f"action must be one of {', '.join(actions.ACTIONS)}")
        return cls(float(latency), error, count, action)

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "error": self.error,
            "count": self.count,
            "action": self.action,
        }

    def applies_to(self, action: str) -> bool:
        return self.action is None or self.action == action


@dataclass(frozen=True)
class Call:
    """What the platform decided about one arriving call before it is authenticated."""

    latency_ms: float
    fault: str | None


@dataclass(frozen=True)
class DeviceRef:
    """How a device-first action names a device: by IotId (which wins when given), or by
    ProductKey and DeviceName."""

    iot_id: str | None = None
    product_key: str | None = None
    device_name: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a paged action's result."""

    items: tuple[T, ...]
    total: int
    current_page: int
    page_size: int

    @property
    def page_count(self) -> int:
        return page_count(self.total, self.page_size)

    @classmethod
    def of(cls, everything: Sequence[T], current_page: int, page_size: int) -> Page[T]:
        window = page_window(current_page, page_size)
        return cls(tuple(everything[window]), len(everything), current_page, page_size)


class IotPlatform:
    """One emulated account: its fleet, and the rules the real service applies to calls.

    Thread-safe: the server's worker threads share one instance.
    """

    def __init__(
        self,
        fleet: Fleet,
        *,
        qps: float | Mapping[str, float] | None = None,
        monotonic: clocks.Monotonic = clocks.monotonic,
        wall_clock: clocks.WallClock = clocks.wall_clock,
    ) -> None:
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._fleet = fleet
        self._quota = UserQuota(quota_limits(qps))
        self._nonces = NonceRegistry()
        self._faults = Faults()
        self._counters = Counters("calls", "throttled")
        self._all_calls = SlidingWindow()
        self._action_calls: dict[str, SlidingWindow] = {}
        self._busiest_second = 0
        self._first_call: float | None = None
        self._last_call: float | None = None
        self._per_second: list[int] = []  # calls in each second from the first call
        self._busiest_by_action: dict[str, int] = {}

    @property
    def fleet(self) -> Fleet:
        return self._fleet

    @property
    def qps(self) -> dict[str, int]:
        """Each action's quota: calls per second per AccessKeyId."""
        return dict(self._quota.limits)

    @property
    def faults(self) -> Faults:
        return self._faults

    def replace_fleet(self, fleet: Fleet) -> None:
        with self._lock:
            self._fleet = fleet

    def reset(self) -> None:
        """Forget stats, nonces, quota windows and faults; keep the fleet."""
        with self._lock:
            self._nonces.clear()
            self._quota.clear()
            self._faults = Faults()
            self._counters.clear()
            self._all_calls = SlidingWindow()
            self._action_calls.clear()
            self._busiest_second = 0
            self._busiest_by_action.clear()
            self._first_call = self._last_call = None
            self._per_second = []

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults

    # Calls, in the order the wire layer makes them.

    def arrive(self, action: str, at: float | None = None) -> Call:
        """Count an API call that reached the emulator (``at``: when, on the monotonic clock;
        now by default) and take its share of injected faults."""
        label = action_label(action)
        with self._lock:
            now = self._monotonic() if at is None else at
            self._counters.add("calls", action=label)
            self._busiest_second = max(self._busiest_second, self._all_calls.add(now))
            if self._first_call is None:
                self._first_call = now
            self._last_call = now
            second = int(now - self._first_call)
            if second < MAX_SECONDS_COUNTED:
                self._per_second.extend([0] * (second + 1 - len(self._per_second)))
                self._per_second[second] += 1
            if label in actions.ACTIONS:
                in_second = self._action_calls.setdefault(label, SlidingWindow()).add(now)
                self._busiest_by_action[label] = max(
                    self._busiest_by_action.get(label, 0), in_second
                )
            faults = self._faults
            if not faults.applies_to(action):
                return Call(0.0, None)
            fault = faults.error
            if fault is not None and faults.count is not None:
                if faults.count <= 0:
                    fault = None
                else:
                    self._faults = Faults(
                        faults.latency_ms, faults.error, faults.count - 1, faults.action
                    )
            return Call(faults.latency_ms, fault)

    def record(self, code: str) -> None:
        """Note how a call ended: its code (``OK`` on success)."""
        self._counters.add("answers", code=code)
        if code.startswith("Throttling"):
            self._counters.add("throttled")

    def secret_for(self, access_key_id: str) -> str:
        """The AccessKey secret; ``InvalidAccessKeyId.NotFound`` for an unknown id."""
        secret = self._fleet.access_keys.get(access_key_id)
        if secret is None:
            raise InvalidAccessKeyIdNotFound()
        return secret

    def check_timestamp(self, text: str) -> None:
        """``InvalidTimeStamp.Format`` / ``.Expired`` (more than 15 minutes off either way)."""
        if abs(parse_timestamp(text) - self._wall_clock()) > TIMESTAMP_TOLERANCE:
            raise InvalidTimeStampExpired()

    def use_nonce(self, access_key_id: str, nonce: str) -> None:
        with self._lock:
            self._nonces.use(access_key_id, nonce, self._monotonic())

    def admit(self, access_key_id: str, action: str, at: float | None = None) -> None:
        """Take a slot of the key's per-second quota for ``action`` (counted ``at`` the call's
        arrival, now by default), or ``Throttling.User``."""
        with self._lock:
            self._quota.admit(access_key_id, action, self._monotonic() if at is None else at)

    def stats(self) -> dict[str, Any]:
        """Calls since the last reset: by action, by code, the busiest second, throttled."""
        counters = self._counters
        with self._lock:
            busiest, busiest_by_action = self._busiest_second, dict(self._busiest_by_action)
            first, last = self._first_call, self._last_call
            per_second = list(self._per_second)
        return {
            "calls": counters.count("calls"),
            "by_action": _whole(counters.by("calls", "action")),
            "by_code": _whole(counters.by("answers", "code")),
            "max_calls_in_any_second": busiest,
            # From the first call to the last: calls / span is the rate sustained.
            "span_seconds": round(last - first, 3) if first is not None and last is not None else 0,
            "per_second": per_second,
            "max_in_any_second_by_action": busiest_by_action,
            "throttled": counters.count("throttled"),
        }

    # Actions: typed arguments in, fleet objects out; business errors raised.

    def _fleet_for(self, iot_instance_id: str | None) -> Fleet:
        """The fleet one call reads (one snapshot), once the call names its instance."""
        fleet = self._fleet
        if iot_instance_id != fleet.iot_instance_id:
            raise InstanceNotFound()
        return fleet

    def list_ota_jobs_by_device(
        self,
        product_key: str,
        device_name: str,
        firmware_id: str,
        current_page: int,
        page_size: int,
        iot_instance_id: str | None,
    ) -> Page[FleetJob]:
        """``ListOTAJobByDevice``: the device's jobs for a firmware of its product."""
        fleet = self._fleet_for(iot_instance_id)
        _check_page(actions.LIST_OTA_JOB_BY_DEVICE, current_page, page_size)
        device = _device(fleet, DeviceRef(product_key=product_key, device_name=device_name))
        firmware = _firmware(fleet, firmware_id)
        if firmware.product_key != device.product_key:
            raise FirmwareAndProductKeyMismatch()
        jobs = fleet.jobs_for(product_key, device_name, firmware_id)
        return Page.of(jobs, current_page, page_size)

    def list_ota_unfinished_tasks_by_device(
        self,
        device_ref: DeviceRef,
        statuses: Sequence[str],
        module_name: str | None,
        iot_instance_id: str | None,
    ) -> tuple[FleetTask, ...]:
        """``ListOTAUnfinishedTaskByDevice``: the device's tasks in ``statuses`` (unpaged)."""
        fleet = self._fleet_for(iot_instance_id)
        if not statuses:
            raise InvalidTaskStatus("TaskStatus or TaskStatusList is required.")
        for status in statuses:
            if status not in UNFINISHED_STATUSES:
                raise InvalidTaskStatus(
                    f"{status[:40]!r} is not one of {', '.join(UNFINISHED_STATUSES)}."
                )
        device = _device(fleet, device_ref)
        return tuple(
            task
            for task in fleet.tasks_of(device.product_key, device.device_name)
            if task.task_status in statuses
            and (module_name is None or task.module_name == module_name)
        )

    def query_device_detail(
        self, device_ref: DeviceRef, iot_instance_id: str | None
    ) -> FleetDevice:
        """``QueryDeviceDetail``: the device, DeviceSecret and all, as the real API gives it."""
        return _device(self._fleet_for(iot_instance_id), device_ref)

    def list_ota_firmware(
        self,
        product_key: str | None,
        dest_version: str | None,
        current_page: int,
        page_size: int,
        iot_instance_id: str | None,
    ) -> Page[FleetFirmware]:
        """``ListOTAFirmware``: the account's (or a product's) packages, of one version if given."""
        fleet = self._fleet_for(iot_instance_id)
        _check_page(actions.LIST_OTA_FIRMWARE, current_page, page_size)
        if product_key is not None:
            _product(fleet, product_key)
        firmwares = [
            firmware
            for firmware in fleet.firmwares.values()
            if product_key in (None, firmware.product_key)
            and dest_version in (None, firmware.dest_version)
        ]
        return Page.of(firmwares, current_page, page_size)

    def query_ota_job(self, job_id: str, iot_instance_id: str | None) -> FleetJob:
        """``QueryOTAJob``: one job in full."""
        fleet = self._fleet_for(iot_instance_id)
        return _job(fleet, job_id)

    def list_ota_tasks_by_job(
        self,
        job_id: str,
        task_status: str | None,
        device_names: Sequence[str],
        current_page: int,
        page_size: int,
        iot_instance_id: str | None,
    ) -> Page[FleetTask]:
        """``ListOTATaskByJob``: a job's tasks, of one status and/or of the named devices."""
        fleet = self._fleet_for(iot_instance_id)
        _check_page(actions.LIST_OTA_TASK_BY_JOB, current_page, page_size)
        if current_page * page_size > actions.MAX_TASK_WINDOW:
            raise InvalidPageParams(
                f"CurrentPage x PageSize must be at most {actions.MAX_TASK_WINDOW}."
            )
        if task_status is not None and task_status not in TASK_STATUSES:
            raise InvalidTaskStatus(
                f"{task_status[:40]!r} is not one of {', '.join(TASK_STATUSES)}."
            )
        job = _job(fleet, job_id)
        tasks = [
            task
            for task in job.tasks
            if task_status in (None, task.task_status)
            and (not device_names or task.device_name in device_names)
        ]
        return Page.of(tasks, current_page, page_size)

    def list_ota_jobs_by_firmware(
        self,
        firmware_id: str,
        current_page: int,
        page_size: int,
        iot_instance_id: str | None,
    ) -> Page[FleetJob]:
        """``ListOTAJobByFirmware``: every job of a firmware package."""
        fleet = self._fleet_for(iot_instance_id)
        _check_page(actions.LIST_OTA_JOB_BY_FIRMWARE, current_page, page_size)
        firmware = _firmware(fleet, firmware_id)
        jobs = [job for job in fleet.jobs if job.firmware_id == firmware.firmware_id]
        return Page.of(jobs, current_page, page_size)


def _check_page(action: actions.Action, current_page: int, page_size: int) -> None:
    largest = action.max_page_size or 0
    if current_page < 1 or not 1 <= page_size <= largest:
        raise InvalidPageParams(f"PageSize must be 1-{largest} and CurrentPage at least 1.")


def _product(fleet: Fleet, product_key: str | None) -> FleetProduct:
    if not product_key or not IDENTIFIER_RE.fullmatch(product_key):
        raise InvalidFormattedProductKey()
    product = fleet.products.get(product_key)
    if product is None:
        raise NotExistedProduct()
    return product


def _device(fleet: Fleet, ref: DeviceRef) -> FleetDevice:
    if ref.iot_id is not None:
        found = fleet.device_by_iot_id(ref.iot_id)
    else:
        product = _product(fleet, ref.product_key)
        if not ref.device_name or not DEVICE_NAME_RE.fullmatch(ref.device_name):
            raise InvalidFormattedDeviceName()
        found = product.devices.get(ref.device_name)
    if found is None:
        raise NotExistedDevice()
    return found


def _firmware(fleet: Fleet, firmware_id: str) -> FleetFirmware:
    firmware = fleet.firmwares.get(firmware_id)
    if firmware is None:
        raise FirmwareNotFound()
    return firmware


def _job(fleet: Fleet, job_id: str) -> FleetJob:
    job = fleet.job(job_id)
    if job is None:
        raise JobNotFound()
    return job


def _whole(counts: Mapping[str, float]) -> dict[str, int]:
    return {name: round(count) for name, count in counts.items()}
