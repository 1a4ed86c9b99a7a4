"""Fixtures of the IoT client tests: a canned API on a real socket and clients on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from otabot.config import Credentials
from otabot.iot.client import IotClient
from tests.helpers import SAMPLE_ACCESS_KEY_ID, FakeClock
from tests.iot.answers import SECRET
from tests.iot.canned import CannedApi
from tests.iot.fakes import MakeClient


@pytest.fixture
def fake_time() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(api: CannedApi, fake_time: FakeClock) -> Iterator[MakeClient]:
    """Clients of ``api`` on the fake clock, with no jitter; keyword arguments override."""
    clients: list[IotClient] = []

    def make(**overrides: Any) -> IotClient:
        credentials = overrides.pop("credentials", Credentials(SAMPLE_ACCESS_KEY_ID, SECRET))
        options: dict[str, Any] = {
            "monotonic": fake_time,
            "sleep": fake_time.sleep,
            "random": lambda: 0.0,
            **overrides,
        }
        client = IotClient(api.url, credentials, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
