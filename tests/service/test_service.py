"""OtaService in one process, over a fake job source and a fake clock."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable

import pytest

from otabot.clocks import utc_datetime
from otabot.iot.errors import (
    DeviceNotFoundError,
    IotError,
    QuotaBusyError,
    UpstreamUnavailableError,
)
from otabot.iot.models import OtaJob
from otabot.service import JobsLookup, JobsResult, OtaService, QuotaLimiter
from otabot.service.flight import SingleFlight
from otabot.service.quota import DEFAULT_MARGIN
from tests.helpers import LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from tests.service.fakes import FakeClock, FakeJobSource, FirstCallAnswersLate, make_job


def joined(flights: SingleFlight, count: int) -> None:
    """Wait (five seconds at most) until ``count`` callers have joined the flight."""
    for _ in range(500):
        if flights.joins == count:
            return
        threading.Event().wait(0.01)


def query(device: str = "light1") -> JobsLookup:
    return JobsLookup(LIGHT_PRODUCT_KEY, device, SHOWCASE_FIRMWARE_ID)


def service_over(
    jobs: dict[str, list[OtaJob]] | None = None,
    *,
    errors: dict[str, Callable[[], IotError]] | None = None,
    cache_ttl: float = 60,
    max_jobs: int = 1000,
    qps: float | None = None,
) -> tuple[OtaService, FakeJobSource, FakeClock]:
    clock = FakeClock()
    if qps:  # the quota waits in real time (its waiters are threads): so does the service
        limiter = QuotaLimiter(qps)
        source = FakeJobSource(jobs, gate=limiter, errors=errors)
        service = OtaService(source, cache_ttl=cache_ttl, max_items=max_jobs, limiter=limiter)
        return service, source, clock
    source = FakeJobSource(jobs, errors=errors)
    service = OtaService(
        source,
        cache_ttl=cache_ttl,
        max_items=max_jobs,
        monotonic=clock,
        sleep=clock.sleep,
        wall_clock=clock.wall,
    )
    return service, source, clock


def not_found() -> IotError:
    return DeviceNotFoundError(
        "The device does not exist.", code="iot.device.NotExistedDevice", request_id="REQ-NF"
    )


def test_lookup_returns_every_page_newest_first_with_counts() -> None:
    jobs = [make_job(i, "COMPLETED" if i % 3 else "IN_PROGRESS") for i in range(250)]
    service, source, clock = service_over({"light1": jobs})
    result = service.jobs(query())
    assert [page for _, page, _ in source.calls] == [1, 2, 3]
    assert result.total == 250 and len(result.jobs) == 250
    assert result.jobs[0].job_id == "Job00000249" and result.jobs[-1].job_id == "Job00000000"
    assert result.counts == {"IN_PROGRESS": 84, "COMPLETED": 166}
    assert result.provenance.request_ids == ("REQ-1", "REQ-2", "REQ-3")
    assert result.provenance.upstream_calls == 3
    assert result.provenance.fetched_at == utc_datetime(clock.wall())
    assert not result.provenance.from_cache and not result.truncated


def test_lookup_of_a_device_without_jobs_costs_one_call() -> None:
    service, source, _ = service_over({})
    result = service.jobs(query("light3"))
    assert (result.total, result.jobs, len(source.calls)) == (0, (), 1)


def test_result_over_max_jobs_is_truncated_after_the_pages_that_cover_the_cap() -> None:
    service, source, _ = service_over({"light1": [make_job(i) for i in range(450)]}, max_jobs=150)
    result = service.jobs(query())
    assert len(source.calls) == 2
    assert len(result.jobs) == 150 and result.total == 450 and result.truncated


def test_second_lookup_is_served_from_cache_without_a_call() -> None:
    service, source, _ = service_over({"light1": [make_job(1)]})
    first = service.jobs(query())
    second = service.jobs(query())
    assert len(source.calls) == 1
    assert second.provenance.from_cache and second.jobs == first.jobs
    assert service.stats()["cache_hits"] == 1


def test_cache_entry_expires_after_the_ttl() -> None:
    service, source, clock = service_over({"light1": [make_job(1)]}, cache_ttl=60)
    service.jobs(query())
    clock.advance(59)
    assert service.jobs(query()).provenance.from_cache
    clock.advance(2)
    assert not service.jobs(query()).provenance.from_cache
    assert len(source.calls) == 2


def test_refresh_bypasses_the_cache_and_replaces_its_entry() -> None:
    jobs = {"light1": [make_job(1)]}
    service, source, _ = service_over(jobs)
    service.jobs(query())
    jobs["light1"] = [make_job(1), make_job(2)]
    refreshed = service.jobs(query(), refresh=True)
    after = service.jobs(query())
    assert not refreshed.provenance.from_cache and refreshed.total == 2
    assert after.provenance.from_cache and after.total == 2
    assert len(source.calls) == 2


def test_refresh_goes_through_the_quota() -> None:
    service, _, _ = service_over({"light1": [make_job(1)]}, qps=50)
    service.jobs(query())
    service.jobs(query(), refresh=True)
    assert service.stats()["attempts"] == 2


def test_cache_is_keyed_by_the_whole_query() -> None:
    service, source, _ = service_over({"light1": [make_job(1)]})
    service.jobs(query())
    service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID, "iot-instance-1"))
    service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", "FWother"))
    assert len(source.calls) == 3


def test_not_found_is_cached_briefly_so_a_repeated_typo_costs_one_call() -> None:
    service, source, clock = service_over(errors={"lihgt1": not_found})
    for _ in range(10):
        with pytest.raises(DeviceNotFoundError) as caught:
            service.jobs(query("lihgt1"))
        assert caught.value.request_id == "REQ-NF"
    assert len(source.calls) == 1
    clock.advance(16)
    with pytest.raises(DeviceNotFoundError):
        service.jobs(query("lihgt1"))
    assert len(source.calls) == 2


def test_negative_ttl_never_outlives_the_cache_ttl() -> None:
    service, source, clock = service_over(errors={"lihgt1": not_found}, cache_ttl=5)
    with pytest.raises(DeviceNotFoundError):
        service.jobs(query("lihgt1"))
    clock.advance(6)
    with pytest.raises(DeviceNotFoundError):
        service.jobs(query("lihgt1"))
    assert len(source.calls) == 2


def test_other_errors_are_not_cached() -> None:
    def down() -> IotError:
        return UpstreamUnavailableError("down", code="ServiceUnavailable")

    service, source, _ = service_over(errors={"light1": down})
    for _ in range(3):
        with pytest.raises(UpstreamUnavailableError):
            service.jobs(query())
    assert len(source.calls) == 3


def run_concurrently(
    service: OtaService, source: FakeJobSource, lookup: JobsLookup, callers: int
) -> list[JobsResult | BaseException]:
    """``callers`` threads ask at once; the source answers once all but one have joined."""
    source.release.clear()
    outcomes: list[JobsResult | BaseException] = []
    lock = threading.Lock()

    def ask() -> None:
        try:
            outcome: JobsResult | BaseException = service.jobs(lookup)
        except IotError as error:
            outcome = error
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=ask) for _ in range(callers)]
    for thread in threads:
        thread.start()
    assert source.entered.wait(5)
    for _ in range(500):
        if service.stats()["single_flight_joins"] >= callers - 1:
            break
        threading.Event().wait(0.01)
    source.release.set()
    for thread in threads:
        thread.join(10)
    return outcomes


def test_concurrent_identical_lookups_share_one_fetch() -> None:
    service, source, _ = service_over({"light1": [make_job(i) for i in range(150)]})
    outcomes = run_concurrently(service, source, query(), callers=20)
    assert len(source.calls) == 2  # one fetch of two pages
    assert len(outcomes) == 20
    assert all(outcome.jobs == outcomes[0].jobs for outcome in outcomes)  # type: ignore[union-attr]
    # The leader's answer cost the two calls; the nineteen that joined it cost none.
    calls = sorted(outcome.provenance.upstream_calls for outcome in outcomes)  # type: ignore[union-attr]
    assert calls == [0] * 19 + [2]
    assert service.stats()["single_flight_joins"] == 19


def test_concurrent_lookups_share_the_same_error() -> None:
    def down() -> IotError:
        return UpstreamUnavailableError("down", code="ServiceUnavailable", request_id="REQ-X")

    service, source, _ = service_over(errors={"light1": down})
    outcomes = run_concurrently(service, source, query(), callers=8)
    assert len(source.calls) == 1
    assert len(outcomes) == 8
    assert all(isinstance(outcome, UpstreamUnavailableError) for outcome in outcomes)
    assert {(str(outcome), outcome.request_id) for outcome in outcomes} == {  # type: ignore[union-attr]
        ("down [ServiceUnavailable] (RequestId REQ-X)", "REQ-X")
    }


def test_each_waiter_raises_the_shared_error_with_its_own_traceback() -> None:
    flights = SingleFlight()
    entered, release = threading.Event(), threading.Event()
    caught: list[BaseException] = []

    def failing_fetch() -> JobsResult:
        entered.set()
        release.wait(5)
        raise UpstreamUnavailableError("down", code="ServiceUnavailable")

    def ask() -> None:
        try:
            flights.run("light1", failing_fetch)
        except UpstreamUnavailableError as error:
            caught.append(error)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    threads[0].start()
    assert entered.wait(5)
    for thread in threads[1:]:
        thread.start()
    joined(flights, 5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(caught) == 6
    # One exception object raised in six threads would carry all their frames at once.
    for error in caught:
        assert [frame.name for frame in traceback.extract_tb(error.__traceback__)].count("ask") == 1


def test_a_refused_call_is_not_counted_as_an_upstream_call() -> None:
    clock = FakeClock()
    limiter = QuotaLimiter(1, monotonic=clock, sleep=lambda _: None)
    source = FakeJobSource({}, gate=limiter)
    service = OtaService(source, limiter=limiter, monotonic=clock, wait_budget=0.5)
    service.jobs(query("dev-0001"))
    with pytest.raises(QuotaBusyError):
        service.jobs(query("dev-0002"))
    assert service.stats()["upstream_calls"] == len(source.calls) == 1


def test_lookup_passes_a_deadline_so_quota_waits_are_bounded() -> None:
    service, source, clock = service_over({"light1": [make_job(1)]})
    service.jobs(query())
    assert source.calls[0][2] == pytest.approx(clock() + 10)


def test_lookup_fails_with_busy_when_the_quota_has_no_slot_in_time() -> None:
    limiter = QuotaLimiter(1)
    source = FakeJobSource({}, gate=limiter)
    service = OtaService(source, limiter=limiter, wait_budget=0.3)
    service.jobs(query("dev-0001"))  # the slot of this second
    with pytest.raises(QuotaBusyError):
        service.jobs(query("dev-0002"))  # the next is 1.05 s away: past the 0.3 s budget
    assert service.stats()["quota_busy"] == 1


def test_stats_report_calls_cache_and_quota() -> None:
    service, _, _ = service_over({"light1": [make_job(1)]}, qps=20)
    service.jobs(query())
    service.jobs(query())
    service.jobs(query("light2"))
    stats = service.stats()
    assert stats["lookups"] == 3
    assert stats["cache_hits"] == 1 and stats["cache_misses"] == 2
    assert stats["upstream_calls"] == 2 and stats["attempts"] == 2
    assert stats["quota_wait_seconds"] == pytest.approx((1 + DEFAULT_MARGIN) / 20, abs=0.03)
    assert stats["throttled"] == 0 and stats["retries"] == 0


def test_close_closes_the_client() -> None:
    service, source, _ = service_over({})
    service.close()
    assert source.closed


def test_a_lookup_answered_after_a_refresh_does_not_replace_the_newer_entry() -> None:
    clock = FakeClock()
    jobs = {"light1": [make_job(1)]}
    source = FirstCallAnswersLate(FakeJobSource(jobs))
    service = OtaService(source, monotonic=clock, sleep=clock.sleep, wall_clock=clock.wall)
    slow = threading.Thread(target=service.jobs, args=(query(),))
    slow.start()
    assert source.entered.wait(5)
    clock.advance(1)
    jobs["light1"] = [make_job(1), make_job(2)]
    assert service.jobs(query(), refresh=True).total == 2
    source.release.set()
    slow.join(5)
    assert service.jobs(query()).total == 2


def test_waiters_of_an_interrupted_leader_get_an_ordinary_error() -> None:
    flights = SingleFlight()
    entered, release = threading.Event(), threading.Event()
    leader_saw: list[BaseException] = []
    waiters_saw: list[BaseException] = []

    def interrupted_fetch() -> JobsResult:
        entered.set()
        release.wait(5)
        raise KeyboardInterrupt

    def lead() -> None:
        try:
            flights.run("light1", interrupted_fetch)
        except KeyboardInterrupt as interrupt:
            leader_saw.append(interrupt)

    def wait() -> None:
        try:
            flights.run("light1", interrupted_fetch)
        except BaseException as error:  # whatever it is, the test wants to see it
            waiters_saw.append(error)

    leader = threading.Thread(target=lead)
    leader.start()
    assert entered.wait(5)
    waiters = [threading.Thread(target=wait) for _ in range(3)]
    for thread in waiters:
        thread.start()
    joined(flights, 3)
    release.set()
    for thread in [leader, *waiters]:
        thread.join(5)
    assert len(leader_saw) == 1  # the interrupted thread itself still stops
    assert len(waiters_saw) == 3
    for error in waiters_saw:
        assert isinstance(error, UpstreamUnavailableError)
        assert "lookup interrupted" in str(error)
