"""The emulator's rules, without HTTP: each action's answers and errors, paging, quotas,
nonces, timestamps, faults and statistics, on fake clocks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from otabot.emulator import exceptions as errors
from otabot.emulator.fleet import ROLLOUT_JOB_ID, sample_fleet
from otabot.emulator.models import (
    NONCE_TTL,
    Call,
    DeviceRef,
    Faults,
    IotPlatform,
    NonceRegistry,
    SlidingWindow,
    UserQuota,
    parse_timestamp,
    quota_limits,
)
from otabot.iot.times import request_timestamp
from tests.helpers import (
    LIGHT_PRODUCT_KEY,
    METER_FIRMWARE_ID,
    METER_PRODUCT_KEY,
    ROLLOUT_FIRMWARE_ID,
    SAMPLE_ACCESS_KEY_ID,
    SHOWCASE_FIRMWARE_ID,
    FakeClock,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FULL_210 = "FJFx8JzpnhpIsKftRjjm050100"


@pytest.fixture
def monotonic() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
def wall_clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def platform(monotonic: FakeClock, wall_clock: FakeClock) -> IotPlatform:
    return IotPlatform(sample_fleet(), monotonic=monotonic, wall_clock=wall_clock)


JOBS = {
    "product_key": LIGHT_PRODUCT_KEY,
    "device_name": "light1",
    "firmware_id": SHOWCASE_FIRMWARE_ID,
    "current_page": 1,
    "page_size": 10,
    "iot_instance_id": None,
}
UNFINISHED = {
    "device_ref": DeviceRef(product_key=LIGHT_PRODUCT_KEY, device_name="light1"),
    "statuses": ("CONFIRM", "QUEUED", "NOTIFIED", "IN_PROGRESS"),
    "module_name": None,
    "iot_instance_id": None,
}
TASKS = {
    "job_id": ROLLOUT_JOB_ID,
    "task_status": None,
    "device_names": (),
    "current_page": 1,
    "page_size": 100,
    "iot_instance_id": None,
}


def jobs_page(platform: IotPlatform, **overrides: Any) -> Any:
    return platform.list_ota_jobs_by_device(**{**JOBS, **overrides})


def unfinished(platform: IotPlatform, **overrides: Any) -> Any:
    return platform.list_ota_unfinished_tasks_by_device(**{**UNFINISHED, **overrides})


def tasks_page(platform: IotPlatform, **overrides: Any) -> Any:
    return platform.list_ota_tasks_by_job(**{**TASKS, **overrides})


# Timestamps, nonces, windows and quotas.


def test_timestamp_parses_the_v1_format() -> None:
    assert parse_timestamp("2026-01-01T00:00:00Z") == T0


@pytest.mark.parametrize(
    "text", ["2026-01-01 00:00:00", "1767225600", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00Z\n"]
)
def test_timestamp_in_another_format_is_refused(text: str) -> None:
    with pytest.raises(errors.InvalidTimeStampFormat):
        parse_timestamp(text)


def test_timestamp_is_checked_against_the_wall_clock_not_the_monotonic_one(
    platform: IotPlatform, monotonic: FakeClock
) -> None:
    monotonic.now = 5.0
    platform.check_timestamp(request_timestamp(T0 - 15 * 60))
    platform.check_timestamp(request_timestamp(T0 + 15 * 60))
    with pytest.raises(errors.InvalidTimeStampExpired):
        platform.check_timestamp(request_timestamp(T0 - 15 * 60 - 1))
    with pytest.raises(errors.InvalidTimeStampExpired):
        platform.check_timestamp(request_timestamp(T0 + 16 * 60))


def test_nonce_reused_by_the_same_key_is_refused() -> None:
    nonces = NonceRegistry()
    nonces.use(SAMPLE_ACCESS_KEY_ID, "n1", T0)
    with pytest.raises(errors.SignatureNonceUsed):
        nonces.use(SAMPLE_ACCESS_KEY_ID, "n1", T0 + 60)


def test_nonce_of_another_key_is_independent() -> None:
    nonces = NonceRegistry()
    nonces.use(SAMPLE_ACCESS_KEY_ID, "n1", T0)
    nonces.use("otherid", "n1", T0)
    assert len(nonces) == 2


def test_nonce_is_remembered_for_at_least_fifteen_minutes_then_forgotten() -> None:
    nonces = NonceRegistry()
    nonces.use(SAMPLE_ACCESS_KEY_ID, "n1", T0)
    with pytest.raises(errors.SignatureNonceUsed):
        nonces.use(SAMPLE_ACCESS_KEY_ID, "n1", T0 + 15 * 60 + 1)
    nonces.use(SAMPLE_ACCESS_KEY_ID, "n1", T0 + NONCE_TTL + 1)
    assert len(nonces) == 1


def test_nonces_expire_on_the_monotonic_clock(platform: IotPlatform, monotonic: FakeClock) -> None:
    platform.use_nonce(SAMPLE_ACCESS_KEY_ID, "n1")
    monotonic.now += NONCE_TTL + 1
    platform.use_nonce(SAMPLE_ACCESS_KEY_ID, "n1")
    with pytest.raises(errors.SignatureNonceUsed):
        platform.use_nonce(SAMPLE_ACCESS_KEY_ID, "n1")


def test_sliding_window_counts_only_the_last_second() -> None:
    window = SlidingWindow()
    for offset in (0.0, 0.3, 0.9):
        window.add(T0 + offset)
    assert window.count(T0 + 0.95) == 3
    assert window.count(T0 + 1.0) == 2
    assert window.count(T0 + 2.0) == 0


def test_quota_throttles_past_the_actions_limit_in_any_one_second_window() -> None:
    quota = UserQuota({"QueryOTAJob": 3})
    for offset in (0.0, 0.5, 0.9):
        quota.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob", T0 + offset)
    with pytest.raises(errors.ThrottlingUser):
        quota.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob", T0 + 0.99)
    quota.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob", T0 + 1.0)  # the call at T0 left the window


def test_quota_is_kept_per_access_key() -> None:
    quota = UserQuota({"QueryOTAJob": 1})
    quota.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob", T0)
    quota.admit("otherid", "QueryOTAJob", T0)
    with pytest.raises(errors.ThrottlingUser):
        quota.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob", T0)


def test_calls_of_one_action_never_use_another_actions_quota(platform: IotPlatform) -> None:
    for _ in range(10):
        platform.admit(SAMPLE_ACCESS_KEY_ID, "ListOTAJobByDevice")
    with pytest.raises(errors.ThrottlingUser):
        platform.admit(SAMPLE_ACCESS_KEY_ID, "ListOTAJobByDevice")
    for _ in range(10):
        platform.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob")
    for _ in range(50):
        platform.admit(SAMPLE_ACCESS_KEY_ID, "QueryDeviceDetail")
    with pytest.raises(errors.ThrottlingUser):
        platform.admit(SAMPLE_ACCESS_KEY_ID, "QueryDeviceDetail")


def test_quota_windows_move_with_the_monotonic_clock(
    platform: IotPlatform, monotonic: FakeClock
) -> None:
    for _ in range(10):
        platform.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob")
    monotonic.now += 1.0
    platform.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob")


def test_throttled_calls_do_not_use_the_quota() -> None:
    quota = UserQuota({"QueryOTAJob": 1})
    quota.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob", T0)
    for _ in range(5):
        with pytest.raises(errors.ThrottlingUser):
            quota.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob", T0 + 0.5)
    quota.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob", T0 + 1.0)


def test_quota_limits_default_to_each_actions_documented_quota() -> None:
    limits = quota_limits(None)
    assert limits["QueryDeviceDetail"] == 50
    assert {limit for name, limit in limits.items() if name != "QueryDeviceDetail"} == {10}
    assert len(limits) == 7


def test_quota_limits_take_one_number_for_every_action_or_some_by_name() -> None:
    assert set(quota_limits(3).values()) == {3}
    limits = quota_limits({"QueryOTAJob": 2.9})
    assert (limits["QueryOTAJob"], limits["ListOTAJobByDevice"]) == (2, 10)


@pytest.mark.parametrize("qps", [0, -1, {"QueryOTAJob": 0}, {"DeleteEverything": 5}])
def test_quota_limits_refuse_what_is_not_a_positive_rate_of_a_served_action(qps: Any) -> None:
    with pytest.raises(ValueError):
        quota_limits(qps)


def test_unknown_access_key_is_not_found(platform: IotPlatform) -> None:
    with pytest.raises(errors.InvalidAccessKeyIdNotFound):
        platform.secret_for("nosuchkey")


# ListOTAJobByDevice.


def test_list_jobs_pages_the_devices_jobs_for_the_firmware(platform: IotPlatform) -> None:
    page = jobs_page(platform, current_page=3, page_size=5)
    assert (page.total, page.page_count, page.page_size, page.current_page) == (14, 3, 5, 3)
    assert len(page.items) == 4
    assert {job.firmware_id for job in page.items} == {SHOWCASE_FIRMWARE_ID}


def test_list_jobs_keeps_fleet_order(platform: IotPlatform) -> None:
    page = jobs_page(platform, page_size=100)
    expected = [
        job.job_id
        for job in platform.fleet.jobs_for(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
    ]
    assert [job.job_id for job in page.items] == expected


def test_a_page_past_the_end_is_empty(platform: IotPlatform) -> None:
    page = jobs_page(platform, current_page=9, page_size=5)
    assert (page.items, page.total) == ((), 14)


def test_a_device_without_jobs_has_an_empty_first_page(platform: IotPlatform) -> None:
    page = jobs_page(platform, device_name="light3")
    assert (page.total, page.page_count, page.items) == (0, 0, ())


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"product_key": "a1NoSuchPrd"}, errors.NotExistedProduct),
        ({"product_key": "a1 bad key"}, errors.InvalidFormattedProductKey),
        ({"device_name": "light9"}, errors.NotExistedDevice),
        ({"device_name": "meter-01"}, errors.NotExistedDevice),
        ({"device_name": "light1\n"}, errors.InvalidFormattedDeviceName),
        ({"firmware_id": "FWnosuchfirmware"}, errors.FirmwareNotFound),
        ({"firmware_id": METER_FIRMWARE_ID}, errors.FirmwareAndProductKeyMismatch),
        ({"page_size": 101}, errors.InvalidPageParams),
        ({"page_size": 0}, errors.InvalidPageParams),
        ({"current_page": 0}, errors.InvalidPageParams),
        ({"iot_instance_id": "iot-cn-nosuch"}, errors.InstanceNotFound),
    ],
)
def test_list_jobs_business_errors(
    platform: IotPlatform, overrides: dict[str, Any], error: type[errors.EmulatorError]
) -> None:
    with pytest.raises(error) as raised:
        jobs_page(platform, **overrides)
    assert raised.value.http_status == 200
    assert raised.value.code.startswith("iot.")


def test_meter_firmware_works_for_its_own_product(platform: IotPlatform) -> None:
    page = jobs_page(
        platform,
        product_key=METER_PRODUCT_KEY,
        device_name="meter-01",
        firmware_id=METER_FIRMWARE_ID,
    )
    assert page.total == 3


def test_instance_fleet_requires_its_instance_id(platform: IotPlatform) -> None:
    platform.replace_fleet(replace(sample_fleet(), iot_instance_id="iot-cn-0pp1n8t4abc"))
    with pytest.raises(errors.InstanceNotFound):
        jobs_page(platform)
    with pytest.raises(errors.InstanceNotFound):
        jobs_page(platform, iot_instance_id="iot-cn-other")
    assert jobs_page(platform, iot_instance_id="iot-cn-0pp1n8t4abc").total == 14


# ListOTAUnfinishedTaskByDevice and QueryDeviceDetail.


def test_unfinished_tasks_of_the_device_mid_rollout(platform: IotPlatform) -> None:
    (task,) = unfinished(platform)
    assert (task.job_id, task.task_status, task.progress) == (ROLLOUT_JOB_ID, "IN_PROGRESS", "40")
    assert (task.src_version, task.dest_version, task.module_name) == ("2.0.0", "2.1.0", "default")


def test_unfinished_tasks_filter_by_status_and_module(platform: IotPlatform) -> None:
    assert unfinished(platform, statuses=("QUEUED",)) == ()
    assert unfinished(platform, module_name="ble") == ()
    light2 = DeviceRef(product_key=LIGHT_PRODUCT_KEY, device_name="light2")
    (queued,) = unfinished(platform, device_ref=light2, statuses=("QUEUED",))
    assert queued.job_id == "Pl4nN3dJ0bR7sT9uVw2x020100"


def test_unfinished_tasks_by_iot_id(platform: IotPlatform) -> None:
    device = platform.fleet.device(LIGHT_PRODUCT_KEY, "light2")
    assert device is not None
    by_id = unfinished(platform, device_ref=DeviceRef(iot_id=device.iot_id))
    assert [task.device_name for task in by_id] == ["light2", "light2"]


def test_device_detail_carries_the_device_secret(platform: IotPlatform) -> None:
    device = platform.query_device_detail(DeviceRef(None, LIGHT_PRODUCT_KEY, "lamp-13"), None)
    assert (device.status, device.firmware_version) == ("OFFLINE", "2.0.0")
    assert len(device.device_secret) == 32


def test_device_detail_by_iot_id_wins_over_the_names(platform: IotPlatform) -> None:
    light2 = platform.fleet.device(LIGHT_PRODUCT_KEY, "light2")
    assert light2 is not None
    found = platform.query_device_detail(
        DeviceRef(light2.iot_id, LIGHT_PRODUCT_KEY, "light1"), None
    )
    assert found.device_name == "light2"


# ListOTAFirmware.


def test_firmware_of_one_version_finds_the_full_and_the_delta_package(
    platform: IotPlatform,
) -> None:
    page = platform.list_ota_firmware(LIGHT_PRODUCT_KEY, "2.1.0", 1, 10, None)
    assert [(f.firmware_id, f.firmware_type) for f in page.items] == [
        (FULL_210, 0),
        (ROLLOUT_FIRMWARE_ID, 1),
    ]


def test_firmware_without_a_product_lists_the_account(platform: IotPlatform) -> None:
    assert platform.list_ota_firmware(None, None, 1, 100, None).total == 8
    assert platform.list_ota_firmware(METER_PRODUCT_KEY, None, 1, 1, None).page_count == 2


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (("a1NoSuchPrd", None, 1, 10, None), errors.NotExistedProduct),
        ((LIGHT_PRODUCT_KEY, None, 1, 101, None), errors.InvalidPageParams),
        ((LIGHT_PRODUCT_KEY, None, 1, 10, "iot-cn-nosuch"), errors.InstanceNotFound),
    ],
)
def test_firmware_business_errors(
    platform: IotPlatform, arguments: tuple[Any, ...], error: type[errors.EmulatorError]
) -> None:
    with pytest.raises(error):
        platform.list_ota_firmware(*arguments)


# QueryOTAJob, ListOTATaskByJob, ListOTAJobByFirmware.


def test_query_job_finds_the_rollout(platform: IotPlatform) -> None:
    job = platform.query_ota_job(ROLLOUT_JOB_ID, None)
    assert (job.name, job.dest_version, job.src_versions) == (
        "light-fw 2.1.0 delta",
        "2.1.0",
        ("2.0.0",),
    )


def test_query_job_of_an_unknown_job_is_a_business_error(platform: IotPlatform) -> None:
    with pytest.raises(errors.JobNotFound) as raised:
        platform.query_ota_job("NoSuchJob0000000000000000", None)
    assert raised.value.http_status == 200


def test_the_rollout_has_failures_successes_and_waiting_devices(platform: IotPlatform) -> None:
    page = tasks_page(platform)
    assert page.total == 41
    assert Counter(task.task_status for task in page.items) == {
        "SUCCEEDED": 18,
        "FAILED": 6,
        "IN_PROGRESS": 4,
        "QUEUED": 7,
        "NOTIFIED": 4,
        "CANCELED": 2,
    }


def test_tasks_filter_by_status_with_a_total_to_count_them(platform: IotPlatform) -> None:
    page = tasks_page(platform, task_status="FAILED", page_size=1)
    assert (page.total, page.page_count, len(page.items)) == (6, 6, 1)
    assert page.items[0].task_desc == "download timed out"


def test_tasks_filter_by_device_names(platform: IotPlatform) -> None:
    page = tasks_page(platform, device_names=("lamp-13", "light1", "nobody"))
    assert [task.device_name for task in page.items] == ["light1", "lamp-13"]


@pytest.mark.parametrize(
    ("call", "overrides", "error"),
    [
        (unfinished, {"statuses": ()}, errors.InvalidTaskStatus),
        (unfinished, {"statuses": ("QUEUED", "FAILED")}, errors.InvalidTaskStatus),
        (
            unfinished,
            {"device_ref": DeviceRef(device_name="light1")},
            errors.InvalidFormattedProductKey,
        ),
        (
            unfinished,
            {"device_ref": DeviceRef(product_key=LIGHT_PRODUCT_KEY)},
            errors.InvalidFormattedDeviceName,
        ),
        (unfinished, {"device_ref": DeviceRef(iot_id="nosuchiotid")}, errors.NotExistedDevice),
        (unfinished, {"iot_instance_id": "iot-cn-nosuch"}, errors.InstanceNotFound),
        (tasks_page, {"task_status": "DONE"}, errors.InvalidTaskStatus),
        (tasks_page, {"job_id": "NoSuchJob"}, errors.JobNotFound),
        (tasks_page, {"page_size": 101}, errors.InvalidPageParams),
        (tasks_page, {"current_page": 1001, "page_size": 100}, errors.InvalidPageParams),
    ],
)
def test_task_lists_business_errors(
    platform: IotPlatform,
    call: Callable[..., Any],
    overrides: dict[str, Any],
    error: type[errors.EmulatorError],
) -> None:
    """ListOTAUnfinishedTaskByDevice's and ListOTATaskByJob's."""
    with pytest.raises(error):
        call(platform, **overrides)


def test_tasks_accept_a_window_ending_at_one_hundred_thousand(platform: IotPlatform) -> None:
    assert tasks_page(platform, current_page=1000, page_size=100).items == ()


def test_jobs_by_firmware_take_pages_of_up_to_200(platform: IotPlatform) -> None:
    page = platform.list_ota_jobs_by_firmware(SHOWCASE_FIRMWARE_ID, 1, 200, None)
    assert page.total == 14
    with pytest.raises(errors.InvalidPageParams):
        platform.list_ota_jobs_by_firmware(SHOWCASE_FIRMWARE_ID, 1, 201, None)


def test_jobs_by_firmware_include_a_planned_job(platform: IotPlatform) -> None:
    (job,) = platform.list_ota_jobs_by_firmware(FULL_210, 1, 10, None).items
    assert job.job_status == "PLANNED"


def test_jobs_by_an_unknown_firmware(platform: IotPlatform) -> None:
    with pytest.raises(errors.FirmwareNotFound):
        platform.list_ota_jobs_by_firmware("FWnosuchfirmware", 1, 10, None)


# Faults and statistics.


def test_fault_with_a_count_applies_to_that_many_calls(platform: IotPlatform) -> None:
    platform.set_faults(Faults(error="InternalError", count=2))
    faults = [platform.arrive("QueryOTAJob").fault for _ in range(3)]
    assert faults == ["InternalError", "InternalError", None]


def test_fault_of_one_action_leaves_the_others_alone(platform: IotPlatform) -> None:
    platform.set_faults(
        Faults(latency_ms=50, error="ServiceUnavailable", count=1, action="QueryOTAJob")
    )
    other = platform.arrive("ListOTAJobByDevice")
    assert (other.fault, other.latency_ms) == (None, 0)
    assert platform.arrive("QueryOTAJob") == Call(50, "ServiceUnavailable")
    assert platform.arrive("QueryOTAJob") == Call(50, None)


def test_fault_without_a_count_lasts_until_reset(platform: IotPlatform) -> None:
    platform.set_faults(Faults(latency_ms=5, error="malformed"))
    assert {platform.arrive("QueryOTAJob").fault for _ in range(5)} == {"malformed"}
    platform.reset()
    call = platform.arrive("QueryOTAJob")
    assert (call.fault, call.latency_ms) == (None, 0)


@pytest.mark.parametrize(
    "body",
    [
        {"error": "Explode"},
        {"latency_ms": -1},
        {"count": "3"},
        {"count": -1},
        {"surprise": 1},
        {"action": "DeleteEverything"},
        [1],
    ],
)
def test_bad_fault_specs_are_refused(body: object) -> None:
    with pytest.raises(ValueError):
        Faults.from_dict(body)


def test_stats_count_calls_by_action_and_code_and_the_busiest_seconds(
    platform: IotPlatform, monotonic: FakeClock
) -> None:
    for offset, action in ((0.0, "QueryOTAJob"), (0.1, "QueryOTAJob"), (0.2, "ListOTAFirmware")):
        monotonic.now = 100.0 + offset
        platform.arrive(action)
        platform.record("OK")
    monotonic.now = 101.5
    platform.arrive("QueryOTAJob")
    platform.record("Throttling.User")
    assert platform.stats() == {
        "calls": 4,
        "by_action": {"QueryOTAJob": 3, "ListOTAFirmware": 1},
        "by_code": {"OK": 3, "Throttling.User": 1},
        "max_calls_in_any_second": 3,
        "max_in_any_second_by_action": {"QueryOTAJob": 2, "ListOTAFirmware": 1},
        "span_seconds": 1.5,
        "per_second": [3, 1],
        "throttled": 1,
    }


def test_stats_name_missing_and_unknown_actions_without_a_label_each(
    platform: IotPlatform,
) -> None:
    for action in ("", "DeleteEverything", "Whatever"):
        platform.arrive(action)
    assert platform.stats()["by_action"] == {"(none)": 1, "(other)": 2}
    assert platform.stats()["max_in_any_second_by_action"] == {}


def test_reset_clears_stats_nonces_and_quota(platform: IotPlatform) -> None:
    platform.arrive("QueryOTAJob")
    platform.use_nonce(SAMPLE_ACCESS_KEY_ID, "n1")
    for _ in range(10):
        platform.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob")
    platform.reset()
    platform.use_nonce(SAMPLE_ACCESS_KEY_ID, "n1")
    platform.admit(SAMPLE_ACCESS_KEY_ID, "QueryOTAJob")
    assert platform.stats()["calls"] == 0
