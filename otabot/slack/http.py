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
from slack_sdk.signature import Clock, SignatureVerifier

from otabot.clocks import WallClock
from otabot.operations import OPERATIONS_PATHS, Readiness, WsgiApp, operations_app

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Slack's bodies are a few KB (a block_actions payload carries at most one message).
MAX_BODY_BYTES = 1_048_576

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
    verifier = RawBodySignatureVerifier(secret, wall_clock) if secret is not None else None
    operations = operations or operations_app(_ALWAYS_READY, None)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        where = environ.get("PATH_INFO", "")
        if where in OPERATIONS_PATHS:
            return operations(environ, start_response)
        try:
            request = _slack_request(environ, method, where, path, verifier)
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
    environ: dict[str, Any],
    method: str,
    where: str,
    path: str,
    verifier: SignatureVerifier | None,
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
    if verifier is not None and not verifier.is_valid(
        body=raw,
        timestamp=environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
        signature=environ.get("HTTP_X_SLACK_SIGNATURE"),
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


class _WallClock(Clock):
    def __init__(self, wall_clock: WallClock) -> None:
        self._wall_clock = wall_clock

    def now(self) -> float:
        return self._wall_clock()


class RawBodySignatureVerifier(SignatureVerifier):
    """slack_sdk's check of Slack's ``v0`` signature (a timestamp within five minutes of
    ``wall_clock``, a constant-time compare), for any header values and the raw bytes.

    The SDK decodes a bytes body as UTF-8 and raises on one that is not; here such a body
    is signed over its bytes, as Slack signs it. A timestamp must be ASCII digits (the SDK's
    ``int()`` takes " 1", "+1", "1_0" and other scripts' digits, and raises on the rest) and
    a signature ASCII (``hmac.compare_digest`` raises on any other ``str``): anything else
    is not valid rather than an exception.
    """

    def __init__(self, signing_secret: str, wall_clock: WallClock = time.time) -> None:
        super().__init__(signing_secret, clock=_WallClock(wall_clock))

    def is_valid(self, body: str | bytes, timestamp: str | None, signature: str | None) -> bool:
        if timestamp is None or signature is None:
            return False
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        if not signature.isascii():
            return False
        return super().is_valid(body=body, timestamp=timestamp, signature=signature)

    def generate_signature(self, *, timestamp: str, body: str | bytes) -> str | None:
        if isinstance(body, bytes):  # signed as received, whatever its encoding
            base = b"v0:" + timestamp.encode() + b":" + body
            digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256)
            return "v0=" + digest.hexdigest()
        return super().generate_signature(timestamp=timestamp, body=body)


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
