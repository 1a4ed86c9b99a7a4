"""Posting to a ``response_url`` (``slack_sdk.webhook.WebhookClient``), and saying when it fails."""

from __future__ import annotations

import logging
from typing import Any, Literal

from slack_sdk.webhook import WebhookClient

from otabot.slack.blocks import Message

logger = logging.getLogger(__name__)

ResponseType = Literal["ephemeral", "in_channel"]


class ResponseUrlPoster:
    """Sends messages through response URLs; the URL itself is never logged (it is a credential)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    def post(
        self,
        response_url: str,
        message: Message,
        *,
        response_type: ResponseType = "ephemeral",
        replace_original: bool = False,
    ) -> bool:
        """Post ``message``; True when Slack accepted it."""
        body: dict[str, Any] = message.as_payload()
        body["response_type"] = response_type
        body["replace_original"] = replace_original
        try:
            response = WebhookClient(response_url, timeout=int(self.timeout) or 1).send_dict(body)
        except OSError:
            logger.exception("could not reach the response_url")
            return False
        if response.status_code != 200:
            logger.warning(
                "response_url refused the message",
                extra={"status": response.status_code, "body": response.body[:200]},
            )
            return False
        return True
