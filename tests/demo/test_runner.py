"""``Demo`` in-process: the real app, service and emulator wired behind Slack's side."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from otabot.config import ConfigError, Settings
from otabot.demo.runner import Demo, DemoOptions
from otabot.demo.slack_side import ChannelMessage, SlackSide
from tests.helpers import SHOWCASE_FIRMWARE_ID

LOOKUP = f"/ota light/light1 {SHOWCASE_FIRMWARE_ID}"


def wait_for_answer(side: SlackSide, after: int, timeout: float = 10.0) -> ChannelMessage:
    """The first app message past the first ``after`` messages (lookups answer asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answers = [m for m in side.messages()[after:] if m.kind == "app"]
        if answers:
            return answers[0]
        time.sleep(0.02)
    pytest.fail(f"no answer from the app: {[m.text for m in side.messages()]}")


@pytest.fixture
def started() -> Iterator[list[Demo]]:
    demos: list[Demo] = []
    yield demos
    for demo in demos:
        demo.stop()


def start(started: list[Demo], environment: Settings, **options: Any) -> Demo:
    demo = Demo(environment, DemoOptions(port=0, **options))
    started.append(demo)
    return demo.start()


def test_without_credentials_the_demo_answers_from_its_own_emulator(started: list[Demo]) -> None:
    demo = start(started, Settings())
    assert demo.side is not None

    demo.side.submit(LOOKUP)

    answer = wait_for_answer(demo.side, after=1)
    assert answer.blocks[0]["text"]["text"] == "OTA jobs · light1"
    assert demo.uses_emulator
    assert demo.settings is not None and demo.settings.redis_url is None


def test_with_an_endpoint_the_demo_asks_it_with_the_configured_credentials(
    started: list[Demo], emulator: Any, emulator_settings: Settings
) -> None:
    demo = start(started, emulator_settings, endpoint=emulator.url)
    assert demo.side is not None

    demo.side.submit(LOOKUP)

    wait_for_answer(demo.side, after=1)
    assert not demo.uses_emulator
    assert emulator.stats()["calls"] == 1


def test_an_endpoint_without_credentials_names_the_missing_variable(
    started: list[Demo],
) -> None:
    with pytest.raises(ConfigError) as refused:
        start(started, Settings(), endpoint="http://127.0.0.1:9")

    assert refused.value.variable == "ALIBABA_CLOUD_ACCESS_KEY_ID"


def test_the_app_gets_a_fresh_signing_secret_and_bot_token_each_run(started: list[Demo]) -> None:
    first, second = start(started, Settings()), start(started, Settings())

    assert first.settings is not None and second.settings is not None
    assert first.settings.slack_signing_secret != second.settings.slack_signing_secret
    assert first.settings.slack_bot_token != second.settings.slack_bot_token
    assert (first.settings.slack_bot_token or "").startswith("xoxb-demo-")


def test_stopping_the_demo_stops_every_server_thread(started: list[Demo]) -> None:
    import threading

    before = {thread.ident for thread in threading.enumerate()}
    demo = start(started, Settings())

    demo.stop()

    leftover = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftover == []
