"""OtaService over the real IotClient against the real emulator (and the real Redis)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from otabot.config import Settings
from otabot.emulator.fleet import Fleet, sample_fleet
from otabot.iot.errors import DeviceNotFoundError, FirmwareProductMismatchError
from otabot.service import JobsLookup, OtaService
from tests.helpers import LIGHT_PRODUCT_KEY, METER_FIRMWARE_ID, SHOWCASE_FIRMWARE_ID, api_job


def fleet_with_busy_device(jobs: int) -> Fleet:
    """The sample fleet plus device ``busy-01`` in ``jobs`` jobs of the showcase firmware."""
    document = sample_fleet().to_dict()
    document["Products"][0]["Devices"].append("busy-01")
    for i in range(jobs):
        stamp = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00.000Z"
        job = api_job(f"BusyJob{i:05d}", stamp, "COMPLETED", UtcEndTime=stamp, Tags=[])
        document["Jobs"].append(job | {"Devices": ["busy-01"]})
    return Fleet.from_dict(document)


@pytest.fixture
def service(emulator_settings: Settings) -> Iterator[OtaService]:
    built = OtaService.from_settings(emulator_settings)
    yield built
    built.close()


def test_lookup_through_the_real_client_returns_the_showcase_newest_first(
    service: OtaService, emulator: Any
) -> None:
    result = service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
    assert result.total == 14 and len(result.jobs) == 14
    created = [job.utc_create for job in result.jobs]
    assert created == sorted(created, reverse=True)
    assert len(result.provenance.request_ids) == 1 and result.provenance.request_ids[0]
    assert emulator.stats()["calls"] == 1


def test_second_lookup_costs_the_emulator_no_call(service: OtaService, emulator: Any) -> None:
    service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
    assert service.jobs(
        JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
    ).provenance.from_cache
    assert emulator.stats()["calls"] == 1


def test_hundreds_of_jobs_are_fetched_in_pages_of_100(service: OtaService, emulator: Any) -> None:
    emulator.set_fleet(fleet_with_busy_device(250))
    result = service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "busy-01", SHOWCASE_FIRMWARE_ID))
    assert result.total == 250 and len({job.job_id for job in result.jobs}) == 250
    assert result.provenance.upstream_calls == 3 and emulator.stats()["calls"] == 3


def test_max_jobs_caps_the_fetch_and_marks_the_result_truncated(
    emulator_settings: Settings, emulator: Any
) -> None:
    emulator.set_fleet(fleet_with_busy_device(250))
    service = OtaService.from_settings(dataclasses.replace(emulator_settings, max_jobs=120))
    result = service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "busy-01", SHOWCASE_FIRMWARE_ID))
    service.close()
    assert result.truncated and len(result.jobs) == 120 and result.total == 250
    assert emulator.stats()["calls"] == 2


def test_unknown_device_is_answered_once_then_from_the_negative_cache(
    service: OtaService, emulator: Any
) -> None:
    for _ in range(3):
        with pytest.raises(DeviceNotFoundError) as caught:
            service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "lihgt1", SHOWCASE_FIRMWARE_ID))
        assert caught.value.request_id
    assert emulator.stats()["calls"] == 1


def test_firmware_of_another_product_is_a_mismatch(service: OtaService) -> None:
    with pytest.raises(FirmwareProductMismatchError):
        service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", METER_FIRMWARE_ID))


def test_throttling_answer_is_retried_and_counted(service: OtaService, emulator: Any) -> None:
    emulator.set_faults(error="Throttling", count=1)
    result = service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light2", SHOWCASE_FIRMWARE_ID))
    assert result.total == 3
    stats = service.stats()
    assert stats["throttled"] == 1 and stats["retries"] == 1 and stats["attempts"] == 2


@pytest.mark.redis
def test_two_services_sharing_redis_call_the_emulator_once(
    emulator_settings: Settings, emulator: Any, redis_url: str
) -> None:
    settings = dataclasses.replace(emulator_settings, redis_url=redis_url)
    first, second = OtaService.from_settings(settings), OtaService.from_settings(settings)
    try:
        fetched = first.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
        shared = second.jobs(JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
    finally:
        first.close()
        second.close()
    assert shared.provenance.from_cache and shared.jobs == fetched.jobs
    assert emulator.stats()["calls"] == 1
