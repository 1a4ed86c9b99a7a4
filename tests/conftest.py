"""Fixtures shared across the suite: the Redis of the machine, and the skip policy.

A test that needs a service or tool the machine lacks skips with a reason; CI sets
``OTABOT_REQUIRE_REDIS=1`` / ``OTABOT_REQUIRE_BROWSER=1`` so that such a skip fails instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import redis

from otabot.config import Settings
from tests.helpers import SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET, SAMPLE_ALIASES

if TYPE_CHECKING:
    from otabot.demo.slack_side import SlackSide
    from otabot.emulator.server import EmulatorServer
    from tests.iot.canned import CannedApi


def skip_or_fail(requirement_env: str, reason: str) -> None:
    """Skip with ``reason``, unless CI demands the requirement, then fail."""
    if os.environ.get(requirement_env) == "1":
        pytest.fail(f"{reason} ({requirement_env}=1 forbids skipping)")
    pytest.skip(reason)


REDIS_TEST_URL = os.environ.get("OTABOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@pytest.fixture(autouse=True)
def credentials_stay_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credential source reaches past 127.0.0.1 (the ECS metadata service, STS): the
    credential library's HTTP layer refuses any other host for the test's duration."""
    from Tea.core import TeaCore

    send = TeaCore.do_action

    def loopback_only(request: Any, runtime_option: Any = None) -> Any:
        host = str(request.headers.get("host", "")).split("://")[-1].rsplit(":", 1)[0]
        if host not in LOOPBACK_HOSTS:
            raise ConnectionRefusedError(f"tests send nothing to {host}")
        return send(request, runtime_option)

    monkeypatch.setattr(TeaCore, "do_action", staticmethod(loopback_only))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A flushed Redis database of the suite's own (db 15), or a skip with the reason."""
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        skip_or_fail("OTABOT_REQUIRE_REDIS", f"Redis not reachable at {REDIS_TEST_URL}: {error}")
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()


@pytest.fixture
def api() -> Iterator[CannedApi]:
    """A local HTTP server answering queued canned replies (``tests.iot.canned``)."""
    from tests.iot.canned import CannedApi

    server = CannedApi().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    """One IoT Platform emulator for the session, with the sample fleet (testid/testsecret)."""
    from otabot.emulator.fleet import sample_fleet
    from otabot.emulator.server import EmulatorServer

    server = EmulatorServer(sample_fleet()).start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The session's emulator with fresh stats, nonces, quota and faults, and the sample fleet."""
    from otabot.emulator.fleet import sample_fleet

    emulator_server.set_fleet(sample_fleet())
    emulator_server.reset()
    yield emulator_server
    emulator_server.set_faults()


@pytest.fixture
def emulator_settings(emulator: EmulatorServer) -> Settings:
    """Settings that point otabot at the emulator with the sample fleet's AccessKey."""
    return Settings.from_env(
        {
            "OTABOT_IOT_ENDPOINT": emulator.url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": SAMPLE_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SAMPLE_ACCESS_KEY_SECRET,
            "OTABOT_PRODUCT_ALIASES": SAMPLE_ALIASES,
        }
    )


@pytest.fixture
def recorder() -> Iterator[SlackSide]:
    """Slack's side (the demo's) on 127.0.0.1 with the test workspace: response_urls and
    the Web API, and a record of every post the app made to them."""
    from otabot.demo.web import SlackServer
    from tests.helpers import make_slack_side

    with SlackServer(make_slack_side()) as side:
        yield side
