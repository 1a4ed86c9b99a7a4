"""From a command to its reply: errors in words with their code, RequestId and Retry."""

from __future__ import annotations

import json
import math

import pytest

from otabot.iot.errors import (
    DeviceNotFoundError,
    IotError,
    ProductNotFoundError,
    ThrottledError,
)
from otabot.service import JobsLookup, JobsResult
from otabot.slack import ids
from otabot.slack.grammar import OtaCommand
from otabot.slack.replies import answer
from tests.slack.conftest import FIRMWARE, NOW, PRODUCT

COMMAND = OtaCommand(JobsLookup(PRODUCT, "light9", FIRMWARE))


class FailingService:
    """A lookup service whose every lookup fails with one error."""

    def __init__(self, error: IotError) -> None:
        self.error = error

    def jobs(self, query: JobsLookup, refresh: bool = False) -> JobsResult:
        raise self.error


def reply_to(error: IotError) -> dict:
    reply = answer(
        FailingService(error), COMMAND, refresh=False, page_size=5, wall_clock=NOW.timestamp
    )
    return reply.message.as_payload()


def test_not_found_names_the_device_product_code_and_request_id_without_retry() -> None:
    payload = reply_to(
        DeviceNotFoundError("nope", code="iot.device.NotExistedDevice", request_id="REQ-7")
    )
    text = json.dumps(payload, ensure_ascii=False)
    assert f"Device `light9` not found in product `{PRODUCT}`." in text
    assert "code `iot.device.NotExistedDevice` · RequestId `REQ-7`" in text
    assert ids.ACTION_RETRY not in text


def test_throttling_says_when_to_try_again_and_offers_retry() -> None:
    payload = reply_to(ThrottledError("busy", code="Throttling.User", retry_after=2.2))
    assert payload["text"] == "/ota: IoT API busy — try again in 3 s."
    assert ids.ACTION_RETRY in json.dumps(payload)


@pytest.mark.parametrize("retry_after", [math.inf, math.nan, -5.0, 1e9, None])
def test_a_meaningless_retry_after_still_gives_a_sane_wait(retry_after: float | None) -> None:
    payload = reply_to(ThrottledError("busy", code="Throttling", retry_after=retry_after))
    assert payload["text"] == "/ota: IoT API busy — try again in 1 s."


def test_unknown_product_says_it_is_neither_a_product_key_nor_an_alias() -> None:
    payload = reply_to(ProductNotFoundError("nope", code="iot.prod.NotExistedProduct"))
    assert "no such ProductKey and no alias of that name" in payload["text"]
