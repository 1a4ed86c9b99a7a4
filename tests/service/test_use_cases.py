"""The device card, job card, failed devices, firmware and version use cases: right answers,
and the calls each costs, against an in-memory fleet."""

from __future__ import annotations

import pytest

from otabot.iot.errors import DeviceNotFoundError, ForbiddenError, JobNotFoundError
from otabot.iot.models import TaskStatus
from otabot.service import (
    DeviceLookup,
    FailedLookup,
    FirmwareJobsLookup,
    FirmwareLookup,
    JobLookup,
    OtaService,
    VersionLookup,
)
from otabot.service.kinds import Ttls
from otabot.service.service import other_spelling
from tests.helpers import LIGHT_PRODUCT_KEY
from tests.service.fakes import FakeClock
from tests.service.fleet_source import FleetSource, firmware, job_detail, ota_job, task

REASONS = ("download timed out", "signature verification failed", "insufficient storage")


def service_over(source: FleetSource, **options: float) -> tuple[OtaService, FakeClock]:
    clock = FakeClock()
    service = OtaService(
        source, monotonic=clock, sleep=clock.sleep, wall_clock=clock.wall, **options
    )
    return service, clock


def rollout(source: FleetSource, job_id: str, devices: int, failed: int = 0) -> FleetSource:
    """A job over ``devices`` devices: ``failed`` of them FAILED (with reasons), a few still
    going, the rest SUCCEEDED; ``source``, with it."""
    source.jobs[job_id] = job_detail(job_id)
    tasks = []
    for index in range(devices):
        name = f"light{index:04d}"
        if index < failed:
            tasks.append(task(job_id, name, "FAILED", index, REASONS[index % 3]))
        elif index < failed + 3:
            tasks.append(task(job_id, name, "IN_PROGRESS", index))
        elif index < failed + 5:
            tasks.append(task(job_id, name, "QUEUED", index))
        else:
            tasks.append(task(job_id, name, "SUCCEEDED", index))
    source.tasks[job_id] = tasks
    return source


# --- the device card -------------------------------------------------------------------


def test_the_device_card_costs_one_call_of_each_action_and_then_none() -> None:
    source = FleetSource()
    source.add_device("light0001", status="OFFLINE", version="1.0.0")
    rollout(source, "JOB1", devices=10)
    service, _ = service_over(source)
    card = service.device(DeviceLookup(LIGHT_PRODUCT_KEY, "light0001"))
    assert card.device.value is not None and card.device.value.status == "OFFLINE"
    assert card.tasks.value is not None
    assert [t.status for t in card.tasks.value] == [TaskStatus.IN_PROGRESS]
    assert card.provenance.upstream_calls == 2
    assert source.calls == {"QueryDeviceDetail": 1, "ListOTAUnfinishedTaskByDevice": 1}
    again = service.device(DeviceLookup(LIGHT_PRODUCT_KEY, "light0001"))
    assert again.provenance.from_cache and again.provenance.upstream_calls == 0
    assert sum(source.calls.values()) == 2


def test_a_device_card_without_permission_for_query_device_detail_still_lists_the_tasks() -> None:
    source = FleetSource(forbidden={"QueryDeviceDetail"})
    source.add_device("light0001")
    rollout(source, "JOB1", devices=10)
    service, _ = service_over(source)
    card = service.device(DeviceLookup(LIGHT_PRODUCT_KEY, "light0001"))
    assert isinstance(card.device.error, ForbiddenError)
    assert card.device.error.action == "QueryDeviceDetail"
    assert card.tasks.value is not None and len(card.tasks.value) == 1


def test_a_device_card_with_neither_action_permitted_is_an_error() -> None:
    source = FleetSource(forbidden={"QueryDeviceDetail", "ListOTAUnfinishedTaskByDevice"})
    service, _ = service_over(source)
    with pytest.raises(ForbiddenError):
        service.device(DeviceLookup(LIGHT_PRODUCT_KEY, "light0001"))


def test_an_unknown_device_is_remembered_so_a_repeated_typo_costs_no_more_calls() -> None:
    source = FleetSource()
    service, _ = service_over(source)
    for _ in range(3):
        with pytest.raises(DeviceNotFoundError):
            service.device(DeviceLookup(LIGHT_PRODUCT_KEY, "lihgt0001"))
    assert source.calls["QueryDeviceDetail"] == 1


def test_the_device_card_expires_sooner_than_a_jobs_list() -> None:
    source = FleetSource()
    source.add_device("light0001")
    service, clock = service_over(source, cache_ttl=60)
    assert service.ttls == Ttls(jobs=60, device=15, job=30, firmware=300)
    service.device(DeviceLookup(LIGHT_PRODUCT_KEY, "light0001"))
    clock.advance(16)
    service.device(DeviceLookup(LIGHT_PRODUCT_KEY, "light0001"))
    assert source.calls["QueryDeviceDetail"] == 2


# --- the job card ----------------------------------------------------------------------


def test_a_small_job_is_counted_from_one_page_and_its_failed_list_comes_free() -> None:
    source = rollout(FleetSource(), "JOB1", devices=40, failed=4)
    service, _ = service_over(source)
    card = service.job(JobLookup("JOB1", device_name="light0002"))
    assert card.counts.value is not None
    assert card.counts.value.total == 40
    assert card.counts.value.by_status == {
        "CONFIRM": 0,
        "QUEUED": 2,
        "NOTIFIED": 0,
        "IN_PROGRESS": 3,
        "SUCCEEDED": 31,
        "FAILED": 4,
        "CANCELED": 0,
    }
    assert card.device_task.value is not None and card.device_task.value.status == "FAILED"
    assert source.calls == {"QueryOTAJob": 1, "ListOTATaskByJob": 1}
    failed = service.failed(FailedLookup("JOB1"))
    assert [t.description for t in failed.tasks] == [REASONS[i % 3] for i in (3, 2, 1, 0)]
    assert failed.provenance.upstream_calls == 0 and sum(source.calls.values()) == 2


def test_a_job_of_up_to_seven_pages_is_paged_through_and_holds_every_task() -> None:
    source = rollout(FleetSource(), "JOB2", devices=250, failed=120)
    service, _ = service_over(source)
    card = service.job(JobLookup("JOB2", device_name="light0200"))
    assert card.counts.value is not None
    counts = card.counts.value.by_status
    assert (counts["FAILED"], counts["IN_PROGRESS"], counts["QUEUED"]) == (120, 3, 2)
    assert counts["SUCCEEDED"] == 125 and card.counts.value.total == 250
    assert card.device_task.value is not None and card.device_task.value.status == "SUCCEEDED"
    assert source.calls["ListOTATaskByJob"] == 3  # fewer than counting's 7
    failed = service.failed(FailedLookup("JOB2"))  # all 120 came with the pages
    assert failed.total == len(failed.tasks) == 120
    assert source.calls["ListOTATaskByJob"] == 3


def test_a_large_job_is_counted_with_one_call_per_status_but_one() -> None:
    source = rollout(FleetSource(), "JOB2", devices=750, failed=120)
    service, _ = service_over(source)
    card = service.job(JobLookup("JOB2"))
    assert card.counts.value is not None
    counts = card.counts.value.by_status
    assert (counts["FAILED"], counts["IN_PROGRESS"], counts["QUEUED"]) == (120, 3, 2)
    assert counts["SUCCEEDED"] == 625  # by subtraction
    assert sum(counts.values()) == card.counts.value.total == 750
    # unfiltered page, FAILED page, and CONFIRM, QUEUED, NOTIFIED, IN_PROGRESS, CANCELED
    assert source.calls["ListOTATaskByJob"] == 7
    failed = service.failed(FailedLookup("JOB2"))  # 120 failed: more than the one page held
    assert failed.total == len(failed.tasks) == 120
    assert source.calls["ListOTATaskByJob"] == 9


def test_a_job_whose_tasks_would_pass_the_cap_is_counted_not_paged() -> None:
    source = rollout(FleetSource(), "JOB2", devices=250, failed=10)
    service, _ = service_over(source, max_items=200)
    card = service.job(JobLookup("JOB2"))
    assert card.counts.value is not None and card.counts.value.total == 250
    assert source.calls["ListOTATaskByJob"] == 7  # counted: 250 tasks would pass the cap


def test_a_devices_task_in_a_large_job_costs_one_call() -> None:
    source = rollout(FleetSource(), "JOB2", devices=750, failed=10)
    service, _ = service_over(source)
    card = service.job(JobLookup("JOB2", device_name="light0200"))
    assert card.device_task.value is not None and card.device_task.value.status == "SUCCEEDED"
    assert source.calls["ListOTATaskByJob"] == 8
    absent = service.job(JobLookup("JOB2", device_name="meter-01"))
    assert absent.device_task.value is None and absent.device_task.error is None


def test_a_job_card_without_permission_to_list_tasks_still_shows_the_job() -> None:
    source = rollout(FleetSource(forbidden={"ListOTATaskByJob"}), "JOB1", devices=5)
    service, _ = service_over(source)
    card = service.job(JobLookup("JOB1", device_name="light0001"))
    assert card.job.job_id == "JOB1"
    assert isinstance(card.counts.error, ForbiddenError)
    assert isinstance(card.device_task.error, ForbiddenError)


def test_an_unknown_job_is_said_and_remembered() -> None:
    source = FleetSource()
    service, _ = service_over(source)
    for _ in range(2):
        with pytest.raises(JobNotFoundError):
            service.job(JobLookup("NOSUCHJOB"))
    assert source.calls == {"QueryOTAJob": 1}


def test_a_refresh_of_the_job_card_fetches_every_part_again() -> None:
    source = rollout(FleetSource(), "JOB1", devices=10)
    service, _ = service_over(source)
    service.job(JobLookup("JOB1"))
    refreshed = service.job(JobLookup("JOB1"), refresh=True)
    assert not refreshed.provenance.from_cache and refreshed.provenance.upstream_calls == 2
    assert source.calls == {"QueryOTAJob": 2, "ListOTATaskByJob": 2}


# --- firmware and versions -------------------------------------------------------------


def firmware_world() -> FleetSource:
    return FleetSource(
        firmwares=[
            firmware("FWold", "1.0.0", day=1),
            firmware("FWfull", "2.5.0", day=5),
            firmware("FWdelta", "2.5.0", day=6, delta=True),
            firmware("FWv3", "v3.0.0", day=9),
        ]
    )


@pytest.mark.parametrize(
    ("asked", "found", "calls"),
    [("1.0.0", ("FWold", "1.0.0"), 1), ("3.0.0", ("FWv3", "v3.0.0"), 2)],
    ids=["an-exact-version-costs-one-filtered-call", "with-or-without-its-v-on-the-second-try"],
)
def test_a_version_is_found_with_as_few_filtered_calls_as_its_spelling_needs(
    asked: str, found: tuple[str, str], calls: int
) -> None:
    source = firmware_world()
    service, _ = service_over(source)
    resolved = service.resolve_version(VersionLookup(LIGHT_PRODUCT_KEY, asked))
    assert ([f.firmware_id for f in resolved.matches], resolved.matched_version) == (
        [found[0]],
        found[1],
    )
    assert source.calls == {"ListOTAFirmware": calls}


def test_two_packages_of_one_version_are_both_returned_newest_first() -> None:
    service, _ = service_over(firmware_world())
    resolved = service.resolve_version(VersionLookup(LIGHT_PRODUCT_KEY, "v2.5.0"))
    assert [f.firmware_id for f in resolved.matches] == ["FWdelta", "FWfull"]


def test_an_unknown_version_suggests_the_newest_packages() -> None:
    source = firmware_world()
    service, _ = service_over(source)
    resolved = service.resolve_version(VersionLookup(LIGHT_PRODUCT_KEY, "9.9.9"))
    assert resolved.matches == () and resolved.matched_version is None
    assert [f.firmware_id for f in resolved.newest] == ["FWv3", "FWdelta", "FWfull", "FWold"]
    assert source.calls == {"ListOTAFirmware": 3}


def test_a_cached_package_list_answers_versions_without_a_call() -> None:
    source = firmware_world()
    service, _ = service_over(source)
    listed = service.firmwares(FirmwareLookup(LIGHT_PRODUCT_KEY))
    assert [f.firmware_id for f in listed.firmwares] == ["FWv3", "FWdelta", "FWfull", "FWold"]
    before = source.calls["ListOTAFirmware"]
    service.resolve_version(VersionLookup(LIGHT_PRODUCT_KEY, "2.5.0"))
    service.resolve_version(VersionLookup(LIGHT_PRODUCT_KEY, "nope"))
    assert source.calls["ListOTAFirmware"] == before


@pytest.mark.parametrize(
    ("version", "other"), [("2.5.0", "v2.5.0"), ("v2.5.0", "2.5.0"), ("V2", "2"), ("beta", None)]
)
def test_a_version_has_one_other_spelling(version: str, other: str | None) -> None:
    assert other_spelling(version) == other


def test_jobs_of_a_firmware_page_by_two_hundred_up_to_the_cap() -> None:
    source = FleetSource(firmware_jobs={"FW1": [ota_job(f"J{i:04d}", i) for i in range(450)]})
    service, _ = service_over(source, max_items=300)
    result = service.firmware_jobs(FirmwareJobsLookup("FW1"))
    assert source.calls == {"ListOTAJobByFirmware": 2}
    assert result.total == 450 and len(result.jobs) == 300 and result.truncated
    # The cap keeps the first 300 the API lists (it promises no order), newest first.
    assert result.jobs[0].job_id == "J0299" and result.jobs[-1].job_id == "J0000"


def test_every_call_of_a_lookup_shares_one_deadline() -> None:
    source = rollout(FleetSource(), "JOB2", devices=250, failed=10)
    service, clock = service_over(source, wait_budget=10)
    service.job(JobLookup("JOB2"))
    assert set(source.deadlines) == {clock() + 10}
