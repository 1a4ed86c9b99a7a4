"""The Bolt app against hostile requests: quiet signature refusals, response_urls not Slack's."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from slack_bolt import BoltRequest

from otabot.demo.slack_side import SlackSide
from otabot.query.queries import JobsQuery, query_text
from otabot.slack import ids
from otabot.slack.access import response_url_refusal
from tests.helpers import LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from tests.slack.conftest import SlackHarness, action_body, settings_for, sign, signed_command

ELSEWHERE = "http://169.254.169.254/latest/meta-data/"
LIGHT1_VALUE = query_text(JobsQuery(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))


def test_forged_request_logs_neither_signature_nor_body(
    harness: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    request = signed_command(
        f"light/light1 {SHOWCASE_FIRMWARE_ID}", harness.recorder.response_url(), secret="forged"
    )
    with caplog.at_level(logging.DEBUG):
        assert harness.app.dispatch(request).status == 401
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert request.headers["x-slack-signature"][0] not in logged
    assert "team_id=" not in logged and harness.recorder.response_url() not in logged


def test_command_whose_response_url_is_not_slacks_is_refused_in_words(
    harness: SlackHarness,
) -> None:
    response = harness.app.dispatch(
        signed_command(f"light/light1 {SHOWCASE_FIRMWARE_ID}", ELSEWHERE)
    )
    assert response.status == 200
    assert "response_url" in json.loads(response.body)["text"]
    harness.drain()
    assert harness.service.calls == [] and harness.recorder.responses() == []


def test_click_whose_response_url_is_not_slacks_posts_nowhere(harness: SlackHarness) -> None:
    body = action_body(ids.ACTION_NEXT, LIGHT1_VALUE, ELSEWHERE)
    response = harness.app.dispatch(BoltRequest(body=body, headers=sign(body)))
    assert response.status == 400 and "response_url" in response.body
    harness.drain()
    assert harness.service.calls == []


SLACKS_OWN = [
    "https://hooks.slack.com/commands/T0001/1234/abcd",
    "https://hooks.slack.com/actions/T0001/1234/abcd",
    "https://hooks.slack-gov.com/commands/T0001/1234/abcd",
]
OTHERS = [
    "http://hooks.slack.com/commands/T0001/1234/abcd",
    "https://hooks.slack.com.evil.example/commands/x",
    "https://hooks.slack.com:8443/commands/x",
    "https://evil.example/?hooks.slack.com",
    "https://user@evil.example/",
    "http://127.0.0.1:9/response/r1",
    "file:///etc/passwd",
    "",
    "not a url",
]


@pytest.mark.parametrize("url", SLACKS_OWN + OTHERS)
def test_only_slacks_own_response_urls_are_allowed(recorder: SlackSide, url: str) -> None:
    settings = dataclasses.replace(settings_for(recorder), slack_api_url=None)
    refused = response_url_refusal(settings, url)
    assert refused is None if url in SLACKS_OWN else refused is not None


def test_the_configured_slack_api_host_may_serve_response_urls(recorder: SlackSide) -> None:
    settings = settings_for(recorder)  # SLACK_API_URL points at the local stand-in
    assert response_url_refusal(settings, recorder.response_url()) is None
    other_port = recorder.url.rsplit(":", 1)[0] + ":1/response/r1"
    assert response_url_refusal(settings, other_port) is not None
