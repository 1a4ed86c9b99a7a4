"""The emulator's wire format (moto's responses.py): parse, verify signatures, serialise.

A request is an RPC call as ``iot.<region>.aliyuncs.com`` receives it: signed with
V1 (``Signature`` among the parameters, which may sit in the query string and/or a
form-encoded body) or V3 (``Authorization: ACS3-HMAC-SHA256 …``, verified over
exactly the headers it names as signed). Verification uses the same pure functions
as otabot's signers (``otabot.iot.signing``). Answers are JSON or XML by ``Format``
(case-insensitive; XML by default for V1 as the real API, JSON for V3 unless the
``Accept`` header asks for XML), in the gateway's or IoT's error shape.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from otabot.emulator.exceptions import (
    EmulatorError,
    GatewayError,
    IncompleteSignature,
    InternalError,
    InvalidActionNotFound,
    InvalidVersion,
    MissingParameter,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    Throttling,
)
from otabot.emulator.models import ACTIONS, IotPlatform
from otabot.iot.signing import (
    V3_ALGORITHM,
    v1_signature,
    v1_string_to_sign,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)

API_VERSION = "2018-01-20"
JSON_TYPE = "application/json;charset=utf-8"
XML_TYPE = "text/xml;charset=utf-8"
FAULT_CLASSES: dict[str, type[GatewayError]] = {
    "ServiceUnavailable": ServiceUnavailable,
    "InternalError": InternalError,
    "Throttling": Throttling,
}
V1_COMMON_PARAMETERS = (
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
)


@dataclass(frozen=True)
class WireRequest:
    """An HTTP request as received: header names lower-cased, the raw body."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path or "/"

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    @property
    def form(self) -> dict[str, str]:
        """Parameters of a form-encoded body (the official SDKs may send them there)."""
        content_type = self.headers.get("content-type", "")
        if not self.body or not content_type.startswith("application/x-www-form-urlencoded"):
            return {}
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    @property
    def parameters(self) -> dict[str, str]:
        """Query and form parameters together (the body wins on a clash)."""
        return {**self.query, **self.form}

    @property
    def is_v3(self) -> bool:
        return "authorization" in self.headers

    @property
    def action(self) -> str:
        if self.is_v3:
            return self.headers.get("x-acs-action", "")
        return self.parameters.get("Action", "")

    @property
    def wants_xml(self) -> bool:
        requested = self.parameters.get("Format", "").strip().lower()
        if requested in ("json", "xml"):
            return requested == "xml"
        if self.is_v3:
            return "xml" in self.headers.get("accept", "").lower()
        return True

    @property
    def host_id(self) -> str:
        return self.headers.get("host", "").rsplit(":", 1)[0] or "127.0.0.1"


@dataclass(frozen=True)
class WireResponse:
    """An HTTP answer: status, content type and body (plus extra headers)."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    code: str = "OK"


def new_request_id() -> str:
    """A RequestId as the API spells them: an upper-case UUID."""
    return str(uuid.uuid4()).upper()


class IotResponses:
    """Answers API calls for one ``IotPlatform``: verify, admit, dispatch, serialise."""

    def __init__(self, platform: IotPlatform) -> None:
        self._platform = platform

    def respond(self, request: WireRequest, fault: str | None = None) -> WireResponse:
        """The answer to one call; ``fault`` is an injected error that replaces it."""
        request_id = new_request_id()
        try:
            if fault == "malformed":
                return self._malformed(request, request_id)
            if fault in FAULT_CLASSES:
                raise FAULT_CLASSES[fault]()
            result = self._handle(request)
        except EmulatorError as error:
            return self.error(request, error, request_id)
        body: dict[str, Any] = {"RequestId": request_id, "Success": True, **result}
        return self._serialise(request, body, 200, request_id)

    def error(self, request: WireRequest, error: EmulatorError, request_id: str) -> WireResponse:
        """``error`` in its shape (gateway or IoT) and the request's format."""
        body: dict[str, Any]
        if isinstance(error, GatewayError):
            body = {
                "RequestId": request_id,
                "HostId": request.host_id,
                "Code": error.code,
                "Message": error.message,
                "Recommend": (
                    f"https://api.aliyun.com/troubleshoot?q={error.code}"
                    f"&product=Iot&requestId={request_id}"
                ),
            }
        else:
            body = {
                "RequestId": request_id,
                "Success": False,
                "Code": error.code,
                "ErrorMessage": error.message,
            }
        root = "Error" if isinstance(error, GatewayError) else None
        return self._serialise(request, body, error.http_status, request_id, error.code, root)

    def _handle(self, request: WireRequest) -> dict[str, Any]:
        if request.is_v3:
            access_key_id, nonce = self._verify_v3(request)
        else:
            access_key_id, nonce = self._verify_v1(request)
        self._platform.use_nonce(access_key_id, nonce)
        self._platform.admit(access_key_id)
        return ACTIONS[request.action](self._platform, request.parameters)

    def _check_action(self, action: str, version: str) -> None:
        if not action:
            raise MissingParameter("Action")
        if not version:
            raise MissingParameter("Version")
        if version != API_VERSION:
            raise InvalidVersion()
        if action not in ACTIONS:
            raise InvalidActionNotFound()

    def _verify_v1(self, request: WireRequest) -> tuple[str, str]:
        """Check a V1 (HMAC-SHA1) call; return its AccessKeyId and nonce."""
        params = request.parameters
        self._check_action(params.get("Action", ""), params.get("Version", ""))
        for name in V1_COMMON_PARAMETERS:
            if not params.get(name):
                raise MissingParameter(name)
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            raise IncompleteSignature()
        secret = self._platform.secret_for(params["AccessKeyId"])
        self._platform.check_timestamp(params["Timestamp"])
        expected = v1_signature(request.method, params, secret)
        if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
            raise SignatureDoesNotMatch(v1_string_to_sign(request.method, params))
        return params["AccessKeyId"], params["SignatureNonce"]

    def _verify_v3(self, request: WireRequest) -> tuple[str, str]:
        """Check a V3 (ACS3-HMAC-SHA256) call; return its AccessKeyId and nonce."""
        headers = request.headers
        credential, signed_headers, signature = _parse_authorization(headers["authorization"])
        self._check_action(headers.get("x-acs-action", ""), headers.get("x-acs-version", ""))
        must_sign = {"host"} | {name for name in headers if name.startswith("x-acs-")}
        if not must_sign <= set(signed_headers):
            raise IncompleteSignature()
        for header, parameter in (
            ("x-acs-date", "Timestamp"),
            ("x-acs-signature-nonce", "SignatureNonce"),
        ):
            if not headers.get(header):
                raise MissingParameter(parameter)
        secret = self._platform.secret_for(credential)
        self._platform.check_timestamp(headers["x-acs-date"])
        canonical = v3_canonical_request(
            request.method, request.path, request.query, headers, signed_headers, request.body
        )
        body_hash = headers.get("x-acs-content-sha256")
        expected = v3_signature(canonical, secret)
        if not hmac.compare_digest(expected.encode(), signature.encode()) or (
            body_hash is not None and body_hash != hashlib.sha256(request.body).hexdigest()
        ):
            raise SignatureDoesNotMatch(v3_string_to_sign(canonical))
        return credential, headers["x-acs-signature-nonce"]

    def _malformed(self, request: WireRequest, request_id: str) -> WireResponse:
        """A 200 whose body is cut off mid-way, as a broken proxy might deliver it."""
        if request.wants_xml:
            body = f"<{request.action or 'Api'}Response><RequestId>{request_id}</Req"
            return WireResponse(200, XML_TYPE, body.encode(), code="fault.malformed")
        body = f'{{"RequestId": "{request_id}", "Success": true, "Data": {{"SimpleOTAJ'
        return WireResponse(200, JSON_TYPE, body.encode(), code="fault.malformed")

    def _serialise(
        self,
        request: WireRequest,
        body: Mapping[str, Any],
        status: int,
        request_id: str,
        code: str = "OK",
        root: str | None = None,
    ) -> WireResponse:
        headers = {"x-acs-request-id": request_id}
        if request.wants_xml:
            root = root or f"{request.action or 'Api'}Response"
            return WireResponse(status, XML_TYPE, to_xml(root, body), headers, code)
        data = json.dumps(body, ensure_ascii=False).encode()
        return WireResponse(status, JSON_TYPE, data, headers, code)


def _parse_authorization(value: str) -> tuple[str, list[str], str]:
    """``ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`` into its parts."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != V3_ALGORITHM:
        raise IncompleteSignature()
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, equals, text = item.strip().partition("=")
        if equals:
            parts[name] = text.strip()
    credential = parts.get("Credential", "")
    signed = [name.strip().lower() for name in parts.get("SignedHeaders", "").split(";")]
    signature = parts.get("Signature", "")
    if not credential or not signature or not any(signed):
        raise IncompleteSignature()
    return credential, [name for name in signed if name], signature


def to_xml(root: str, body: Mapping[str, Any]) -> bytes:
    """The API's XML: nested objects as elements, a list as its key repeated per item."""
    out = ["<?xml version='1.0' encoding='UTF-8'?>"]
    _xml_element(root, body, out)
    return "".join(out).encode()


def _xml_element(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _xml_element(name, item, out)
        return
    out.append(f"<{name}>")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _xml_element(key, item, out)
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    else:
        out.append(escape(str(value)))
    out.append(f"</{name}>")
