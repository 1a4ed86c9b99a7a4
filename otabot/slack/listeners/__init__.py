"""Listeners split by what Slack sends; each sub-module's ``register()`` is its routing table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_bolt import App

from otabot.clocks import Monotonic, WallClock
from otabot.config import Settings
from otabot.query.queries import SlashQuery, WatchQuery
from otabot.slack.access import Requester, product_refusal
from otabot.slack.blocks import notice_message
from otabot.slack.replies import LookupService, WatchReply
from otabot.slack.responder import ResponseUrlPoster

if TYPE_CHECKING:
    from otabot.watch.watcher import Watcher

audit_logger = logging.getLogger("otabot.audit")

NO_WATCHING = "Watching is not available in this otabot: /ota job JOBID shows the job as it is now."


@dataclass(frozen=True)
class Answering:
    """What every listener needs: settings, the lookup service, a poster and clocks."""

    settings: Settings
    service: LookupService
    poster: ResponseUrlPoster
    wall_clock: WallClock
    monotonic: Monotonic
    watching: Watcher | None = None


def audit(
    requester: Requester,
    *,
    action: str,
    query: str,
    outcome: str,
    upstream_calls: int = 0,
    cache_hit: bool = False,
    latency_ms: int = 0,
) -> None:
    """One structured line per lookup or click; IDs only, never a secret or a response_url."""
    audit_logger.info(
        "%s %s",
        action,
        outcome,
        extra={
            "team": requester.team_id,
            "channel": requester.channel_id,
            "user": requester.user_id,
            "query": query,
            "action": action,
            "outcome": outcome,
            "upstream_calls": upstream_calls,
            "cache_hit": cache_hit,
            "latency_ms": latency_ms,
        },
    )


def usable_response_url(body: dict[str, object]) -> str | None:
    """The request's response_url, or None when it has none otabot could answer through.

    A URL that is present but not Slack's is refused earlier, by the app's middleware.
    """
    url = body.get("response_url")
    return url if isinstance(url, str) and url.strip() else None


def watch_reply(
    answering: Answering, requester: Requester, query: WatchQuery, *, stop: bool
) -> WatchReply:
    """Start watching a job in the requester's channel, or stop (the card's button)."""
    if answering.watching is None:
        return WatchReply(notice_message(NO_WATCHING), "watch_unavailable")
    if stop:
        return answering.watching.end(requester, query)
    return answering.watching.begin(requester, query)


def query_refusal(settings: Settings, query: SlashQuery) -> str | None:
    """Why the product a query names may not be looked up (None: allowed, or not named).

    A query that names no product (a job typed by its JobId) is checked once its
    answer shows the product, in ``otabot.slack.replies``.
    """
    product = getattr(query, "product_key", None)
    return None if product is None else product_refusal(settings, product)


def register_listeners(app: App, answering: Answering) -> None:
    """Route ``/ota`` and the buttons to their handlers."""
    from otabot.slack.listeners import actions, commands

    commands.register(app, answering)
    actions.register(app, answering)
