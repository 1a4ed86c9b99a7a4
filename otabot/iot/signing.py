"""Alibaba Cloud RPC request signing: V1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256).

The pure functions compute canonical forms and signatures with no I/O, so they are
checked against the published vectors directly and shared by the emulator, which
verifies what it receives with the same canonicalisation. ``SignatureV1`` and
``SignatureV3`` are ``requests`` auth objects built on them: each call stamps a fresh
nonce and timestamp and asks its ``CredentialsProvider`` for the credentials current
then, so a retried request is a new request, signed with credentials that may have
rotated since the first attempt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from otabot.clocks import WallClock
from otabot.config import CredentialsProvider
from otabot.iot.times import request_timestamp

V3_ALGORITHM = "ACS3-HMAC-SHA256"


@lru_cache(maxsize=1024)
def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8: only ``A-Z a-z 0-9 - _ . ~`` stay as they are.

    Remembered: names and most values (keys, versions, devices) repeat on every call.
    """
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Parameters sorted by name (byte order), encoded and joined with ``&``."""
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in params.items())
    return "&".join(f"{key}={value}" for key, value in pairs)


def v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&encode(canonical query)``, every parameter but ``Signature``."""
    signed = {k: v for k, v in params.items() if k != "Signature"}
    return f"{method.upper()}&%2F&{percent_encode(canonical_query(signed))}"


def v1_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    """Base64(HMAC-SHA1(secret + "&", string to sign))."""
    digest = hmac.new(
        f"{secret}&".encode(), v1_string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def v3_canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """The V3 canonical request over exactly ``signed_headers`` (lower-cased names)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    names = sorted(name.lower() for name in signed_headers)
    canonical_headers = "".join(f"{name}:{lowered.get(name, '').strip()}\n" for name in names)
    return "\n".join(
        (
            method.upper(),
            path or "/",
            canonical_query(query),
            canonical_headers,
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        )
    )


def v3_string_to_sign(canonical_request: str) -> str:
    return f"{V3_ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"


def v3_signature(canonical_request: str, secret: str) -> str:
    """hex(HMAC-SHA256(secret, string to sign))."""
    return hmac.new(
        secret.encode(), v3_string_to_sign(canonical_request).encode(), hashlib.sha256
    ).hexdigest()


def _new_nonce() -> str:
    return uuid.uuid4().hex


class _Signer(AuthBase):
    """Shared parts of both signers: a credentials provider, a wall clock, a nonce source."""

    def __init__(
        self,
        credentials: CredentialsProvider,
        *,
        wall_clock: WallClock = time.time,
        nonce: Callable[[], str] = _new_nonce,
    ) -> None:
        self._credentials = credentials
        self._wall_clock = wall_clock
        self._nonce = nonce

    def __repr__(self) -> str:
        return f"{type(self).__name__}(credentials={self._credentials!r})"

    @staticmethod
    def _split(request: requests.PreparedRequest) -> tuple[str, str, dict[str, str]]:
        url = urlsplit(request.url or "")
        return url.path or "/", url.netloc, dict(parse_qsl(url.query, keep_blank_values=True))

    @staticmethod
    def _with_query(request: requests.PreparedRequest, params: Mapping[str, str]) -> None:
        url = urlsplit(request.url or "")
        query = canonical_query(params)
        request.url = urlunsplit((url.scheme, url.netloc, url.path or "/", query, ""))


class SignatureV1(_Signer):
    """Signs with HMAC-SHA1: common parameters and ``Signature`` go into the query string."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        credentials = self._credentials.current()
        _, _, params = self._split(request)
        params.update(
            {
                "AccessKeyId": credentials.access_key_id,
                "SignatureMethod": "HMAC-SHA1",
                "SignatureVersion": "1.0",
                "SignatureNonce": self._nonce(),
                "Timestamp": request_timestamp(self._wall_clock()),
            }
        )
        if credentials.security_token:
            params["SecurityToken"] = credentials.security_token
        params["Signature"] = v1_signature(
            request.method or "POST", params, credentials.access_key_secret
        )
        self._with_query(request, params)
        return request


class SignatureV3(_Signer):
    """Signs with ACS3-HMAC-SHA256: common parameters go into ``x-acs-*`` headers."""

    def __init__(
        self,
        credentials: CredentialsProvider,
        *,
        action: str | None = None,
        version: str = "2018-01-20",
        wall_clock: WallClock = time.time,
        nonce: Callable[[], str] = _new_nonce,
    ) -> None:
        super().__init__(credentials, wall_clock=wall_clock, nonce=nonce)
        self._action = action
        self._version = version

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        credentials = self._credentials.current()
        path, host, params = self._split(request)
        action = params.pop("Action", None) or self._action or ""
        params.pop("Version", None)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        headers = {
            "host": host,
            "x-acs-action": action,
            "x-acs-version": self._version,
            "x-acs-date": request_timestamp(self._wall_clock()),
            "x-acs-signature-nonce": self._nonce(),
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        }
        if credentials.security_token:
            headers["x-acs-security-token"] = credentials.security_token
        signed = sorted(headers)
        canonical = v3_canonical_request(
            request.method or "POST", path, params, headers, signed, body
        )
        signature = v3_signature(canonical, credentials.access_key_secret)
        request.headers.update(headers)
        request.headers["Authorization"] = (
            f"{V3_ALGORITHM} Credential={credentials.access_key_id},"
            f"SignedHeaders={';'.join(signed)},Signature={signature}"
        )
        self._with_query(request, params)
        return request
