"""The emulator's rules, without HTTP: paging, windows, nonces, instance, business errors."""

from __future__ import annotations

from dataclasses import replace

import pytest

from otabot.emulator import exceptions as errors
from otabot.emulator.fleet import sample_fleet
from otabot.emulator.models import (
    NONCE_TTL,
    Faults,
    IotPlatform,
    NonceRegistry,
    SlidingWindow,
    UserQuota,
    parse_page_params,
    parse_timestamp,
)
from otabot.iot.paging import page_count, page_window
from otabot.iot.times import request_timestamp
from tests.emulator.signed import LIGHT, METER, METER_FIRMWARE, SHOWCASE, list_jobs

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def platform(clock: FakeClock) -> IotPlatform:
    return IotPlatform(sample_fleet(), qps=10, clock=clock)


@pytest.mark.parametrize(
    ("total", "size", "pages"), [(0, 10, 0), (1, 10, 1), (10, 10, 1), (11, 10, 2), (14, 5, 3)]
)
def test_page_count_rounds_up(total: int, size: int, pages: int) -> None:
    assert page_count(total, size) == pages


def test_page_window_selects_the_requested_page() -> None:
    assert list(range(14))[page_window(3, 5)] == [10, 11, 12, 13]


@pytest.mark.parametrize(
    ("page", "size"),
    [("0", "10"), ("1", "0"), ("1", "101"), ("x", "10"), ("1", "1.5"), ("-1", "5")],
)
def test_page_params_outside_the_documented_range_are_invalid(page: str, size: str) -> None:
    with pytest.raises(errors.InvalidPageParams):
        parse_page_params(page, size)


def test_page_params_accept_the_bounds() -> None:
    assert parse_page_params("1", "1") == (1, 1)
    assert parse_page_params("7", "100") == (7, 100)


def test_timestamp_parses_the_v1_format() -> None:
    assert parse_timestamp("2026-01-01T00:00:00Z") == T0


@pytest.mark.parametrize("text", ["2026-01-01 00:00:00", "1767225600", "2026-13-01T00:00:00Z"])
def test_timestamp_in_another_format_is_refused(text: str) -> None:
    with pytest.raises(errors.InvalidTimeStampFormat):
        parse_timestamp(text)


def test_nonce_reused_by_the_same_key_is_refused() -> None:
    nonces = NonceRegistry()
    nonces.use("testid", "n1", T0)
    with pytest.raises(errors.SignatureNonceUsed):
        nonces.use("testid", "n1", T0 + 60)


def test_nonce_of_another_key_is_independent() -> None:
    nonces = NonceRegistry()
    nonces.use("testid", "n1", T0)
    nonces.use("otherid", "n1", T0)
    assert len(nonces) == 2


def test_nonce_is_remembered_for_at_least_fifteen_minutes_then_forgotten() -> None:
    nonces = NonceRegistry()
    nonces.use("testid", "n1", T0)
    with pytest.raises(errors.SignatureNonceUsed):
        nonces.use("testid", "n1", T0 + 15 * 60 + 1)
    nonces.use("testid", "n1", T0 + NONCE_TTL + 1)
    assert NONCE_TTL >= 15 * 60


def test_sliding_window_counts_only_the_last_second() -> None:
    window = SlidingWindow()
    for offset in (0.0, 0.3, 0.9):
        window.add(T0 + offset)
    assert window.count(T0 + 0.95) == 3
    assert window.count(T0 + 1.0) == 2
    assert window.count(T0 + 2.0) == 0


def test_quota_throttles_past_qps_in_any_one_second_window() -> None:
    quota = UserQuota(qps=3)
    for offset in (0.0, 0.5, 0.9):
        quota.admit("testid", T0 + offset)
    with pytest.raises(errors.ThrottlingUser):
        quota.admit("testid", T0 + 0.99)
    quota.admit("testid", T0 + 1.0)  # the call at T0 left the window


def test_quota_is_kept_per_access_key() -> None:
    quota = UserQuota(qps=1)
    quota.admit("testid", T0)
    quota.admit("otherid", T0)
    with pytest.raises(errors.ThrottlingUser):
        quota.admit("testid", T0)


def test_throttled_calls_do_not_use_the_quota() -> None:
    quota = UserQuota(qps=1)
    quota.admit("testid", T0)
    for _ in range(5):
        with pytest.raises(errors.ThrottlingUser):
            quota.admit("testid", T0 + 0.5)
    quota.admit("testid", T0 + 1.0)


def test_timestamp_fifteen_minutes_off_is_accepted_and_more_is_expired(
    platform: IotPlatform,
) -> None:
    platform.check_timestamp(request_timestamp(T0 - 15 * 60))
    platform.check_timestamp(request_timestamp(T0 + 15 * 60))
    with pytest.raises(errors.InvalidTimeStampExpired):
        platform.check_timestamp(request_timestamp(T0 - 15 * 60 - 1))
    with pytest.raises(errors.InvalidTimeStampExpired):
        platform.check_timestamp(request_timestamp(T0 + 16 * 60))


def test_unknown_access_key_is_not_found(platform: IotPlatform) -> None:
    with pytest.raises(errors.InvalidAccessKeyIdNotFound):
        platform.secret_for("nosuchkey")


def test_list_jobs_pages_the_devices_jobs_for_the_firmware(platform: IotPlatform) -> None:
    page = platform.list_ota_jobs_by_device(list_jobs(CurrentPage="3", PageSize="5"))
    assert (page["Total"], page["PageCount"], page["PageSize"], page["CurrentPage"]) == (
        14,
        3,
        5,
        3,
    )
    jobs = page["Data"]["SimpleOTAJobInfo"]
    assert len(jobs) == 4
    assert {job["FirmwareId"] for job in jobs} == {SHOWCASE}


def test_list_jobs_keeps_fleet_order(platform: IotPlatform) -> None:
    page = platform.list_ota_jobs_by_device(list_jobs(PageSize="100"))
    expected = [job.job_id for job in platform.fleet.jobs_for(LIGHT, "light1", SHOWCASE)]
    assert [job["JobId"] for job in page["Data"]["SimpleOTAJobInfo"]] == expected


def test_a_page_past_the_end_is_empty(platform: IotPlatform) -> None:
    page = platform.list_ota_jobs_by_device(list_jobs(CurrentPage="9", PageSize="5"))
    assert page["Data"]["SimpleOTAJobInfo"] == []
    assert page["Total"] == 14


def test_a_device_without_jobs_has_an_empty_first_page(platform: IotPlatform) -> None:
    page = platform.list_ota_jobs_by_device(list_jobs(DeviceName="light3"))
    assert (page["Total"], page["PageCount"], page["Data"]["SimpleOTAJobInfo"]) == (0, 0, [])


def test_end_time_only_for_finished_jobs_and_tags_only_when_present(
    platform: IotPlatform,
) -> None:
    jobs = platform.list_ota_jobs_by_device(list_jobs(PageSize="100"))["Data"]["SimpleOTAJobInfo"]
    for job in jobs:
        assert ("UtcEndTime" in job) == (job["JobStatus"] != "IN_PROGRESS")
    assert any("Tags" not in job for job in jobs)
    tagged = next(job for job in jobs if "Tags" in job)
    assert set(tagged["Tags"]["OtaTagDTO"][0]) == {"Key", "Value"}


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"ProductKey": "a1NoSuchPrd"}, errors.NotExistedProduct),
        ({"DeviceName": "light9"}, errors.NotExistedDevice),
        ({"DeviceName": "meter-01"}, errors.NotExistedDevice),
        ({"FirmwareId": "FWnosuchfirmware"}, errors.FirmwareNotFound),
        ({"FirmwareId": METER_FIRMWARE}, errors.FirmwareAndProductKeyMismatch),
        ({"PageSize": "101"}, errors.InvalidPageParams),
        ({"CurrentPage": "0"}, errors.InvalidPageParams),
        ({"IotInstanceId": "iot-cn-nosuch"}, errors.InstanceNotFound),
    ],
)
def test_list_jobs_business_errors(
    platform: IotPlatform, overrides: dict[str, str], error: type[errors.EmulatorError]
) -> None:
    with pytest.raises(error) as raised:
        platform.list_ota_jobs_by_device(list_jobs(**overrides))
    assert raised.value.http_status == 200
    assert raised.value.code.startswith("iot.")


def test_meter_firmware_works_for_its_own_product(platform: IotPlatform) -> None:
    page = platform.list_ota_jobs_by_device(
        list_jobs(ProductKey=METER, DeviceName="meter-01", FirmwareId=METER_FIRMWARE)
    )
    assert page["Total"] == 3


@pytest.mark.parametrize("missing", ["ProductKey", "DeviceName", "FirmwareId", "CurrentPage"])
def test_missing_business_parameter_is_a_gateway_error(platform: IotPlatform, missing: str) -> None:
    params = list_jobs()
    params[missing] = ""
    with pytest.raises(errors.MissingParameter) as raised:
        platform.list_ota_jobs_by_device(params)
    assert raised.value.code == f"Missing{missing}"
    assert raised.value.message == f"{missing} is mandatory for this action."
    assert raised.value.http_status == 400


def test_instance_fleet_requires_its_instance_id(clock: FakeClock) -> None:
    fleet = replace(sample_fleet(), iot_instance_id="iot-cn-0pp1n8t4abc")
    platform = IotPlatform(fleet, clock=clock)
    with pytest.raises(errors.InstanceNotFound):
        platform.list_ota_jobs_by_device(list_jobs())
    with pytest.raises(errors.InstanceNotFound):
        platform.list_ota_jobs_by_device(list_jobs(IotInstanceId="iot-cn-other"))
    page = platform.list_ota_jobs_by_device(list_jobs(IotInstanceId="iot-cn-0pp1n8t4abc"))
    assert page["Total"] == 14


def test_fault_with_a_count_applies_to_that_many_calls(platform: IotPlatform) -> None:
    platform.set_faults(Faults(error="InternalError", count=2))
    assert [platform.arrive().fault for _ in range(3)] == ["InternalError", "InternalError", None]


def test_fault_without_a_count_lasts_until_reset(platform: IotPlatform) -> None:
    platform.set_faults(Faults(latency_ms=5, error="malformed"))
    assert {platform.arrive().fault for _ in range(5)} == {"malformed"}
    platform.reset()
    call = platform.arrive()
    assert (call.fault, call.latency_ms) == (None, 0)


@pytest.mark.parametrize(
    "body",
    [
        {"error": "Explode"},
        {"latency_ms": -1},
        {"count": "3"},
        {"count": -1},
        {"surprise": 1},
        [1],
    ],
)
def test_bad_fault_specs_are_refused(body: object) -> None:
    with pytest.raises(ValueError):
        Faults.from_dict(body)


def test_stats_count_calls_codes_and_the_busiest_second(
    platform: IotPlatform, clock: FakeClock
) -> None:
    for offset in (0.0, 0.1, 0.2, 1.5):
        clock.now = T0 + offset
        platform.arrive()
        platform.record("ListOTAJobByDevice", "OK")
    platform.record("ListOTAJobByDevice", "Throttling.User")
    stats = platform.stats()
    assert stats["calls"] == 4
    assert stats["max_calls_in_any_second"] == 3
    assert stats["by_code"] == {"OK": 4, "Throttling.User": 1}
    assert stats["by_action"] == {"ListOTAJobByDevice": 5}
    assert stats["throttled"] == 1


def test_reset_clears_stats_nonces_and_quota(platform: IotPlatform) -> None:
    platform.arrive()
    platform.use_nonce("testid", "n1")
    quota_platform = IotPlatform(sample_fleet(), qps=1, clock=FakeClock())
    quota_platform.admit("testid")
    platform.reset()
    quota_platform.reset()
    platform.use_nonce("testid", "n1")
    quota_platform.admit("testid")
    assert platform.stats()["calls"] == 0
