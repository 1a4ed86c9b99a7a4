"""Running the app: Socket Mode, or HTTP under waitress; SIGTERM drains in-flight lookups.

On SIGTERM (or Ctrl-C) the server stops taking requests, the lookups already
acknowledged finish and post their answers, then the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from types import FrameType
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from otabot.iot.errors import OtabotError
from otabot.slack.http import create_wsgi_app
from otabot.slack.wsgi import bind_waitress

logger = logging.getLogger(__name__)

HTTP_THREADS = 16
DRAIN_TIMEOUT = 30.0


class SocketModeRefusedError(OtabotError):
    """Slack would not open a Socket Mode connection (bad app token, Socket Mode off)."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM so blocking loops unwind like on Ctrl-C."""


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises ``Terminated`` in the main thread."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def drain(executor: Executor, timeout: float = DRAIN_TIMEOUT) -> bool:
    """Let queued and running lookups finish (up to ``timeout`` s); True when all did."""
    finished = threading.Thread(target=executor.shutdown, kwargs={"wait": True}, daemon=True)
    finished.start()
    finished.join(timeout)
    if finished.is_alive():
        logger.warning("gave up waiting for in-flight lookups after %.0f s", timeout)
        return False
    return True


def create_http_server(app: App, *, host: str, port: int, threads: int = HTTP_THREADS) -> Any:
    """Waitress around ``create_wsgi_app(app)``, bound; a body over the limit gets 413 unread."""
    return bind_waitress(create_wsgi_app(app), host=host, port=port, threads=threads)


def serve_http(
    app: App,
    executor: Executor,
    *,
    host: str,
    port: int,
    threads: int = HTTP_THREADS,
    on_ready: Callable[[str], None] | None = None,
    drain_timeout: float = DRAIN_TIMEOUT,
) -> None:
    """Serve ``POST /slack/events`` and ``GET /healthz`` with waitress until SIGTERM/SIGINT."""
    server = create_http_server(app, host=host, port=port, threads=threads)
    url = f"http://{server.effective_host}:{server.effective_port}"
    if on_ready is not None:
        on_ready(url)
    logger.info("serving Slack over HTTP at %s/slack/events", url)
    with sigterm_raises():
        try:
            server.run()  # returns after closing itself on Terminated/KeyboardInterrupt
        except KeyboardInterrupt:
            server.close()
    logger.info("stopped taking requests; draining in-flight lookups")
    drain(executor, drain_timeout)


def serve_socket_mode(
    app: App,
    executor: Executor,
    *,
    app_token: str,
    web_client: WebClient,
    on_ready: Callable[[str], None] | None = None,
    drain_timeout: float = DRAIN_TIMEOUT,
) -> None:
    """Connect over Socket Mode (no public URL) and serve until SIGTERM/SIGINT."""
    handler = SocketModeHandler(app, app_token, web_client=web_client)
    stop = threading.Event()
    with sigterm_raises():
        try:
            try:
                handler.connect()  # type: ignore[no-untyped-call]
            except SlackApiError as error:
                problem = error.response.get("error", "unknown")
                raise SocketModeRefusedError(
                    f"Slack refused SLACK_APP_TOKEN (apps.connections.open: {problem}); "
                    "check the token has connections:write and Socket Mode is on"
                ) from None
            if on_ready is not None:
                on_ready("socket mode")
            logger.info("connected to Slack over Socket Mode")
            stop.wait()
        except KeyboardInterrupt:
            logger.info("stopping")
        finally:
            handler.close()  # type: ignore[no-untyped-call]
    drain(executor, drain_timeout)
