"""Requests otabot cannot serve as usual: no response_url, a button it no longer knows.

Each gets an answer in words and an audit line; none reaches the IoT Platform.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl, urlencode

import pytest
from slack_bolt import BoltRequest

from otabot.query.queries import JobsQuery, query_text
from otabot.slack import ids
from tests.helpers import LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from tests.slack.conftest import SlackHarness, action_body, command_body, sign

QUERY = f"light/light1 {SHOWCASE_FIRMWARE_ID}"


def without_response_url(form: str) -> str:
    """A form body (command or ``payload=``) with its response_url taken out."""
    fields = dict(parse_qsl(form))
    if "payload" in fields:
        payload = json.loads(fields["payload"])
        del payload["response_url"]
        fields["payload"] = json.dumps(payload)
    else:
        del fields["response_url"]
    return urlencode(fields)


def dispatch(harness: SlackHarness, body: str) -> object:
    return harness.app.dispatch(BoltRequest(body=body, headers=sign(body)))


def light1_state(harness: SlackHarness) -> str:
    """A button value for page 2 of light1's lookup, as otabot's own buttons carry it."""
    return query_text(JobsQuery(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID, page=2))


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "otabot.audit"]


def test_command_without_response_url_is_answered_in_the_ack_with_no_lookup(
    harness: SlackHarness,
) -> None:
    response = dispatch(harness, without_response_url(command_body(QUERY, "unused")))
    assert response.status == 200  # type: ignore[attr-defined]
    body = json.loads(response.body)  # type: ignore[attr-defined]
    assert body["response_type"] == "ephemeral"
    assert "response_url" in body["text"] and "cannot be delivered" in body["text"]
    harness.drain()
    assert harness.service.calls == [] and harness.recorder.responses() == []


def test_command_without_response_url_is_audited_and_logged(
    harness: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        dispatch(harness, without_response_url(command_body(QUERY, "unused")))
        harness.drain()
    (line,) = audit_lines(caplog)
    assert line.outcome == "no_response_url"  # type: ignore[attr-defined]
    assert any(
        r.levelno == logging.WARNING and "response_url" in r.getMessage() for r in caplog.records
    )


def test_help_without_response_url_is_still_answered(harness: SlackHarness) -> None:
    response = dispatch(harness, without_response_url(command_body("help", "unused")))
    assert "/ota [jobs] DEVICE FIRMWARE" in response.body  # type: ignore[attr-defined]


def test_click_without_response_url_is_400_in_words_with_no_lookup(
    harness: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    body = without_response_url(action_body(ids.ACTION_NEXT, light1_state(harness), "unused"))
    with caplog.at_level(logging.INFO):
        response = dispatch(harness, body)
        harness.drain()
    assert response.status == 400  # type: ignore[attr-defined]
    assert "response_url" in json.loads(response.body)["error"]  # type: ignore[attr-defined]
    assert any(
        r.levelno == logging.WARNING and "response_url" in r.getMessage() for r in caplog.records
    )
    (line,) = audit_lines(caplog)
    assert line.outcome == "no_response_url"  # type: ignore[attr-defined]
    assert harness.service.calls == [] and harness.recorder.responses() == []


@pytest.mark.parametrize("action_id", ["ota_page_v1", "someone_elses_button", ""])
def test_unknown_button_is_acked_and_told_in_words_with_no_lookup(
    harness: SlackHarness, action_id: str
) -> None:
    response = harness.click(action_id, light1_state(harness))
    assert response.status == 200
    (posted,) = harness.recorder.wait_for_responses(1)
    harness.drain()
    assert posted["response_type"] == "ephemeral" and posted["replace_original"] is False
    assert "This button is no longer supported — run /ota again" in posted["text"]
    assert harness.service.calls == []


def test_unknown_button_is_audited(harness: SlackHarness, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="otabot.audit"):
        harness.click("ota_page_v1", "{}")
        harness.recorder.wait_for_responses(1)
        harness.drain()
    (line,) = audit_lines(caplog)
    assert line.action == "ota_page_v1"  # type: ignore[attr-defined]
    assert line.outcome == "unsupported_action"  # type: ignore[attr-defined]
    assert line.upstream_calls == 0  # type: ignore[attr-defined]


def test_unknown_button_without_response_url_is_400_in_words(harness: SlackHarness) -> None:
    response = dispatch(harness, without_response_url(action_body("ota_page_v1", "{}", "unused")))
    harness.drain()
    assert response.status == 400  # type: ignore[attr-defined]
    assert "response_url" in response.body  # type: ignore[attr-defined]
    assert harness.recorder.responses() == []


def test_known_buttons_still_reach_their_own_handlers(harness: SlackHarness) -> None:
    harness.click(ids.ACTION_NEXT, light1_state(harness))
    (posted,) = harness.recorder.wait_for_responses(1)
    harness.drain()
    assert "no longer supported" not in json.dumps(posted)
    assert "page 2 of 3" in json.dumps(posted, ensure_ascii=False)
