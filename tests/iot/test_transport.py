"""Transport: one signed attempt against a real local server — pooling, timeouts, deadlines,
the body cap, resets and redirects, each as a typed error with its cause kept."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from otabot.config import Credentials
from otabot.iot.errors import UpstreamUnavailableError
from otabot.iot.signing import SignatureV3
from otabot.iot.transport import MAX_RESPONSE_BYTES, USER_AGENT, Answer, Transport
from tests.helpers import LIGHT_PRODUCT_KEY, SAMPLE_ACCESS_KEY_ID
from tests.iot.answers import SECRET, page
from tests.iot.canned import CannedApi, Reply, self_signed_tls

QUERY = {"Action": "ListOTAJobByDevice", "Version": "2018-01-20", "ProductKey": LIGHT_PRODUCT_KEY}
EMPTY_PAGE = page([])

MakeTransport = Callable[..., Transport]


def send(transport: Transport, remaining: float) -> Answer:
    """One attempt, prepared (signed) and sent as the client does."""
    return transport.send(transport.prepare(QUERY), remaining)


@pytest.fixture
def make_transport(api: CannedApi) -> Iterator[MakeTransport]:
    made: list[Transport] = []

    def make(**options: Any) -> Transport:
        transport = Transport(
            api.url, SignatureV3(Credentials(SAMPLE_ACCESS_KEY_ID, SECRET)), **options
        )
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


def unavailable(transport: Transport, remaining: float = 20.0) -> UpstreamUnavailableError:
    with pytest.raises(UpstreamUnavailableError) as caught:
        send(transport, remaining)
    return caught.value


def test_an_answer_is_read_whole_with_its_status_and_headers(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(status=404, body=b"{}", headers={"x-acs-request-id": "R" * 500}))
    answer = send(make_transport(), 5.0)
    assert (answer.status, answer.content) == (404, b"{}")
    assert answer.headers["X-ACS-REQUEST-ID"] == "R" * 500  # case-insensitive
    assert answer.request_id is not None and len(answer.request_id) <= 128
    assert isinstance(answer, Answer) and answer.elapsed_ms >= 0


def test_the_request_is_a_signed_post_with_an_empty_body(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(body=EMPTY_PAGE))
    send(make_transport(), 5.0)
    [received] = api.received
    assert (received.method, received.path, received.body) == ("POST", "/", b"")
    assert received.query["ProductKey"] == LIGHT_PRODUCT_KEY
    assert received.headers["user-agent"] == USER_AGENT
    assert received.headers["accept"] == "application/json"
    assert received.headers["authorization"].startswith("ACS3-HMAC-SHA256 ")


def test_every_send_is_signed_anew(api: CannedApi, make_transport: MakeTransport) -> None:
    api.queue(Reply(body=EMPTY_PAGE))
    transport = make_transport()
    send(transport, 5.0)
    send(transport, 5.0)
    assert len({received.nonce for received in api.received}) == 2


def test_consecutive_sends_reuse_one_pooled_connection(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(body=EMPTY_PAGE))
    transport = make_transport()
    for _ in range(3):
        send(transport, 5.0)
    assert len({received.client_port for received in api.received}) == 1


def test_a_transfer_cut_short_is_upstream_unavailable(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(body=b'{"RequestId": "r"', declared_length=500))
    error = unavailable(make_transport())
    assert isinstance(error.__cause__, requests.RequestException)


def test_a_read_timeout_is_upstream_unavailable_with_the_timeout_as_cause(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(body=EMPTY_PAGE, delay=2.0))
    error = unavailable(make_transport(read_timeout=0.1))
    assert error.code == "otabot.ReadTimeout" and error.retryable
    assert isinstance(error.__cause__, requests.ReadTimeout)
    assert error.message.endswith("did not answer within 0.1 s (OTABOT_READ_TIMEOUT)")


def test_a_connection_reset_is_upstream_unavailable_with_the_error_as_cause(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(reset=True))
    error = unavailable(make_transport())
    assert error.code == "otabot.ConnectionError"
    assert isinstance(error.__cause__, requests.ConnectionError)


def test_a_refused_connection_is_upstream_unavailable() -> None:
    closed = CannedApi()
    url = closed.url
    closed.stop()
    transport = Transport(url, SignatureV3(Credentials(SAMPLE_ACCESS_KEY_ID, SECRET)))
    error = unavailable(transport)
    transport.close()
    assert error.code == "otabot.ConnectionError"
    assert isinstance(error.__cause__, requests.ConnectionError)
    assert error.message == f"could not reach IoT Platform at {url} (connection refused)"


def test_a_refused_proxy_is_named_as_where_it_failed(api: CannedApi) -> None:
    closed = CannedApi()
    proxy = closed.url
    closed.stop()
    transport = Transport(
        api.url,
        SignatureV3(Credentials(SAMPLE_ACCESS_KEY_ID, SECRET)),
        proxies={"http": f"http://user:pass@{proxy.removeprefix('http://')}"},
    )
    error = unavailable(transport)
    transport.close()
    assert error.code == "otabot.ConnectionError" and api.received == []
    assert error.message.startswith(
        f"could not reach IoT Platform at {api.url} through the proxy http://user:***@"
    )
    assert "pass" not in error.message


def test_the_read_timeout_shrinks_to_the_time_left(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(body=EMPTY_PAGE, delay=2.0))
    started = time.monotonic()
    error = unavailable(make_transport(read_timeout=10.0), remaining=0.3)
    assert time.monotonic() - started < 1.5
    assert error.code == "otabot.ReadTimeout"
    assert error.message.endswith("did not answer within the 0.3 s left of this lookup")


@pytest.mark.parametrize("drip_head", [False, True], ids=["body", "status-line-and-headers"])
def test_an_answer_dripped_past_the_time_left_is_a_read_timeout(
    api: CannedApi, make_transport: MakeTransport, drip_head: bool
) -> None:
    # One byte every 50 ms: no single socket read ever waits the 10 s read timeout out.
    api.queue(Reply(body=EMPTY_PAGE, drip=0.05, drip_head=drip_head))
    started = time.monotonic()
    error = unavailable(make_transport(read_timeout=10.0), remaining=0.4)
    assert time.monotonic() - started < 1.2
    assert error.code == "otabot.ReadTimeout" and error.retryable


def test_an_answer_dripped_quickly_is_read_whole(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(body=EMPTY_PAGE, drip=0.0005, drip_head=True))
    answer = send(make_transport(read_timeout=10.0), 10.0)
    assert answer.status == 200 and answer.content.startswith(b"{")


def test_a_clock_past_the_deadline_stops_the_read_before_the_headers(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    ticks = iter([0.0] + [100.0] * 10)
    api.queue(Reply(body=EMPTY_PAGE))
    error = unavailable(make_transport(monotonic=lambda: next(ticks)), remaining=5.0)
    assert error.code == "otabot.ReadTimeout"


def test_with_a_session_passed_in_headers_past_the_deadline_are_a_read_timeout(
    api: CannedApi,
) -> None:
    # A session of the caller's reads with its own adapters; the deadline is checked
    # once the headers are in.
    ticks = iter([0.0] + [100.0] * 10)
    api.queue(Reply(body=EMPTY_PAGE))
    session = requests.Session()
    transport = Transport(
        api.url,
        SignatureV3(Credentials(SAMPLE_ACCESS_KEY_ID, SECRET)),
        monotonic=lambda: next(ticks),
        session=session,
    )
    error = unavailable(transport, remaining=5.0)
    session.close()
    assert error.code == "otabot.ReadTimeout"
    assert error.http_status == 200


def test_a_body_larger_than_any_real_page_is_refused(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(body=b"{" + b" " * (MAX_RESPONSE_BYTES + 1) + b"}"))
    error = unavailable(make_transport())
    assert error.code == "otabot.MalformedResponse" and not error.retryable
    assert str(MAX_RESPONSE_BYTES) in str(error)


def test_a_declared_length_over_the_limit_is_refused_unread(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(body=b"{}", declared_length=MAX_RESPONSE_BYTES + 1))
    error = unavailable(make_transport())
    assert error.code == "otabot.MalformedResponse"


def test_a_redirect_is_not_followed_with_the_signed_request(
    api: CannedApi, make_transport: MakeTransport
) -> None:
    api.queue(Reply(status=302, body=b"", headers={"Location": f"{api.url}/elsewhere"}))
    answer = send(make_transport(), 5.0)
    assert answer.status == 302
    assert [received.path for received in api.received] == ["/"]


def test_proxy_variables_in_the_environment_are_not_consulted(
    api: CannedApi, make_transport: MakeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    api.queue(Reply(body=EMPTY_PAGE))
    assert send(make_transport(), 5.0).status == 200


def test_a_session_passed_in_is_used_and_left_open(api: CannedApi) -> None:
    session = requests.Session()
    api.queue(Reply(body=EMPTY_PAGE))
    transport = Transport(
        api.url, SignatureV3(Credentials(SAMPLE_ACCESS_KEY_ID, SECRET)), session=session
    )
    assert send(transport, 5.0).status == 200
    transport.close()
    assert session.post(api.url).status_code == 200
    session.close()


@pytest.fixture
def tls_api(tmp_path: Path) -> Iterator[tuple[CannedApi, Path]]:
    context, ca_file = self_signed_tls(tmp_path)
    server = CannedApi(tls=context).start()
    yield server, ca_file
    server.stop()


@pytest.mark.parametrize("drip", [0.0, 0.05], ids=["prompt", "dripped"])
def test_over_https_the_deadline_bounds_the_headers_too(
    tls_api: tuple[CannedApi, Path], drip: float
) -> None:
    api, ca_file = tls_api
    api.queue(Reply(body=EMPTY_PAGE), Reply(body=EMPTY_PAGE, drip=drip, drip_head=True))
    transport = Transport(
        api.url, SignatureV3(Credentials(SAMPLE_ACCESS_KEY_ID, SECRET)), read_timeout=10.0
    )
    transport._session.verify = str(ca_file)  # the real endpoints need no CA of their own
    assert send(transport, 5.0).status == 200  # the handshake, out of the timing
    started = time.monotonic()
    if drip:
        error = unavailable(transport, remaining=0.4)
        assert error.code == "otabot.ReadTimeout"
        assert time.monotonic() - started < 1.2
    else:
        assert send(transport, 0.4).content.startswith(b"{")
    transport.close()
