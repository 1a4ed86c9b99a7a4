"""The start-up check of SLACK_BOT_TOKEN tells Slack refusing the token from Slack not
being reached, in one message, with nothing logged by slack_sdk on the side."""

from __future__ import annotations

import logging
import socket

import pytest
from slack_sdk import WebClient

from otabot.slack.bot_token import BotTokenError, check_bot_token
from tests.iot.canned import CannedApi, Reply


def client_of(api_url: str) -> WebClient:
    return WebClient(token="xoxb-the-bot-token", base_url=api_url)


def checked(api_url: str, caplog: pytest.LogCaptureFixture) -> str:
    """The check's message; slack_sdk must have logged nothing while it ran."""
    caplog.set_level(logging.DEBUG, logger="slack_sdk")
    with pytest.raises(BotTokenError) as caught:
        check_bot_token(client_of(api_url))
    assert [r for r in caplog.records if r.name.startswith("slack_sdk")] == []
    assert "xoxb-the-bot-token" not in str(caught.value)
    return str(caught.value)


def test_a_token_slack_refuses_is_named_with_slacks_error(
    api: CannedApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.queue(Reply(body={"ok": False, "error": "invalid_auth"}))
    message = checked(f"{api.url}/api/", caplog)
    assert message == "Slack refused SLACK_BOT_TOKEN (auth.test: invalid_auth)"


def test_a_proxys_502_page_is_slack_not_reached_with_the_status(
    api: CannedApi, caplog: pytest.LogCaptureFixture
) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    api.queue(Reply(status=502, body=page, headers={"Content-Type": "text/html"}))
    message = checked(f"{api.url}/api/", caplog)
    assert message == (
        f"could not reach Slack to check SLACK_BOT_TOKEN: {api.url}/api/auth.test answered "
        "HTTP 502 Bad Gateway, not Slack's JSON"
    )


def test_a_captive_portal_page_with_200_is_slack_not_reached(
    api: CannedApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.queue(Reply(body=b"<html>Sign in to the hotel wifi</html>"))
    assert "answered HTTP 200 OK, not Slack's JSON" in checked(f"{api.url}/api/", caplog)


def test_slack_rate_limiting_the_check_names_the_status_and_error(
    api: CannedApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.queue(
        Reply(status=429, body={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "1"})
    )
    message = checked(f"{api.url}/api/", caplog)
    assert message == (
        f"could not check SLACK_BOT_TOKEN: {api.url}/api/auth.test answered "
        "HTTP 429 Too Many Requests (ratelimited)"
    )


def test_nothing_listening_names_the_url(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        api_url = f"http://127.0.0.1:{closed.getsockname()[1]}/api/"
    assert checked(api_url, caplog) == (
        f"could not reach Slack at {api_url}auth.test to check SLACK_BOT_TOKEN: Connection refused"
    )


def test_a_token_slack_accepts_gives_the_bots_identity(api: CannedApi) -> None:
    api.queue(Reply(body={"ok": True, "team": "Acme", "user_id": "U0BOT"}))
    assert check_bot_token(client_of(f"{api.url}/api/"))["team"] == "Acme"
