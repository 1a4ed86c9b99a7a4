"""HTTP mode: Bolt's WSGI adapter for ``POST /slack/events`` plus ``GET /healthz``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def create_wsgi_app(app: App, path: str = EVENTS_PATH) -> WsgiApp:
    """A WSGI callable for any production WSGI server (otabot serve uses waitress)."""
    slack = SlackRequestHandler(app, path=path)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in (
            "GET",
            "HEAD",
        ):
            body = b'{"ok":true}'
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        result: Iterable[bytes] = slack(environ, start_response)
        return result

    return wsgi
