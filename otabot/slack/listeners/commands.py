"""``/ota``: checked and acknowledged at once, looked up in a lazy listener."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from otabot.query.grammar import UsageProblem, parse_text
from otabot.query.queries import HelpQuery, SlashQuery, WatchQuery
from otabot.slack import ids
from otabot.slack.access import Requester, refusal
from otabot.slack.blocks import (
    Message,
    help_message,
    notice_message,
    refusal_message,
    usage_message,
)
from otabot.slack.deferred import TELL_AFTER, queued_words
from otabot.slack.listeners import (
    Answering,
    Asked,
    Placement,
    audit,
    first_call,
    query_refusal,
    respond,
    respond_watch,
    usable_response_url,
)
from otabot.slack.replies import APOLOGY

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
        settings = answering.settings
        return help_message(list(settings.product_aliases), settings.default_product_key), "help"
    if isinstance(parsed, UsageProblem):
        return usage_message(parsed), "usage_error"
    reason = query_refusal(answering.settings, parsed)
    if reason is not None:
        return refusal_message(reason), "refused"
    return parsed


def acknowledge_command(answering: Answering, ack: Ack, body: dict[str, Any]) -> None:
    """Ack within Slack's 3 s; help, usage errors and refusals are the ack itself, and so is
    the notice that a lookup is queued when its wait is expected to be long."""
    try:
        gated = _gate(answering, body)
    except Exception:
        logger.exception("could not check a /ota command")
        ack(text=APOLOGY, response_type="ephemeral")
        return
    if not isinstance(gated, tuple):
        response_url = usable_response_url(body)
        if response_url is not None:
            ack(**_queued_notice(answering, gated, body, response_url))
            return
        # The lookup's answer goes through response_url; without one it would vanish.
        logger.warning("answered a /ota command without a response_url in its ack; no lookup")
        gated = notice_message(NO_RESPONSE_URL), "no_response_url"
    message, outcome = gated
    ack(**message.as_payload(), response_type="ephemeral")
    audit(
        Requester.from_body(body),
        action="command",
        query=str(body.get("text", ""))[:200],
        outcome=outcome,
    )


def _queued_notice(
    answering: Answering, query: SlashQuery, body: dict[str, Any], response_url: str
) -> dict[str, Any]:
    """The ack's words when the lookup will wait long for the API (else an empty ack)."""
    if isinstance(query, WatchQuery):
        return {}  # a watch answers with a card in the channel
    try:
        action = first_call(answering, query)
        if action is None:
            return {}
        user = Requester.from_body(body).user_id or "-"
        wait = answering.service.estimate([action], user)
    except Exception:
        logger.exception("could not estimate a /ota lookup's wait; acking without it")
        return {}
    if wait <= TELL_AFTER:
        return {}
    answering.deferred.told_in_ack(response_url)
    return {**notice_message(queued_words(wait)).as_payload(), "response_type": "ephemeral"}


def answer_command(answering: Answering, body: dict[str, Any]) -> None:
    """The lazy half: answer through ``response_url`` — at once when cached, else from a
    thread of its own once the API's quota lets it through."""
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
        asked = Asked(gated, requester, "command", response_url, Placement.NEW, False, started)
        if isinstance(gated, WatchQuery):
            respond_watch(answering, asked, gated, stop=False)
        else:
            respond(answering, asked)
    except Exception:
        logger.exception("a /ota lookup failed unexpectedly")
        answering.poster.post(response_url, Message(text=APOLOGY))
        audit(requester, action="command", query=query, outcome="crashed")
