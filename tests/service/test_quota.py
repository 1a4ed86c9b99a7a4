"""The quota: the window rule and back-off (``MemoryQuota``), who goes next (the fairness
rule, on a fake clock), the wait estimate, and the scheduler's threads and deadlines."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

import pytest

from otabot.iot.errors import QuotaBusyError
from otabot.service.fairness import CALLER, Caller, FairQueue, Ticket, TooManyWaiting
from otabot.service.quota import (
    DEFAULT_MARGIN,
    LOOKAHEAD,
    Grant,
    MemoryActionQuota,
    MemoryQuota,
    QuotaLimiter,
    capacity_and_window,
)
from tests.service.fakes import FakeClock

ACTION = "ListOTAJobByDevice"
WINDOW = 1.0 + DEFAULT_MARGIN  # the limiter's one second, widened against jitter


def max_in_any_second(times: list[float]) -> int:
    """The most timestamps inside any half-open one-second window."""
    times = sorted(times)
    return max(
        (sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times)),
        default=0,
    )


# --- the rate: the window rule, pacing and the collective back-off ------------------------


def test_simultaneous_reservations_are_paced_and_never_exceed_qps_in_any_second() -> None:
    clock = FakeClock()
    backend = MemoryQuota(10, monotonic=clock)
    slots = [backend.reserve(None).slot for _ in range(55)]
    assert max_in_any_second(slots) == 10
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(slots)}
    assert gaps == {round(WINDOW / 10, 6)}


def test_concurrent_threads_never_exceed_qps_in_any_window() -> None:
    clock = FakeClock()
    slots: list[float] = []
    lock = threading.Lock()
    backend = MemoryQuota(5, monotonic=clock)

    def caller() -> None:
        wait = backend.reserve(None).wait
        with lock:
            slots.append(clock() + wait)

    threads = [threading.Thread(target=caller) for _ in range(23)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slots) == 23
    assert max_in_any_second(slots) == 5


def test_a_late_waker_waits_until_its_send_keeps_every_window_within_qps() -> None:
    clock = FakeClock()
    backend = MemoryQuota(2, monotonic=clock)
    first, second, third = (backend.reserve(None) for _ in range(3))  # slots 0, W/2, W
    clock.advance(0.6)  # the first two callers overslept
    assert backend.confirm(first) == 0
    assert backend.confirm(second) == 0
    clock.advance(third.slot - clock())  # the third wakes on time, but two went just now
    assert backend.confirm(third) == pytest.approx(0.6)
    clock.advance(0.6)
    assert backend.confirm(third) == 0


def test_a_handover_counts_what_was_sent_and_what_was_promised_but_not_yet_due() -> None:
    clock = FakeClock()
    backend = MemoryQuota(2, monotonic=clock, margin=0.0)
    sent, promised = backend.reserve(None), backend.reserve(None)  # slots now and in 0.5 s
    assert backend.confirm(sent) == 0
    clock.advance(0.1)
    # The second caller sleeps until its slot: Redis, back now, must count it all the same.
    assert backend.recent_sends() == pytest.approx([0.1, -0.4])
    clock.advance(0.4)
    assert backend.confirm(promised) == 0
    clock.advance(0.1)
    assert backend.recent_sends() == pytest.approx([0.6, 0.1])  # each counted once


def test_a_reservation_past_the_callers_wait_reserves_nothing() -> None:
    clock = FakeClock()
    backend = MemoryQuota(1, monotonic=clock)
    backend.reserve(None)
    with pytest.raises(QuotaBusyError) as caught:
        backend.reserve(0.5)
    assert caught.value.retry_after == pytest.approx(WINDOW)
    assert backend.next_wait() == pytest.approx(WINDOW)


def test_pause_doubles_while_throttling_persists_up_to_a_cap() -> None:
    clock = FakeClock()
    backend = MemoryQuota(10, monotonic=clock)
    pauses = []
    for _ in range(6):
        backend.report(throttled=True)  # the first attempt after each pause is throttled again
        pauses.append(backend.pause)
        clock.advance(backend.pause)
    assert pauses == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_a_success_clears_the_back_off() -> None:
    clock = FakeClock()
    backend = MemoryQuota(10, monotonic=clock)
    backend.report(throttled=True)
    backend.report(throttled=True)
    backend.report(throttled=False)
    assert backend.pause == 0
    clock.advance(5)
    assert backend.reserve(None).wait == 0
    backend.report(throttled=True)
    assert backend.pause == 0.5


def test_throttling_answers_of_one_burst_start_one_pause_not_a_doubling_each() -> None:
    clock = FakeClock()
    backend = MemoryQuota(10, monotonic=clock)
    for _ in range(10):  # ten attempts in flight when the API started throttling
        backend.report(throttled=True)
    assert backend.pause == 0.5
    assert backend.reserve(None).wait == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("qps", "expected"), [(10, (10, WINDOW)), (2.5, (2, WINDOW)), (0.5, (1, WINDOW + 1))]
)
def test_fractional_qps_rounds_towards_fewer_calls(qps: float, expected: tuple[int, float]) -> None:
    capacity, window = capacity_and_window(qps)
    assert (capacity, window) == (expected[0], pytest.approx(expected[1]))


# --- the fairness rule, on a fake clock ------------------------------------------------


def ticket(user: str, *, continuation: bool = False, background: bool = False) -> Ticket:
    return Ticket(
        action=ACTION,
        user=user,
        priority=1 if background else 0,
        continuation=continuation,
        deadline=float("inf"),
    )


def served_order(queue: FairQueue) -> list[str]:
    order = []
    while (head := queue.peek()) is not None:
        queue.pop(head.id)
        order.append(head.user)
    return order


def test_each_persons_first_waiting_lookup_comes_before_anyones_second() -> None:
    queue = FairQueue()
    for _ in range(3):
        queue.push(ticket("script"))
    queue.push(ticket("dana"))
    queue.push(ticket("lee"))
    queue.push(ticket("dana"))
    assert served_order(queue) == ["script", "dana", "lee", "script", "dana", "script"]


def test_a_newcomer_waits_at_most_one_round() -> None:
    queue = FairQueue()
    for user in ("a", "b", "c"):
        for _ in range(5):
            queue.push(ticket(user))
    for _ in range(4):  # a, b, c served, then a's second
        head = queue.peek()
        assert head is not None
        queue.pop(head.id)
    assert queue.push(ticket("newcomer")) == 2  # the round being served: behind b's and c's


def test_a_continuing_lookup_keeps_its_turn_and_background_work_goes_last() -> None:
    queue = FairQueue()
    queue.push(ticket("watch", background=True))
    for _ in range(2):
        queue.push(ticket("dana"))
    queue.push(ticket("lee"))
    head = queue.peek()
    assert head is not None
    queue.pop(head.id)  # dana's first call went; the same card's next call arrives
    queue.push(ticket("dana", continuation=True))
    # It joins the round being served (behind lee, queued in that round already), ahead
    # of dana's own next lookup; the background poll waits for every person.
    assert served_order(queue) == ["lee", "dana", "dana", "watch"]


def test_one_person_may_not_fill_the_queue() -> None:
    queue = FairQueue(max_per_user=3)
    for _ in range(3):
        queue.push(ticket("script"))
    with pytest.raises(TooManyWaiting):
        queue.push(ticket("script"))
    queue.push(ticket("dana"))  # others still get in
    assert len(queue) == 4


@dataclass
class Burst:
    """Tickets arriving at an action's quota on a fake clock, granted as the dispatcher
    grants them; ``sent`` records when each went and for whom."""

    qps: float = 10
    clock: FakeClock = field(default_factory=FakeClock)
    sent: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.quota = MemoryActionQuota(MemoryQuota(self.qps, monotonic=self.clock))

    def arrive(self, user: str) -> None:
        reservation = self.quota.arrive(ticket(user), LOOKAHEAD)
        if reservation is not None:
            self.sent.append((reservation.due, user))

    def run_until(self, until: float) -> None:
        while self.clock() < until:
            head = self.quota.queue.peek()
            got = self.quota.grant(LOOKAHEAD)
            if isinstance(got, Grant):
                assert head is not None and got.ticket_id == head.id
                self.sent.append((got.reservation.due, head.user))
                continue
            self.clock.advance(min(got, until - self.clock()))


def test_a_burst_of_two_hundred_goes_round_robin_within_the_limit() -> None:
    burst = Burst()
    for _ in range(20):
        for user in range(10):
            burst.arrive(f"U{user}")
    burst.run_until(burst.clock() + 30)
    times = [at for at, _ in burst.sent]
    assert len(times) == 200
    assert max_in_any_second(times) == 10
    rate = 199 / (times[-1] - times[0])
    assert rate >= 9.5  # the sustained rate the limit allows, less the jitter margin
    first_round = [user for _, user in burst.sent[:10]]
    assert sorted(first_round) == [f"U{i}" for i in range(10)]


def test_an_eleventh_persons_lookup_one_second_into_a_burst_waits_under_two_seconds() -> None:
    burst = Burst()
    start = burst.clock()
    for _ in range(20):
        for user in range(10):
            burst.arrive(f"U{user}")
    burst.run_until(start + 1.0)
    burst.arrive("eleventh")
    burst.run_until(start + 30)
    went = next(at for at, user in burst.sent if user == "eleventh")
    assert went - (start + 1.0) <= 2.0


def test_the_estimate_counts_who_would_go_first() -> None:
    burst = Burst()
    for _ in range(5):
        for user in ("a", "b"):
            burst.arrive(user)
    ahead, next_wait = burst.quota.ahead("c", 0)
    assert ahead == 1  # a's first went at once; b's first waits, then c would go
    assert next_wait == pytest.approx(WINDOW / 10)
    ahead_of_a, _ = burst.quota.ahead("a", 0)
    assert ahead_of_a == 9  # a new lookup of a comes after every waiting one


# --- the scheduler: threads, deadlines, estimates -----------------------------------------


def test_waiting_threads_are_served_in_turn_and_within_the_limit() -> None:
    limiter = QuotaLimiter(20, max_wait=30)
    sent: list[tuple[float, str]] = []
    lock = threading.Lock()

    def lookup(user: str) -> None:
        CALLER.set(Caller(user))
        limiter.before_attempt(ACTION, None)
        with lock:
            sent.append((time.monotonic(), user))

    threads = [threading.Thread(target=lookup, args=(f"U{i % 4}",)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(sent) == 40
    assert max_in_any_second([at for at, _ in sent]) <= 20
    assert limiter.stats()["attempts"] == 40 and limiter.waiting() == 0


def test_a_lookup_that_cannot_get_a_slot_before_its_deadline_is_told_when_to_retry() -> None:
    limiter = QuotaLimiter(1, max_wait=30)
    limiter.before_attempt(ACTION, None)
    started = time.monotonic()
    with pytest.raises(QuotaBusyError) as caught:
        limiter.before_attempt(ACTION, time.monotonic() + 0.2)
    assert time.monotonic() - started < 1.0
    assert 0 < (caught.value.retry_after or 0) <= WINDOW
    assert limiter.stats()["quota_busy"] == 1 and limiter.waiting() == 0


def test_too_many_waiting_lookups_of_one_person_are_refused_in_words() -> None:
    limiter = QuotaLimiter(
        1, quotas={ACTION: MemoryActionQuota(MemoryQuota(1), FairQueue(max_per_user=1))}
    )
    CALLER.set(Caller("script"))
    limiter.before_attempt(ACTION, None)  # goes at once
    waiter = threading.Thread(
        target=lambda: (CALLER.set(Caller("script")), limiter.before_attempt(ACTION, None))
    )
    waiter.start()
    while limiter.waiting() == 0:
        time.sleep(0.001)
    CALLER.set(Caller("script"))  # the script's next lookup
    with pytest.raises(QuotaBusyError, match="already have 1 lookups waiting"):
        limiter.before_attempt(ACTION, None)
    waiter.join(5)


def test_the_limiter_estimates_a_new_lookup_from_the_queue() -> None:
    limiter = QuotaLimiter(2, max_wait=30)
    CALLER.set(Caller("dana"))
    assert limiter.estimate([ACTION]) == 0
    limiter.before_attempt(ACTION, None)
    assert limiter.estimate([ACTION]) == pytest.approx(WINDOW / 2, abs=0.05)
