"""HTTP mode: ``POST /slack/events`` for Bolt, ``GET /healthz``, and a guard in front of Bolt.

Bolt's WSGI adapter decodes and parses the body before Bolt checks its signature, so
a non-UTF-8 or malformed body from anyone on the network became a 500 with a logged
traceback. The guard checks each request in this order and answers every failure in
words: size (413, before the body is read), Slack's signature and timestamp over the
raw bytes (401), UTF-8 and the shape of a Slack request (400). Only then does Bolt
see the request (and verify it once more).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request.internals import build_context

from otabot.clocks import WallClock
from otabot.operations import OPERATIONS_PATHS, Readiness, WsgiApp, operations_app

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Slack's bodies are a few KB (a block_actions payload carries at most one message).
MAX_BODY_BYTES = 1_048_576
# Slack's rule: a request whose timestamp is more than five minutes off is a replay.
MAX_SIGNATURE_AGE_SECONDS = 300

_ALWAYS_READY = Readiness()
_ALWAYS_READY.set_ready()


class _Refusal(Exception):
    """A request answered with ``status`` and a JSON ``{"error": words}`` instead of Bolt."""

    def __init__(self, status: int, words: str, headers: dict[str, list[str]] | None = None):
        super().__init__(words)
        self.status = status
        self.words = words
        self.headers = headers or {}


def create_wsgi_app(
    app: App,
    path: str = EVENTS_PATH,
    *,
    signing_secret: str | None = None,
    wall_clock: WallClock = time.time,
    operations: WsgiApp | None = None,
) -> WsgiApp:
    """A WSGI callable for any production WSGI server (otabot serve uses waitress).

    ``signing_secret`` defaults to the one the Bolt app verifies with; with none (an app
    built for Socket Mode) only Bolt's own checks apply. ``operations`` answers
    ``/healthz``, ``/readyz`` and ``/metrics`` (by default ``/healthz`` alone, always 200).
    """
    secret = signing_secret if signing_secret is not None else _signing_secret_of(app)
    operations = operations or operations_app(_ALWAYS_READY, None)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        where = environ.get("PATH_INFO", "")
        if where in OPERATIONS_PATHS:
            return operations(environ, start_response)
        try:
            request = _slack_request(environ, method, where, path, secret, wall_clock())
        except _Refusal as refusal:
            headers: dict[str, Sequence[str]] = {
                "content-type": ["application/json"],
                **refusal.headers,
            }
            answer = WsgiHttpResponse(refusal.status, headers, json.dumps({"error": refusal.words}))
        else:
            bolt = app.dispatch(request)
            answer = WsgiHttpResponse(bolt.status, bolt.headers, bolt.body)
        start_response(answer.status, answer.get_headers())
        return answer.get_body()

    return wsgi


def _signing_secret_of(app: App) -> str | None:
    secret = getattr(app, "_signing_secret", None)  # Bolt keeps the secret it verifies with here
    return secret if isinstance(secret, str) and secret else None


def _slack_request(
    environ: dict[str, Any], method: str, where: str, path: str, secret: str | None, now: float
) -> BoltRequest:
    """The checked request for Bolt, or a ``_Refusal`` saying what is wrong with it."""
    if where != path:
        raise _Refusal(404, "not found")
    if method != "POST":
        raise _Refusal(405, f"{path} takes POST only", {"allow": ["POST"]})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _Refusal(400, "Content-Length is not a number") from None
    if length > MAX_BODY_BYTES:
        raise _Refusal(413, f"body is larger than {MAX_BODY_BYTES} bytes")
    raw: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    headers = _headers(environ)
    if secret is not None and not signature_is_valid(
        secret,
        raw,
        environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
        environ.get("HTTP_X_SLACK_SIGNATURE", ""),
        now,
    ):
        # Neither the signature nor the body: a stale genuine request carries both.
        logger.warning("refused a request without a valid, current Slack signature")
        raise _Refusal(401, "invalid request signature")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refusal(400, "body is not UTF-8") from None
    try:
        request = FieldReadRequest(
            body=text, query=environ.get("QUERY_STRING", ""), headers=headers
        )
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
        logger.warning("refused a signed request whose body is not a Slack request")
        raise _Refusal(400, "body is not a Slack request") from None
    problem = shape_problem(request.body)
    if problem is not None:
        logger.warning("refused a signed request: %s", problem)
        raise _Refusal(400, problem)
    return request


class FieldReadRequest(BoltRequest):
    """A ``BoltRequest`` whose form body is read field by field (``read_body``).

    Bolt takes any form body with the word "payload" anywhere in it for an interaction
    payload and, finding no ``payload`` field, reads it as ``{}``: ``/ota payload``, or any
    /ota from a channel named ``#payload-team``, was refused. Its copies for the lazy
    listeners are read the same way.
    """

    def __init__(
        self,
        *,
        body: str,
        query: str | dict[str, Sequence[str]] | None = None,
        headers: dict[str, str | Sequence[str]] | None = None,
        context: dict[str, Any] | None = None,
        mode: str = "http",
    ) -> None:
        super().__init__(body=body, query=query, headers=headers, context=context, mode=mode)
        fields = read_body(self.raw_body, self.content_type)
        if fields != self.body:
            self.body = fields
            self.context = build_context(BoltContext(context or {}), fields)

    def to_copyable(self) -> BoltRequest:
        return FieldReadRequest(
            body=self.raw_body,
            query=self.query,
            headers=self.headers,
            context=self.context.to_copyable(),
            mode=self.mode,
        )


def read_body(text: str, content_type: str | None) -> Any:
    """A request body as Bolt reads it, but a form is an interaction payload only when it
    has a ``payload`` field. ``ValueError`` for JSON that is not."""
    if not text:
        return {}
    if content_type == "application/json" or text.startswith("{"):
        return json.loads(text)
    fields = dict(parse_qsl(text, keep_blank_values=True))
    return json.loads(fields["payload"]) if "payload" in fields else fields


def _headers(environ: dict[str, Any]) -> dict[str, str | Sequence[str]]:
    """Request headers by lower-case name, as Bolt's WSGI adapter reads them."""
    headers: dict[str, str | Sequence[str]] = {}
    for key, value in environ.items():
        if key in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            headers[key.lower().replace("_", "-")] = value
        elif key.startswith("HTTP_"):
            headers[key[len("HTTP_") :].lower().replace("_", "-")] = value
    return headers


def signature_is_valid(
    secret: str, body: bytes, timestamp: str, signature: str, now: float
) -> bool:
    """Slack's ``v0`` signature over the raw bytes, with a timestamp within 300 s of ``now``."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs(now - int(timestamp)) > MAX_SIGNATURE_AGE_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def shape_problem(body: object) -> str | None:
    """Why a parsed body is not a request otabot answers, or None.

    otabot answers slash commands and button clicks (and Slack's URL check); anything
    else, or one of those without the fields Bolt's routing reads, is refused here, so a
    payload Bolt's middleware would trip over never reaches it.
    """
    if not isinstance(body, dict):
        return "body is not a Slack request"
    kind = body.get("type")
    if kind is None and "command" in body:
        command = body.get("command")
        if not isinstance(command, str) or not command.startswith("/"):
            return "slash command without a command name"
        if not isinstance(body.get("text", ""), str):
            return "slash command whose text is not text"
        return None
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "block_actions payload without a list of actions"
        if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            return "block_actions payload with an action that has no action_id"
        for field in ("user", "team", "channel", "container"):
            if not isinstance(body.get(field) or {}, dict):
                return f"block_actions payload whose {field} is not an object"
        return None
    if kind == "url_verification":
        if not isinstance(body.get("challenge"), str):
            return "url_verification without a challenge"
        return None
    return "otabot answers slash commands and button clicks only"
