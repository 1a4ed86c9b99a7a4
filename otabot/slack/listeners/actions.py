"""The buttons: page turns, refresh, share and retry, answered through the click's response_url."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltResponse

from otabot.slack import ids
from otabot.slack.access import Requester, product_refusal, refusal
from otabot.slack.blocks import Message, notice_message, refusal_message, usage_message
from otabot.slack.grammar import UsageError, decode_state
from otabot.slack.listeners import Answering, audit, usable_response_url
from otabot.slack.replies import APOLOGY, answer

logger = logging.getLogger(__name__)

# Registered last, so it only sees clicks no listener above claimed: a button from an older
# otabot on an old message, or an action that is not ours at all.
ANY_ACTION = re.compile(".*")
UNSUPPORTED_BUTTON = "This button is no longer supported — run /ota again."
NO_RESPONSE_URL = (
    "this click carries no response_url, so otabot has nowhere to answer it "
    "(otabot's buttons live on messages, which always have one)"
)


def register(app: App, answering: Answering) -> None:
    """The routing table for buttons; every click is acked at once and served lazily."""

    def acknowledge_click(ack: Ack, body: dict[str, Any]) -> BoltResponse | None:
        return acknowledge(ack, body)

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

    def explain_unsupported(body: dict[str, Any]) -> None:
        handle_unsupported(answering, body)

    app.action(ANY_ACTION)(ack=acknowledge_click, lazy=[explain_unsupported])


def acknowledge(ack: Ack, body: dict[str, Any]) -> BoltResponse | None:
    """Ack a click at once; one without a response_url is a 400 in words (it cannot be answered)."""
    if usable_response_url(body) is not None:
        ack()
        return None
    action_id, _ = _clicked(body)
    logger.warning("refused a click without a response_url", extra={"action": action_id})
    audit(Requester.from_body(body), action=action_id, query="?", outcome="no_response_url")
    return BoltResponse(status=400, body={"error": NO_RESPONSE_URL})


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
    response_url = usable_response_url(body)
    if response_url is None:
        return  # refused with a 400 by ``acknowledge``
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
            wall_clock=answering.wall_clock,
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


def handle_unsupported(answering: Answering, body: dict[str, Any]) -> None:
    """A click otabot has no handler for: say so in words, ephemerally; no upstream call."""
    response_url = usable_response_url(body)
    if response_url is None:
        return  # refused with a 400 by ``acknowledge``
    requester = Requester.from_body(body)
    action_id, _ = _clicked(body)
    try:
        reason = refusal(answering.settings, requester)
        if reason is not None:
            answering.poster.post(response_url, refusal_message(reason))
            outcome = "refused"
        else:
            answering.poster.post(response_url, notice_message(UNSUPPORTED_BUTTON))
            outcome = "unsupported_action"
    except Exception:
        logger.exception("answering an unsupported /ota button failed unexpectedly")
        answering.poster.post(response_url, Message(text=APOLOGY))
        outcome = "crashed"
    audit(requester, action=action_id, query="?", outcome=outcome)
