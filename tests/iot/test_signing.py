"""Signing against the vectors computed with the official SDKs' signers (docs/iot-api.md), and
the auth objects around it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from otabot.config import Credentials
from otabot.iot.signing import (
    SignatureV1,
    SignatureV3,
    canonical_query,
    percent_encode,
    v1_signature,
    v1_string_to_sign,
    v3_canonical_request,
    v3_signature,
)
from otabot.iot.times import request_timestamp
from tests.helpers import SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET, SHOWCASE_FIRMWARE_ID

# SHA-256 of no bytes: the body hash of a request without a body.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

STS_TOKEN = "CAIS+tok/en=="
NONCE = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
TIMESTAMP = "2024-01-01T12:00:00Z"
FIXED_NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
HOST = "iot.cn-shanghai.aliyuncs.com"

BUSINESS = {
    "ProductKey": "a1BwAGV2Xyz",
    "DeviceName": "sensor_01-a@b.c:d",
    "FirmwareId": SHOWCASE_FIRMWARE_ID,
    "CurrentPage": "1",
    "PageSize": "10",
}
V1_PARAMS = {
    "AccessKeyId": SAMPLE_ACCESS_KEY_ID,
    "Action": "ListOTAJobByDevice",
    "Version": "2018-01-20",
    "Format": "JSON",
    "RegionId": "cn-shanghai",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureVersion": "1.0",
    "SignatureNonce": NONCE,
    "Timestamp": TIMESTAMP,
    **BUSINESS,
}
V1_POST_SIGNATURE = "/X5g12wFcYF35hJJqRjeQfnjg+Y="
V1_GET_SIGNATURE = "TyHC0fJDFB3+6DMD+ZyN6cconik="
V1_STS_SIGNATURE = "s+PTaq3mELlTmBRQP3NpcepfYNU="
V1_POST_STRING_TO_SIGN = (
    "POST&%2F&AccessKeyId%3Dtestid%26Action%3DListOTAJobByDevice%26CurrentPage%3D1"
    "%26DeviceName%3Dsensor_01-a%2540b.c%253Ad%26FirmwareId%3DFJFx8JzpnhpIsKftRjjm030100"
    "%26Format%3DJSON%26PageSize%3D10%26ProductKey%3Da1BwAGV2Xyz%26RegionId%3Dcn-shanghai"
    "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
    "%26SignatureVersion%3D1.0%26Timestamp%3D2024-01-01T12%253A00%253A00Z"
    "%26Version%3D2018-01-20"
)
V3_HEADERS = {
    "host": HOST,
    "x-acs-action": "ListOTAJobByDevice",
    "x-acs-version": "2018-01-20",
    "x-acs-date": TIMESTAMP,
    "x-acs-signature-nonce": NONCE,
    "x-acs-content-sha256": EMPTY_SHA256,
}
V3_SIGNATURE = "0f5a46580ff616b278df9dcc2d9f377b61611b530ba052ac704f396c79779081"
V3_STS_SIGNATURE = "941af22bf91cc8d1db32bef25201f4ea92422d0a782d557ad1f66cae41f6a797"
V3_SIGNED_HEADERS = (
    "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
)


def _query(request: requests.PreparedRequest) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url or "").query, keep_blank_values=True))


def _prepared(params: dict[str, str], method: str = "POST") -> requests.PreparedRequest:
    return requests.Request(method, f"https://{HOST}/", params=params).prepare()


def _fixed_nonce() -> str:
    return NONCE


def fixed(signer: Any, token: str | None = None, **options: Any) -> Any:
    """``signer`` (SignatureV1 or SignatureV3) for the sample AccessKey (with STS ``token``),
    signing at FIXED_NOW with the fixed nonce."""
    credentials = Credentials(SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET, token)
    return signer(credentials, wall_clock=lambda: FIXED_NOW, nonce=_fixed_nonce, **options)


# --- percent_encode ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a b", "a%20b"),
        ("a*b", "a%2Ab"),
        ("a~b", "a~b"),
        ("A-Z_a.z0~9", "A-Z_a.z0~9"),
        ("a+b", "a%2Bb"),
        ("a/b", "a%2Fb"),
        ("a=b&c", "a%3Db%26c"),
        ("sensor@x:y", "sensor%40x%3Ay"),
        ("é", "%C3%A9"),
        ("灯", "%E7%81%AF"),
        ("", ""),
    ],
)
def test_percent_encode_follows_rfc3986(raw: str, encoded: str) -> None:
    assert percent_encode(raw) == encoded


def test_canonical_query_sorts_by_encoded_name_in_byte_order() -> None:
    assert canonical_query({"b": "2", "B": "1", "a": "x y"}) == "B=1&a=x%20y&b=2"


# --- V1 vectors -------------------------------------------------------------------------


def test_v1_post_string_to_sign_matches_reference() -> None:
    assert v1_string_to_sign("POST", V1_PARAMS) == V1_POST_STRING_TO_SIGN


def test_v1_post_signature_matches_reference() -> None:
    assert v1_signature("POST", V1_PARAMS, SAMPLE_ACCESS_KEY_SECRET) == V1_POST_SIGNATURE


def test_v1_get_signature_matches_reference() -> None:
    assert v1_signature("GET", V1_PARAMS, SAMPLE_ACCESS_KEY_SECRET) == V1_GET_SIGNATURE


def test_v1_sts_signature_matches_reference() -> None:
    params = {**V1_PARAMS, "SecurityToken": STS_TOKEN}
    assert v1_signature("POST", params, SAMPLE_ACCESS_KEY_SECRET) == V1_STS_SIGNATURE


def test_v1_signature_ignores_an_existing_signature_parameter() -> None:
    params = {**V1_PARAMS, "Signature": "anything"}
    assert v1_signature("POST", params, SAMPLE_ACCESS_KEY_SECRET) == V1_POST_SIGNATURE


def test_v1_documentation_pub_example_matches_reference() -> None:
    params = {
        "Action": "Pub",
        "AccessKeyId": SAMPLE_ACCESS_KEY_ID,
        "Format": "XML",
        "Version": "2017-04-20",
        "RegionId": "cn-shanghai",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": "0715a395-aedf-4a41-bab7-746b43d38d88",
        "Timestamp": "2017-10-02T09:39:41Z",
        "ProductKey": "12345abcdeZ",
        "Qos": "0",
        "ServiceCode": "iot",
        "MessageContent": "aGVsbG93b3JsZA=",
        "TopicFullName": "/productKey/testdevice/get",
    }
    assert v1_signature("GET", params, SAMPLE_ACCESS_KEY_SECRET) == "Y9eWn4nF8QPh3c4zAFkM/k/u7eA="


# --- V3 vectors -------------------------------------------------------------------------


def test_v3_plain_signature_matches_reference() -> None:
    canonical = v3_canonical_request("POST", "/", BUSINESS, V3_HEADERS, list(V3_HEADERS), b"")
    assert v3_signature(canonical, SAMPLE_ACCESS_KEY_SECRET) == V3_SIGNATURE


def test_v3_sts_signature_matches_reference() -> None:
    headers = {**V3_HEADERS, "x-acs-security-token": STS_TOKEN}
    canonical = v3_canonical_request("POST", "/", BUSINESS, headers, list(headers), b"")
    assert v3_signature(canonical, SAMPLE_ACCESS_KEY_SECRET) == V3_STS_SIGNATURE


def test_v3_canonical_request_covers_only_the_signed_headers() -> None:
    headers = {**V3_HEADERS, "user-agent": "not signed", "Accept": "*/*"}
    canonical = v3_canonical_request("POST", "/", BUSINESS, headers, list(V3_HEADERS), b"")
    assert "user-agent" not in canonical
    assert v3_signature(canonical, SAMPLE_ACCESS_KEY_SECRET) == V3_SIGNATURE


def test_v3_canonical_request_lowercases_sorts_and_trims_headers() -> None:
    canonical = v3_canonical_request(
        "post", "/", {}, {"X-B": "  two ", "x-a": "one"}, ["X-B", "x-a"], b""
    )
    expected = ["POST", "/", "", "x-a:one", "x-b:two", "", "x-a;x-b", EMPTY_SHA256]
    assert canonical.split("\n") == expected


def test_request_timestamp_has_the_api_format() -> None:
    assert request_timestamp(FIXED_NOW) == TIMESTAMP


# --- the auth objects -------------------------------------------------------------------


def test_signature_v1_auth_signs_a_post_like_the_reference() -> None:
    auth = fixed(SignatureV1)
    params = dict(V1_BUSINESS)
    signed = auth(_prepared(params))
    assert _query(signed) == {**V1_PARAMS, "Signature": V1_POST_SIGNATURE}


def test_signature_v1_auth_signs_the_method_used() -> None:
    auth = fixed(SignatureV1)
    params = dict(V1_BUSINESS)
    assert _query(auth(_prepared(params, "GET")))["Signature"] == V1_GET_SIGNATURE


def test_signature_v1_auth_signs_the_sts_token_in() -> None:
    auth = fixed(SignatureV1, STS_TOKEN)
    params = dict(V1_BUSINESS)
    query = _query(auth(_prepared(params)))
    assert query["SecurityToken"] == STS_TOKEN
    assert query["Signature"] == V1_STS_SIGNATURE


def test_signature_v1_auth_leaves_the_body_empty() -> None:
    auth = fixed(SignatureV1)
    assert auth(_prepared(dict(BUSINESS))).body is None


def test_signature_v3_auth_sets_the_reference_authorization_header() -> None:
    auth = fixed(SignatureV3)
    signed = auth(_prepared({"Action": "ListOTAJobByDevice", **BUSINESS}))
    assert signed.headers["Authorization"] == (
        f"ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={V3_SIGNED_HEADERS},"
        f"Signature={V3_SIGNATURE}"
    )
    assert _query(signed) == BUSINESS
    for name, value in V3_HEADERS.items():
        assert signed.headers[name] == value


def test_signature_v3_authorization_names_exactly_the_headers_it_signed() -> None:
    auth = fixed(SignatureV3)
    signed = auth(_prepared({"Action": "ListOTAJobByDevice", **BUSINESS}))
    authorization = signed.headers["Authorization"]
    named = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    assert "user-agent" not in named
    assert set(named) == {name for name in V3_HEADERS}
    assert all(name in signed.headers for name in named)


def test_signature_v3_auth_signs_the_sts_token_in() -> None:
    auth = fixed(SignatureV3, STS_TOKEN)
    signed = auth(_prepared({"Action": "ListOTAJobByDevice", **BUSINESS}))
    assert signed.headers["x-acs-security-token"] == STS_TOKEN
    assert signed.headers["Authorization"].endswith(
        f",SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;"
        f"x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature={V3_STS_SIGNATURE}"
    )


def test_signature_v3_takes_the_action_from_the_constructor_when_the_query_has_none() -> None:
    auth = fixed(SignatureV3, action="ListOTAJobByDevice")
    signed = auth(_prepared(dict(BUSINESS)))
    assert signed.headers["Authorization"].endswith(f"Signature={V3_SIGNATURE}")


@pytest.mark.parametrize("signer", [SignatureV1, SignatureV3])
def test_each_signing_uses_a_fresh_nonce_and_the_current_time(
    signer: type[SignatureV1] | type[SignatureV3],
) -> None:
    counter = itertools.count()
    times = iter([FIXED_NOW, FIXED_NOW + 61])
    auth = signer(
        Credentials(SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET),
        wall_clock=lambda: next(times),
        nonce=lambda: f"nonce-{next(counter)}",
    )
    first = auth(_prepared({"Action": "ListOTAJobByDevice", **BUSINESS}))
    second = auth(_prepared({"Action": "ListOTAJobByDevice", **BUSINESS}))
    stamps = [_stamp(first), _stamp(second)]
    assert stamps == [
        ("nonce-0", TIMESTAMP),
        ("nonce-1", "2024-01-01T12:01:01Z"),
    ]


def test_default_nonces_never_repeat() -> None:
    auth = SignatureV1(Credentials(SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET))
    nonces = {_query(auth(_prepared(dict(BUSINESS))))["SignatureNonce"] for _ in range(50)}
    assert len(nonces) == 50


@pytest.mark.parametrize("signer", [SignatureV1, SignatureV3])
def test_signer_repr_names_the_key_id_but_no_secret(
    signer: type[SignatureV1] | type[SignatureV3],
) -> None:
    text = repr(signer(Credentials(SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET, STS_TOKEN)))
    assert SAMPLE_ACCESS_KEY_ID in text
    assert SAMPLE_ACCESS_KEY_SECRET not in text
    assert STS_TOKEN not in text


_V1_COMMON = {
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
}
# What the client passes to the auth: the parameters but the common ones it adds.
V1_BUSINESS = {k: v for k, v in V1_PARAMS.items() if k not in _V1_COMMON}


def _stamp(request: requests.PreparedRequest) -> tuple[str, str]:
    if "Authorization" in request.headers:
        return request.headers["x-acs-signature-nonce"], request.headers["x-acs-date"]
    query = _query(request)
    return query["SignatureNonce"], query["Timestamp"]
