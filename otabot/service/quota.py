"""The account-wide quota: at most ``qps`` upstream attempts in any one-second window.

``QuotaLimiter`` is the ``AttemptGate`` the IoT client calls around every attempt
(retries included). It asks a ``QuotaBackend`` for a *reservation*: the earliest
moment this attempt may go, given every earlier reservation and any collective pause.
Reservations are handed out in arrival order under one lock (or one atomic Redis
script), so waiting is first come, first served and nobody starves; a caller whose
slot lies past its deadline gets ``QuotaBusyError`` at once instead of a hang.

The rule that keeps any window under the limit: with ``capacity`` calls allowed per
``window`` seconds, a new slot is never earlier than the ``capacity``-th most recent
reservation plus ``window``. Slots are also paced ``window / capacity`` apart: a burst
of simultaneous calls would reach the API with uneven delays (threads, GIL, network),
and uneven delays are what squeeze an extra call into the API's one-second count. A
small ``margin`` widens the window for the remaining jitter. The rate is unchanged:
``capacity`` calls per ``window``, 9.6 per second for ``qps=10``.

A sleeper can still wake late (a busy CPU, the GIL), which would bring its call closer
to the calls after it. So each attempt is *confirmed* when it wakes: the backend also
keeps the times attempts were really let go, and a late waker whose send would put
more than ``capacity`` of those into one window waits the few milliseconds it takes.

When the API throttles anyway (other tools share the account), every caller backs off
together: the backend holds one pause (0.5 s, doubling while throttling persists, up to
8 s, cleared by the next success) and no slot is granted before it ends. Throttling
answers that arrive while a pause is in force come from attempts sent before it, so
they do not grow it: only throttling that persists after a pause doubles the next.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from otabot.clocks import Monotonic, Sleep
from otabot.counters import Counters
from otabot.iot.actions import ACTIONS
from otabot.iot.errors import QuotaBusyError

FIRST_PAUSE = 0.5
MAX_PAUSE = 8.0
DEFAULT_MARGIN = 0.04
DEFAULT_MAX_WAIT = 10.0

logger = logging.getLogger(__name__)


def capacity_and_window(qps: float, margin: float = DEFAULT_MARGIN) -> tuple[int, float]:
    """Calls allowed per window, and the window in seconds, for a possibly fractional qps.

    ``qps=10`` gives 10 calls per 1.04 s; ``qps=2.5`` rounds down to 2 per second (never
    over the limit); ``qps=0.5`` gives 1 call per 2 s.
    """
    if qps <= 0:
        raise ValueError("qps must be positive")
    if qps >= 1:
        return math.floor(qps), 1.0 + margin
    return 1, 1.0 / qps + margin


@dataclass(frozen=True)
class Reservation:
    """A granted slot: ``wait`` seconds from now, at ``slot`` on the backend's monotonic clock."""

    wait: float
    slot: float
    in_redis: bool = False  # granted by Redis (else by this process)


class QuotaBackend(Protocol):
    """Where reservations and the collective pause live: this process, or Redis."""

    def reserve(self, max_wait: float | None) -> Reservation:
        """Reserve the next slot; ``QuotaBusyError`` (reserving nothing) past ``max_wait``."""
        ...

    def confirm(self, reservation: Reservation) -> float:
        """Record the attempt as let go now and return 0, or the seconds still to wait
        when a late wake-up would put more than the limit into one window."""
        ...

    def report(self, throttled: bool) -> None:
        """Record whether the attempt was throttled, growing or clearing the shared pause."""
        ...


def busy_error(wait: float, max_wait: float) -> QuotaBusyError:
    """The error for a caller who cannot get a slot within its deadline."""
    return QuotaBusyError(
        f"IoT API busy: no quota slot within {max(max_wait, 0.0):.1f} s "
        f"(next in {wait:.1f} s); try again shortly",
        code="otabot.QuotaBusy",
        retry_after=round(wait, 3),
    )


class MemoryQuota:
    """Reservations and pause held in this process (one replica, or Redis unavailable)."""

    def __init__(
        self,
        qps: float,
        *,
        monotonic: Monotonic = time.monotonic,
        margin: float = DEFAULT_MARGIN,
        first_pause: float = FIRST_PAUSE,
        max_pause: float = MAX_PAUSE,
    ) -> None:
        self._monotonic = monotonic
        self._margin = margin
        self._first_pause = first_pause
        self._max_pause = max_pause
        self._lock = threading.Lock()
        self._slots: deque[float] = deque()
        self._sent: deque[float] = deque()
        self._paused_until = -math.inf
        self._pause = 0.0
        self._capacity, self._window = capacity_and_window(qps, margin)
        self._qps = qps

    @property
    def qps(self) -> float:
        return self._qps

    def set_qps(self, qps: float) -> None:
        """Change the rate (degraded replicas take their share of the account's quota)."""
        with self._lock:
            self._qps = qps
            self._capacity, self._window = capacity_and_window(qps, self._margin)

    def reserve(self, max_wait: float | None) -> Reservation:
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._paused_until)
            if self._slots:
                slot = max(slot, self._slots[-1] + self._window / self._capacity)
            if len(self._slots) >= self._capacity:
                slot = max(slot, self._slots[-self._capacity] + self._window)
            wait = slot - now
            if max_wait is not None and wait > max_wait:
                raise busy_error(wait, max_wait)
            self._slots.append(slot)
            # Only the last ``capacity`` reservations ever constrain a new one.
            while len(self._slots) > self._capacity:
                self._slots.popleft()
            return Reservation(wait, slot)

    def confirm(self, reservation: Reservation) -> float:
        with self._lock:
            now = self._monotonic()
            sent_at = max(now, reservation.slot)
            if len(self._sent) >= self._capacity:
                earliest = self._sent[-self._capacity] + self._window
                if earliest > sent_at:
                    return earliest - now
            bisect.insort(self._sent, sent_at)
            while len(self._sent) > self._capacity:
                self._sent.popleft()
            return 0.0

    def not_before(self, at: float) -> None:
        """Grant no slot before ``at`` (taking over from Redis: one window after this
        replica's last attempt granted by Redis, so no second holds both kinds of attempt)."""
        with self._lock:
            self._paused_until = max(self._paused_until, at)

    def recent_sends(self) -> list[float]:
        """Seconds since (negative: until) each attempt this backend let go in the last window."""
        with self._lock:
            now = self._monotonic()
            return [now - at for at in self._sent if now - at < self._window]

    def report(self, throttled: bool) -> None:
        with self._lock:
            if not throttled:
                self._pause = 0.0
                return
            now = self._monotonic()
            if now < self._paused_until:
                return  # sent before the pause began: the same episode, not a new one
            self._pause = (
                self._first_pause if self._pause == 0 else min(self._max_pause, self._pause * 2)
            )
            self._paused_until = now + self._pause

    @property
    def pause(self) -> float:
        """The current collective back-off step (0 when the API is not throttling us)."""
        with self._lock:
            return self._pause


class QuotaLimiter:
    """The client's ``AttemptGate``: waits each attempt into its reserved slot of its own
    action's quota. Every action has its own backend (its own limit and back-off), so a
    ``QueryDeviceDetail`` never waits behind ``ListOTA*`` calls."""

    def __init__(
        self,
        limits: Mapping[str, float] | float,
        *,
        backends: Mapping[str, QuotaBackend] | None = None,
        backend_for: Callable[[str, float], QuotaBackend] | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> None:
        """``limits``: calls per second by action name, or one number for every action.

        ``backends`` gives some actions their backend; the others get one from
        ``backend_for(action, qps)`` (default: a ``MemoryQuota``) on first use.
        """
        self._limits = limits
        self._backends: dict[str, QuotaBackend] = dict(backends or {})
        self._backend_for = backend_for or (
            lambda action, qps: MemoryQuota(qps, monotonic=monotonic)
        )
        self._backends_lock = threading.Lock()
        self._monotonic = monotonic
        self._sleep = sleep
        self._max_wait = max_wait
        self._counters = Counters("attempts", "throttled", "quota_busy", "quota_wait_seconds")

    def qps(self, action: str) -> float:
        """The limit of ``action``: its own, else the documented one."""
        if isinstance(self._limits, int | float):
            return float(self._limits)
        limit = self._limits.get(action)
        if limit is None:
            known = ACTIONS.get(action)
            return float(known.qps if known is not None else min(self._limits.values()))
        return limit

    def backend(self, action: str) -> QuotaBackend:
        with self._backends_lock:
            backend = self._backends.get(action)
            if backend is None:
                backend = self._backends[action] = self._backend_for(action, self.qps(action))
            return backend

    def before_attempt(self, action: str, deadline: float | None) -> None:
        """Block until this attempt's slot; ``QuotaBusyError`` when it lies past ``deadline``."""
        backend = self.backend(action)
        now = self._monotonic()
        max_wait = self._max_wait if deadline is None else deadline - now
        try:
            reservation = backend.reserve(max_wait)
        except QuotaBusyError:
            self._counters.add("quota_busy", action=action)
            raise
        waited = reservation.wait
        if reservation.wait > 0:
            self._sleep(reservation.wait)
        # An attempt goes only once confirmed: letting an unconfirmed one go could put
        # more than the limit into one window. Past the deadline the slot is given up.
        while (late := backend.confirm(reservation)) > 0:
            if self._monotonic() + late > now + max_wait:
                self._counters.add("quota_busy", action=action)
                self._counters.add("quota_wait_seconds", waited, action=action)
                raise busy_error(late, max_wait)
            waited += late
            self._sleep(late)
        self._counters.add("attempts", action=action)
        self._counters.add("quota_wait_seconds", waited, action=action)

    def after_attempt(self, action: str, throttled: bool) -> None:
        """Learn whether the API throttled the attempt; throttling pauses every caller of
        that action."""
        if throttled:
            self._counters.add("throttled", action=action)
        self.backend(action).report(throttled)

    def stats(self) -> dict[str, int | float]:
        """Attempts let go, throttled, refused as busy, and seconds spent waiting for slots."""
        return self._counters.totals()

    @property
    def counters(self) -> Counters:
        """The counts by action (for metrics)."""
        return self._counters
