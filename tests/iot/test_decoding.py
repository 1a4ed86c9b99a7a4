"""decode: an answer's bytes, status and headers to the typed result or the typed error.

Both error shapes of the API, bodies that are not its JSON, and hostile ones: JSON nested
deeper than Python parses, numbers no integer can hold, negative counts, error fields of
any size or type, a Retry-After that is not a sane number of seconds.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from otabot.iot.decoding import Answer, decode
from otabot.iot.errors import (
    AccessKeyError,
    DeviceNotFoundError,
    IotError,
    SignatureError,
    ThrottledError,
    UpstreamUnavailableError,
)
from otabot.iot.models import OtaJob, Page

ACTION = "ListOTAJobByDevice"
PAGE_HEAD = b'{"RequestId":"r","Success":true,"Data":{"SimpleOTAJobInfo":[]},'
JSON = {"Content-Type": "application/json;charset=utf-8"}


def answer(body: bytes | dict[str, Any], status: int = 200, **headers: str) -> Answer:
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    return Answer(status=status, headers={**JSON, **headers}, content=content)


def jobs(body: dict[str, Any]) -> Page[OtaJob]:
    return Page.from_api(
        body,
        OtaJob.from_api,
        container="Data",
        wrapper="SimpleOTAJobInfo",
        current_page=1,
        page_size=100,
    )


def error_of(reply: Answer) -> IotError:
    with pytest.raises(IotError) as caught:
        decode(ACTION, reply, jobs)
    return caught.value


def malformed(body: bytes, status: int = 200) -> UpstreamUnavailableError:
    error = error_of(answer(body, status))
    assert isinstance(error, UpstreamUnavailableError)
    assert error.code == "otabot.MalformedResponse"
    return error


def test_counts_as_whole_floats_or_numeric_strings_are_read() -> None:
    body = PAGE_HEAD + b'"Total":"12","PageCount":3.0,"PageSize":5,"CurrentPage":"2"}'
    result = decode(ACTION, answer(body), jobs)
    assert (result.total, result.page_count, result.page_size, result.current_page) == (
        12,
        3,
        5,
        2,
    )


def test_a_successful_answer_is_parsed() -> None:
    body = PAGE_HEAD + b'"Total":0,"PageCount":0,"PageSize":100,"CurrentPage":1}'
    result = decode(ACTION, answer(body), jobs)
    assert (result.items, result.total, result.request_id) == ((), 0, "r")


def test_a_gateway_error_becomes_its_typed_error_with_code_request_id_and_status() -> None:
    error = error_of(
        answer(
            {
                "RequestId": "req-1",
                "HostId": "iot.cn-shanghai.aliyuncs.com",
                "Code": "SignatureDoesNotMatch",
                "Message": "Specified signature is not matched with our calculation. server "
                "string to sign is:POST&%2F&AccessKeyId%3Dtestid",
                "Recommend": "https://api.aliyun.com/troubleshoot",
            },
            400,
        )
    )
    assert isinstance(error, SignatureError)
    assert (error.code, error.request_id, error.http_status) == (
        "SignatureDoesNotMatch",
        "req-1",
        400,
    )
    assert error.message == "Specified signature is not matched with our calculation."
    assert "string to sign" not in str(error) and "string to sign" not in repr(error)


def test_an_unknown_access_key_is_an_access_key_error() -> None:
    body = {"RequestId": "r", "Code": "InvalidAccessKeyId.NotFound", "Message": "not found"}
    error = error_of(answer(body, 404))
    assert isinstance(error, AccessKeyError) and error.http_status == 404


def test_an_iot_business_error_with_http_200_becomes_its_typed_error() -> None:
    body = {
        "RequestId": "req-2",
        "Success": False,
        "Code": "iot.device.NotExistedDevice",
        "ErrorMessage": "The device does not exist.",
    }
    error = error_of(answer(body))
    assert isinstance(error, DeviceNotFoundError)
    assert (error.code, error.message, error.request_id, error.http_status) == (
        "iot.device.NotExistedDevice",
        "The device does not exist.",
        "req-2",
        200,
    )


def test_success_false_as_a_string_is_an_error_too() -> None:
    body = {"RequestId": "r", "Success": "false", "Code": "iot.device.NotExistedDevice"}
    assert isinstance(error_of(answer(body)), DeviceNotFoundError)


def test_an_error_without_a_code_says_so_with_its_status() -> None:
    error = error_of(answer({"RequestId": "r"}, 502))
    assert isinstance(error, UpstreamUnavailableError)
    assert "HTTP 502" in error.message


def test_the_request_id_header_stands_in_for_a_missing_field() -> None:
    body = {"Code": "ServiceUnavailable", "Message": "down"}
    error = error_of(answer(body, 503, **{"x-acs-request-id": "from-header"}))
    assert error.request_id == "from-header"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"<html><body>Bad Gateway</body></html>", 502),
        (b"<html>maintenance</html>", 200),
        (b'{"RequestId": "r", "Success": true, "Data": {"Simple', 200),
        (b"[1, 2, 3]", 200),
        (b"", 200),
    ],
    ids=["html-502", "html-200", "truncated-json", "json-not-object", "empty"],
)
def test_a_body_that_is_not_the_apis_json_is_upstream_unavailable(body: bytes, status: int) -> None:
    error = malformed(body, status)
    assert error.http_status == status and error.retryable


def test_an_answer_shaped_unlike_the_documentation_is_not_retryable() -> None:
    error = malformed(b'{"RequestId": "r", "Success": true, "Data": 42}')
    assert not error.retryable
    assert ACTION in error.message
    assert isinstance(error.__cause__, ValueError)


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"Data":' * 50_000])
def test_deeply_nested_json_is_a_malformed_response(body: bytes) -> None:
    malformed(body)


@pytest.mark.parametrize("number", [b"1e400", b"Infinity", b"-Infinity", b"NaN", b"2.5", b'"2.5"'])
@pytest.mark.parametrize("field", [b"Total", b"PageCount", b"PageSize", b"CurrentPage"])
def test_a_count_that_is_no_whole_number_is_a_malformed_response(
    field: bytes, number: bytes
) -> None:
    malformed(PAGE_HEAD + b'"' + field + b'":' + number + b"}")


@pytest.mark.parametrize("field", [b"Total", b"PageCount", b"PageSize", b"CurrentPage"])
def test_a_negative_count_is_a_malformed_response(field: bytes) -> None:
    malformed(PAGE_HEAD + b'"' + field + b'":-5}')


def test_error_fields_of_any_size_or_type_come_back_short_strings() -> None:
    error = error_of(
        answer(
            {
                "RequestId": "R" * 100_000,
                "Success": False,
                "Code": {"nested": ["x"] * 1000},
                "ErrorMessage": "<!channel> " * 10_000,
            }
        )
    )
    assert len(error.request_id or "") <= 128 and len(error.code) <= 128
    assert len(error.message) <= 1000 and len(str(error)) <= 1500


def test_a_retry_after_of_the_api_is_kept_on_a_throttled_error() -> None:
    body = {"RequestId": "r", "Code": "Throttling", "Message": "slow down"}
    error = error_of(answer(body, 400, **{"Retry-After": "3"}))
    assert isinstance(error, ThrottledError) and error.retry_after == 3.0


@pytest.mark.parametrize("header", ["inf", "nan", "-5", "1e400", "99999999", "soon"])
def test_a_retry_after_that_is_not_a_sane_number_is_ignored(header: str) -> None:
    body = {"RequestId": "r", "Code": "Throttling.User", "Message": "slow down"}
    error = error_of(answer(body, 400, **{"Retry-After": header}))
    assert isinstance(error, ThrottledError) and error.retry_after is None
