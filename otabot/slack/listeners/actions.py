"""The buttons: page turns, refresh, share and retry, answered through the click's response_url."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from otabot.slack import ids
from otabot.slack.access import Requester, product_refusal, refusal
from otabot.slack.blocks import Message, refusal_message, usage_message
from otabot.slack.grammar import UsageError, decode_state
from otabot.slack.listeners import Answering, audit
from otabot.slack.replies import APOLOGY, answer

logger = logging.getLogger(__name__)


def register(app: App, answering: Answering) -> None:
    """The routing table for buttons; every click is acked at once and served lazily."""

    def acknowledge_click(ack: Ack) -> None:
        ack()

    def turn_page(body: dict[str, Any]) -> None:
        handle_click(answering, body, refresh=False)

    def refresh_page(body: dict[str, Any]) -> None:
        handle_click(answering, body, refresh=True)

    def share_page(body: dict[str, Any]) -> None:
        handle_click(answering, body, refresh=False, share=True)

    def retry_lookup(body: dict[str, Any]) -> None:
        handle_click(answering, body, refresh=False)

    app.action(ids.ACTION_PREV)(ack=acknowledge_click, lazy=[turn_page])
    app.action(ids.ACTION_NEXT)(ack=acknowledge_click, lazy=[turn_page])
    app.action(ids.ACTION_REFRESH)(ack=acknowledge_click, lazy=[refresh_page])
    app.action(ids.ACTION_SHARE)(ack=acknowledge_click, lazy=[share_page])
    app.action(ids.ACTION_RETRY)(ack=acknowledge_click, lazy=[retry_lookup])


def _clicked(body: dict[str, Any]) -> tuple[str, object]:
    """The action_id and value of the clicked button (absent parts as empty)."""
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        action = actions[0]
        return str(action.get("action_id", "")), action.get("value")
    return "", None


def handle_click(
    answering: Answering, body: dict[str, Any], *, refresh: bool, share: bool = False
) -> None:
    """Check who clicked and what the button carries, then answer through response_url.

    Page turns, refresh and retry replace the message they were on; share posts a new
    in-channel message naming who shared it and leaves the original alone.
    """
    response_url = body.get("response_url")
    if not isinstance(response_url, str):
        return
    requester = Requester.from_body(body)
    action_id, value = _clicked(body)
    started = answering.monotonic()
    query = "?"
    try:
        reason = refusal(answering.settings, requester)
        command = decode_state(value)
        if reason is None and not isinstance(command, UsageError):
            query = command.describe()
            reason = product_refusal(answering.settings, command.lookup.product_key)
        if reason is not None:
            answering.poster.post(response_url, refusal_message(reason))
            audit(requester, action=action_id, query=query, outcome="refused")
            return
        if isinstance(command, UsageError):
            answering.poster.post(response_url, usage_message(command))
            audit(requester, action=action_id, query=query, outcome="invalid_button")
            return
        reply = answer(
            answering.service,
            command,
            refresh=refresh,
            page_size=answering.settings.page_size,
            now=answering.now,
            shared_by=(requester.user_id or "unknown") if share else None,
        )
        if share and reply.outcome == "ok":
            answering.poster.post(response_url, reply.message, response_type="in_channel")
        elif share:
            answering.poster.post(response_url, reply.message)
        else:
            answering.poster.post(response_url, reply.message, replace_original=True)
    except Exception:
        logger.exception("a /ota button failed unexpectedly")
        answering.poster.post(response_url, Message(text=APOLOGY))
        audit(requester, action=action_id, query=query, outcome="crashed")
        return
    audit(
        requester,
        action=action_id,
        query=query,
        outcome=reply.outcome,
        upstream_calls=reply.upstream_calls,
        cache_hit=reply.cache_hit,
        latency_ms=round((answering.monotonic() - started) * 1000),
    )
