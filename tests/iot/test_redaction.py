"""Signed URLs (V1 signatures, STS tokens) stay out of logs and exception chains."""

from __future__ import annotations

import logging
import traceback
from typing import Any
from urllib.parse import quote

import pytest

from otabot.config import Credentials
from otabot.iot.client import IotClient, RetryPolicy
from otabot.iot.errors import UpstreamUnavailableError
from otabot.iot.redaction import redact_signed_query, scrub_exception
from tests.helpers import LIGHT_PRODUCT_KEY, SAMPLE_ACCESS_KEY_ID, SHOWCASE_FIRMWARE_ID
from tests.iot.answers import DEVICE, SECRET, STS_TOKEN, UNAVAILABLE
from tests.iot.canned import CannedApi, Reply
from tests.iot.fakes import MakeClient, held_by


def call(client: IotClient) -> Any:
    return client.list_ota_jobs_by_device(LIGHT_PRODUCT_KEY, DEVICE, SHOWCASE_FIRMWARE_ID)


def _secret_forms(api: CannedApi) -> list[str]:
    """The secret, the token and every signature the server saw, raw and percent-encoded."""
    forms = [SECRET, STS_TOKEN, quote(STS_TOKEN, safe=""), quote(STS_TOKEN)]
    for received in api.received:
        signature = received.query.get("Signature")
        if signature:
            forms += [signature, quote(signature, safe=""), quote(signature)]
        authorization = received.headers.get("authorization")
        if authorization:
            forms.append(authorization.rsplit("Signature=", 1)[1])
    return forms


def _everything_said(error: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join([held_by(error), caplog.text])


def said_on_failing(
    api: CannedApi,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    **options: Any,
) -> tuple[str, IotClient]:
    """All that is said (debug logs, the error and its chain) when a call by a client with
    an STS token (``options`` for it; v1 signing unless told) meets ``reply``; the client."""
    caplog.set_level(logging.DEBUG)
    api.queue(reply)
    credentials = Credentials(SAMPLE_ACCESS_KEY_ID, SECRET, STS_TOKEN)
    client = make_client(**{"signature": "v1", "credentials": credentials, **options})
    with pytest.raises(UpstreamUnavailableError) as caught:
        call(client)
    return _everything_said(caught.value, caplog), client


@pytest.mark.parametrize("signature", ["v1", "v3"])
def test_no_secret_in_logs_or_errors_when_the_api_fails(
    api: CannedApi,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    signature: str,
) -> None:
    said, client = said_on_failing(api, make_client, caplog, UNAVAILABLE, signature=signature)
    said += repr(client)
    assert "GET" in caplog.text or "POST" in caplog.text  # urllib3 did log the request line
    for form in _secret_forms(api):
        assert form not in said


@pytest.mark.parametrize(
    "reply", [Reply(reset=True), Reply(body=b"{}", delay=2.0)], ids=["reset", "timeout"]
)
def test_no_secret_in_logs_or_the_exception_chain_on_transport_failures(
    api: CannedApi,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
) -> None:
    said, _ = said_on_failing(
        api, make_client, caplog, reply, read_timeout=0.1, retry=RetryPolicy(max_attempts=2)
    )
    for form in _secret_forms(api):
        assert form not in said


def test_no_secret_in_the_exception_chain_when_the_connection_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    closed = CannedApi()
    url = closed.url
    closed.stop()
    client = IotClient(
        url,
        Credentials(SAMPLE_ACCESS_KEY_ID, SECRET, STS_TOKEN),
        signature="v1",
        retry=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(UpstreamUnavailableError) as caught:
        call(client)
    client.close()
    said = _everything_said(caught.value, caplog)
    assert "Max retries exceeded" in said  # urllib3's message, URL redacted, is still there
    assert "Signature=***" in said
    for form in (SECRET, STS_TOKEN, quote(STS_TOKEN, safe="")):
        assert form not in said


def test_redaction_hides_signature_and_token_values_only() -> None:
    text = (
        f"/?AccessKeyId={SAMPLE_ACCESS_KEY_ID}&Signature=abc%2Bdef%3D&SecurityToken=CAIS%2Bx"
        "&SignatureNonce=n1"
    )
    assert redact_signed_query(text) == (
        f"/?AccessKeyId={SAMPLE_ACCESS_KEY_ID}&Signature=***&SecurityToken=***&SignatureNonce=n1"
    )


def _scrubbed_failure() -> BaseException:
    def send(url: str) -> None:
        signed = url + "&Signature=" + "-".join(["s3cr3t", "value"])  # noqa: F841 - kept local
        raise ValueError("failed")

    try:
        send("/?Action=X")
    except ValueError as error:
        return scrub_exception(error)
    raise AssertionError("send did not fail")


def test_scrubbing_an_error_drops_the_locals_of_the_frames_it_left() -> None:
    error = _scrubbed_failure()
    assert "s3cr3t-value" not in held_by(error)
    assert "in send" in "".join(traceback.format_exception(error))  # the frames stay


def test_scrubbing_redacts_every_text_and_drops_requests_along_the_chain() -> None:
    cause = OSError("GET /?Signature=abc&SecurityToken=tok failed")
    cause.request = object()  # type: ignore[attr-defined]
    cause._message = "Max retries exceeded with url: /?Signature=abc"  # type: ignore[attr-defined]
    error = RuntimeError("wrapped")
    error.__cause__ = cause
    scrub_exception(error)
    assert cause.args == ("GET /?Signature=***&SecurityToken=*** failed",)
    assert cause._message == "Max retries exceeded with url: /?Signature=***"  # type: ignore[attr-defined]
    assert cause.request is None  # type: ignore[attr-defined]
