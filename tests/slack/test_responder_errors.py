"""A response_url that cannot be posted to is said in one log line that quotes no URL."""

from __future__ import annotations

import logging

import pytest

from otabot.slack.blocks import Message
from otabot.slack.responder import ResponseUrlPoster

SECRET_PATH = "/actions/T0001/123456/s3cr3tTOKEN"


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:9{SECRET_PATH}",  # nothing listens: connection refused
        f"http://127.0.0.1:9{SECRET_PATH}\x00x",  # a URL http.client will not send
        f"http://127.0.0.1:9{SECRET_PATH}é",
    ],
    ids=["refused", "control-character", "non-ascii"],
)
def test_a_post_that_cannot_go_returns_false_and_logs_no_url(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert ResponseUrlPoster(timeout=2).post(url, Message(text="hello")) is False
    said = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "could not post to the response_url" in said
    assert "s3cr3tTOKEN" not in said and "127.0.0.1:9" not in said
