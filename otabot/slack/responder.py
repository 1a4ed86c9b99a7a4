"""Posting to a ``response_url`` (``slack_sdk.webhook.WebhookClient``), and saying when it fails."""

from __future__ import annotations

import http.client
import logging
import re
from typing import Any, Literal

from slack_sdk.webhook import WebhookClient

from otabot.slack.blocks import Message

logger = logging.getLogger(__name__)

ResponseType = Literal["ephemeral", "in_channel"]

# slack_sdk's WebhookClient logs the URL it posts to at DEBUG; a response_url is a
# credential for 30 minutes, so it is cut out of those lines.
_URL_RE = re.compile(r"https?://\S+")
WEBHOOK_LOGGER = "otabot.slack.webhook"


class HideResponseUrls(logging.Filter):
    """Rewrites a record's message with every URL replaced by ``<response_url>``; of a
    failure's, keeps only what precedes its details (they may quote the URL's path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            head = message.split(":", 1)[0]
            record.msg, record.args = f"{head}: (details left out: they may quote the URL)", None
        elif "://" in message:
            record.msg, record.args = _URL_RE.sub("<response_url>", message), None
        return True


def webhook_logger() -> logging.Logger:
    """The logger WebhookClient writes to, with the URL filter on it (added once)."""
    quiet = logging.getLogger(WEBHOOK_LOGGER)
    if not any(isinstance(f, HideResponseUrls) for f in quiet.filters):
        quiet.addFilter(HideResponseUrls())
    return quiet


class ResponseUrlPoster:
    """Sends messages through response URLs; the URL itself is never logged (it is a credential)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._logger = webhook_logger()

    def post(
        self,
        response_url: str,
        message: Message,
        *,
        response_type: ResponseType = "ephemeral",
        replace_original: bool = False,
        timeout: float | None = None,
    ) -> bool:
        """Post ``message`` (within ``timeout`` s, by default this poster's); True when Slack
        accepted it."""
        body: dict[str, Any] = message.as_payload()
        body["response_type"] = response_type
        body["replace_original"] = replace_original
        seconds = self.timeout if timeout is None else timeout
        try:
            response = WebhookClient(
                response_url, timeout=max(1, int(seconds)), logger=self._logger
            ).send_dict(body)
        except (OSError, ValueError, http.client.HTTPException) as error:
            # Unreachable, or a URL http.client will not send to (InvalidURL is a ValueError).
            # The error's own words may quote the URL, a credential: only its kind is logged.
            reason = getattr(error, "reason", None)
            logger.warning(
                "could not post to the response_url (%s%s)",
                type(error).__name__,
                f": {type(reason).__name__}" if isinstance(reason, BaseException) else "",
            )
            return False
        if response.status_code != 200:
            logger.warning(
                "response_url refused the message",
                extra={"status": response.status_code, "body": response.body[:200]},
            )
            return False
        return True
