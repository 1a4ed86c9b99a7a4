"""Behind an egress proxy: HTTP(S)_PROXY and NO_PROXY, read once by the settings."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from otabot.config import ConfigError, Settings
from otabot.iot.client import IotClient
from otabot.iot.errors import UpstreamUnavailableError
from tests.helpers import LIGHT_PRODUCT_KEY, SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET
from tests.iot.canned import CannedApi, Reply

ENDPOINT = "http://iot.cn-shanghai.example.invalid"
KEYS = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": SAMPLE_ACCESS_KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SAMPLE_ACCESS_KEY_SECRET,
}


@pytest.fixture
def proxy() -> Iterator[CannedApi]:
    server = CannedApi().start()
    yield server
    server.stop()


def test_calls_go_through_the_configured_proxy(proxy: CannedApi) -> None:
    settings = Settings.from_env({**KEYS, "OTABOT_IOT_ENDPOINT": ENDPOINT, "HTTP_PROXY": proxy.url})
    proxy.queue(Reply(body={"RequestId": "via-proxy", "Success": True, "Total": 0}))
    with IotClient.from_settings(settings) as client:
        page = client.list_ota_jobs_by_device(LIGHT_PRODUCT_KEY, "light1", "FJFx8Jzpnh")
    assert page.request_id == "via-proxy"
    (received,) = proxy.received
    assert received.headers["host"] == "iot.cn-shanghai.example.invalid"


def test_a_proxy_that_dribbles_its_answer_is_cut_off_at_the_deadline(proxy: CannedApi) -> None:
    settings = Settings.from_env({**KEYS, "OTABOT_IOT_ENDPOINT": ENDPOINT, "HTTP_PROXY": proxy.url})
    body = {"RequestId": "via-proxy", "Success": True, "Total": 0}
    proxy.queue(Reply(body=body, drip=0.05, drip_head=True))
    started = time.monotonic()
    with (
        IotClient.from_settings(settings) as client,
        pytest.raises(UpstreamUnavailableError) as caught,
    ):
        client.list_ota_jobs_by_device(
            LIGHT_PRODUCT_KEY, "light1", "FJFx8Jzpnh", deadline=started + 0.4
        )
    assert caught.value.code == "otabot.ReadTimeout"
    assert time.monotonic() - started < 1.2


@pytest.mark.parametrize(
    "no_proxy", ["*", "example.invalid", ".example.invalid", "iot.cn-shanghai.example.invalid"]
)
def test_no_proxy_covers_the_endpoint(no_proxy: str) -> None:
    settings = Settings.from_env(
        {"HTTPS_PROXY": "proxy.corp:3128", "NO_PROXY": f"localhost, {no_proxy}"}
    )
    assert settings.proxies_for(ENDPOINT) == {}


@pytest.mark.parametrize(
    "no_proxy",
    ["other.example", "shanghai.example.invalid.evil", "xample.invalid", "example.invalid:8080"],
)
def test_no_proxy_that_does_not_cover_the_endpoint_keeps_the_proxy(no_proxy: str) -> None:
    settings = Settings.from_env({"HTTP_PROXY": "proxy.corp:3128", "NO_PROXY": no_proxy})
    assert settings.proxies_for(ENDPOINT) == {"http": "http://proxy.corp:3128"}


@pytest.mark.parametrize(
    ("endpoint", "covered"),
    [
        ("http://127.0.0.1:9000", True),
        ("http://127.0.0.1:9001", False),
        ("http://127.0.0.1", False),
    ],
)
def test_a_no_proxy_entry_with_a_port_covers_that_port_only(endpoint: str, covered: bool) -> None:
    settings = Settings.from_env({"HTTP_PROXY": "proxy.corp:3128", "NO_PROXY": "127.0.0.1:9000"})
    assert (settings.proxies_for(endpoint) == {}) is covered


class _UntouchableEnviron(dict[str, str]):
    """An ``os.environ`` that fails any read or write."""

    def _touched(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the process environment was consulted")

    __getitem__ = __setitem__ = __delitem__ = __contains__ = __iter__ = _touched  # type: ignore[assignment]
    get = items = keys = values = copy = _touched  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("no_proxy", "covered"),
    [("example.invalid", True), ("other.example", False), ("localhost, *", True)],
)
def test_no_proxy_is_matched_without_reading_the_environment(no_proxy: str, covered: bool) -> None:
    settings = Settings.from_env({"HTTPS_PROXY": "proxy.corp:3128", "NO_PROXY": no_proxy})
    real = os.environ
    os.environ = _UntouchableEnviron()  # type: ignore[assignment]  # noqa: B003 - any use fails
    try:
        proxies = settings.proxies_for(ENDPOINT.replace("http:", "https:"))
    finally:
        os.environ = real  # noqa: B003 - restored, not cleared
    assert (proxies == {}) is covered


def test_lower_case_variables_count_and_a_bare_host_gets_a_scheme() -> None:
    settings = Settings.from_env({"https_proxy": "proxy.corp:3128", "no_proxy": "other.example"})
    assert settings.proxies_for("https://iot.cn-shanghai.aliyuncs.com") == {
        "https": "http://proxy.corp:3128"
    }


def test_a_malformed_proxy_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"HTTPS_PROXY": "ftp://proxy"})
    assert caught.value.variable == "HTTPS_PROXY"


def test_proxy_credentials_stay_out_of_repr() -> None:
    settings = Settings.from_env({"HTTPS_PROXY": "http://user:pa55word@proxy.corp:3128"})
    assert "pa55word" not in repr(settings)
