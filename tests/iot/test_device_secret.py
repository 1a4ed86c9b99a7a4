"""A device's ``DeviceSecret`` is dropped where QueryDeviceDetail's answer is parsed: no
object otabot holds — result, its API form, an error, a log line — ever carries it."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest

from otabot.iot.client import RetryPolicy
from otabot.iot.decoding import Answer, decode
from otabot.iot.errors import IotError, UpstreamUnavailableError
from otabot.iot.models import DeviceDetail, data_object
from tests.helpers import LIGHT_PRODUCT_KEY
from tests.iot.answers import DEVICE, DEVICE_SECRET, device_detail, success
from tests.iot.canned import CannedApi, Reply
from tests.iot.fakes import MakeClient, held_by


def test_the_device_detail_never_holds_the_secret(api: CannedApi, make_client: MakeClient) -> None:
    api.queue(Reply(body=success(Data=device_detail())))
    detail = make_client().query_device_detail(LIGHT_PRODUCT_KEY, DEVICE)
    assert detail.device_name == DEVICE
    for form in (repr(detail), str(detail), repr(vars(detail)), repr(detail.to_api())):
        assert DEVICE_SECRET not in form
    assert "DeviceSecret" not in detail.to_api()
    assert DEVICE_SECRET.encode() not in pickle.dumps(detail)


def test_the_secret_is_gone_before_the_answer_is_parsed() -> None:
    seen: list[dict[str, Any]] = []

    def parse(body: dict[str, Any]) -> DeviceDetail:
        seen.append(body)
        return DeviceDetail.from_api(data_object(body))

    content = (
        b'{"RequestId":"r","Success":true,"Data":'
        b'{"DeviceName":"light1","DeviceSecret":"' + DEVICE_SECRET.encode() + b'",'
        b'"Extra":{"DeviceSecret":"' + DEVICE_SECRET.encode() + b'"}}}'
    )
    decode("QueryDeviceDetail", Answer(200, {}, content), parse)
    assert DEVICE_SECRET not in repr(seen)


@pytest.mark.parametrize(
    "broken",
    [{"NodeType": {"kind": "gateway"}}, {"UtcOnline": "yesterday"}, {"Nickname": ["a", "b"]}],
    ids=["node-type", "time", "nickname"],
)
def test_an_error_about_the_rest_of_the_body_does_not_carry_the_secret(
    api: CannedApi, make_client: MakeClient, broken: dict[str, Any]
) -> None:
    api.queue(Reply(body=success(Data=device_detail(**broken))))
    with pytest.raises(UpstreamUnavailableError) as caught:
        make_client(retry=RetryPolicy(max_attempts=1)).query_device_detail(
            LIGHT_PRODUCT_KEY, DEVICE
        )
    assert caught.value.code == "otabot.MalformedResponse"
    assert DEVICE_SECRET not in held_by(caught.value)


def test_an_api_error_does_not_carry_the_secret(api: CannedApi, make_client: MakeClient) -> None:
    body = {"RequestId": "r", "Success": False, "Code": "iot.device.NotExistedDevice"}
    api.queue(Reply(body={**body, "Data": device_detail()}))
    with pytest.raises(IotError) as caught:
        make_client().query_device_detail(LIGHT_PRODUCT_KEY, DEVICE)
    assert DEVICE_SECRET not in held_by(caught.value)


def test_no_log_line_of_a_call_carries_the_secret(
    api: CannedApi, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    api.queue(Reply(body=success(Data=device_detail())))
    make_client().query_device_detail(LIGHT_PRODUCT_KEY, DEVICE)
    assert "QueryDeviceDetail attempt 1: HTTP 200" in caplog.text
    assert "POST /?" in caplog.text  # urllib3's request line was captured too
    assert DEVICE_SECRET not in caplog.text
