"""IotClient against the emulator: V1 and V3 with STS, every action, paging, typed errors,
retries, dropped connections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from otabot.config import Credentials
from otabot.emulator.fleet import (
    LIGHT_PRODUCT_KEY,
    METER_FIRMWARE_ID,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)
from otabot.emulator.server import EmulatorServer
from otabot.iot.client import IotClient
from otabot.iot.errors import (
    AccessKeyError,
    DeviceNotFoundError,
    FirmwareNotFoundError,
    FirmwareProductMismatchError,
    InstanceNotFoundError,
    InvalidRequestError,
    IotError,
    ProductNotFoundError,
    SignatureError,
    UpstreamUnavailableError,
)
from otabot.iot.models import JobStatus, JobType, TaskStatus
from tests.helpers import FakeClock
from tests.iot.fakes import MakeClient

SHOWCASE_JOBS = 14
STS_TOKEN = "CAIS+emulated/sts=="


@pytest.fixture
def fake_sleep() -> FakeClock:
    return FakeClock(0.0)


@pytest.fixture(params=["v1", "v3"])
def make_client(
    request: pytest.FixtureRequest, emulator: EmulatorServer, fake_sleep: FakeClock
) -> Iterator[MakeClient]:
    clients: list[IotClient] = []

    def make(
        secret: str = SAMPLE_ACCESS_KEY_SECRET, key_id: str = SAMPLE_ACCESS_KEY_ID
    ) -> IotClient:
        client = IotClient(
            emulator.url,
            Credentials(key_id, secret, STS_TOKEN),
            signature=request.param,
            monotonic=fake_sleep,
            sleep=fake_sleep.sleep,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def showcase(client: IotClient, **kwargs: Any) -> Any:
    return client.list_ota_jobs_by_device(
        LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID, **kwargs
    )


def test_the_showcase_device_lists_all_its_jobs_with_every_spelling(
    make_client: MakeClient,
) -> None:
    result = showcase(make_client())
    assert (result.total, len(result.items), result.page_count) == (SHOWCASE_JOBS, SHOWCASE_JOBS, 1)
    assert result.request_id
    assert {job.status for job in result.items} >= {
        JobStatus.IN_PROGRESS,
        JobStatus.COMPLETED,
        JobStatus.CANCELED,
    }
    assert {job.job_type for job in result.items} == {
        JobType.UPGRADE_FIRMWARE,
        JobType.VERIFY_FIRMWARE,
    }
    assert all(job.status.is_known and job.job_type.is_known for job in result.items)
    assert any(len(job.tags) == 8 for job in result.items)
    assert all(job.utc_end_time is None for job in result.items if job.status == "IN_PROGRESS")


def test_paging_walks_every_job_exactly_once(make_client: MakeClient) -> None:
    client = make_client()
    pages = [showcase(client, current_page=n, page_size=5) for n in (1, 2, 3)]
    assert [len(page.items) for page in pages] == [5, 5, 4]
    assert {page.page_count for page in pages} == {3}
    assert [page.current_page for page in pages] == [1, 2, 3]
    ids = [job.job_id for page in pages for job in page.items]
    assert len(set(ids)) == SHOWCASE_JOBS
    assert set(ids) == {job.job_id for job in showcase(client).items}


def test_a_device_without_jobs_gets_an_empty_page(make_client: MakeClient) -> None:
    result = make_client().list_ota_jobs_by_device(
        LIGHT_PRODUCT_KEY, "light3", SHOWCASE_FIRMWARE_ID
    )
    assert (result.items, result.total) == ((), 0)


@pytest.mark.parametrize(
    ("product_key", "device_name", "firmware_id", "instance", "error_type"),
    [
        ("a1NoSuchProd", "light1", SHOWCASE_FIRMWARE_ID, None, ProductNotFoundError),
        (LIGHT_PRODUCT_KEY, "no-such-device", SHOWCASE_FIRMWARE_ID, None, DeviceNotFoundError),
        (LIGHT_PRODUCT_KEY, "light1", "FWnosuchfirmware000000000", None, FirmwareNotFoundError),
        (LIGHT_PRODUCT_KEY, "light1", METER_FIRMWARE_ID, None, FirmwareProductMismatchError),
        (LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID, "iot-cn-nosuch", InstanceNotFoundError),
    ],
    ids=["product", "device", "firmware", "firmware-of-another-product", "instance"],
)
def test_what_does_not_exist_is_typed_and_not_retried(
    make_client: MakeClient,
    emulator: EmulatorServer,
    product_key: str,
    device_name: str,
    firmware_id: str,
    instance: str | None,
    error_type: type[IotError],
) -> None:
    client = make_client()
    with pytest.raises(error_type) as caught:
        client.list_ota_jobs_by_device(
            product_key, device_name, firmware_id, iot_instance_id=instance
        )
    assert caught.value.request_id
    assert client.stats()["attempts"] == 1


def test_page_parameters_out_of_range_are_an_invalid_request(make_client: MakeClient) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        showcase(make_client(), page_size=101)
    assert caught.value.code == "iot.common.InvalidPageParams"


def test_a_wrong_secret_is_a_signature_error_without_the_string_to_sign(
    make_client: MakeClient,
) -> None:
    with pytest.raises(SignatureError) as caught:
        showcase(make_client(secret="not-the-secret"))
    assert caught.value.code == "SignatureDoesNotMatch"
    assert "string to sign" not in str(caught.value)
    assert "not-the-secret" not in str(caught.value) + repr(caught.value)


def test_an_unknown_access_key_is_an_access_key_error(make_client: MakeClient) -> None:
    with pytest.raises(AccessKeyError):
        showcase(make_client(key_id="nosuchkey"))


def test_a_throttled_answer_is_retried_after_about_half_a_second(
    make_client: MakeClient, emulator: EmulatorServer, fake_sleep: FakeClock
) -> None:
    emulator.set_faults(error="Throttling", count=1)
    client = make_client()
    result = showcase(client)
    assert len(result.items) == SHOWCASE_JOBS
    assert len(fake_sleep.sleeps) == 1 and 0.5 <= fake_sleep.sleeps[0] <= 1.0
    assert client.stats() == {
        "calls": 1,
        "attempts": 2,
        "retries": 1,
        "throttled": 1,
        "failures": 0,
    }


def test_the_emulators_own_quota_throttles_and_every_call_still_succeeds() -> None:
    # The emulator and the client share one fake wall clock, so the client's backoff
    # is what moves the emulator's one-second quota window along.
    shared = FakeClock(0.0)
    shared.now = time.time()
    with EmulatorServer(qps=2, monotonic=shared, wall_clock=shared) as server:
        client = IotClient(
            server.url,
            Credentials(SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET),
            monotonic=shared,
            sleep=shared.sleep,
            random=lambda: 0.0,
        )
        pages = [showcase(client, page_size=1) for _ in range(5)]
        client.close()
        assert all(len(page.items) == 1 for page in pages)
        assert client.stats()["throttled"] >= 1
        assert client.stats()["failures"] == 0
        assert server.stats()["throttled"] == client.stats()["throttled"]
        assert all(wait >= 0.5 for wait in shared.sleeps)


def test_a_service_unavailable_answer_is_retried(
    make_client: MakeClient, emulator: EmulatorServer, fake_sleep: FakeClock
) -> None:
    emulator.set_faults(error="ServiceUnavailable", count=2)
    result = showcase(make_client())
    assert len(result.items) == SHOWCASE_JOBS
    assert len(fake_sleep.sleeps) == 2


def test_a_malformed_body_exhausts_the_attempts_as_upstream_unavailable(
    make_client: MakeClient, emulator: EmulatorServer
) -> None:
    emulator.set_faults(error="malformed")
    client = make_client()
    with pytest.raises(UpstreamUnavailableError):
        showcase(client)
    assert client.stats()["attempts"] == 4


def test_a_dropped_connection_is_a_connection_error_that_is_retried(
    make_client: MakeClient, emulator: EmulatorServer, fake_sleep: FakeClock
) -> None:
    emulator.set_faults(error="reset", count=1)
    client = make_client()
    assert len(showcase(client).items) == SHOWCASE_JOBS
    assert client.stats()["attempts"] == 2 and len(fake_sleep.sleeps) == 1
    assert emulator.stats()["by_code"] == {"fault.reset": 1, "OK": 1}


def test_connections_dropped_every_time_end_as_upstream_unavailable(
    make_client: MakeClient, emulator: EmulatorServer
) -> None:
    emulator.set_faults(error="reset")
    client = make_client()
    with pytest.raises(UpstreamUnavailableError) as caught:
        showcase(client)
    assert caught.value.code == "otabot.ConnectionError"
    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert client.stats()["attempts"] == 4


def test_the_six_device_first_actions_answer_otabots_client(make_client: MakeClient) -> None:
    client = make_client()
    (task,) = client.list_ota_unfinished_tasks_by_device(LIGHT_PRODUCT_KEY, "light1")
    detail = client.query_device_detail(LIGHT_PRODUCT_KEY, "light1")
    assert (task.iot_id, task.progress, detail.firmware_version) == (detail.iot_id, None, "2.0.0")
    packages = client.list_ota_firmware(LIGHT_PRODUCT_KEY, "2.1.0").items
    assert sorted(package.is_delta for package in packages) == [False, True]
    job = client.query_ota_job(task.job_id)
    failed = client.list_ota_tasks_by_job(job.job_id, status=TaskStatus.FAILED, page_size=1)
    assert (job.dest_version, failed.total, failed.items[0].description) == (
        "2.1.0",
        6,
        "download timed out",
    )
    by_firmware = client.list_ota_jobs_by_firmware(job.firmware_id)
    assert [listed.job_id for listed in by_firmware.items] == [job.job_id]
