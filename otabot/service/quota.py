"""The account-wide quota: at most ``qps`` upstream attempts in any one-second window.

``QuotaLimiter`` is the ``AttemptGate`` the IoT client calls around every attempt
(retries included). Its rate (``MemoryQuota``, or Redis) gives a *reservation*: the earliest
moment this attempt may go, given every earlier reservation and any collective pause.
Reservations are handed out in arrival order under one lock (or one atomic Redis
script), so waiting is first come, first served and nobody starves; a caller whose
slot lies past its deadline gets ``QuotaBusyError`` at once instead of a hang.

The rule that keeps any window under the limit: with ``capacity`` calls allowed per
``window`` seconds, a new slot is never earlier than the ``capacity``-th most recent
reservation plus ``window``. Slots are also paced ``window / capacity`` apart: a burst
of simultaneous calls would reach the API with uneven delays (threads, GIL, network),
and uneven delays are what squeeze an extra call into the API's one-second count. A
small ``margin`` (``OTABOT_QUOTA_MARGIN``, 40 ms) widens the window for the remaining
jitter: ``capacity`` calls per ``window`` of 1.04 s, 9.62 per second for ``qps=10``.

A sleeper can still wake late (a busy CPU, the GIL), which would bring its call closer
to the calls after it. So each attempt is *confirmed* when it wakes: the backend also
keeps the times attempts were really let go, and a late waker whose send would put
more than ``capacity`` of those into one window waits the few milliseconds it takes.
And the client says when each request was written whole to its socket: one written
late (the thread held up between its confirm and its send) is moved to that time, so
the attempts after it cannot crowd the API's window either.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from otabot.clocks import Monotonic, Sleep
from otabot.counters import Counters
from otabot.iot.actions import ACTIONS
from otabot.iot.errors import QuotaBusyError
from otabot.service.fairness import Caller, FairQueue, Ticket, TooManyWaiting, current_caller

FIRST_PAUSE = 0.5
MAX_PAUSE = 8.0
DEFAULT_MARGIN = 0.04
DEFAULT_MAX_WAIT = 120.0

logger = logging.getLogger(__name__)


def capacity_and_window(qps: float, margin: float = DEFAULT_MARGIN) -> tuple[int, float]:
    """Calls allowed per window, and the window in seconds, for a possibly fractional qps.

    ``qps=10`` gives 10 calls per 1.04 s (the default margin); ``qps=2.5`` rounds down to
    2 per second (never over the limit); ``qps=0.5`` gives 1 call per 2 s.
    """
    if qps <= 0:
        raise ValueError("qps must be positive")
    if qps >= 1:
        return math.floor(qps), 1.0 + margin
    return 1, 1.0 / qps + margin


@dataclass(frozen=True)
class Reservation:
    """A granted slot: ``wait`` seconds from the grant, at ``slot`` on the backend's own clock
    (this process's monotonic clock, or Redis's), due at ``due`` on this process's clock."""

    wait: float
    slot: float
    in_redis: bool = False  # granted by Redis (else by this process)
    due: float = 0.0


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
        self._confirmed = threading.local()  # this thread's last confirm: (reservation, sent)

    def set_qps(self, qps: float) -> None:
        """Change the rate (degraded replicas take their share of the account's quota)."""
        with self._lock:
            self._capacity, self._window = capacity_and_window(qps, self._margin)

    @property
    def spacing(self) -> float:
        """Seconds between two slots when every slot is taken."""
        with self._lock:
            return self._window / self._capacity

    def _next_slot(self, now: float) -> float:
        slot = max(now, self._paused_until)
        if self._slots:
            slot = max(slot, self._slots[-1] + self._window / self._capacity)
        if len(self._slots) >= self._capacity:
            slot = max(slot, self._slots[-self._capacity] + self._window)
        return slot

    def next_wait(self) -> float:
        """Seconds until the next slot, reserving nothing."""
        with self._lock:
            now = self._monotonic()
            return self._next_slot(now) - now

    def reserve(self, max_wait: float | None) -> Reservation:
        with self._lock:
            now = self._monotonic()
            slot = self._next_slot(now)
            wait = slot - now
            if max_wait is not None and wait > max_wait:
                raise busy_error(wait, max_wait)
            self._slots.append(slot)
            # Only the last ``capacity`` reservations ever constrain a new one.
            while len(self._slots) > self._capacity:
                self._slots.popleft()
            return Reservation(wait, slot, due=slot)

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
            self._confirmed.last = (reservation, sent_at)
            return 0.0

    def written_late(self, reservation: Reservation, lag: float) -> None:
        """The attempt this thread confirmed last reached the wire ``lag`` s after its
        confirm: it counts from then, so the attempts after it keep their window."""
        last = getattr(self._confirmed, "last", None)
        self._confirmed.last = None
        if last is None or last[0] is not reservation:
            return
        with self._lock:
            try:
                self._sent.remove(last[1])
            except ValueError:
                return  # no longer among the last ``capacity``: it constrains nothing
            bisect.insort(self._sent, last[1] + lag)

    def not_before(self, at: float) -> None:
        """Grant no slot before ``at`` (taking over from Redis: one window after this
        replica's last attempt granted by Redis, so no second holds both kinds of attempt)."""
        with self._lock:
            self._paused_until = max(self._paused_until, at)

    def recent_sends(self) -> list[float]:
        """Seconds since each attempt this backend let go in the last window, and until
        (negative) each slot it has promised that is not yet due: a thread holding a
        promised slot sends when it wakes, whoever keeps the count by then."""
        with self._lock:
            now = self._monotonic()
            sent = [at for at in self._sent if now - at < self._window]
            promised = [slot for slot in self._slots if slot > now and slot not in self._sent]
            return [now - at for at in sorted(sent + promised)]

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


@dataclass(frozen=True)
class Grant:
    """The next slot, given to the ticket whose turn it is."""

    ticket_id: str
    reservation: Reservation


class ActionQuota(Protocol):
    """One action's quota: its rate (``MemoryQuota``, or Redis) and the order of those
    waiting for it (``otabot.service.fairness``), in this process or in Redis."""

    @property
    def spacing(self) -> float: ...

    def arrive(self, ticket: Ticket, lookahead: float) -> Reservation | None:
        """A slot at once when nobody waits and one is due within ``lookahead`` s; else queue
        the ticket (``TooManyWaiting`` past the per-user cap) and return None."""
        ...

    def grant(self, lookahead: float) -> Grant | float:
        """The slot due within ``lookahead`` s, for the ticket whose turn it is (if it is this
        process's); else the seconds to wait before asking again."""
        ...

    def cancel(self, ticket: Ticket) -> None:
        """Take a ticket that gave up out of the queue."""
        ...

    def ahead(self, user: str, priority: int) -> tuple[int, float]:
        """How many waiting attempts a new one of ``user`` would have ahead, and the seconds
        until the next slot."""
        ...

    def confirm(self, reservation: Reservation) -> float: ...

    def written_late(self, reservation: Reservation, lag: float) -> None:
        """The attempt confirmed last on this thread was written ``lag`` s after."""
        ...

    def report(self, throttled: bool) -> None: ...


class MemoryActionQuota:
    """An ``ActionQuota`` held in this process: a ``MemoryQuota`` and a ``FairQueue``."""

    def __init__(self, rate: MemoryQuota, queue: FairQueue | None = None) -> None:
        self.rate = rate
        self.queue = queue if queue is not None else FairQueue()
        self._lock = threading.Lock()

    @property
    def spacing(self) -> float:
        return self.rate.spacing

    def arrive(self, ticket: Ticket, lookahead: float) -> Reservation | None:
        with self._lock:
            if not len(self.queue) and self.rate.next_wait() <= lookahead:
                if not ticket.continuation:
                    self.queue.served_at_once(ticket.user)
                return self.rate.reserve(None)
            self.queue.push(ticket)
            return None

    def grant(self, lookahead: float) -> Grant | float:
        with self._lock:
            head = self.queue.peek()
            if head is None:
                return math.inf
            wait = self.rate.next_wait()
            if wait > lookahead:
                return wait - lookahead
            reservation = self.rate.reserve(None)
            self.queue.pop(head.id)
            return Grant(head.id, reservation)

    def cancel(self, ticket: Ticket) -> None:
        self.queue.remove(ticket.id)

    def ahead(self, user: str, priority: int) -> tuple[int, float]:
        return self.queue.ahead_of_new(user, priority), max(0.0, self.rate.next_wait())

    def confirm(self, reservation: Reservation) -> float:
        return self.rate.confirm(reservation)

    def written_late(self, reservation: Reservation, lag: float) -> None:
        self.rate.written_late(reservation, lag)

    def report(self, throttled: bool) -> None:
        self.rate.report(throttled)


# An attempt written to the socket more than this after its confirm counts from its write.
LATE_WRITE = 0.002
# A slot is handed to the ticket whose turn it is this long before it is due: late enough
# that a fairer claimant arriving meanwhile still gets it, early enough to be on time.
LOOKAHEAD = 0.05
# How often a scheduler asks again when the next slot is another replica's to take.
POLL_INTERVAL = 0.01


class Scheduler:
    """Hands one action's slots to the waiting tickets of this process, in turn.

    A ticket that finds no queue and a slot due goes at once; the others wait on their
    own event while one dispatcher thread (alive only while tickets wait) asks the quota
    for the next slot and wakes the ticket whose turn it is. Waiting holds nothing but
    the waiting thread itself.
    """

    def __init__(
        self,
        action: str,
        quota: ActionQuota,
        *,
        monotonic: Monotonic = time.monotonic,
        lookahead: float = LOOKAHEAD,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.action = action
        self.quota = quota
        self._monotonic = monotonic
        self._lookahead = lookahead
        self._poll_interval = poll_interval
        self._changed = threading.Condition()
        self._waiting: dict[str, Ticket] = {}
        self._dispatcher: threading.Thread | None = None

    def __len__(self) -> int:
        with self._changed:
            return len(self._waiting)

    def admit(self, ticket: Ticket) -> Reservation:
        """Block until ``ticket``'s slot is granted; ``QuotaBusyError`` past its deadline."""
        reservation = self.quota.arrive(ticket, self._lookahead)
        if reservation is not None:
            return reservation
        with self._changed:
            self._waiting[ticket.id] = ticket
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(
                    target=self._dispatch, name=f"otabot-quota-{self.action}", daemon=True
                )
                self._dispatcher.start()
            self._changed.notify_all()
        if ticket.granted.wait(max(0.0, ticket.deadline - self._monotonic())):
            return self._reservation_of(ticket)
        with self._changed:
            if ticket.granted.is_set():  # granted as it gave up: take the slot after all
                return self._reservation_of(ticket)
            self._waiting.pop(ticket.id, None)
        self.quota.cancel(ticket)
        retry = self.estimate(ticket.user, ticket.priority)
        raise busy_error(retry, max(0.0, ticket.deadline - self._monotonic()))

    @staticmethod
    def _reservation_of(ticket: Ticket) -> Reservation:
        assert isinstance(ticket.slot, Reservation)
        return ticket.slot

    def _dispatch(self) -> None:
        while True:
            with self._changed:
                if not self._waiting:
                    self._dispatcher = None
                    return
            try:
                got = self.quota.grant(self._lookahead)
            except Exception:
                logger.exception("the %s quota dispatcher failed; trying again", self.action)
                got = self._poll_interval * 10
            with self._changed:
                if isinstance(got, Grant):
                    ticket = self._waiting.pop(got.ticket_id, None)
                    if ticket is not None:
                        ticket.slot = got.reservation
                        ticket.granted.set()
                    continue
                self._changed.wait(timeout=max(min(got, 1.0), self._poll_interval))

    def estimate(self, user: str, priority: int) -> float:
        """Seconds a new attempt of ``user`` would wait, given who is waiting now."""
        ahead, next_wait = self.quota.ahead(user, priority)
        return next_wait + ahead * self.quota.spacing


class QuotaLimiter:
    """The client's ``AttemptGate``: each attempt waits for its turn at a slot of its own
    action's quota. Every action has its own quota (its own limit, queue and back-off), so
    a ``QueryDeviceDetail`` never waits behind ``ListOTA*`` calls."""

    def __init__(
        self,
        limits: Mapping[str, float] | float,
        *,
        quotas: Mapping[str, ActionQuota] | None = None,
        quota_for: Callable[[str, float], ActionQuota] | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
        max_wait: float = DEFAULT_MAX_WAIT,
        lookahead: float = LOOKAHEAD,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        """``limits``: calls per second by action name, or one number for every action.

        ``quotas`` gives some actions their quota; the others get one from
        ``quota_for(action, qps)`` (default: held in this process) on first use.
        """
        self._limits = limits
        self._quota_for = quota_for or (
            lambda action, qps: MemoryActionQuota(MemoryQuota(qps, monotonic=monotonic))
        )
        self._monotonic = monotonic
        self._sleep = sleep
        self.max_wait = max_wait
        self._lookahead = lookahead
        self._poll_interval = poll_interval
        self._schedulers: dict[str, Scheduler] = {}
        self._schedulers_lock = threading.Lock()
        for action, quota in (quotas or {}).items():
            self._schedulers[action] = self._scheduler_for(action, quota)
        self._counters = Counters(
            "attempts",
            "throttled",
            "quota_busy",
            "quota_wait_seconds",
            "too_many_waiting",
            "late_writes",
        )
        self._wait_observers: list[Callable[[str, float], None]] = []
        self._attempt = threading.local()  # this thread's attempt: (action, slot, confirmed)

    def _scheduler_for(self, action: str, quota: ActionQuota) -> Scheduler:
        return Scheduler(
            action,
            quota,
            monotonic=self._monotonic,
            lookahead=self._lookahead,
            poll_interval=self._poll_interval,
        )

    def qps(self, action: str) -> float:
        """The limit of ``action``: its own, else the documented one."""
        if isinstance(self._limits, int | float):
            return float(self._limits)
        limit = self._limits.get(action)
        if limit is None:
            known = ACTIONS.get(action)
            return float(known.qps if known is not None else min(self._limits.values()))
        return limit

    def scheduler(self, action: str) -> Scheduler:
        with self._schedulers_lock:
            scheduler = self._schedulers.get(action)
            if scheduler is None:
                quota = self._quota_for(action, self.qps(action))
                scheduler = self._schedulers[action] = self._scheduler_for(action, quota)
            return scheduler

    def before_attempt(self, action: str, deadline: float | None) -> None:
        """Block until this attempt's turn at a slot; ``QuotaBusyError`` when it cannot come
        before ``deadline`` (or this limiter's ``max_wait``)."""
        caller = current_caller()
        started = self._monotonic()
        limit = started + self.max_wait if deadline is None else deadline
        ticket = Ticket(
            action=action,
            user=caller.user,
            priority=caller.priority,
            continuation=caller.admitted > 0,
            deadline=limit,
        )
        scheduler = self.scheduler(action)
        try:
            reservation = scheduler.admit(ticket)
        except TooManyWaiting as crowded:
            self._counters.add("too_many_waiting", action=action)
            raise QuotaBusyError(
                f"you already have {crowded.waiting} lookups waiting for the IoT API; "
                "wait for their answers",
                code="otabot.TooManyWaiting",
                retry_after=round(scheduler.estimate(caller.user, caller.priority), 3),
            ) from None
        except QuotaBusyError:
            self._counters.add("quota_busy", action=action)
            raise
        wait = reservation.due - self._monotonic()
        if wait > 0:
            self._sleep(wait)
        # An attempt goes only once confirmed: letting an unconfirmed one go could put
        # more than the limit into one window. Past the deadline the slot is given up.
        quota = scheduler.quota
        confirming = self._monotonic()
        while (late := quota.confirm(reservation)) > 0:
            if self._monotonic() + late > limit:
                self._counters.add("quota_busy", action=action)
                self._counters.add("quota_wait_seconds", self._monotonic() - started, action=action)
                raise busy_error(late, limit - started)
            self._sleep(late)
            confirming = self._monotonic()
        self._attempt.last = (action, reservation, confirming)
        caller.admitted += 1
        waited = self._monotonic() - started
        self._counters.add("attempts", action=action)
        self._counters.add("quota_wait_seconds", waited, action=action)
        for observe in self._wait_observers:
            observe(action, waited)

    def on_wait(self, observe: Callable[[str, float], None]) -> None:
        """Call ``observe(action, seconds)`` with each admitted attempt's wait (metrics)."""
        self._wait_observers.append(observe)

    def after_attempt(self, action: str, throttled: bool, written_at: float | None = None) -> None:
        """Learn whether the API throttled the attempt (throttling pauses every caller of
        that action), and when its request was written: one written late (a busy CPU
        between the confirm and the socket) counts from then, so that the attempts after
        it do not crowd the API's one-second window."""
        last, self._attempt.last = getattr(self._attempt, "last", None), None
        quota = self.scheduler(action).quota
        if last is not None and last[0] == action and written_at is not None:
            lag = written_at - last[2]
            if lag > LATE_WRITE:
                quota.written_late(last[1], lag)
                self._counters.add("late_writes", action=action)
        if throttled:
            self._counters.add("throttled", action=action)
        quota.report(throttled)

    def estimate(self, actions: Sequence[str], caller: Caller | None = None) -> float:
        """Seconds a new lookup of ``caller`` needing these actions would wait for quota."""
        caller = caller or current_caller()
        return sum(
            self.scheduler(action).estimate(caller.user, caller.priority) for action in actions
        )

    def waiting(self) -> int:
        """Attempts of this process waiting for a slot now, across actions."""
        with self._schedulers_lock:
            schedulers = list(self._schedulers.values())
        return sum(len(scheduler) for scheduler in schedulers)

    def stats(self) -> dict[str, int | float]:
        """Attempts let go, throttled, refused as busy, and seconds spent waiting for slots."""
        return self._counters.totals()

    @property
    def counters(self) -> Counters:
        """The counts by action (for metrics)."""
        return self._counters
