"""The demo page's HTTP interface: the static page, its JSON API, response_urls, Web API;
and ``SlackServer``, a ``SlackSide`` served on its own (port 0) as the Slack of the tests
and benches.

| route | what |
|---|---|
| `GET /`, `GET /static/<file>` | the page (``otabot/demo/static``) |
| `GET /healthz` | `{"ok": true}` |
| `GET /demo/info` | workspace, channel and user names for the page |
| `GET /demo/messages` | `{"version", "messages": […]}`; the page polls it |
| `POST /demo/command` | `{"text": "/ota …"}` exactly as typed |
| `POST /demo/action` | `{"message_id", "action_id", "block_id"}`: a button click |
| `POST /demo/clear` | empties the channel |
| `POST /response/<id>` | a response_url, as the app posts to it |
| `POST /api/<method>` | the Slack Web API stub (``auth.test``, ``chat.postMessage``, …); a
  failure set with ``SlackSide.fail`` keeps its HTTP status and ``Retry-After`` |
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

from otabot.demo.slack_side import API_PATH, RESPONSE_ID, RESPONSE_PATH, ResponseUrlError, SlackSide
from otabot.wsgi import BackgroundWsgiServer

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

MAX_BODY_BYTES = 1_000_000
STATIC_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# Host names a browser uses for a page on loopback; anything else is DNS rebinding.
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
# What the page itself POSTs (always as JSON); the app's own posts go to /response, /api.
_PAGE_POSTS = frozenset({"/demo/command", "/demo/action", "/demo/clear"})
_RESPONSE_PATH = re.compile(re.escape(RESPONSE_PATH) + f"({RESPONSE_ID.pattern})")
_API_PATH = re.compile(re.escape(API_PATH) + r"([A-Za-z.]{1,64})")
# The page is served to the browser only; these keep it from being framed or sniffed.
_SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    ("Cache-Control", "no-store"),
]


class DemoWebApp:
    """A WSGI application in front of one ``SlackSide``.

    Other web origins may not use it: the page's own POSTs are JSON (which a cross-site
    form or ``no-cors`` fetch cannot send) and carry no foreign ``Origin``; and while the
    page is served on loopback, a ``Host`` other than a loopback name (DNS rebinding) is
    refused. ``allowed_hosts=None`` takes any host name (a page served to the network).
    """

    def __init__(
        self, side: SlackSide, *, allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES
    ) -> None:
        self._side = side
        self._allowed_hosts = allowed_hosts

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        try:
            self._check_origin(method, path, environ)
            status, headers, body = self._route(method, path, environ)
        except _HttpError as error:
            status, headers, body = _json(error.status, {"ok": False, "error": error.error})
        except Exception:
            logger.exception("demo page request %s %s failed", method, path)
            status, headers, body = _json(500, {"ok": False, "error": "internal_error"})
        start_response(status, [*headers, *_SECURITY_HEADERS, ("Content-Length", str(len(body)))])
        return [body]

    def _check_origin(self, method: str, path: str, environ: Environ) -> None:
        """Refuse what another web origin could send: a foreign Host, Origin or a form post."""
        host = environ.get("HTTP_HOST", "")
        if self._allowed_hosts is not None and _host_name(host) not in self._allowed_hosts:
            raise _HttpError(403, "unknown_host")
        if method != "POST":
            return
        origin = environ.get("HTTP_ORIGIN")
        scheme = environ.get("wsgi.url_scheme", "http")
        if origin is not None and origin != f"{scheme}://{host}":
            raise _HttpError(403, "cross_origin")
        content_type = environ.get("CONTENT_TYPE", "")
        if path in _PAGE_POSTS and not content_type.startswith("application/json"):
            raise _HttpError(415, "json_required")

    def _route(self, method: str, path: str, environ: Environ) -> tuple[str, _Headers, bytes]:
        side = self._side
        if method == "GET":
            if path == "/":
                return _static("index.html")
            if path.startswith("/static/"):
                return _static(path.removeprefix("/static/"))
            if path == "/healthz":
                return _json(200, {"ok": True})
            if path == "/demo/info":
                return _json(200, side.info())
            if path == "/demo/messages":
                return _json(200, side.snapshot())
            raise _HttpError(404, "not_found")
        if method != "POST":
            raise _HttpError(405, "method_not_allowed")
        if path == "/demo/command":
            body = _json_body(environ)
            text = body.get("text")
            if not isinstance(text, str):
                raise _HttpError(400, "text_required")
            return _json(200, side.submit(text).to_json())
        if path == "/demo/action":
            body = _json_body(environ)
            fields = [body.get(name) for name in ("message_id", "action_id", "block_id")]
            if not all(isinstance(value, str) for value in fields):
                raise _HttpError(400, "message_id_action_id_block_id_required")
            message_id, action_id, block_id = (str(value) for value in fields)
            delivery = side.click(message_id, action_id, block_id)
            return _json(200 if delivery.error != "no_such_button" else 404, delivery.to_json())
        if path == "/demo/clear":
            side.clear()
            return _json(200, {"ok": True})
        match = _RESPONSE_PATH.fullmatch(path)
        if match:
            return self._respond(match.group(1), environ)
        match = _API_PATH.fullmatch(path)
        if match:
            return self._web_api(match.group(1), environ)
        raise _HttpError(404, "not_found")

    def _respond(self, response_id: str, environ: Environ) -> tuple[str, _Headers, bytes]:
        body = _json_body(environ, empty=b"null", error="invalid_payload")
        try:
            self._side.respond(response_id, body)
        except ResponseUrlError as error:
            raise _HttpError(error.status, error.error) from None
        return _json(200, {"ok": True})

    def _web_api(self, method: str, environ: Environ) -> tuple[str, _Headers, bytes]:
        raw = _read(environ)
        content_type = environ.get("CONTENT_TYPE", "")
        args: dict[str, Any]
        if content_type.startswith("application/json"):
            try:
                parsed = json.loads(raw or b"{}")
            except ValueError:
                raise _HttpError(400, "invalid_json") from None
            args = parsed if isinstance(parsed, dict) else {}
        else:
            args = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        token = authorization.removeprefix("Bearer ").strip() or args.get("token")
        answer = self._side.call(method, token if isinstance(token, str) else None, args)
        status, headers, body = _json(answer.status, answer.body)
        if answer.retry_after is not None:
            headers.append(("Retry-After", answer.retry_after))
        return status, headers, body


_Headers = list[tuple[str, str]]


class SlackServer(BackgroundWsgiServer):
    """``side`` served over HTTP on its own, on ``host:port`` (port 0: a free one), bound at
    construction: the Slack of the tests and benches (response_urls, Web API), with the
    page's routes and their origin checks as in the demo. ``start()`` serves and sets the
    side's ``base_url``; ``stop()`` (or leaving ``with``) stops serving and closes the side.
    """

    def __init__(self, side: SlackSide, *, name: str = "otabot-slack-side", **server: Any) -> None:
        """``server``: ``BackgroundWsgiServer``'s ``host``, ``port`` and ``threads``."""
        super().__init__(DemoWebApp(side), name=name, **server)
        self.side = side
        side.base_url = self.url

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self.side.close()

    def __enter__(self) -> SlackSide:
        self.start()
        return self.side

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _HttpError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
}


def _host_name(host: str) -> str:
    """The name in a Host header, without the port (``[::1]:80`` is ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _status(code: int) -> str:
    return f"{code} {_REASONS.get(code, 'Internal Server Error' if code >= 500 else 'Error')}"


def _json(code: int, payload: Any) -> tuple[str, _Headers, bytes]:
    body = json.dumps(payload).encode("utf-8")
    return _status(code), [("Content-Type", "application/json; charset=utf-8")], body


def _static(name: str) -> tuple[str, _Headers, bytes]:
    content_type = STATIC_TYPES.get(name)
    if content_type is None:  # only the known files: no path from the URL reaches the disk
        raise _HttpError(404, "not_found")
    body = resources.files("otabot.demo").joinpath("static", name).read_bytes()
    return _status(200), [("Content-Type", content_type)], body


def _read(environ: Environ) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _HttpError(400, "bad_content_length") from None
    if length > MAX_BODY_BYTES:
        raise _HttpError(400, "too_large")
    stream = environ["wsgi.input"]
    data: bytes = stream.read(length) if length > 0 else b""
    return data


def _json_body(
    environ: Environ, *, empty: bytes = b"{}", error: str = "invalid_json"
) -> dict[str, Any]:
    """The body as a JSON object (``empty`` stands for no body); a 400 ``error`` when it is
    not one."""
    try:
        body = json.loads(_read(environ) or empty)
    except ValueError:
        raise _HttpError(400, error) from None
    if not isinstance(body, dict):
        raise _HttpError(400, error)
    return body
