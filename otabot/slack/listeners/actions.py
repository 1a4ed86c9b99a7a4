"""The buttons: page turns, refresh, share, retry, and the cards one card opens, answered
through the click's response_url."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltResponse

from otabot.query.grammar import UsageProblem, parse_value
from otabot.query.queries import HelpQuery, WatchQuery, query_text
from otabot.slack import ids
from otabot.slack.access import Requester, refusal
from otabot.slack.blocks import Message, notice_message, refusal_message, usage_message
from otabot.slack.listeners import (
    Answering,
    Asked,
    Placement,
    audit,
    query_refusal,
    respond,
    respond_watch,
    usable_response_url,
)
from otabot.slack.replies import APOLOGY

logger = logging.getLogger(__name__)

# Registered last, so it only sees clicks no listener above claimed: a button from an older
# otabot on an old message, or an action that is not ours at all.
ANY_ACTION = re.compile(".*")
UNSUPPORTED_BUTTON = (
    "This button is no longer supported — run /ota again (/ota help shows what it takes)."
)
NOT_A_QUERY = UsageProblem("this button carries no query")
NO_RESPONSE_URL = (
    "this click carries no response_url, so otabot has nowhere to answer it "
    "(otabot's buttons live on messages, which always have one)"
)


ROUTES: dict[str, tuple[Placement, bool]] = {
    ids.ACTION_PREV: (Placement.REPLACE, False),
    ids.ACTION_NEXT: (Placement.REPLACE, False),
    ids.ACTION_REFRESH: (Placement.REPLACE, True),
    ids.ACTION_RETRY: (Placement.REPLACE, False),
    ids.ACTION_PICK: (Placement.REPLACE, False),
    ids.ACTION_JOB: (Placement.NEW, False),
    ids.ACTION_JOBS: (Placement.NEW, False),
    ids.ACTION_FAILED: (Placement.NEW, False),
    ids.ACTION_FW_JOBS: (Placement.NEW, False),
    ids.ACTION_SHARE: (Placement.CHANNEL, False),
    # Watching posts (or edits) the card in the channel itself; only words come back here.
    ids.ACTION_WATCH: (Placement.NEW, False),
    ids.ACTION_UNWATCH: (Placement.NEW, False),
}
WATCH_ACTIONS = frozenset({ids.ACTION_WATCH, ids.ACTION_UNWATCH})


def register(app: App, answering: Answering) -> None:
    """The routing table for buttons: each action's placement and whether it refreshes.

    Every click is acked at once and served lazily; the button's value is the query.
    """

    def acknowledge_click(ack: Ack, body: dict[str, Any]) -> BoltResponse | None:
        return acknowledge(ack, body)

    for action_id, (placement, refresh) in ROUTES.items():
        app.action(action_id)(
            ack=acknowledge_click, lazy=[_click_server(answering, action_id, placement, refresh)]
        )

    def explain_unsupported(body: dict[str, Any]) -> None:
        handle_unsupported(answering, body)

    app.action(ANY_ACTION)(ack=acknowledge_click, lazy=[explain_unsupported])


def _click_server(
    answering: Answering, action_id: str, placement: Placement, refresh: bool
) -> Callable[[dict[str, Any]], None]:
    def serve_click(body: dict[str, Any]) -> None:
        handle_click(answering, body, placement=placement, refresh=refresh)

    serve_click.__name__ = f"serve_{action_id}"
    return serve_click


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
    answering: Answering, body: dict[str, Any], *, placement: Placement, refresh: bool
) -> None:
    """Check who clicked and what the button carries, then answer through response_url.

    The value is read by the same parser as typed text, and every access check is made
    again before any call: a button is as untrusted as anything typed.
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
        parsed = parse_value(value, answering.settings)
        if reason is None and not isinstance(parsed, UsageProblem | HelpQuery):
            query = query_text(parsed)
            reason = query_refusal(answering.settings, parsed)
        if reason is not None:
            answering.poster.post(response_url, refusal_message(reason))
            audit(requester, action=action_id, query=query, outcome="refused")
            return
        # A watch button carries a watch, any other button a lookup.
        watching = action_id in WATCH_ACTIONS
        if isinstance(parsed, UsageProblem | HelpQuery) or (
            isinstance(parsed, WatchQuery) != watching
        ):
            problem = parsed if isinstance(parsed, UsageProblem) else NOT_A_QUERY
            answering.poster.post(response_url, usage_message(problem))
            audit(requester, action=action_id, query=query, outcome="invalid_button")
            return
        share = placement is Placement.CHANNEL
        shared_by = (requester.user_id or "unknown") if share else None
        asked = Asked(
            parsed, requester, action_id, response_url, placement, refresh, started, shared_by
        )
        if isinstance(parsed, WatchQuery):
            respond_watch(answering, asked, parsed, stop=action_id == ids.ACTION_UNWATCH)
        else:
            respond(answering, asked)
    except Exception:
        logger.exception("a /ota button failed unexpectedly")
        answering.poster.post(response_url, Message(text=APOLOGY))
        audit(requester, action=action_id, query=query, outcome="crashed")


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
