"""Watched cards in the channel through the Web API: post, edit, reply in the thread.

``chat.postMessage`` and ``chat.update`` (scope ``chat:write``; ``chat:write.public``
to post in a public channel otabot was not invited to). Every call comes back as a
``Posted``: the message's ``ts``, or Slack's error word. A 429 carries ``Retry-After``:
that method is then not called again before it has passed (the caller is told
``ratelimited`` without a call) — by this process, or with ``Pauses`` in Redis
(``otabot.watch.redis_watches``) by any replica, since Slack counts the workspace's
calls, not one replica's. The bot token is the client's; nothing here logs it, or a
message's text.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from otabot.clocks import Monotonic
from otabot.slack.blocks import Message

logger = logging.getLogger(__name__)

RATELIMITED = "ratelimited"
UNREACHABLE = "unreachable"
# Slack's words for a card that can no longer be edited: the watch ends.
CARD_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
CHANNEL_GONE = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
# When Slack gives a 429 no usable Retry-After.
DEFAULT_RETRY_AFTER = 30.0
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True)
class Posted:
    """A Web API call's outcome: ``ts`` when it worked, else Slack's ``error`` word."""

    ts: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, with ``ratelimited``

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ends_watch(self) -> bool:
        """The card or its channel is gone, or otabot is not in the channel any more."""
        return self.error in CARD_GONE or self.error in CHANNEL_GONE


class Pauses(Protocol):
    """Where a Web API method's ``Retry-After`` is kept."""

    def pause(self, method: str, seconds: float) -> None: ...

    def paused_for(self, method: str) -> float:
        """Seconds until ``method`` may be called again (0 when it may now)."""
        ...


class LocalPauses:
    """``Pauses`` of this process."""

    def __init__(self, monotonic: Monotonic = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def pause(self, method: str, seconds: float) -> None:
        with self._lock:
            until = self._monotonic() + seconds
            self._until[method] = max(until, self._until.get(method, until))

    def paused_for(self, method: str) -> float:
        with self._lock:
            return max(0.0, self._until.get(method, 0.0) - self._monotonic())


class ChannelPoster:
    """Posts and edits in-channel messages with the bot token; honours ``Retry-After``."""

    def __init__(
        self,
        client: WebClient,
        *,
        monotonic: Monotonic = time.monotonic,
        pauses: Pauses | None = None,
    ) -> None:
        self._client = client
        self._pauses = pauses if pauses is not None else LocalPauses(monotonic)

    def paused_for(self, method: str) -> float:
        """Seconds until ``method`` may be called again (0 when it may now)."""
        return self._pauses.paused_for(method)

    def post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> Posted:
        body = message.as_payload()
        extra: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False}
        if thread_ts is not None:
            extra["thread_ts"] = thread_ts
        return self._call("chat.postMessage", {"channel": channel, **body, **extra})

    def update(self, channel: str, ts: str, message: Message) -> Posted:
        return self._call("chat.update", {"channel": channel, "ts": ts, **message.as_payload()})

    def permalink(self, channel: str, ts: str) -> str | None:
        """A link to the message, or None when Slack gives none (words do then)."""
        answer = self._call("chat.getPermalink", None, {"channel": channel, "message_ts": ts})
        return answer.ts

    def _call(
        self, method: str, body: dict[str, Any] | None, params: dict[str, str] | None = None
    ) -> Posted:
        waiting = self.paused_for(method)
        if waiting > 0:
            return Posted(error=RATELIMITED, retry_after=waiting)
        try:
            if body is not None:
                response = self._client.api_call(method, json=body)
            else:
                response = self._client.api_call(method, data=params)
        except SlackApiError as error:
            return self._refused(method, error)
        except (SlackClientError, OSError) as error:
            logger.warning(
                "could not reach the Slack Web API for %s: %s", method, type(error).__name__
            )
            return Posted(error=UNREACHABLE)
        data = response.data if isinstance(response.data, dict) else {}
        found = data.get("ts") or data.get("permalink")
        return Posted(ts=str(found) if found else None)

    def _refused(self, method: str, error: SlackApiError) -> Posted:
        response = error.response
        word = str(response.get("error") or "unknown_error")
        if response.status_code == 429 or word == RATELIMITED:
            after = _retry_after(response.headers)
            self._pauses.pause(method, after)
            logger.warning("Slack rate-limited %s: waiting %.0f s as it asks", method, after)
            return Posted(error=RATELIMITED, retry_after=after)
        return Posted(error=word)


def _retry_after(headers: Any) -> float:
    """Slack's ``Retry-After`` in seconds (bounded; a missing or odd one is 30 s)."""
    value = None
    if isinstance(headers, dict):
        for name, given in headers.items():
            if str(name).lower() == "retry-after":
                value = given[0] if isinstance(given, list) and given else given
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER
    except (TypeError, ValueError):
        seconds = DEFAULT_RETRY_AFTER
    if not math.isfinite(seconds) or seconds < 0:
        seconds = DEFAULT_RETRY_AFTER
    return min(max(seconds, 1.0), MAX_RETRY_AFTER)
