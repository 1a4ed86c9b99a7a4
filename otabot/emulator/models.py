"""The emulated IoT Platform's state and rules, free of any wire format (moto's models.py).

``IotPlatform`` holds the fleet and the per-account bookkeeping the real service
keeps: used nonces, the per-AccessKeyId call window behind ``Throttling.User``,
call statistics and injected faults. The wire layer (``responses.py``) asks it to
authenticate, admit and answer; every rule here is a plain method tested with a
fake clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from otabot.emulator.exceptions import (
    FirmwareAndProductKeyMismatch,
    FirmwareNotFound,
    InstanceNotFound,
    InvalidAccessKeyIdNotFound,
    InvalidPageParams,
    InvalidTimeStampExpired,
    InvalidTimeStampFormat,
    MissingParameter,
    NotExistedDevice,
    NotExistedProduct,
    SignatureNonceUsed,
    ThrottlingUser,
)
from otabot.emulator.fleet import Fleet
from otabot.iot.paging import page_count, page_window
from otabot.iot.times import parse_utc

MAX_PAGE_SIZE = 100
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
LIST_JOBS_PARAMETERS = ("ProductKey", "DeviceName", "FirmwareId", "CurrentPage", "PageSize")


def parse_page_params(current_page: str, page_size: str) -> tuple[int, int]:
    """``(CurrentPage, PageSize)`` as integers; ``InvalidPageParams`` unless 1.. and 1..100."""
    try:
        page, size = int(current_page.strip()), int(page_size.strip())
    except ValueError as error:
        raise InvalidPageParams() from error
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidPageParams()
    return page, size


def parse_timestamp(text: str) -> float:
    """A ``YYYY-MM-DDThh:mm:ssZ`` timestamp (V1 ``Timestamp`` / V3 ``x-acs-date``) as POSIX time."""
    try:
        return parse_utc(text, strict=True).timestamp()
    except ValueError:
        raise InvalidTimeStampFormat() from None


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


class UserQuota:
    """``Throttling.User`` past ``qps`` admitted calls in any one-second window, per AccessKeyId.

    Refused calls do not use the quota: a client that backs off gets back in.
    """

    def __init__(self, qps: float) -> None:
        if qps <= 0:
            raise ValueError("qps must be positive")
        self.limit = max(1, math.floor(qps))
        self._windows: dict[str, SlidingWindow] = {}

    def admit(self, access_key_id: str, now: float) -> None:
        window = self._windows.setdefault(access_key_id, SlidingWindow())
        if window.count(now) >= self.limit:
            raise ThrottlingUser()
        window.add(now)

    def clear(self) -> None:
        self._windows.clear()


@dataclass(frozen=True)
class Faults:
    """Injected misbehaviour: ``latency_ms`` on every call, ``error`` on the next ``count``."""

    latency_ms: float = 0.0
    error: str | None = None
    count: int | None = None

    @classmethod
    def from_dict(cls, data: object) -> Faults:
        """Validate the body of ``POST /__emulator/faults``; ``ValueError`` says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        unknown = set(data) - {"latency_ms", "error", "count"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        latency = data.get("latency_ms", 0)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            raise ValueError("latency_ms must be a number >= 0")
        error = data.get("error")
        if error is not None and error not in FAULT_ERRORS:
            raise ValueError(f"error must be one of {', '.join(FAULT_ERRORS)}")
        count = data.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise ValueError("count must be an integer")
        if count is not None and count < 0:
            raise ValueError("count must be >= 0")
        return cls(float(latency), error, count)

    def to_dict(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "error": self.error, "count": self.count}


@dataclass(frozen=True)
class Call:
    """What the platform decided about one arriving call before it is authenticated."""

    latency_ms: float
    fault: str | None


class IotPlatform:
    """One emulated account: its fleet, and the rules the real service applies to calls.

    Thread-safe: the server's handler threads share one instance.
    """

    def __init__(
        self, fleet: Fleet, *, qps: float = 10.0, clock: Callable[[], float] | None = None
    ) -> None:
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._fleet = fleet
        self._quota = UserQuota(qps)
        self._nonces = NonceRegistry()
        self._faults = Faults()
        self._all_calls = SlidingWindow()
        self._calls = 0
        self._by_action: Counter[str] = Counter()
        self._by_code: Counter[str] = Counter()
        self._max_in_second = 0
        self._throttled = 0

    @property
    def fleet(self) -> Fleet:
        return self._fleet

    @property
    def qps(self) -> int:
        return self._quota.limit

    def now(self) -> float:
        return self._clock()

    def replace_fleet(self, fleet: Fleet) -> None:
        with self._lock:
            self._fleet = fleet

    def reset(self) -> None:
        """Forget stats, nonces, quota windows and faults; keep the fleet."""
        with self._lock:
            self._nonces.clear()
            self._quota.clear()
            self._faults = Faults()
            self._all_calls = SlidingWindow()
            self._calls = 0
            self._by_action.clear()
            self._by_code.clear()
            self._max_in_second = 0
            self._throttled = 0

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults

    @property
    def faults(self) -> Faults:
        return self._faults

    # Calls, in the order the wire layer makes them.

    def arrive(self) -> Call:
        """Count an API call that reached the emulator and take its share of injected faults."""
        with self._lock:
            self._calls += 1
            self._max_in_second = max(self._max_in_second, self._all_calls.add(self._clock()))
            faults = self._faults
            fault = faults.error
            if fault is not None and faults.count is not None:
                if faults.count <= 0:
                    fault = None
                else:
                    self._faults = Faults(faults.latency_ms, faults.error, faults.count - 1)
            return Call(faults.latency_ms, fault)

    def record(self, action: str, code: str) -> None:
        """Note how a call ended: its action (``""`` when none) and code (``OK`` on success)."""
        with self._lock:
            self._by_action[action or "(none)"] += 1
            self._by_code[code] += 1
            if code.startswith("Throttling"):
                self._throttled += 1

    def secret_for(self, access_key_id: str) -> str:
        """The AccessKey secret; ``InvalidAccessKeyId.NotFound`` for an unknown id."""
        secret = self._fleet.access_keys.get(access_key_id)
        if secret is None:
            raise InvalidAccessKeyIdNotFound()
        return secret

    def check_timestamp(self, text: str) -> None:
        """``InvalidTimeStamp.Format`` / ``.Expired`` (more than 15 minutes off either way)."""
        if abs(parse_timestamp(text) - self._clock()) > TIMESTAMP_TOLERANCE:
            raise InvalidTimeStampExpired()

    def use_nonce(self, access_key_id: str, nonce: str) -> None:
        with self._lock:
            self._nonces.use(access_key_id, nonce, self._clock())

    def admit(self, access_key_id: str) -> None:
        """Take a slot of the key's per-second quota, or ``Throttling.User``."""
        with self._lock:
            self._quota.admit(access_key_id, self._clock())

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": self._calls,
                "by_action": dict(self._by_action),
                "by_code": dict(self._by_code),
                "max_calls_in_any_second": self._max_in_second,
                "throttled": self._throttled,
            }

    # Actions.

    def list_ota_jobs_by_device(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``ListOTAJobByDevice``: one page of the device's jobs for a firmware, API-shaped."""
        for name in LIST_JOBS_PARAMETERS:
            if not params.get(name, "").strip():
                raise MissingParameter(name)
        fleet = self._fleet
        instance = params.get("IotInstanceId", "").strip() or None
        if instance != fleet.iot_instance_id:
            raise InstanceNotFound()
        current_page, page_size = parse_page_params(params["CurrentPage"], params["PageSize"])
        product_key, device_name = params["ProductKey"], params["DeviceName"]
        firmware_id = params["FirmwareId"]
        devices = fleet.products.get(product_key)
        if devices is None:
            raise NotExistedProduct()
        if device_name not in devices:
            raise NotExistedDevice()
        firmware_product = fleet.firmwares.get(firmware_id)
        if firmware_product is None:
            raise FirmwareNotFound()
        if firmware_product != product_key:
            raise FirmwareAndProductKeyMismatch()
        jobs = fleet.jobs_for(product_key, device_name, firmware_id)
        return {
            "Total": len(jobs),
            "PageCount": page_count(len(jobs), page_size),
            "PageSize": page_size,
            "CurrentPage": current_page,
            "Data": {
                "SimpleOTAJobInfo": [
                    job.to_api() for job in jobs[page_window(current_page, page_size)]
                ]
            },
        }


ACTIONS: dict[str, Callable[[IotPlatform, Mapping[str, str]], dict[str, Any]]] = {
    "ListOTAJobByDevice": IotPlatform.list_ota_jobs_by_device,
}
