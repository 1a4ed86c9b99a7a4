"""QuotaLimiter under a fake clock: the window rule, FIFO, deadlines, collective back-off."""

from __future__ import annotations

import threading

import pytest

from otabot.iot.errors import QuotaBusyError
from otabot.service.quota import (
    DEFAULT_MARGIN,
    MemoryQuota,
    QuotaLimiter,
    Reservation,
    capacity_and_window,
)
from tests.service.fakes import FakeClock

ACTION = "ListOTAJobByDevice"

WINDOW = 1.0 + DEFAULT_MARGIN  # the limiter's one second, widened against jitter


def max_in_any_second(times: list[float]) -> int:
    """The most timestamps inside any half-open one-second window."""
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t < start + 1.0))
    return best


class ArrivalRecorder:
    """A ``sleep`` that does not move the clock: callers all arrive at the same moment,
    and each attempt's slot is recorded as now + wait."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slots: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slots.append(self.clock() + seconds)


def limiter_with_recorder(qps: float = 10) -> tuple[QuotaLimiter, ArrivalRecorder, FakeClock]:
    clock = FakeClock()
    recorder = ArrivalRecorder(clock)

    def sleep(seconds: float) -> None:
        recorder(seconds)

    limiter = QuotaLimiter(qps, monotonic=clock, sleep=sleep, max_wait=60)
    return limiter, recorder, clock


def test_burst_of_callers_never_exceeds_qps_in_any_one_second_window() -> None:
    limiter, recorder, clock = limiter_with_recorder(qps=10)
    for _ in range(55):
        limiter.before_attempt(ACTION, None)
    slots = [clock()] * (55 - len(recorder.slots)) + recorder.slots
    assert len(slots) == 55
    assert max_in_any_second(slots) == 10


def test_sequential_callers_that_really_wait_stay_within_qps() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(10, monotonic=clock, sleep=clock.sleep)
    sent = []
    for _ in range(100):
        limiter.before_attempt(ACTION, None)
        sent.append(clock())
    assert max_in_any_second(sent) <= 10
    assert sent[-1] - sent[0] < 10.5  # sustained rate close to 10 per second


def test_slots_are_granted_in_arrival_order() -> None:
    limiter, recorder, _clock = limiter_with_recorder(qps=3)
    for _ in range(12):
        limiter.before_attempt(ACTION, None)
    assert recorder.slots == sorted(recorder.slots)
    assert len(recorder.slots) == 11  # the first went at once, without sleeping


def test_simultaneous_callers_are_paced_evenly_instead_of_bursting() -> None:
    limiter, recorder, clock = limiter_with_recorder(qps=10)
    start = clock()
    for _ in range(5):
        limiter.before_attempt(ACTION, None)
    gaps = [b - a for a, b in zip([start, *recorder.slots], recorder.slots, strict=False)]
    assert gaps == [pytest.approx(WINDOW / 10)] * 4


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


def test_limiter_sleeps_off_a_late_wake_up_before_letting_the_attempt_go() -> None:
    clock = FakeClock()
    oversleep = iter([0.0, 0.5, 0.0, 0.0])

    def sleep(seconds: float) -> None:
        clock.advance(seconds + next(oversleep, 0.0))

    limiter = QuotaLimiter(2, monotonic=clock, sleep=sleep)
    sent = []
    for _ in range(3):
        limiter.before_attempt(ACTION, None)
        sent.append(clock())
    assert max_in_any_second(sent) <= 2


def test_caller_whose_slot_is_past_its_deadline_gets_quota_busy() -> None:
    limiter, _recorder, clock = limiter_with_recorder(qps=2)
    limiter.before_attempt(ACTION, None)
    limiter.before_attempt(ACTION, None)
    with pytest.raises(QuotaBusyError) as caught:
        limiter.before_attempt(ACTION, clock() + 0.5)
    assert caught.value.retry_after == pytest.approx(WINDOW)
    assert "IoT API busy" in str(caught.value)


def test_refused_caller_reserves_nothing() -> None:
    limiter, recorder, clock = limiter_with_recorder(qps=1)
    limiter.before_attempt(ACTION, None)
    for _ in range(5):
        with pytest.raises(QuotaBusyError):
            limiter.before_attempt(ACTION, clock() + 0.1)
    limiter.before_attempt(ACTION, None)
    assert recorder.slots == [pytest.approx(clock() + WINDOW)]
    assert limiter.stats()["quota_busy"] == 5


def test_missing_deadline_uses_the_limiters_own_max_wait() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(1, monotonic=clock, sleep=lambda _: None, max_wait=2.5)
    limiter.before_attempt(ACTION, None)
    limiter.before_attempt(ACTION, None)
    limiter.before_attempt(ACTION, None)
    with pytest.raises(QuotaBusyError):
        limiter.before_attempt(ACTION, None)


def test_throttling_pauses_every_callers_next_slot() -> None:
    limiter, recorder, clock = limiter_with_recorder(qps=10)
    limiter.after_attempt(ACTION, throttled=True)
    limiter.before_attempt(ACTION, None)
    limiter.before_attempt(ACTION, None)
    assert recorder.slots == [
        pytest.approx(clock() + 0.5),
        pytest.approx(clock() + 0.5 + WINDOW / 10),
    ]


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


def test_limiter_counts_attempts_waits_and_throttling() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(1, monotonic=clock, sleep=clock.sleep)
    limiter.before_attempt(ACTION, None)
    limiter.after_attempt(ACTION, throttled=True)
    limiter.before_attempt(ACTION, None)
    stats = limiter.stats()
    assert (stats["attempts"], stats["throttled"]) == (2, 1)
    assert stats["quota_wait_seconds"] == pytest.approx(WINDOW)


@pytest.mark.parametrize(
    ("qps", "expected"), [(10, (10, WINDOW)), (2.5, (2, WINDOW)), (0.5, (1, WINDOW + 1))]
)
def test_fractional_qps_rounds_towards_fewer_calls(qps: float, expected: tuple[int, float]) -> None:
    capacity, window = capacity_and_window(qps)
    assert (capacity, window) == (expected[0], pytest.approx(expected[1]))


def test_an_attempt_outrun_by_other_senders_is_never_let_go_unconfirmed() -> None:
    clock = FakeClock()
    backend = MemoryQuota(1, monotonic=clock)
    sent: list[float] = []
    steals = iter(range(6))

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        if next(steals, None) is not None:  # another late waker lets its attempt go first
            backend.confirm(Reservation(0.0, clock()))
            sent.append(clock())

    limiter = QuotaLimiter(1, backends={ACTION: backend}, monotonic=clock, sleep=sleep, max_wait=60)
    for _ in range(2):
        limiter.before_attempt(ACTION, None)
        sent.append(clock())
    assert max_in_any_second(sent) <= 1


def test_an_attempt_outrun_until_its_deadline_gets_quota_busy() -> None:
    clock = FakeClock()
    backend = MemoryQuota(1, monotonic=clock)

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        backend.confirm(Reservation(0.0, clock()))  # someone else always goes first

    limiter = QuotaLimiter(1, backends={ACTION: backend}, monotonic=clock, sleep=sleep)
    limiter.before_attempt(ACTION, None)
    with pytest.raises(QuotaBusyError) as caught:
        limiter.before_attempt(ACTION, clock() + 5)
    assert caught.value.retry_after == pytest.approx(WINDOW)
    assert limiter.stats()["quota_busy"] == 1


def test_throttling_answers_of_one_burst_start_one_pause_not_a_doubling_each() -> None:
    clock = FakeClock()
    backend = MemoryQuota(10, monotonic=clock)
    for _ in range(10):  # ten attempts in flight when the API started throttling
        backend.report(throttled=True)
    assert backend.pause == 0.5
    assert backend.reserve(None).wait == pytest.approx(0.5)
