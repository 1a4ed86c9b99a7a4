"""Running a replica: Socket Mode, or HTTP under waitress, and stopping it in time.

``Replica.serving_http`` / ``serving_socket_mode`` serve while inside. Leaving (``otabot
serve`` leaves on SIGTERM or Ctrl-C) drains within a bound a supervisor can rely on:

1. ``/readyz`` turns 503 at once and background workers (watches) hand their work on
   to the other replicas; HTTP keeps serving for ``drain.grace`` seconds, so a load
   balancer stops sending before the listener closes;
2. the listener closes (Socket Mode: the socket closes at once, and Slack sends to the
   other replicas); the listener pool finishes what it runs;
3. lookups still waiting for the API get until ``drain.timeout`` seconds after the
   signal; what is unanswered then is told "otabot is restarting — run it again";
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from otabot.clocks import Monotonic, Sleep
from otabot.iot.errors import OtabotError
from otabot.operations import DaemonPool, Readiness, WsgiApp
from otabot.slack.deferred import DeferredLookups
from otabot.slack.http import MAX_BODY_BYTES, create_wsgi_app
from otabot.wsgi import BackgroundWsgiServer

logger = logging.getLogger(__name__)

HTTP_THREADS = 16


class SocketModeRefusedError(OtabotError):
    """Slack would not open a Socket Mode connection (bad app token, Socket Mode off)."""


@dataclass(frozen=True)
class Drain:
    """How a stopping replica drains: ``grace`` seconds still serving while ``/readyz`` says
    503, and everything done ``timeout`` seconds after the signal (Kubernetes' own default
    is 30 s)."""

    grace: float = 5.0
    timeout: float = 25.0
    workers: float = 10.0  # the most the workers (watches) take to hand their work on


class Worker(Protocol):
    """Background work a replica runs while it serves (watches)."""

    def start(self) -> object: ...

    def stop(self, deadline: float) -> object: ...


class Replica:
    """One running replica: the app and its lookups, how it serves, and how it stops."""

    def __init__(
        self,
        app: App,
        *,
        pool: DaemonPool,
        deferred: DeferredLookups,
        readiness: Readiness,
        drain: Drain = Drain(),
        workers: Sequence[Worker] = (),
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.app = app
        self.readiness = readiness
        self._pool = pool
        self._deferred = deferred
        self._drain = drain
        self._workers = workers
        self._monotonic = monotonic
        self._sleep = sleep

    @contextmanager
    def serving_http(
        self,
        *,
        host: str,
        port: int,
        threads: int = HTTP_THREADS,
        operations: WsgiApp | None = None,
    ) -> Iterator[str]:
        """Serve ``POST /slack/events`` (and ``operations``' paths) while inside; yields the
        base URL; drains on the way out."""
        server = BackgroundWsgiServer(
            create_wsgi_app(self.app, operations=operations),
            host=host,
            port=port,
            threads=threads,
            name="otabot-http",
            max_request_body_size=MAX_BODY_BYTES,
        ).start()
        logger.info("serving Slack over HTTP at %s/slack/events", server.url)
        with self._running():
            try:
                yield server.url
            finally:
                deadline = self._leave()
                logger.info(
                    "draining: /readyz says 503; still serving for %.0f s", self._drain.grace
                )
                self._sleep(max(0.0, min(self._drain.grace, deadline - self._monotonic())))
                server.stop(timeout=max(0.0, deadline - self._monotonic()))
                self._finish(deadline)

    @contextmanager
    def serving_socket_mode(self, *, app_token: str, web_client: WebClient) -> Iterator[str]:
        """Connected over Socket Mode (no public URL) while inside; drains on the way out."""
        handler = SocketModeHandler(self.app, app_token, web_client=web_client)
        try:
            handler.connect()  # type: ignore[no-untyped-call]
        except SlackApiError as error:
            problem = error.response.get("error", "unknown")
            raise SocketModeRefusedError(
                f"Slack refused SLACK_APP_TOKEN (apps.connections.open: {problem}); "
                "check the token has connections:write and Socket Mode is on"
            ) from None
        logger.info("connected to Slack over Socket Mode")
        with self._running():
            try:
                yield "socket mode"
            finally:
                deadline = self._leave()
                handler.close()  # type: ignore[no-untyped-call]
                self._finish(deadline)

    @contextmanager
    def _running(self) -> Iterator[None]:
        for worker in self._workers:
            worker.start()
        self.readiness.set_ready()
        yield

    def _leave(self) -> float:
        """The signal: ``/readyz`` turns 503 and the workers hand their work on (within
        ``drain.workers`` seconds); returns the drain's deadline."""
        deadline = self._monotonic() + self._drain.timeout
        self.readiness.set_draining()
        for worker in self._workers:
            worker.stop(min(deadline, self._monotonic() + self._drain.workers))
        return deadline

    def _finish(self, deadline: float) -> None:
        """After the listener closed: let the pool and the waiting lookups finish until
        ``deadline``, and tell the rest otabot is restarting."""
        logger.info("stopped taking requests; draining the lookups in flight")
        if not self._pool.drain(max(0.0, deadline - self._monotonic())):
            logger.warning("the listener pool was still busy at the drain deadline")
        self._deferred.stop(deadline)
