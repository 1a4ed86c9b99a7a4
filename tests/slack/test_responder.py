"""Posting to response_url: accepted or not, and the URL (a credential) never logged."""

from __future__ import annotations

import logging

import pytest

from otabot.demo.slack_side import SlackSide
from otabot.slack.blocks import Message
from otabot.slack.responder import ResponseUrlPoster


def test_a_post_reaches_the_response_url_with_its_response_type(recorder: SlackSide) -> None:
    poster = ResponseUrlPoster()
    assert poster.post(recorder.response_url("r9"), Message(text="hi"), response_type="in_channel")
    (body,) = recorder.wait_for_responses(1)
    assert body["text"] == "hi"
    assert body["response_type"] == "in_channel"
    assert body["replace_original"] is False


def test_the_response_url_stays_out_of_debug_logs(
    recorder: SlackSide, caplog: pytest.LogCaptureFixture
) -> None:
    url = recorder.response_url("secret-path-123")
    with caplog.at_level(logging.DEBUG):
        ResponseUrlPoster().post(url, Message(text="hi"))
    recorder.wait_for_responses(1)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Sending a request" in logged  # slack_sdk did log the post, at DEBUG
    assert "secret-path-123" not in logged
    assert "<response_url>" in logged


def test_an_unreachable_response_url_is_a_false_not_an_exception() -> None:
    assert (
        ResponseUrlPoster(timeout=1).post("http://127.0.0.1:9/nowhere", Message(text="x")) is False
    )
