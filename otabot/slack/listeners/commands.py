"""``/ota``: checked and acknowledged at once, looked up in a lazy listener."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from otabot.query.grammar import UsageProblem, parse_text
from otabot.query.queries import HelpQuery, SlashQuery, WatchQuery, query_text
from otabot.slack import ids
from otabot.slack.access import Requester, refusal
from otabot.slack.blocks import (
    Message,
    help_message,
    notice_message,
    refusal_message,
    usage_message,
)
from otabot.slack.listeners import (
    Answering,
    audit,
    query_refusal,
    usable_response_url,
    watch_reply,
)
from otabot.slack.replies import APOLOGY, Reply, WatchReply, answer

logger = logging.getLogger(__name__)

NO_RESPONSE_URL = (
    "This lookup cannot be delivered without a response_url: Slack sent the command "
    "without one, so otabot has nowhere to post the answer. Try /ota again; if it keeps "
    "happening, tell your otabot admin."
)


def register(app: App, answering: Answering) -> None:
    """The routing table for slash commands."""

    def acknowledge_ota(ack: Ack, body: dict[str, Any]) -> None:
        acknowledge_command(answering, ack, body)

    def look_up_ota(body: dict[str, Any]) -> None:
        answer_command(answering, body)

    app.command(ids.COMMAND)(ack=acknowledge_ota, lazy=[look_up_ota])


def _gate(answering: Answering, body: dict[str, Any]) -> SlashQuery | tuple[Message, str]:
    """The query to look up, or the message that answers instead and the audit outcome."""
    reason = refusal(answering.settings, Requester.from_body(body))
    if reason is not None:
        return refusal_message(reason), "refused"
    text = body.get("text")
    parsed = parse_text(text if isinstance(text, str) else "", answering.settings)
    if isinstance(parsed, HelpQuery):
        return help_message(), "help"
    if isinstance(parsed, UsageProblem):
        return usage_message(parsed), "usage_error"
    reason = query_refusal(answering.settings, parsed)
    if reason is not None:
        return refusal_message(reason), "refused"
    return parsed


def acknowledge_command(answering: Answering, ack: Ack, body: dict[str, Any]) -> None:
    """Ack within Slack's 3 s; help, usage errors and refusals are the ack itself."""
    try:
        gated = _gate(answering, body)
    except Exception:
        logger.exception("could not check a /ota command")
        ack(text=APOLOGY, response_type="ephemeral")
        return
    if not isinstance(gated, tuple):
        if usable_response_url(body) is not None:
            ack()
            return
        # The lookup's answer goes through response_url; without one it would vanish.
        logger.warning("answered a /ota command without a response_url in its ack; no lookup")
        gated = notice_message(NO_RESPONSE_URL), "no_response_url"
    message, outcome = gated
    payload = message.as_payload()
    ack(text=payload["text"], blocks=payload.get("blocks"), response_type="ephemeral")
    audit(
        Requester.from_body(body),
        action="command",
        query=str(body.get("text", ""))[:200],
        outcome=outcome,
    )


def answer_command(answering: Answering, body: dict[str, Any]) -> None:
    """The lazy half: run the lookup and answer through ``response_url``."""
    response_url = usable_response_url(body)
    if response_url is None:
        return  # answered in the ack, which said why there is no lookup
    requester = Requester.from_body(body)
    started = answering.monotonic()
    query = str(body.get("text", ""))[:200]
    try:
        gated = _gate(answering, body)
        if isinstance(gated, tuple):
            return  # answered in the ack
        query = query_text(gated)
        reply: Reply | WatchReply
        if isinstance(gated, WatchQuery):
            reply = watch_reply(answering, requester, gated, stop=False)
        else:
            reply = answer(
                answering.service,
                gated,
                settings=answering.settings,
                refresh=False,
                wall_clock=answering.wall_clock,
            )
        if reply.message is not None:
            answering.poster.post(response_url, reply.message)
    except Exception:
        logger.exception("a /ota lookup failed unexpectedly")
        answering.poster.post(response_url, Message(text=APOLOGY))
        audit(requester, action="command", query=query, outcome="crashed")
        return
    audit(
        requester,
        action="command",
        query=query,
        outcome=reply.outcome,
        upstream_calls=reply.upstream_calls,
        cache_hit=reply.cache_hit,
        latency_ms=round((answering.monotonic() - started) * 1000),
    )
