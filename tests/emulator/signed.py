"""Hand-signed calls to the emulator, built on otabot.iot.signing (the pure functions)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

import requests

from otabot.iot.signing import (
    V3_ALGORITHM,
    canonical_query,
    v1_signature,
    v3_canonical_request,
    v3_signature,
)
from otabot.iot.times import request_timestamp
from tests.helpers import (
    LIGHT_PRODUCT_KEY,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)

FULL_210 = "FJFx8JzpnhpIsKftRjjm050100"


def list_jobs(**overrides: str) -> dict[str, str]:
    """ListOTAJobByDevice business parameters for light1 and the showcase firmware."""
    params = {
        "ProductKey": LIGHT_PRODUCT_KEY,
        "DeviceName": "light1",
        "FirmwareId": SHOWCASE_FIRMWARE_ID,
        "CurrentPage": "1",
        "PageSize": "10",
    }
    params.update(overrides)
    return params


def call_action(
    url: str, action: str, business: Mapping[str, str], *, fmt: str | None = "JSON"
) -> requests.Response:
    """One V1-signed call of ``action`` with ``business`` parameters."""
    return call_v1(url, v1_params(business, fmt=fmt, extra={"Action": action}))


def v1_params(
    business: Mapping[str, str],
    *,
    method: str = "POST",
    key_id: str = SAMPLE_ACCESS_KEY_ID,
    secret: str = SAMPLE_ACCESS_KEY_SECRET,
    now: float | None = None,
    nonce: str | None = None,
    fmt: str | None = "JSON",
    drop: tuple[str, ...] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every V1 parameter, signed; ``drop`` leaves common ones out before signing."""
    params = {
        "Action": "ListOTAJobByDevice",
        "Version": "2018-01-20",
        "AccessKeyId": key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": request_timestamp(time.time() if now is None else now),
        **business,
        **(extra or {}),
    }
    if fmt is not None:
        params["Format"] = fmt
    for name in drop:
        params.pop(name, None)
    if "Signature" not in drop:
        params["Signature"] = v1_signature(method, params, secret)
    return params


def call_v1(
    url: str,
    params: Mapping[str, str],
    *,
    method: str = "POST",
    in_body: bool = False,
    session: requests.Session | None = None,
) -> requests.Response:
    """Send V1 parameters in the query string, or in a form-encoded body."""
    http = session or requests
    if in_body:
        return http.request(method, url + "/", data=dict(params), timeout=10)
    return http.request(method, f"{url}/?{canonical_query(params)}", timeout=10)


def v3_headers(
    url: str,
    query: Mapping[str, str],
    *,
    method: str = "POST",
    body: bytes = b"",
    key_id: str = SAMPLE_ACCESS_KEY_ID,
    secret: str = SAMPLE_ACCESS_KEY_SECRET,
    now: float | None = None,
    nonce: str | None = None,
    action: str = "ListOTAJobByDevice",
    extra: Mapping[str, str] | None = None,
    signed: tuple[str, ...] | None = None,
) -> dict[str, str]:
    """V3 headers with an Authorization over ``signed`` (default: all of them)."""
    headers = {
        "host": urlsplit(url).netloc,
        "x-acs-action": action,
        "x-acs-version": "2018-01-20",
        "x-acs-date": request_timestamp(time.time() if now is None else now),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        **(extra or {}),
    }
    names = sorted(signed if signed is not None else headers)
    canonical = v3_canonical_request(method, "/", query, headers, names, body)
    headers["Authorization"] = (
        f"{V3_ALGORITHM} Credential={key_id},SignedHeaders={';'.join(names)},"
        f"Signature={v3_signature(canonical, secret)}"
    )
    return headers


def call_v3(
    url: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    method: str = "POST",
    body: bytes = b"",
) -> requests.Response:
    target = f"{url}/?{urlencode(dict(query))}" if query else f"{url}/"
    return requests.request(method, target, headers=dict(headers), data=body, timeout=10)
