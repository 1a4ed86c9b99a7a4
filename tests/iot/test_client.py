"""IotClient against a real local HTTP server with canned answers, and a fake clock for retries."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from otabot import __version__
from otabot.config import Credentials, Settings
from otabot.iot.client import AttemptGate, IotClient, RetryPolicy
from otabot.iot.errors import (
    AccessKeyError,
    DeviceNotFoundError,
    InvalidRequestError,
    IotError,
    QuotaBusyError,
    SignatureError,
    ThrottledError,
    UpstreamUnavailableError,
)
from otabot.iot.models import JobStatus, JobType
from otabot.iot.transport import USER_AGENT
from tests.helpers import LIGHT_PRODUCT_KEY, SAMPLE_ACCESS_KEY_ID, SHOWCASE_FIRMWARE_ID, FakeClock
from tests.iot.answers import (
    DEVICE,
    OK,
    SECRET,
    STS_TOKEN,
    THROTTLED,
    UNAVAILABLE,
    gateway_error,
    iot_error,
    job,
    page,
    v1_signature_is_valid,
    v3_signature_is_valid,
)
from tests.iot.canned import CannedApi, Reply
from tests.iot.fakes import MakeClient, RecordingGate


def call(client: IotClient, **kwargs: Any) -> Any:
    return client.list_ota_jobs_by_device(LIGHT_PRODUCT_KEY, DEVICE, SHOWCASE_FIRMWARE_ID, **kwargs)


# --- success and request shape -----------------------------------------------------------


def test_a_page_of_jobs_is_parsed_into_typed_frozen_results(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(
        Reply(
            body=page(
                [
                    job(
                        "J1",
                        "COMPLETE",
                        "VERFIY_FIRMWARE",
                        {"OtaTagDTO": [{"Key": "k", "Value": "v"}]},
                    ),
                    job("J2", "IN_PROGRESS"),
                    job("J3", "PAUSED"),
                ],
                total=3,
                size=10,
            )
        )
    )
    result = call(make_client(), page_size=10)
    assert [j.job_id for j in result.items] == ["J1", "J2", "J3"]
    assert [j.status for j in result.items] == [
        JobStatus.COMPLETED,
        JobStatus.IN_PROGRESS,
        "PAUSED",
    ]
    assert result.items[0].job_type is JobType.VERIFY_FIRMWARE
    assert result.items[0].tags == (("k", "v"),)
    assert result.items[0].utc_end_time == datetime(2019, 12, 29, 2, 43, 10, tzinfo=UTC)
    assert result.items[1].utc_end_time is None
    assert (result.total, result.page_count, result.current_page, result.page_size) == (
        3,
        1,
        1,
        10,
    )
    assert result.request_id == "5D58AC86-D5BF-4B39-834E-913E7F2C985D"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.items[0].job_id = "other"  # type: ignore[misc]


def test_requests_are_posts_with_parameters_in_the_query_and_an_empty_body(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(OK)
    call(make_client(region_id="ap-southeast-1"), current_page=2, page_size=50)
    [received] = api.received
    assert (received.method, received.path, received.body) == ("POST", "/", b"")
    assert received.headers["content-length"] == "0"
    assert received.headers["user-agent"] == f"otabot/{__version__} (+python-requests)"
    assert received.headers["user-agent"] == USER_AGENT
    assert {
        k: received.query[k]
        for k in ("Format", "RegionId", "ProductKey", "DeviceName", "FirmwareId")
    } == {
        "Format": "JSON",
        "RegionId": "ap-southeast-1",
        "ProductKey": LIGHT_PRODUCT_KEY,
        "DeviceName": DEVICE,
        "FirmwareId": SHOWCASE_FIRMWARE_ID,
    }
    assert (received.query["CurrentPage"], received.query["PageSize"]) == ("2", "50")
    assert "IotInstanceId" not in received.query


def test_v3_is_the_default_and_its_signature_verifies(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(OK)
    call(make_client())
    [received] = api.received
    assert received.headers["x-acs-action"] == "ListOTAJobByDevice"
    assert received.headers["x-acs-version"] == "2018-01-20"
    assert received.headers["authorization"].startswith(
        f"ACS3-HMAC-SHA256 Credential={SAMPLE_ACCESS_KEY_ID},"
    )
    assert "Signature" not in received.query and "Action" not in received.query
    assert v3_signature_is_valid(received)


def test_v1_puts_the_common_parameters_in_the_query_and_its_signature_verifies(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(OK)
    call(make_client(signature="v1"))
    [received] = api.received
    assert received.query["Action"] == "ListOTAJobByDevice"
    assert received.query["Version"] == "2018-01-20"
    assert received.query["SignatureMethod"] == "HMAC-SHA1"
    assert received.query["AccessKeyId"] == SAMPLE_ACCESS_KEY_ID
    assert "authorization" not in received.headers
    assert v1_signature_is_valid(received)


def test_v1_signs_the_sts_token_into_the_query(api: CannedApi, make_client: MakeClient) -> None:
    api.queue(OK)
    call(
        make_client(
            signature="v1", credentials=Credentials(SAMPLE_ACCESS_KEY_ID, SECRET, STS_TOKEN)
        )
    )
    [received] = api.received
    assert received.query["SecurityToken"] == STS_TOKEN
    assert v1_signature_is_valid(received)


def test_v3_signs_the_sts_token_into_a_header(api: CannedApi, make_client: MakeClient) -> None:
    api.queue(OK)
    call(make_client(credentials=Credentials(SAMPLE_ACCESS_KEY_ID, SECRET, STS_TOKEN)))
    [received] = api.received
    assert received.headers["x-acs-security-token"] == STS_TOKEN
    assert "x-acs-security-token" in received.headers["authorization"]
    assert v3_signature_is_valid(received)


def test_the_instance_id_is_sent_when_given(api: CannedApi, make_client: MakeClient) -> None:
    api.queue(OK)
    call(make_client(), iot_instance_id="iot-cn-0pp1n8t0000")
    assert api.received[0].query["IotInstanceId"] == "iot-cn-0pp1n8t0000"


def test_paging_asks_for_the_page_and_reports_the_page_count(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(Reply(body=page([job("J11")], total=11, current=2, size=10)))
    result = call(make_client(), current_page=2, page_size=10)
    assert api.received[0].query["CurrentPage"] == "2"
    assert (result.total, result.page_count, result.current_page) == (11, 2, 2)


@pytest.mark.parametrize(
    "body",
    [
        {"RequestId": "r", "Success": True, "Total": 0, "PageCount": 0},
        {"RequestId": "r", "Success": True, "Data": {}, "Total": 0},
        {"RequestId": "r", "Success": True, "Data": {"SimpleOTAJobInfo": []}, "Total": 0},
        {"RequestId": "r", "Success": True, "Data": "", "Total": 0},
    ],
    ids=["no-data", "empty-data", "empty-list", "empty-string"],
)
def test_a_missing_or_empty_data_means_no_jobs(
    api: CannedApi, make_client: MakeClient, body: dict[str, Any]
) -> None:
    api.queue(Reply(body=body))
    result = call(make_client())
    assert (result.items, result.total, result.request_id) == ((), 0, "r")


def test_a_single_job_object_instead_of_a_list_is_one_job(
    api: CannedApi, make_client: MakeClient
) -> None:
    body = page([])
    body["Data"] = {"SimpleOTAJobInfo": job("J1", tags={"OtaTagDTO": {"Key": "a", "Value": "b"}})}
    api.queue(Reply(body=body))
    result = call(make_client())
    assert [j.job_id for j in result.items] == ["J1"]
    assert result.items[0].tags == (("a", "b"),)


def test_tags_as_a_plain_list_are_read(api: CannedApi, make_client: MakeClient) -> None:
    api.queue(Reply(body=page([job(tags=[{"Key": "region", "Value": "eu"}])])))
    assert call(make_client()).items[0].tags == (("region", "eu"),)


def test_an_answer_shaped_unlike_the_documentation_is_unavailable_and_not_retried(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(Reply(body={"RequestId": "r", "Success": True, "Data": 42}))
    with pytest.raises(UpstreamUnavailableError) as caught:
        call(make_client())
    assert caught.value.retryable is False
    assert len(api.received) == 1


# --- deadlines ------------------------------------------------------------------------------


def test_the_read_timeout_shrinks_to_the_callers_deadline(api: CannedApi) -> None:
    api.queue(Reply(body=page([]), delay=2.0))
    client = IotClient(api.url, Credentials(SAMPLE_ACCESS_KEY_ID, SECRET), read_timeout=10.0)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError):
        call(client, deadline=started + 0.3)
    client.close()
    assert time.monotonic() - started < 1.5


DRIPPED = pytest.mark.parametrize("drip_head", [False, True], ids=["body", "head-and-body"])


@DRIPPED
def test_an_answer_dripped_past_the_callers_deadline_is_a_read_timeout(
    api: CannedApi, drip_head: bool
) -> None:
    # One byte every 50 ms: no single socket read ever waits the 10 s read timeout out.
    api.queue(Reply(body=page([]), drip=0.05, drip_head=drip_head))
    client = IotClient(api.url, Credentials(SAMPLE_ACCESS_KEY_ID, SECRET), read_timeout=10.0)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError) as caught:
        call(client, deadline=started + 0.4)
    client.close()
    assert time.monotonic() - started < 1.2
    assert caught.value.code == "otabot.ReadTimeout" and caught.value.retryable


@DRIPPED
def test_an_answer_dripped_past_the_policys_total_deadline_is_a_read_timeout(
    api: CannedApi, drip_head: bool
) -> None:
    api.queue(Reply(body=page([]), drip=0.05, drip_head=drip_head))
    client = IotClient(
        api.url,
        Credentials(SAMPLE_ACCESS_KEY_ID, SECRET),
        read_timeout=10.0,
        retry=RetryPolicy(total_deadline=0.4),
    )
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError) as caught:
        call(client)
    client.close()
    assert time.monotonic() - started < 1.2
    assert caught.value.code == "otabot.ReadTimeout"


# --- retries ------------------------------------------------------------------------------


def test_a_transient_fault_is_retried_with_a_fresh_nonce_and_then_succeeds(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.queue(gateway_error("InternalError", "unknown error", 500), OK)
    result = call(make_client())
    assert len(result.items) == 1
    assert len(api.received) == 2
    assert api.received[0].nonce != api.received[1].nonce
    assert fake_time.sleeps == [pytest.approx(0.1)]


@pytest.mark.parametrize("signature", ["v1", "v3"])
def test_every_attempt_is_signed_anew_with_its_own_nonce(
    api: CannedApi, make_client: MakeClient, signature: str
) -> None:
    api.queue(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, OK)
    call(make_client(signature=signature))
    assert len({received.nonce for received in api.received}) == 4
    check = v1_signature_is_valid if signature == "v1" else v3_signature_is_valid
    assert all(check(received) for received in api.received)


def test_throttling_backs_off_from_half_a_second_and_doubles(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.queue(THROTTLED, THROTTLED, THROTTLED, OK)
    call(make_client())
    assert fake_time.sleeps == [pytest.approx(0.5), pytest.approx(1.0), pytest.approx(2.0)]


def test_throttling_delays_are_jittered_up_to_twice_the_floor(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.queue(THROTTLED, THROTTLED, THROTTLED, OK)
    call(make_client(random=lambda: 0.999999))
    assert fake_time.sleeps == [
        pytest.approx(1.0, abs=1e-3),
        pytest.approx(2.0, abs=1e-3),
        pytest.approx(4.0, abs=1e-3),
    ]


def test_persistent_throttling_gives_up_after_max_attempts_with_the_throttled_error(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.queue(THROTTLED)
    client = make_client()
    with pytest.raises(ThrottledError) as caught:
        call(client)
    assert caught.value.code == "Throttling.User"
    assert len(api.received) == 4
    assert client.stats() == {
        "calls": 1,
        "attempts": 4,
        "retries": 3,
        "throttled": 4,
        "failures": 1,
    }


@pytest.mark.parametrize("retry", range(1, 12))
@pytest.mark.parametrize("throttled", [True, False])
@pytest.mark.parametrize("draw", [0.0, 0.37, 0.999999])
def test_retry_delays_stay_within_equal_jitter_bounds_and_the_cap(
    retry: int, throttled: bool, draw: float
) -> None:
    policy = RetryPolicy()
    base = policy.throttle_base_delay if throttled else policy.base_delay
    ceiling = min(policy.max_delay, base * 2**retry)
    delay = policy.delay(retry, throttled=throttled, random=lambda: draw)
    assert ceiling / 2 <= delay <= ceiling <= policy.max_delay


def test_delays_are_capped_at_max_delay(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.queue(THROTTLED)
    policy = RetryPolicy(max_attempts=8, total_deadline=1000.0)
    with pytest.raises(ThrottledError):
        call(make_client(retry=policy, random=lambda: 0.999999))
    assert max(fake_time.sleeps) == pytest.approx(8.0, abs=1e-3)
    assert fake_time.sleeps[-3:] == [pytest.approx(8.0, abs=1e-3)] * 3


def test_retries_stop_before_the_callers_deadline_and_raise_the_last_error(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.queue(THROTTLED)
    with pytest.raises(ThrottledError):
        call(make_client(), deadline=fake_time.now + 1.2)
    assert fake_time.sleeps == [pytest.approx(0.5)]
    assert len(api.received) == 2


def test_retries_stop_at_the_policys_overall_deadline(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    api.queue(THROTTLED)
    policy = RetryPolicy(max_attempts=50, total_deadline=5.0)
    started = fake_time.now
    with pytest.raises(ThrottledError):
        call(make_client(retry=policy))
    assert fake_time.now - started <= 5.0
    assert fake_time.sleeps == [pytest.approx(0.5), pytest.approx(1.0), pytest.approx(2.0)]


def test_retry_after_from_the_api_is_honoured(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    throttled = gateway_error("Throttling", "Request was denied due to request throttling.")
    throttled.headers["Retry-After"] = "3"
    api.queue(throttled, OK)
    call(make_client())
    assert fake_time.sleeps == [pytest.approx(3.0)]


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [
        (
            gateway_error("SignatureDoesNotMatch", "Specified signature is not matched."),
            SignatureError,
        ),
        (gateway_error("InvalidAccessKeyId.NotFound", "not found", 404), AccessKeyError),
        (
            gateway_error("MissingFirmwareId", "FirmwareId is mandatory for this action."),
            InvalidRequestError,
        ),
        (iot_error("iot.common.InvalidPageParams", "bad page"), InvalidRequestError),
        (iot_error("iot.device.NotExistedDevice", "no device"), DeviceNotFoundError),
    ],
    ids=["signature", "access-key", "missing-param", "page-params", "not-found"],
)
def test_authentication_validation_and_not_found_errors_are_never_retried(
    api: CannedApi,
    make_client: MakeClient,
    fake_time: FakeClock,
    reply: Reply,
    error_type: type[IotError],
) -> None:
    api.queue(reply, OK)
    with pytest.raises(error_type):
        call(make_client())
    assert len(api.received) == 1
    assert fake_time.sleeps == []


def test_every_attempt_passes_the_gate_and_reports_throttling(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    gate = RecordingGate()
    api.queue(THROTTLED, OK)
    deadline = fake_time.now + 15.0
    call(make_client(gate=gate), deadline=deadline)
    assert gate.calls == [
        ("before", "ListOTAJobByDevice", deadline),
        ("after", "ListOTAJobByDevice", True),
        ("before", "ListOTAJobByDevice", deadline),
        ("after", "ListOTAJobByDevice", False),
    ]


def test_a_long_wait_for_the_quota_turn_is_bounded_by_the_callers_deadline_not_the_policys(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    """An incident's queue: the first attempt's turn comes 60 s in (past the policy's 20 s
    budget) and it still goes; the retry budget starts then, and the gate is told so."""
    waits = iter([60.0])

    class QueueingGate(RecordingGate):
        def before_attempt(self, action: str, deadline: float | None) -> None:
            super().before_attempt(action, deadline)
            fake_time.now += next(waits, 0.0)

    gate = QueueingGate()
    api.queue(THROTTLED, OK)
    started = fake_time.now
    call(make_client(gate=gate), deadline=started + 120.0)
    assert len(api.received) == 2
    befores = [deadline for name, _, deadline in gate.calls if name == "before"]
    assert befores == [started + 120.0, started + 60.0 + RetryPolicy().total_deadline]


def test_the_gate_is_given_the_policys_deadline_when_the_caller_has_none(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    gate = RecordingGate()
    api.queue(OK)
    call(make_client(gate=gate))
    assert gate.calls[0] == (
        "before",
        "ListOTAJobByDevice",
        fake_time.now + RetryPolicy().total_deadline,
    )


def test_a_busy_gate_refuses_the_call_before_anything_is_sent(
    api: CannedApi, make_client: MakeClient
) -> None:
    client = make_client(gate=RecordingGate(refuse=True))
    with pytest.raises(QuotaBusyError):
        call(client)
    assert api.received == []
    assert client.stats() == {
        "calls": 1,
        "attempts": 0,
        "retries": 0,
        "throttled": 0,
        "failures": 1,
    }


@pytest.mark.parametrize(
    "reply",
    [THROTTLED, iot_error("iot.device.NotExistedDevice", "no device"), Reply(body=b"<html>")],
    ids=["retried", "not-retried", "malformed"],
)
def test_every_error_names_the_action_of_the_call(
    api: CannedApi, make_client: MakeClient, reply: Reply
) -> None:
    api.queue(reply)
    with pytest.raises(IotError) as caught:
        call(make_client())
    assert caught.value.action == "ListOTAJobByDevice"


def test_a_refusal_of_the_gate_names_the_action(make_client: MakeClient) -> None:
    with pytest.raises(QuotaBusyError) as caught:
        call(make_client(gate=RecordingGate(refuse=True)))
    assert caught.value.action == "ListOTAJobByDevice"


def test_a_deadline_already_past_sends_nothing(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock
) -> None:
    with pytest.raises(UpstreamUnavailableError) as caught:
        call(make_client(), deadline=fake_time.now - 1)
    assert caught.value.code == "otabot.DeadlineExceeded"
    assert caught.value.action == "ListOTAJobByDevice"
    assert api.received == []


def test_stats_count_calls_attempts_retries_and_throttling(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(THROTTLED, UNAVAILABLE, OK, OK)
    client = make_client()
    call(client)
    call(client)
    assert client.stats() == {
        "calls": 2,
        "attempts": 4,
        "retries": 2,
        "throttled": 1,
        "failures": 0,
    }


# --- construction -------------------------------------------------------------------------


def test_from_settings_uses_the_configured_endpoint_signature_and_region(api: CannedApi) -> None:
    settings = Settings.from_env(
        {
            "OTABOT_IOT_ENDPOINT": api.url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": SAMPLE_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
            "ALIBABA_CLOUD_REGION_ID": "eu-central-1",
            "OTABOT_SIGNATURE": "v1",
        }
    )
    api.queue(OK)
    with IotClient.from_settings(settings) as client:
        call(client)
    [received] = api.received
    assert received.query["RegionId"] == "eu-central-1"
    assert v1_signature_is_valid(received)


def test_an_unknown_signature_version_is_refused() -> None:
    with pytest.raises(ValueError, match="signature"):
        IotClient("http://127.0.0.1:1", Credentials(SAMPLE_ACCESS_KEY_ID, SECRET), signature="v2")


def test_the_gate_protocol_is_satisfied_by_a_plain_class() -> None:
    gate: AttemptGate = RecordingGate()
    gate.before_attempt("ListOTAJobByDevice", None)
    gate.after_attempt("ListOTAJobByDevice", False)
    assert [name for name, _ in RecordingGate.__dict__.items() if name.endswith("attempt")] == [
        "before_attempt",
        "after_attempt",
    ]


# --- concurrency --------------------------------------------------------------------------


def test_concurrent_calls_share_the_client_and_count_exactly(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(OK)
    client = make_client()
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = list(pool.map(lambda _: call(client), range(40)))
    assert all(len(result.items) == 1 for result in pages)
    assert client.stats() == {
        "calls": 40,
        "attempts": 40,
        "retries": 0,
        "throttled": 0,
        "failures": 0,
    }
    assert len({received.nonce for received in api.received}) == 40
