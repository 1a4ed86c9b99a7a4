"""The API over real HTTP with hand-signed requests: results, formats and every error code."""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import requests

from otabot.emulator.fleet import sample_fleet
from otabot.emulator.server import EmulatorServer
from otabot.iot.signing import v1_string_to_sign
from tests.emulator.signed import call_v1, call_v3, list_jobs, v1_params, v3_headers
from tests.helpers import METER_FIRMWARE_ID, SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET
from tests.helpers import frozen_emulator as frozen

GATEWAY_FIELDS = {"RequestId", "HostId", "Code", "Message", "Recommend"}


def gateway_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == GATEWAY_FIELDS
    assert body["Code"] == code
    return body


def business_error(response: requests.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"RequestId", "Success", "Code", "ErrorMessage"}
    assert (body["Success"], body["Code"]) == (False, code)
    return body


# Success, paging and formats.


def test_v1_post_returns_a_json_page(emulator: EmulatorServer) -> None:
    response = call_v1(emulator.url, v1_params(list_jobs(PageSize="5", CurrentPage="2")))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["Success"] is True
    assert (body["Total"], body["PageCount"], body["PageSize"], body["CurrentPage"]) == (
        14,
        3,
        5,
        2,
    )
    assert len(body["Data"]["SimpleOTAJobInfo"]) == 5
    assert body["RequestId"] == body["RequestId"].upper()
    assert uuid.UUID(body["RequestId"])


def test_v1_get_is_accepted(emulator: EmulatorServer) -> None:
    params = v1_params(list_jobs(), method="GET")
    assert call_v1(emulator.url, params, method="GET").json()["Total"] == 14


def test_v1_parameters_in_a_form_body_are_accepted(emulator: EmulatorServer) -> None:
    response = call_v1(emulator.url, v1_params(list_jobs()), in_body=True)
    assert response.json()["Total"] == 14


def test_what_the_official_sdks_send_is_accepted(emulator: EmulatorServer) -> None:
    """Format=json in lower case, no RegionId, an empty SignatureType, an STS token."""
    params = v1_params(
        list_jobs(), fmt="json", extra={"SignatureType": "", "SecurityToken": "CAIS+tok/en=="}
    )
    assert "RegionId" not in params
    assert call_v1(emulator.url, params).json()["Success"] is True


def test_without_format_the_answer_is_xml(emulator: EmulatorServer) -> None:
    response = call_v1(emulator.url, v1_params(list_jobs(PageSize="100"), fmt=None))
    assert response.headers["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "ListOTAJobByDeviceResponse"
    assert root.findtext("Success") == "true"
    assert root.findtext("Total") == "14"
    jobs = root.findall("Data/SimpleOTAJobInfo")
    assert len(jobs) == 14
    tags = [tag for job in jobs for tag in job.findall("Tags/OtaTagDTO")]
    assert any(tag.findtext("Value", "").startswith("<!channel>") for tag in tags)


def test_format_is_case_insensitive(emulator: EmulatorServer) -> None:
    response = call_v1(emulator.url, v1_params(list_jobs(), fmt="xml"))
    assert ElementTree.fromstring(response.content).findtext("Total") == "14"


def test_v3_post_returns_json(emulator: EmulatorServer) -> None:
    query = list_jobs(PageSize="5", CurrentPage="3")
    response = call_v3(emulator.url, query, v3_headers(emulator.url, query))
    body = response.json()
    assert (body["Total"], len(body["Data"]["SimpleOTAJobInfo"])) == (14, 4)


def test_v3_with_form_body_and_security_token(emulator: EmulatorServer) -> None:
    body = "&".join(f"{k}={v}" for k, v in list_jobs().items()).encode()
    headers = v3_headers(
        emulator.url,
        {},
        body=body,
        extra={
            "content-type": "application/x-www-form-urlencoded",
            "x-acs-security-token": "CAIS+tok/en==",
        },
    )
    assert call_v3(emulator.url, {}, headers, body=body).json()["Total"] == 14


def test_v3_signing_extra_headers_like_the_tea_sdk_is_accepted(emulator: EmulatorServer) -> None:
    query = list_jobs()
    headers = v3_headers(
        emulator.url, query, extra={"accept": "application/json", "user-agent": "tea"}
    )
    assert call_v3(emulator.url, query, headers).json()["Success"] is True


def test_v3_asks_for_xml_through_accept(emulator: EmulatorServer) -> None:
    query = list_jobs()
    headers = v3_headers(emulator.url, query, extra={"accept": "application/xml"})
    response = call_v3(emulator.url, query, headers)
    assert ElementTree.fromstring(response.content).findtext("Total") == "14"


def test_a_page_past_the_end_is_an_empty_list(emulator: EmulatorServer) -> None:
    body = call_v1(emulator.url, v1_params(list_jobs(CurrentPage="5", PageSize="5"))).json()
    assert body["Data"] == {"SimpleOTAJobInfo": []}


# Gateway errors.


@pytest.mark.parametrize(
    "missing", ["ProductKey", "DeviceName", "FirmwareId", "CurrentPage", "PageSize"]
)
def test_missing_business_parameter(emulator: EmulatorServer, missing: str) -> None:
    params = list_jobs()
    del params[missing]
    body = gateway_error(call_v1(emulator.url, v1_params(params)), 400, f"Missing{missing}")
    assert body["Message"] == f"{missing} is mandatory for this action."
    assert body["Recommend"].startswith("https://")


@pytest.mark.parametrize(
    "missing", ["Action", "Version", "AccessKeyId", "Signature", "SignatureNonce", "Timestamp"]
)
def test_missing_common_parameter(emulator: EmulatorServer, missing: str) -> None:
    params = v1_params(list_jobs(), drop=(missing,))
    gateway_error(call_v1(emulator.url, params), 400, f"Missing{missing}")


def test_wrong_secret_gives_the_servers_string_to_sign(emulator: EmulatorServer) -> None:
    params = v1_params(list_jobs(), secret="wrongsecret")
    body = gateway_error(call_v1(emulator.url, params), 400, "SignatureDoesNotMatch")
    assert body["Message"].startswith("Specified signature is not matched with our calculation.")
    assert body["Message"].endswith(f"server string to sign is:{v1_string_to_sign('POST', params)}")
    assert "wrongsecret" not in body["Message"] and SAMPLE_ACCESS_KEY_SECRET not in body["Message"]


def test_a_signature_for_another_method_does_not_match(emulator: EmulatorServer) -> None:
    params = v1_params(list_jobs(), method="GET")
    gateway_error(call_v1(emulator.url, params, method="POST"), 400, "SignatureDoesNotMatch")


def test_a_tampered_parameter_does_not_match(emulator: EmulatorServer) -> None:
    params = v1_params(list_jobs())
    params["DeviceName"] = "light2"
    gateway_error(call_v1(emulator.url, params), 400, "SignatureDoesNotMatch")


def test_unknown_access_key(emulator: EmulatorServer) -> None:
    body = gateway_error(
        call_v1(emulator.url, v1_params(list_jobs(), key_id="nosuchkey")),
        404,
        "InvalidAccessKeyId.NotFound",
    )
    assert body["Message"] == "Specified access key is not found."


def test_reused_nonce(emulator: EmulatorServer) -> None:
    first = v1_params(list_jobs(), nonce="fixed-nonce-1")
    second = v1_params(list_jobs(PageSize="5"), nonce="fixed-nonce-1")
    assert call_v1(emulator.url, first).status_code == 200
    gateway_error(call_v1(emulator.url, second), 400, "SignatureNonceUsed")


def test_expired_timestamp(emulator: EmulatorServer) -> None:
    params = v1_params(list_jobs(), now=time.time() - 16 * 60)
    gateway_error(call_v1(emulator.url, params), 400, "InvalidTimeStamp.Expired")


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"Timestamp": "2026-01-01 00:00"}, "InvalidTimeStamp.Format"),
        ({"SignatureMethod": "HMAC-SHA256"}, "IncompleteSignature"),
        ({"Action": "DeleteEverything"}, "InvalidAction.NotFound"),
        ({"Version": "2017-04-20"}, "InvalidVersion"),
    ],
    ids=["malformed-timestamp", "unsupported-signature-method", "unknown-action", "wrong-version"],
)
def test_a_malformed_common_parameter_is_a_gateway_400(
    emulator: EmulatorServer, extra: dict[str, str], code: str
) -> None:
    params = v1_params(list_jobs(), extra=extra)
    gateway_error(call_v1(emulator.url, params), 400, code)


def test_errors_come_in_xml_when_format_is_xml(emulator: EmulatorServer) -> None:
    response = call_v1(emulator.url, v1_params(list_jobs(), key_id="nosuchkey", fmt="XML"))
    assert response.status_code == 404
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Error"
    assert {child.tag for child in root} == GATEWAY_FIELDS
    assert root.findtext("Code") == "InvalidAccessKeyId.NotFound"


def test_v3_wrong_secret(emulator: EmulatorServer) -> None:
    query = list_jobs()
    response = call_v3(emulator.url, query, v3_headers(emulator.url, query, secret="nope"))
    body = gateway_error(response, 400, "SignatureDoesNotMatch")
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in body["Message"]


def test_v3_recomputes_over_exactly_the_signed_headers(emulator: EmulatorServer) -> None:
    query = list_jobs()
    headers = v3_headers(emulator.url, query, extra={"user-agent": "signed-agent"})
    headers["user-agent"] = "changed-on-the-way"
    gateway_error(call_v3(emulator.url, query, headers), 400, "SignatureDoesNotMatch")


def test_v3_unsigned_extra_header_is_ignored(emulator: EmulatorServer) -> None:
    query = list_jobs()
    headers = v3_headers(emulator.url, query)
    headers["user-agent"] = "not-signed"
    assert call_v3(emulator.url, query, headers).status_code == 200


def test_v3_body_hash_must_match_the_body(emulator: EmulatorServer) -> None:
    query = list_jobs()
    headers = v3_headers(emulator.url, query)
    response = call_v3(emulator.url, query, headers, body=b"smuggled=1")
    gateway_error(response, 400, "SignatureDoesNotMatch")


def test_v3_leaving_a_common_header_unsigned_is_incomplete(emulator: EmulatorServer) -> None:
    query = list_jobs()
    headers = v3_headers(
        emulator.url, query, signed=("host", "x-acs-action", "x-acs-version", "x-acs-date")
    )
    gateway_error(call_v3(emulator.url, query, headers), 400, "IncompleteSignature")


def test_v3_garbled_authorization_is_incomplete(emulator: EmulatorServer) -> None:
    query = list_jobs()
    headers = v3_headers(emulator.url, query)
    headers["Authorization"] = f"ACS3-HMAC-SHA256 Credential={SAMPLE_ACCESS_KEY_ID}"
    gateway_error(call_v3(emulator.url, query, headers), 400, "IncompleteSignature")


def test_v3_reused_nonce_and_unknown_key(emulator: EmulatorServer) -> None:
    query = list_jobs()
    assert call_v3(emulator.url, query, v3_headers(emulator.url, query, nonce="n-3")).ok
    reused = call_v3(emulator.url, query, v3_headers(emulator.url, query, nonce="n-3"))
    gateway_error(reused, 400, "SignatureNonceUsed")
    unknown = call_v3(emulator.url, query, v3_headers(emulator.url, query, key_id="who"))
    gateway_error(unknown, 404, "InvalidAccessKeyId.NotFound")


def test_v3_expired_date(emulator: EmulatorServer) -> None:
    query = list_jobs()
    headers = v3_headers(emulator.url, query, now=time.time() + 20 * 60)
    gateway_error(call_v3(emulator.url, query, headers), 400, "InvalidTimeStamp.Expired")


@pytest.fixture
def frozen_server() -> Iterator[EmulatorServer]:
    """An emulator whose clock stands still: every call falls in the same second."""
    with frozen(qps=3) as server:
        yield server


def test_throttling_past_qps_calls_in_one_second(frozen_server: EmulatorServer) -> None:
    codes = [
        call_v1(frozen_server.url, v1_params(list_jobs())).json().get("Code") for _ in range(5)
    ]
    assert codes == [None, None, None, "Throttling.User", "Throttling.User"]
    stats = frozen_server.stats()
    assert (stats["throttled"], stats["max_calls_in_any_second"]) == (2, 5)


def test_throttling_is_a_gateway_400(frozen_server: EmulatorServer) -> None:
    for _ in range(3):
        call_v1(frozen_server.url, v1_params(list_jobs()))
    response = call_v1(frozen_server.url, v1_params(list_jobs()))
    body = gateway_error(response, 400, "Throttling.User")
    assert body["Message"] == "Request was denied due to user flow control."


def test_failed_signatures_do_not_use_the_quota(frozen_server: EmulatorServer) -> None:
    for _ in range(5):
        call_v1(frozen_server.url, v1_params(list_jobs(), secret="wrong"))
    assert call_v1(frozen_server.url, v1_params(list_jobs())).status_code == 200


# IoT business errors (HTTP 200, Success false).


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"ProductKey": "a1NoSuchPrd"}, "iot.prod.NotExistedProduct"),
        ({"DeviceName": "light404"}, "iot.device.NotExistedDevice"),
        ({"FirmwareId": "FWnosuchfirmware"}, "iot.firmware.FirmwareNotFound"),
        ({"FirmwareId": METER_FIRMWARE_ID}, "iot.ota.FirmwareAndProductKeyMismatch"),
        ({"PageSize": "500"}, "iot.common.InvalidPageParams"),
        ({"CurrentPage": "first"}, "iot.common.InvalidPageParams"),
        ({"IotInstanceId": "iot-cn-nosuch"}, "iot.system.InstanceNotFound"),
    ],
)
def test_business_errors(emulator: EmulatorServer, overrides: dict[str, str], code: str) -> None:
    response = call_v1(emulator.url, v1_params(list_jobs(**overrides)))
    assert business_error(response, code)["ErrorMessage"]


def test_business_error_in_xml(emulator: EmulatorServer) -> None:
    response = call_v1(emulator.url, v1_params(list_jobs(DeviceName="light404"), fmt=None))
    root = ElementTree.fromstring(response.content)
    assert (root.findtext("Success"), root.findtext("Code")) == (
        "false",
        "iot.device.NotExistedDevice",
    )


def test_an_instance_fleet_needs_the_instance_id(emulator: EmulatorServer) -> None:
    emulator.set_fleet(replace(sample_fleet(), iot_instance_id="iot-cn-0pp1n8t4abc"))
    business_error(call_v1(emulator.url, v1_params(list_jobs())), "iot.system.InstanceNotFound")
    ok = call_v1(emulator.url, v1_params(list_jobs(IotInstanceId="iot-cn-0pp1n8t4abc")))
    assert ok.json()["Total"] == 14


def test_a_pooled_session_makes_several_calls(emulator: EmulatorServer) -> None:
    with requests.Session() as session:
        for _ in range(3):
            response = call_v1(emulator.url, v1_params(list_jobs()), session=session)
            assert response.status_code == 200
            assert int(response.headers["Content-Length"]) == len(response.content)
    assert emulator.stats()["calls"] == 3
