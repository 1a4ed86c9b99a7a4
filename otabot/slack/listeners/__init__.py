"""Listeners split by what Slack sends; each sub-module's ``register()`` is its routing table."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from slack_bolt import App

from otabot.clocks import Monotonic, WallClock
from otabot.config import Settings
from otabot.query.answers import look_up
from otabot.query.queries import Query, SlashQuery, WatchQuery, query_text
from otabot.service.fairness import CALLER, Caller
from otabot.service.fetching import WouldCall
from otabot.slack.access import Requester, product_refusal
from otabot.slack.blocks import Message, notice_message
from otabot.slack.deferred import DeferredLookups, Delivery
from otabot.slack.replies import APOLOGY, LookupService, Reply, WatchReply, answer
from otabot.slack.responder import ResponseUrlPoster

if TYPE_CHECKING:
    from otabot.watch.watcher import Watcher

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("otabot.audit")

NO_WATCHING = "Watching is not available in this otabot: /ota job JOBID shows the job as it is now."


@dataclass(frozen=True)
class Answering:
    """What every listener needs: settings, the lookup service, a poster, the deferred
    lookups, clocks, the metrics' observer and the watcher."""

    settings: Settings
    service: LookupService
    poster: ResponseUrlPoster
    deferred: DeferredLookups
    wall_clock: WallClock
    monotonic: Monotonic
    # Told each answered lookup: what asked (command, a button), its outcome, seconds.
    observe: Callable[[str, str, float], None] | None = None
    watching: Watcher | None = None


class Placement(Enum):
    """Where an answer goes."""

    NEW = "new"  # a new ephemeral message (a command's answer, a card opened from a card)
    REPLACE = "replace"  # the same card, turned or refreshed: replaces the message
    CHANNEL = "channel"  # Share in channel: a new in-channel message


class Poster(Protocol):
    def post(self, message: Message, **options: Any) -> bool: ...


class _ToUrl:
    def __init__(self, poster: ResponseUrlPoster, response_url: str) -> None:
        self._poster, self._url = poster, response_url

    def post(self, message: Message, **options: Any) -> bool:
        return self._poster.post(self._url, message, **options)


def post_reply(poster: Poster, reply: Reply, placement: Placement) -> None:
    """Send a reply where its placement says (a share that is not a card stays ephemeral)."""
    if placement is Placement.CHANNEL and reply.shareable:
        poster.post(reply.message, response_type="in_channel")
    elif placement is Placement.REPLACE:
        poster.post(reply.message, replace_original=True)
    else:
        poster.post(reply.message)


@dataclass(frozen=True)
class Asked:
    """One query to answer, and everything the answer and its audit line need."""

    query: SlashQuery
    requester: Requester
    action: str  # "command" or the button's action_id
    response_url: str
    placement: Placement
    refresh: bool
    started: float
    shared_by: str | None = None


def first_call(answering: Answering, query: Query) -> str | None:
    """The API action answering ``query`` would call first, or None when it is cached."""
    try:
        look_up(answering.service.cached(counted=False), query)
    except WouldCall as need:
        return need.action
    except Exception:  # a cached refusal, or anything a real lookup answers in words
        return None
    return None


def respond(answering: Answering, asked: Asked) -> None:
    """Answer at once from the caches; a lookup that needs the API waits on a thread of its
    own (``DeferredLookups``), so it never holds a listener worker while it waits."""
    try:
        reply = _answer(answering, asked, answering.service.cached())
    except WouldCall as need:
        _defer(
            answering,
            asked,
            need.action,
            lambda: _answer(answering, asked, answering.service),
            lambda delivery, reply: post_reply(delivery, reply, asked.placement),
        )
        return
    post_reply(_ToUrl(answering.poster, asked.response_url), reply, asked.placement)
    _audit(answering, asked, reply.outcome, reply)


def respond_watch(answering: Answering, asked: Asked, query: WatchQuery, *, stop: bool) -> None:
    """Start or stop watching a job, on a thread of its own like a lookup that needs the
    API (starting fetches the job card, which may wait for its quota turn)."""

    def deliver(delivery: Delivery, reply: WatchReply) -> None:
        if reply.message is not None:  # none: the card in the channel is the answer
            delivery.post(reply.message)

    _defer(
        answering,
        asked,
        "QueryOTAJob",
        lambda: watch_reply(answering, asked.requester, query, stop=stop),
        deliver,
    )


R = TypeVar("R", Reply, WatchReply)


def _defer(
    answering: Answering,
    asked: Asked,
    action: str,
    produce: Callable[[], R],
    deliver: Callable[[Delivery, R], None],
) -> None:
    """Run ``produce`` on a thread of its own (its first call is ``action``), hand its reply
    to ``deliver`` and audit it; or say in words why it cannot wait (too many waiting)."""
    user = asked.requester.user_id or "-"

    def work(delivery: Delivery) -> None:
        caller = Caller(user)
        CALLER.set(caller)
        try:
            reply = produce()
        except Exception:
            logger.exception("a /ota %s failed unexpectedly", asked.action)
            delivery.post(Message(text=APOLOGY))
            _audit(answering, asked, "crashed", calls=caller.admitted)
            return
        deliver(delivery, reply)
        # This interaction's calls: every attempt the quota let go for it (retries and
        # throttled ones too, none for a fetch it joined); a service without a quota
        # (tests) only knows the calls its answer records.
        _audit(
            answering, asked, reply.outcome, reply, calls=max(caller.admitted, reply.upstream_calls)
        )

    refusal_words = answering.deferred.submit(
        work,
        response_url=asked.response_url,
        replace=asked.placement is Placement.REPLACE,
        estimate=lambda: answering.service.estimate([action], user),
        name=asked.action,
    )
    if refusal_words is not None:
        _ToUrl(answering.poster, asked.response_url).post(notice_message(refusal_words))
        _audit(answering, asked, "busy")


def _answer(answering: Answering, asked: Asked, service: LookupService) -> Reply:
    assert not isinstance(asked.query, WatchQuery)  # watches go through respond_watch
    return answer(
        service,
        asked.query,
        settings=answering.settings,
        refresh=asked.refresh,
        wall_clock=answering.wall_clock,
        shared_by=asked.shared_by,
    )


def _audit(
    answering: Answering,
    asked: Asked,
    outcome: str,
    reply: Reply | WatchReply | None = None,
    *,
    calls: int = 0,
) -> None:
    """The audit line (and the latency metric) of one answered lookup; ``calls`` are the
    upstream calls it cost (none when answered from the caches)."""
    seconds = answering.monotonic() - asked.started
    if answering.observe is not None:
        answering.observe(asked.action, outcome, seconds)
    audit(
        asked.requester,
        action=asked.action,
        query=query_text(asked.query),
        outcome=outcome,
        upstream_calls=calls,
        cache_hit=reply.cache_hit if reply is not None else False,
        latency_ms=round(seconds * 1000),
    )


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
