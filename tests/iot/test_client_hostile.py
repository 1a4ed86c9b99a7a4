"""A hostile or broken upstream: whatever it answers, the client raises an ``IotError``.

Deeply nested JSON, numbers JSON can spell but ints cannot hold, negative counts,
bodies far larger than any real page, and error fields too long to show.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otabot.config import Credentials
from otabot.iot.client import IotClient, RetryPolicy
from otabot.iot.errors import IotError, UpstreamUnavailableError
from otabot.iot.transport import MAX_RESPONSE_BYTES
from tests.iot.canned import CannedApi, Reply

ONE_ATTEMPT = RetryPolicy(max_attempts=1)
PAGE_HEAD = b'{"RequestId":"r","Success":true,"Data":{"SimpleOTAJobInfo":[]},'


@pytest.fixture
def api() -> Iterator[CannedApi]:
    server = CannedApi().start()
    yield server
    server.stop()


@pytest.fixture
def client(api: CannedApi) -> Iterator[IotClient]:
    made = IotClient(api.url, Credentials("id", "secret"), retry=ONE_ATTEMPT)
    yield made
    made.close()


def fetch(client: IotClient) -> object:
    return client.list_ota_jobs_by_device("a19mzPZabcd", "light1", "FJFx8JzpnhpIsKftRjjm030100")


def malformed(api: CannedApi, client: IotClient, body: bytes) -> UpstreamUnavailableError:
    api.queue(Reply(body=body))
    with pytest.raises(UpstreamUnavailableError) as caught:
        fetch(client)
    assert caught.value.code == "otabot.MalformedResponse"
    return caught.value


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"Data":' * 50_000])
def test_deeply_nested_json_is_a_malformed_response(
    api: CannedApi, client: IotClient, body: bytes
) -> None:
    malformed(api, client, body)


@pytest.mark.parametrize("number", [b"1e400", b"Infinity", b"-Infinity", b"NaN"])
@pytest.mark.parametrize("field", [b"Total", b"PageCount", b"PageSize", b"CurrentPage"])
def test_a_count_no_integer_can_hold_is_a_malformed_response(
    api: CannedApi, client: IotClient, field: bytes, number: bytes
) -> None:
    malformed(api, client, PAGE_HEAD + b'"' + field + b'":' + number + b"}")


@pytest.mark.parametrize("field", [b"Total", b"PageCount", b"PageSize", b"CurrentPage"])
def test_a_negative_count_is_a_malformed_response(
    api: CannedApi, client: IotClient, field: bytes
) -> None:
    malformed(api, client, PAGE_HEAD + b'"' + field + b'":-5}')


def test_a_body_larger_than_any_real_page_is_refused(api: CannedApi, client: IotClient) -> None:
    padding = b" " * (MAX_RESPONSE_BYTES + 1)
    error = malformed(api, client, PAGE_HEAD + b'"Total":0}' + padding)
    assert str(MAX_RESPONSE_BYTES) in str(error) or "larger" in str(error)


def test_a_declared_length_over_the_limit_is_refused_unread(
    api: CannedApi, client: IotClient
) -> None:
    api.queue(Reply(body=b"{}", declared_length=MAX_RESPONSE_BYTES + 1))
    with pytest.raises(UpstreamUnavailableError) as caught:
        fetch(client)
    assert caught.value.code == "otabot.MalformedResponse"


def test_error_fields_of_any_size_or_type_come_back_short_strings(
    api: CannedApi, client: IotClient
) -> None:
    api.queue(
        Reply(
            body={
                "RequestId": "R" * 100_000,
                "Success": False,
                "Code": {"nested": ["x"] * 1000},
                "ErrorMessage": "<!channel> " * 10_000,
            }
        )
    )
    with pytest.raises(IotError) as caught:
        fetch(client)
    error = caught.value
    assert len(error.request_id or "") <= 128 and len(error.code) <= 128
    assert len(error.message) <= 1000 and len(str(error)) <= 1500


def test_a_normal_page_still_reads_after_the_limits(api: CannedApi, client: IotClient) -> None:
    api.queue(Reply(body=PAGE_HEAD + b'"Total":0,"PageCount":0,"PageSize":100,"CurrentPage":1}'))
    assert fetch(client).total == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("header", ["inf", "nan", "-5", "1e400", "99999999"])
def test_a_retry_after_that_is_not_a_sane_number_is_ignored(
    api: CannedApi, client: IotClient, header: str
) -> None:
    api.queue(
        Reply(
            status=400,
            body={"RequestId": "r", "Code": "Throttling.User", "Message": "slow down"},
            headers={"Retry-After": header},
        )
    )
    with pytest.raises(IotError) as caught:
        fetch(client)
    assert getattr(caught.value, "retry_after", None) in (None, 0, 0.0)
