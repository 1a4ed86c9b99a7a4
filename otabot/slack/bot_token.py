"""Checking the bot token at start (``auth.test``), and saying exactly what went wrong.

Slack refuses a token with HTTP 200 and ``ok: false``. An answer that is not Slack's
JSON (a proxy's 502 page, a captive portal) means Slack was not reached, and the message
says so with the status, never the page; Slack's own JSON with another status (429
``ratelimited``) means the token could not be checked, and names the status and error.
slack_sdk logs a failed call at ERROR before raising it; the check goes through a
client whose logger is off, since otabot's one line says the same.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from otabot.config import shown_url
from otabot.iot.errors import OtabotError

QUIET_LOGGER = "otabot.slack.bot_token.sdk"
_NOT_JSON = "Received a response in a non-JSON format"


class BotTokenError(OtabotError):
    """The bot token could not be checked, or Slack refused it; the message is the line."""


def check_bot_token(client: WebClient) -> dict[str, Any]:
    """``auth.test`` the bot token: the bot's identity; ``BotTokenError`` says why not."""
    where = shown_url(f"{client.base_url}auth.test")
    try:
        response = _quiet_copy(client).auth_test()
    except SlackApiError as error:
        status = error.response.status_code
        data = error.response.data
        slack_error = str(data.get("error") or "") if isinstance(data, dict) else _NOT_JSON
        if slack_error.startswith(_NOT_JSON):
            raise BotTokenError(
                f"could not reach Slack to check SLACK_BOT_TOKEN: {where} answered "
                f"{_status(status)}, not Slack's JSON"
            ) from None
        if status != 200:
            raise BotTokenError(
                f"could not check SLACK_BOT_TOKEN: {where} answered {_status(status)} "
                f"({slack_error or 'no error named'})"
            ) from None
        raise BotTokenError(
            f"Slack refused SLACK_BOT_TOKEN (auth.test: {slack_error or 'unknown'})"
        ) from None
    except (SlackRequestError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        words = getattr(reason, "strerror", None) or str(reason) or type(error).__name__
        raise BotTokenError(
            f"could not reach Slack at {where} to check SLACK_BOT_TOKEN: {words}"
        ) from None
    data = response.data
    return dict(data) if isinstance(data, dict) else {}


def _quiet_copy(client: WebClient) -> WebClient:
    """``client`` as configured, logging nothing."""
    quiet = logging.getLogger(QUIET_LOGGER)
    quiet.disabled = True
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=client.headers,
        logger=quiet,
    )


def _status(code: int) -> str:
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"
