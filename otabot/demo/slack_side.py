"""Slack's side of the conversation, played locally for the demo page.

``SlackSide`` does what Slack does around an app: it turns what the user types into
a signed slash-command request, a button click into a signed ``block_actions``
payload, both POSTed over real HTTP to the app's ``/slack/events``; it keeps the
channel (the messages the page shows) and applies what the app sends back to a
``response_url`` the way Slack does (replace, delete, ephemeral or in-channel post,
at most five posts in thirty minutes); and it answers the few Web API methods the
app calls. It holds no HTTP server itself: ``otabot.demo.web`` exposes it (the page's
``DemoWebApp``, or ``SlackServer`` alone on a free port for the tests and benches).

The tests and benches use it as their Slack too, so it also keeps a record of every POST
the app made to it (``posts``: path, body, when, what Slack answered), waits for them
(``wait_for_responses``, ``wait_for_calls``), hands out response_urls by name
(``response_url("r1")``, under Slack's rules like the ones it makes itself), fails a
Web API method on demand (``fail`` with a ``Fault``), refuses ``auth.test`` on demand
(``auth_error``) and opens Socket Mode connections where one is configured (``socket_url``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from slack_sdk.signature import SignatureVerifier

from otabot.clocks import WallClock

logger = logging.getLogger(__name__)

COMMAND = "/ota"
ACK_TIMEOUT_SECONDS = 3.0  # Slack shows operation_timeout when the app is slower
RESPONSE_URL_MAX_POSTS = 5
RESPONSE_URL_LIFETIME_SECONDS = 30 * 60
MAX_POSTS_KEPT = 10_000  # a demo left running keeps a bounded record
RESPONSE_PATH = "/response/"  # a response_url is base_url + RESPONSE_PATH + its id
API_PATH = "/api/"
RESPONSE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class DemoWorkspace:
    """The fixed team, channel, user and app the demo plays; IDs shaped like Slack's."""

    team_id: str = "T0DEMO0001"
    team_domain: str = "otabot-demo"
    team_name: str = "otabot demo"
    channel_id: str = "C0DEMO0001"
    channel_name: str = "ops-oncall"
    user_id: str = "U0DEMO0001"
    user_name: str = "dana.oncall"
    user_display_name: str = "Dana (on call)"
    api_app_id: str = "A0DEMO0001"
    bot_user_id: str = "U0OTABOT01"
    bot_id: str = "B0OTABOT01"
    app_name: str = "otabot"
    # Channels the app is in besides ``channel_id`` (the one the page shows); None: every
    # channel. Elsewhere a post is ``channel_not_found``.
    other_channels: frozenset[str] | None = frozenset()

    def has_channel(self, channel: str) -> bool:
        others = self.other_channels
        return channel == self.channel_id or others is None or channel in others


@dataclass
class ChannelMessage:
    """One message in the channel view; ``revision`` grows when it is replaced."""

    id: str
    kind: str  # "app", "command", "user" or "system"
    ephemeral: bool
    posted_at: float
    text: str = ""
    blocks: list[JsonObject] = field(default_factory=list)
    revision: int = 1
    thread_ts: str | None = None  # a reply in that message's thread
    channel: str = ""  # "" is the workspace's channel, the one the page shows

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "kind": self.kind,
            "ephemeral": self.ephemeral,
            "posted_at": self.posted_at,
            "text": self.text,
            "blocks": self.blocks,
            "revision": self.revision,
            "thread_ts": self.thread_ts,
        }


@dataclass
class _ResponseUrl:
    """A response_url Slack handed out: which message it belongs to and how used it is."""

    created_at: float
    message_id: str | None
    posts: int = 0


class ResponseUrlError(Exception):
    """Slack refused a post to a response_url; ``error`` is Slack's word for why."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass(frozen=True)
class Delivery:
    """What happened when a request was delivered to the app (for the page and tests)."""

    ok: bool
    status: int | None = None
    error: str | None = None
    ack: JsonObject | None = None

    def to_json(self) -> JsonObject:
        return {"ok": self.ok, "status": self.status, "error": self.error, "ack": self.ack}


@dataclass(frozen=True)
class Recorded:
    """One POST the app made to this Slack (tests and benches read these): to a
    response_url (``/response/<id>``) or a Web API method (``/api/<method>``), its body,
    when it arrived (``time.monotonic()``) and what Slack answered."""

    path: str
    body: JsonObject
    at: float
    status: int = 200  # the HTTP status of Slack's answer
    reply: JsonObject | None = None  # a Web API call's answer; a refused post's error

    @property
    def response_id(self) -> str | None:
        """The response_url's id, for a post to one."""
        return self.path.removeprefix(RESPONSE_PATH) if self.is_response else None

    @property
    def is_response(self) -> bool:
        return self.path.startswith(RESPONSE_PATH)


@dataclass
class Fault:
    """The next ``count`` calls of a Web API method fail with Slack's ``error`` word and
    HTTP ``status`` (a 429 carries ``Retry-After: retry_after``)."""

    error: str
    count: int = 1
    status: int = 200
    retry_after: str | None = None


@dataclass(frozen=True)
class ApiAnswer:
    """Slack's answer to a Web API call, as the HTTP layer sends it."""

    status: int
    body: JsonObject
    retry_after: str | None = None


class SlackSide:
    """The channel, the response_urls and the request-building of Slack, in memory."""

    def __init__(
        self,
        signing_secret: str,
        bot_token: str,
        *,
        workspace: DemoWorkspace | None = None,
        examples: Sequence[str] = (),
        about: str = "",
        wall_clock: WallClock = time.time,
        session: requests.Session | None = None,
        app_token: str | None = None,
    ) -> None:
        self.workspace = workspace or DemoWorkspace()
        self.examples = list(examples)
        self.about = about
        self._verifier = SignatureVerifier(signing_secret)
        self._bot_token = bot_token
        self._app_token = app_token
        self._wall_clock = wall_clock
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        self._posted_changed = threading.Condition(self._lock)
        self._posted: deque[Recorded] = deque(maxlen=MAX_POSTS_KEPT)
        self._faults: dict[str, Fault] = {}
        self._messages: dict[str, ChannelMessage] = {}  # insertion order = channel order
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._version = 0
        self._last_ts = 0.0
        self.base_url = ""  # where this Slack is reachable; set once its server is bound
        self.events_url = ""  # the app's /slack/events; set once the app is up
        self.auth_error: str | None = None  # auth.test refuses the bot token with this word
        self.socket_url: str | None = None  # apps.connections.open's answer (Socket Mode)

    @property
    def url(self) -> str:
        """Where this Slack is reachable (``base_url``)."""
        return self.base_url

    @property
    def api_url(self) -> str:
        """The Web API's base URL, as ``SLACK_API_URL`` or ``WebClient(base_url=…)`` take it."""
        return self.base_url + API_PATH

    # ----- the channel -------------------------------------------------------------
    @property
    def version(self) -> int:
        """Grows with every change to the channel, so the page knows when to redraw."""
        with self._lock:
            return self._version

    def messages(self) -> list[ChannelMessage]:
        """The messages of the workspace's channel, the one the page shows."""
        with self._lock:
            return [message for message in self._messages.values() if not message.channel]

    def snapshot(self) -> JsonObject:
        """The channel as the page polls it."""
        with self._lock:
            return {
                "version": self._version,
                "messages": [
                    message.to_json() for message in self._messages.values() if not message.channel
                ],
            }

    def clear(self) -> None:
        """Empty the channel (the page's Clear button); response_urls stay valid."""
        with self._lock:
            self._messages = {
                ts: message for ts, message in self._messages.items() if message.channel
            }
            self._version += 1

    def _next_ts(self) -> str:
        # Slack message timestamps are unique per channel: seconds with 6 decimals.
        now = max(self._wall_clock(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _post(
        self,
        kind: str,
        *,
        ephemeral: bool,
        text: str = "",
        blocks: list[JsonObject] | None = None,
        thread_ts: str | None = None,
        channel: str = "",
    ) -> ChannelMessage:
        with self._lock:
            ts = self._next_ts()
            message = ChannelMessage(
                id=ts,
                kind=kind,
                ephemeral=ephemeral,
                posted_at=float(ts),
                text=text,
                blocks=_with_block_ids(blocks or []),
                thread_ts=thread_ts if thread_ts in self._messages else None,
                channel="" if channel == self.workspace.channel_id else channel,
            )
            self._messages[message.id] = message
            self._version += 1
            return message

    # ----- what the user types ------------------------------------------------------
    def submit(self, typed: str) -> Delivery:
        """Handle the message box: ``/ota …`` is a slash command, other text a plain post."""
        typed = typed.strip()
        if not typed:
            return Delivery(ok=False, error="empty_message")
        if not typed.startswith("/"):
            self._post("user", ephemeral=False, text=_escape(typed))
            return Delivery(ok=True)
        name, _, rest = typed.partition(" ")
        if name.lower() != COMMAND:
            self._post(
                "system",
                ephemeral=True,
                text=f"`{_escape(name)}` is not a valid command. In this demo only "
                f"`{COMMAND}` is installed.",
            )
            return Delivery(ok=False, error="invalid_command")
        return self.send_command(rest.strip())

    def send_command(self, text: str) -> Delivery:
        """Send ``/ota text`` to the app as Slack would: a signed form POST."""
        self._post("command", ephemeral=True, text=f"{COMMAND} {text}".strip())
        response_id = self._new_response_url(message_id=None)
        form = self.command_form(text, self.response_url(response_id))
        delivery = self._deliver(urlencode(form))
        if delivery.ok and delivery.ack:
            self._show_ack(delivery.ack, response_id)
        elif not delivery.ok:
            self._post(
                "system",
                ephemeral=True,
                text=f"{COMMAND} failed with the error \u201c{delivery.error}\u201d",
            )
        return delivery

    def command_form(
        self, text: str, response_url: str, *, user_id: str | None = None
    ) -> dict[str, str]:
        """The fields Slack sends for a slash command, in Slack's order (typed by the
        workspace's user, or by ``user_id``)."""
        ws = self.workspace
        return {
            "token": "demo-verification-token",
            "team_id": ws.team_id,
            "team_domain": ws.team_domain,
            "channel_id": ws.channel_id,
            "channel_name": ws.channel_name,
            "user_id": user_id or ws.user_id,
            "user_name": ws.user_name if user_id is None else user_id.lower(),
            "command": COMMAND,
            "text": text,
            "api_app_id": ws.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self._trigger_id(),
        }

    def _show_ack(self, ack: JsonObject, response_id: str) -> None:
        in_channel = ack.get("response_type") == "in_channel"
        message = self._post(
            "app",
            ephemeral=not in_channel,
            text=str(ack.get("text", "")),
            blocks=_blocks_of(ack),
        )
        with self._lock:
            entry = self._response_urls.get(response_id)
            if entry is not None and entry.message_id is None:
                entry.message_id = message.id

    # ----- what the user clicks -----------------------------------------------------
    def click(self, message_id: str, action_id: str, block_id: str) -> Delivery:
        """Send a button click on a message to the app as a signed ``block_actions``."""
        with self._lock:
            message = self._messages.get(message_id)
            button = _find_button(message.blocks, action_id, block_id) if message else None
            if message is None or button is None:
                return Delivery(ok=False, error="no_such_button")
            snapshot = message.to_json()
        response_id = self._new_response_url(message_id=message_id)
        payload = self.block_actions_payload(snapshot, button, self.response_url(response_id))
        return self._deliver(urlencode({"payload": json.dumps(payload)}))

    def block_actions_payload(
        self, message: Mapping[str, Any], button: Mapping[str, Any], response_url: str
    ) -> JsonObject:
        """A ``block_actions`` payload as Slack builds it for a button on ``message``."""
        ws = self.workspace
        container: JsonObject = {
            "type": "message",
            "message_ts": message["id"],
            "channel_id": ws.channel_id,
            "is_ephemeral": bool(message["ephemeral"]),
        }
        action: JsonObject = {
            "action_id": button["action_id"],
            "block_id": button["block_id"],
            "text": button.get("text", {"type": "plain_text", "text": ""}),
            "type": "button",
            "action_ts": f"{self._wall_clock():.6f}",
        }
        if "value" in button:
            action["value"] = button["value"]
        if "style" in button:
            action["style"] = button["style"]
        payload: JsonObject = {
            "type": "block_actions",
            "user": {
                "id": ws.user_id,
                "username": ws.user_name,
                "name": ws.user_name,
                "team_id": ws.team_id,
            },
            "api_app_id": ws.api_app_id,
            "token": "demo-verification-token",
            "container": container,
            "trigger_id": self._trigger_id(),
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": ws.channel_id, "name": ws.channel_name},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [action],
        }
        if not message["ephemeral"]:
            # Slack includes the message only when it is not ephemeral.
            payload["message"] = {
                "type": "message",
                "user": ws.bot_user_id,
                "ts": message["id"],
                "bot_id": ws.bot_id,
                "app_id": ws.api_app_id,
                "text": message["text"],
                "team": ws.team_id,
                "blocks": message["blocks"],
            }
        return payload

    # ----- delivery to the app ------------------------------------------------------
    def sign(self, body: str, timestamp: int | None = None) -> dict[str, str]:
        """Headers Slack sends with ``body``: content type, timestamp and v0 signature."""
        ts = str(int(self._wall_clock()) if timestamp is None else timestamp)
        signature = self._verifier.generate_signature(timestamp=ts, body=body)
        if signature is None:  # only without a secret, which __init__ never allows
            raise ValueError("no signing secret")
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots) otabot-demo",
        }

    def _deliver(self, body: str) -> Delivery:
        if not self.events_url:
            return Delivery(ok=False, error="dispatch_failed")
        try:
            reply = self._session.post(
                self.events_url,
                data=body.encode("utf-8"),
                headers=self.sign(body),
                timeout=(ACK_TIMEOUT_SECONDS, ACK_TIMEOUT_SECONDS),
            )
        except requests.Timeout:
            return Delivery(ok=False, error="operation_timeout")
        except requests.RequestException as error:
            logger.warning("could not reach the app at %s: %s", self.events_url, error)
            return Delivery(ok=False, error="dispatch_failed")
        if reply.status_code != 200:
            return Delivery(ok=False, status=reply.status_code, error="dispatch_failed")
        return Delivery(ok=True, status=200, ack=_ack_body(reply.text))

    # ----- response_url -------------------------------------------------------------
    def response_url(self, response_id: str = "r1") -> str:
        """The URL of response_url ``response_id``: one this side made, or one a test names
        (made on first use, then under Slack's rules like any other)."""
        if not RESPONSE_ID.fullmatch(response_id):
            raise ValueError(f"not a response_url id: {response_id!r}")
        with self._lock:
            if response_id not in self._response_urls:
                self._response_urls[response_id] = _ResponseUrl(self._wall_clock(), None)
        return f"{self.base_url}{RESPONSE_PATH}{response_id}"

    def open_response_url(self) -> str:
        """A new response_url for a request this side did not send itself (a bench's)."""
        return self.response_url(self._new_response_url(message_id=None))

    # ----- the record of what the app posted ------------------------------------------
    @property
    def posts(self) -> list[Recorded]:
        """Every POST the app made here, taken or refused, in order (the last
        ``MAX_POSTS_KEPT``)."""
        with self._lock:
            return list(self._posted)

    def responses(self) -> list[JsonObject]:
        """The bodies of the response_url posts Slack took, in order."""
        with self._lock:
            return self._responses()

    def calls(self, method: str) -> list[JsonObject]:
        """The bodies of the calls of Web API ``method`` (refused ones too), in order."""
        with self._lock:
            return self._calls(method)

    def answers(self, method: str) -> list[JsonObject]:
        """What Slack answered to the calls of Web API ``method``, in order."""
        path = API_PATH + method
        with self._lock:
            return [item.reply or {} for item in self._posted if item.path == path]

    def wait_for_responses(self, count: int = 1, timeout: float = 10.0) -> list[JsonObject]:
        """``responses()`` once there are ``count``; TimeoutError after ``timeout`` s."""
        return self._wait_for(self._responses, count, timeout, "response_url post(s)")

    def wait_for_calls(
        self, method: str, count: int = 1, timeout: float = 10.0
    ) -> list[JsonObject]:
        """``calls(method)`` once there are ``count``; TimeoutError after ``timeout`` s."""
        return self._wait_for(lambda: self._calls(method), count, timeout, f"{method} call(s)")

    def _responses(self) -> list[JsonObject]:  # with the lock held
        return [item.body for item in self._posted if item.is_response and item.status == 200]

    def _calls(self, method: str) -> list[JsonObject]:  # with the lock held
        path = API_PATH + method
        return [item.body for item in self._posted if item.path == path]

    def _wait_for(
        self, found: Callable[[], list[JsonObject]], count: int, timeout: float, what: str
    ) -> list[JsonObject]:
        with self._posted_changed:
            if not self._posted_changed.wait_for(lambda: len(found()) >= count, timeout):
                raise TimeoutError(f"expected {count} {what} within {timeout} s: {found()}")
            return found()

    def _record(self, item: Recorded) -> None:
        with self._posted_changed:
            self._posted.append(item)
            self._posted_changed.notify_all()

    def _new_response_url(self, message_id: str | None) -> str:
        response_id = uuid.uuid4().hex
        with self._lock:
            self._response_urls[response_id] = _ResponseUrl(self._wall_clock(), message_id)
        return response_id

    def respond(self, response_id: str, body: Mapping[str, Any]) -> ChannelMessage | None:
        """Apply a post to a response_url as Slack does; raise ``ResponseUrlError`` if refused.

        ``delete_original`` deletes the message the URL belongs to; ``replace_original``
        replaces it in place (or posts it when there is none yet); otherwise a new message,
        visible to everyone with ``response_type: in_channel``, else only to the user.
        Recorded in ``posts`` either way.
        """
        path = RESPONSE_PATH + response_id
        try:
            message = self._apply(response_id, body)
        except ResponseUrlError as refused:
            error = {"ok": False, "error": refused.error}
            self._record(Recorded(path, dict(body), time.monotonic(), refused.status, error))
            raise
        self._record(Recorded(path, dict(body), time.monotonic()))
        return message

    def _apply(self, response_id: str, body: Mapping[str, Any]) -> ChannelMessage | None:
        with self._lock:
            entry = self._response_urls.get(response_id)
            if entry is None:
                raise ResponseUrlError(404, "invalid_url")
            if self._wall_clock() - entry.created_at > RESPONSE_URL_LIFETIME_SECONDS:
                raise ResponseUrlError(404, "expired_url")
            if entry.posts >= RESPONSE_URL_MAX_POSTS:
                raise ResponseUrlError(404, "used_url")
            blocks = _blocks_of(body)
            text = body.get("text")
            delete = _truthy(body.get("delete_original"))
            if not delete and not blocks and not isinstance(text, str):
                raise ResponseUrlError(400, "no_text")
            entry.posts += 1
            original = self._messages.get(entry.message_id) if entry.message_id else None
            if delete:
                if original is not None:
                    del self._messages[original.id]
                    self._version += 1
                return None
            in_channel = body.get("response_type") == "in_channel"
            if _truthy(body.get("replace_original")) and original is not None:
                original.text = text if isinstance(text, str) else ""
                original.blocks = _with_block_ids(blocks)
                original.revision += 1
                # Replacing keeps the visibility: an ephemeral message never becomes public.
                self._version += 1
                return original
        message = self._post(
            "app",
            ephemeral=not in_channel,
            text=text if isinstance(text, str) else "",
            blocks=blocks,
        )
        with self._lock:
            if entry.message_id is None:
                entry.message_id = message.id
        return message

    # ----- Web API ------------------------------------------------------------------
    def fail(self, method: str, fault: Fault) -> None:
        """The next ``fault.count`` calls of ``method`` fail as ``fault`` says."""
        with self._lock:
            self._faults[method] = dataclasses.replace(fault)

    def call(self, method: str, token: str | None, args: Mapping[str, Any]) -> ApiAnswer:
        """A Web API call as it arrives over HTTP: the fault ``fail`` set for it, else
        ``web_api``'s answer; recorded in ``posts`` either way."""
        with self._lock:
            fault = self._faults.get(method)
            if fault is not None:
                fault.count -= 1
                if fault.count <= 0:
                    del self._faults[method]
        if fault is not None:
            refused = {"ok": False, "error": fault.error}
            answer = ApiAnswer(fault.status, refused, fault.retry_after)
        else:
            answer = ApiAnswer(200, self.web_api(method, token, args))
        path = API_PATH + method
        self._record(Recorded(path, dict(args), time.monotonic(), answer.status, answer.body))
        return answer

    def web_api(self, method: str, token: str | None, args: Mapping[str, Any]) -> JsonObject:
        """Answer a Web API call the app makes (``auth.test``, ``chat.post*``,
        ``chat.update``, ``chat.getPermalink``; ``apps.connections.open`` with the
        app-level token)."""
        if method == "apps.connections.open":
            return self._open_connection(token)
        if not _same(token, self._bot_token):
            return {"ok": False, "error": "invalid_auth"}
        ws = self.workspace
        if method == "auth.test":
            if self.auth_error:
                return {"ok": False, "error": self.auth_error}
            return {
                "ok": True,
                "url": f"https://{ws.team_domain}.slack.com/",
                "team": ws.team_name,
                "user": ws.app_name,
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "bot_id": ws.bot_id,
                "is_enterprise_install": False,
            }
        channel = str(args.get("channel", ws.channel_id))
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            if not ws.has_channel(channel):
                return {"ok": False, "error": "channel_not_found"}
            blocks = _blocks_of(args)
            text = args.get("text")
            if not blocks and not text:
                return {"ok": False, "error": "no_text"}
            if method == "chat.update":
                return self._update(channel, str(args.get("ts", "")), str(text or ""), blocks)
            ephemeral = method == "chat.postEphemeral"
            thread = args.get("thread_ts")
            message = self._post(
                "app",
                ephemeral=ephemeral,
                text=str(text or ""),
                blocks=blocks,
                thread_ts=str(thread) if thread else None,
                channel=channel,
            )
            if ephemeral:
                return {"ok": True, "message_ts": message.id}
            return {
                "ok": True,
                "channel": channel,
                "ts": message.id,
                "message": {"type": "message", "text": message.text, "ts": message.id},
            }
        if method == "chat.getPermalink":
            ts = str(args.get("message_ts", ""))
            if self._message_in(channel, ts) is None:
                return {"ok": False, "error": "message_not_found"}
            return {"ok": True, "channel": channel, "permalink": f"{self.base_url}/#m{ts}"}
        return {"ok": False, "error": "unknown_method"}

    def _open_connection(self, token: str | None) -> JsonObject:
        """``apps.connections.open``: the Socket Mode URL for the app-level token; refused
        (``invalid_auth``) for any other token, or while no ``socket_url`` is set."""
        if self.socket_url is None or self._app_token is None:
            return {"ok": False, "error": "invalid_auth"}
        if not _same(token, self._app_token):
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, "url": self.socket_url}

    def _message_in(self, channel: str, ts: str) -> ChannelMessage | None:
        with self._lock:
            message = self._messages.get(ts)
        mine = "" if channel == self.workspace.channel_id else channel
        return message if message is not None and message.channel == mine else None

    def _update(self, channel: str, ts: str, text: str, blocks: list[JsonObject]) -> JsonObject:
        """``chat.update``: the app's own in-channel message, edited in place."""
        message = self._message_in(channel, ts)
        with self._lock:
            if message is None or message.kind != "app" or message.ephemeral:
                return {"ok": False, "error": "message_not_found"}
            if self._messages.get(ts) is not message:  # deleted meanwhile
                return {"ok": False, "error": "message_not_found"}
            message.text = text
            message.blocks = _with_block_ids(blocks)
            message.revision += 1
            self._version += 1
        return {"ok": True, "channel": channel, "ts": ts, "text": text}

    def info(self) -> JsonObject:
        """What the page needs to draw the workspace."""
        ws = self.workspace
        return {
            "team_name": ws.team_name,
            "channel_name": ws.channel_name,
            "user": {"id": ws.user_id, "name": ws.user_display_name},
            "app": {"id": ws.bot_user_id, "name": ws.app_name},
            "users": {ws.user_id: ws.user_display_name, ws.bot_user_id: ws.app_name},
            "channels": {ws.channel_id: ws.channel_name},
            "command": COMMAND,
            "examples": self.examples,
            "about": self.about,
        }

    def _trigger_id(self) -> str:
        return f"{int(self._wall_clock())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"

    def close(self) -> None:
        self._session.close()


def _same(token: str | None, expected: str) -> bool:
    return bool(token) and secrets.compare_digest(str(token), expected)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _blocks_of(body: Mapping[str, Any]) -> list[JsonObject]:
    blocks = body.get("blocks")
    if isinstance(blocks, str):  # the Web API accepts blocks as a JSON string in forms
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return []
    if not isinstance(blocks, list):
        return []
    return [block for block in blocks if isinstance(block, dict)]


def _with_block_ids(blocks: list[JsonObject]) -> list[JsonObject]:
    """Give every block a ``block_id`` as Slack does when the app leaves it out."""
    return [
        block if block.get("block_id") else {**block, "block_id": secrets.token_urlsafe(3)}
        for block in blocks
    ]


def _ack_body(text: str) -> JsonObject | None:
    """The app's acknowledgement body: JSON for a message, plain text as ``text``."""
    if not text.strip():
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return {"text": text}
    return body if isinstance(body, dict) and body else None


def _iter_buttons(blocks: list[JsonObject]) -> Iterator[JsonObject]:
    for block in blocks:
        block_id = block.get("block_id", "")
        elements: list[Any] = []
        if block.get("type") == "actions":
            elements = list(block.get("elements") or [])
        elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            elements = [block["accessory"]]
        for element in elements:
            if isinstance(element, dict) and element.get("type") == "button":
                yield {**element, "block_id": block_id}


def _find_button(blocks: list[JsonObject], action_id: str, block_id: str) -> JsonObject | None:
    for button in _iter_buttons(blocks):
        if button.get("action_id") == action_id and button["block_id"] == block_id:
            return button
    return None
