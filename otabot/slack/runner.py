"""Running the app: Socket Mode, or HTTP under waitress, until ``stop`` is set; then drain.

When ``stop`` is set (``otabot serve`` sets it on SIGTERM or Ctrl-C) the server stops
taking requests, the lookups already acknowledged finish and post their answers, and
the call returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from otabot.iot.errors import OtabotError
from otabot.slack.http import MAX_BODY_BYTES, create_wsgi_app
from otabot.wsgi import BackgroundWsgiServer

logger = logging.getLogger(__name__)

HTTP_THREADS = 16
DRAIN_TIMEOUT = 30.0


class SocketModeRefusedError(OtabotError):
    """Slack would not open a Socket Mode connection (bad app token, Socket Mode off)."""


def drain(executor: Executor, timeout: float = DRAIN_TIMEOUT) -> bool:
    """Let queued and running lookups finish (up to ``timeout`` s); True when all did."""
    finished = threading.Thread(target=executor.shutdown, kwargs={"wait": True}, daemon=True)
    finished.start()
    finished.join(timeout)
    if finished.is_alive():
        logger.warning("gave up waiting for in-flight lookups after %.0f s", timeout)
        return False
    return True


@contextmanager
def http_server(
    app: App,
    executor: Executor,
    *,
    host: str,
    port: int,
    threads: int = HTTP_THREADS,
    drain_timeout: float = DRAIN_TIMEOUT,
) -> Iterator[str]:
    """Serve ``POST /slack/events`` and ``GET /healthz`` with waitress while inside; yields
    the base URL. On the way out: stop taking requests, then drain the lookups in flight."""
    server = BackgroundWsgiServer(
        create_wsgi_app(app),
        host=host,
        port=port,
        threads=threads,
        name="otabot-http",
        max_request_body_size=MAX_BODY_BYTES,
    ).start()
    logger.info("serving Slack over HTTP at %s/slack/events", server.url)
    try:
        yield server.url
    finally:
        server.stop()
        logger.info("stopped taking requests; draining in-flight lookups")
        drain(executor, drain_timeout)


@contextmanager
def socket_mode_connection(
    app: App,
    executor: Executor,
    *,
    app_token: str,
    web_client: WebClient,
    drain_timeout: float = DRAIN_TIMEOUT,
) -> Iterator[str]:
    """Connected over Socket Mode (no public URL) while inside; then close and drain."""
    handler = SocketModeHandler(app, app_token, web_client=web_client)
    try:
        try:
            handler.connect()  # type: ignore[no-untyped-call]
        except SlackApiError as error:
            problem = error.response.get("error", "unknown")
            raise SocketModeRefusedError(
                f"Slack refused SLACK_APP_TOKEN (apps.connections.open: {problem}); "
                "check the token has connections:write and Socket Mode is on"
            ) from None
        logger.info("connected to Slack over Socket Mode")
        yield "socket mode"
        logger.info("stopping")
    finally:
        handler.close()  # type: ignore[no-untyped-call]
    drain(executor, drain_timeout)
