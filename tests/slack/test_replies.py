"""From a query to its reply: errors in words with their code, RequestId and Retry; answers
that show a product the allow-list leaves out are refused."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from otabot.config import Settings
from otabot.iot.errors import (
    DeviceNotFoundError,
    ForbiddenError,
    IotError,
    ProductNotFoundError,
    ThrottledError,
)
from otabot.query.queries import JobQuery, JobsQuery, Query
from otabot.service import JobsLookup, JobsResult
from otabot.slack import ids
from otabot.slack.replies import answer
from tests.helpers import EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, METER_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from tests.slack.conftest import NOW
from tests.world import RecordingService

QUERY = JobsQuery(LIGHT_PRODUCT_KEY, "light9", SHOWCASE_FIRMWARE_ID)
SETTINGS = Settings()


class FailingService(RecordingService):
    """A lookup service whose jobs lookups fail with one error."""

    def __init__(self, error: IotError) -> None:
        super().__init__()
        self.error = error

    def jobs(self, lookup: JobsLookup, refresh: bool = False) -> JobsResult:
        raise self.error


def reply_to(error: IotError, query: Query = QUERY) -> dict:
    reply = answer(
        FailingService(error), query, settings=SETTINGS, refresh=False, wall_clock=NOW.timestamp
    )
    return reply.message.as_payload()


def test_not_found_names_the_device_product_code_and_request_id_without_retry() -> None:
    payload = reply_to(
        DeviceNotFoundError("nope", code="iot.device.NotExistedDevice", request_id="REQ-7")
    )
    text = json.dumps(payload, ensure_ascii=False)
    assert f"Device `light9` not found in product `{LIGHT_PRODUCT_KEY}`." in text
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


def test_a_ram_refusal_names_the_action_to_allow() -> None:
    error = ForbiddenError("denied", code="iot.common.RamActionPermissionDeny")
    error.action = "ListOTAJobByDevice"
    payload = reply_to(error)
    assert "`iot:ListOTAJobByDevice`" in payload["text"]


def test_a_job_of_a_product_not_allowed_is_refused_once_its_product_is_known() -> None:
    service = RecordingService()
    settings = dataclasses.replace(SETTINGS, allowed_products=frozenset({METER_PRODUCT_KEY}))
    reply = answer(
        service,
        JobQuery(EXAMPLE_JOB_ID),
        settings=settings,
        refresh=False,
        wall_clock=NOW.timestamp,
    )
    assert reply.outcome == "refused" and not reply.shareable
    assert f"may not look up product {LIGHT_PRODUCT_KEY}" in reply.message.as_payload()["text"]
