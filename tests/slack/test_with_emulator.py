"""Signed requests through the real app, the real OtaService and the real emulator."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from otabot.config import Settings
from otabot.demo.slack_side import SlackSide
from otabot.emulator.server import EmulatorServer
from otabot.service import OtaService
from otabot.slack import ids
from tests.helpers import (
    BOT_TOKEN,
    LIGHT_PRODUCT_KEY,
    METER_PRODUCT_KEY,
    SHOWCASE_FIRMWARE_ID,
    SIGNING_SECRET,
)
from tests.slack.conftest import SlackHarness, harness_for


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        element["action_id"]: element["value"]
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    }


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


@pytest.fixture
def live(
    emulator_settings: Settings, recorder: SlackSide, emulator: EmulatorServer
) -> Iterator[SlackHarness]:
    settings = dataclasses.replace(
        emulator_settings,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=recorder.api_url,
    )
    service = OtaService.from_settings(settings)
    built = harness_for(settings, service, recorder)
    yield built
    built.executor.shutdown(wait=True)
    service.close()


def calls(emulator: EmulatorServer) -> int:
    count: int = emulator.stats()["calls"]
    return count


def test_command_shows_the_showcase_device_newest_first(
    live: SlackHarness, emulator: EmulatorServer
) -> None:
    live.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    (posted,) = live.recorder.wait_for_responses(1)
    text = dumps(posted)
    assert posted["blocks"][0]["text"]["text"] == "OTA jobs · light1"
    assert "*14 jobs*" in text and "page 1 of 3" in text
    assert calls(emulator) == 1


def test_channel_ping_in_a_fleet_tag_is_escaped(
    live: SlackHarness, emulator: EmulatorServer
) -> None:
    live.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    first = live.recorder.wait_for_responses(1)[0]
    pages = [first]
    for count in (2, 3):
        live.click(ids.ACTION_NEXT, buttons(pages[-1])[ids.ACTION_NEXT])
        pages.append(live.recorder.wait_for_responses(count)[-1])
    text = dumps(pages)
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert calls(emulator) == 1  # page turns came from the cache


def test_unknown_device_is_told_in_words_with_request_id(live: SlackHarness) -> None:
    live.command(f"light/light9 {SHOWCASE_FIRMWARE_ID}")
    (posted,) = live.recorder.wait_for_responses(1)
    text = dumps(posted)
    assert f"Device `light9` not found in product `{LIGHT_PRODUCT_KEY}`." in text
    assert "RequestId `" in text and ids.ACTION_RETRY not in buttons(posted)


def test_firmware_of_another_product_is_told_in_words(live: SlackHarness) -> None:
    live.command(f"meter/meter-01 {SHOWCASE_FIRMWARE_ID}")
    (posted,) = live.recorder.wait_for_responses(1)
    assert f"does not belong to product `{METER_PRODUCT_KEY}`" in dumps(posted)


def test_upstream_outage_offers_retry_and_retry_recovers(
    live: SlackHarness, emulator: EmulatorServer
) -> None:
    emulator.set_faults(error="ServiceUnavailable")
    live.command(f"light/light2 {SHOWCASE_FIRMWARE_ID}")
    (failed,) = live.recorder.wait_for_responses(1)
    assert "try again" in dumps(failed) and "RequestId" in dumps(failed)
    emulator.set_faults()
    live.click(ids.ACTION_RETRY, buttons(failed)[ids.ACTION_RETRY])
    recovered = live.recorder.wait_for_responses(2)[1]
    assert recovered["replace_original"] is True and "OTA jobs · light2" in dumps(recovered)


def test_refresh_goes_upstream_again(live: SlackHarness, emulator: EmulatorServer) -> None:
    live.command(f"light/light2 {SHOWCASE_FIRMWARE_ID}")
    first = live.recorder.wait_for_responses(1)[0]
    live.click(ids.ACTION_REFRESH, buttons(first)[ids.ACTION_REFRESH])
    live.recorder.wait_for_responses(2)
    assert calls(emulator) == 2
