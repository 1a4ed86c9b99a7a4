"""An attempt written to the socket late (a busy CPU between its confirm and its send)
counts from its write: the attempts after it keep the API's one-second window."""

from __future__ import annotations

import time

import pytest

from otabot.service.quota import MemoryQuota, QuotaLimiter, Reservation
from otabot.service.redis_store import RedisActionQuota, RedisLink, connect
from tests.helpers import FakeClock


def test_a_late_write_moves_its_attempt_in_the_window_on_this_process() -> None:
    clock = FakeClock()
    quota = MemoryQuota(1, monotonic=clock, margin=0.0)  # one attempt a second
    first = quota.reserve(None)
    assert quota.confirm(first) == 0.0
    quota.written_late(first, 0.3)  # it reached the API 0.3 s after its slot
    clock.advance(1.0)
    second = quota.reserve(None)  # its slot comes from the reservations: on time
    assert quota.confirm(second) == pytest.approx(0.3)  # but it may not go before 1.3 s


def test_only_the_attempt_this_thread_confirmed_last_is_moved() -> None:
    clock = FakeClock()
    quota = MemoryQuota(1, monotonic=clock, margin=0.0)
    first = quota.reserve(None)
    quota.confirm(first)
    quota.written_late(Reservation(0.0, first.slot, due=first.due), 0.3)  # another's
    clock.advance(1.0)
    assert quota.confirm(quota.reserve(None)) == 0.0


def test_the_limiter_reports_a_late_write_and_counts_it() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(100, monotonic=clock, sleep=clock.sleep)
    limiter.before_attempt("QueryOTAJob", None)
    limiter.after_attempt("QueryOTAJob", False, written_at=clock() + 0.3)
    assert limiter.counters.count("late_writes", action="QueryOTAJob") == 1
    limiter.before_attempt("QueryOTAJob", None)
    limiter.after_attempt("QueryOTAJob", False, written_at=clock() + 0.001)  # on time
    assert limiter.counters.count("late_writes") == 1


@pytest.mark.redis
def test_a_late_write_moves_its_attempt_in_the_window_in_redis(redis_url: str) -> None:
    client = connect(redis_url)
    quota = RedisActionQuota(RedisLink(client), 1, account="test", action="QueryOTAJob", margin=0.0)
    try:
        first = Reservation(0.0, 0.0, in_redis=True, due=time.monotonic())
        assert quota.confirm(first) == 0.0
        quota.written_late(first, 0.3)
        second = Reservation(0.0, 0.0, in_redis=True, due=time.monotonic())
        late = quota.confirm(second)
        assert 1.2 < late <= 1.3  # one second after the first's write, not its confirm
    finally:
        client.close()
