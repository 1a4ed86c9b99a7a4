"""Waitress, bound at once and guarded: every HTTP server otabot runs (the Slack app,
the emulator, the demo).

Binding happens at construction, so a port in use fails before anything starts, with
one line that says which address and what to do. ``BackgroundWsgiServer`` serves on a
thread and stops without leaking it.

The Slack endpoint is public by design, so the server holds against clients that open
connections and send nothing, or send a request a byte at a time (slowloris). Waitress
already reads every socket on one event loop (an idle connection costs no thread); on
top of that ``GuardedServer``:

- closes a connection that sits idle longer than ``idle_seconds``, and one whose request
  has not arrived whole ``request_seconds`` after its first byte;
- when the connection limit is reached, closes the connections that have waited longest
  without a request being answered, instead of no longer accepting (waitress's own
  behaviour, which let 100 idle sockets freeze the app);
- allows as many connections as the process's file limit comfortably takes (1000 at
  most), not waitress's 100.
A reverse proxy in front (docs/deploy.md) adds what a process cannot:
TLS, per-client rate limits and buffering of slow clients.

One escape hatch beyond WSGI: an app served here finds a callable under
``environ[DROP_CONNECTION]``; calling it, and then returning no body without calling
``start_response``, closes the connection with a TCP reset instead of an answer. The
emulator uses it to play a network that drops calls, which WSGI has no words for.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import resource
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask

from otabot.iot.errors import OtabotError

logger = logging.getLogger(__name__)

# Far above any request otabot serves (Slack's are a few KB); waitress's own default is 1 GB.
DEFAULT_MAX_BODY_BYTES = 1_048_576
DROP_CONNECTION = "otabot.drop_connection"
# When the request's last byte arrived (``time.monotonic``), stamped on the event loop
# before the request waits for a worker thread: an app that counts arrivals per second
# (the emulator) counts them as they came, not as threads got to them.
ARRIVED = "otabot.arrived"


class PortInUseError(OtabotError):
    """The address asked for is taken; the message says which and what to do."""


def _file_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1_000_000


@dataclass(frozen=True)
class ConnectionLimits:
    """How the server treats connections that do not send a request promptly."""

    max_connections: int = max(64, min(1000, _file_limit() // 2))
    idle_seconds: float = 30.0  # a kept-alive connection with no request
    request_seconds: float = 10.0  # from a request's first byte to its last
    check_every: float = 1.0


class _DroppableTask(WSGITask):  # type: ignore[misc]
    """A WSGI task whose app may ask, through ``environ[DROP_CONNECTION]``, for no answer."""

    dropped = False

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[DROP_CONNECTION] = self.drop_connection
        environ[ARRIVED] = getattr(self.request, "arrived_at", None)
        return environ

    def drop_connection(self) -> None:
        """Close without a byte of answer, with a reset (SO_LINGER 0) rather than a FIN."""
        self.dropped = True
        self.close_on_finish = True
        with contextlib.suppress(OSError):
            self.channel.socket.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )

    def finish(self) -> None:
        if not self.dropped:  # waitress would write the status line of an unstarted answer
            super().finish()


class GuardedChannel(HTTPChannel):  # type: ignore[misc]
    """A waitress channel that knows when the request now arriving began (None: between
    requests), and whose apps may drop the connection (``DROP_CONNECTION``)."""

    task_class = _DroppableTask
    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_started = time.time()
        handled: bool = super().received(data)
        if self.request is None:
            self.request_started = None
        arrived = time.monotonic()
        for request in self.requests:
            if getattr(request, "arrived_at", None) is None:
                request.arrived_at = arrived
        return handled


class GuardedServer(TcpWSGIServer):  # type: ignore[misc]
    """Waitress's TCP server with ``ConnectionLimits`` (see the module docstring)."""

    channel_class = GuardedChannel

    def __init__(self, *args: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        self.limits = limits
        self._shedding_logged_at = 0.0
        super().__init__(*args, **kwargs)

    def maintenance(self, now: float) -> None:
        """Close connections idle too long, and requests arriving too slowly."""
        for channel in list(self.active_channels.values()):
            if channel.requests or channel.will_close:
                continue  # being answered, or closing already
            started = channel.request_started
            if started is None:  # between requests: idle since its last activity
                overdue = now - channel.last_activity > self.limits.idle_seconds
            else:  # a request arriving: it has had long enough to arrive whole
                overdue = now - started > self.limits.request_seconds
            if overdue:
                channel.will_close = True

    def readable(self) -> bool:
        if self.accepting and len(self._map) >= self.adj.connection_limit:
            self._shed(time.time())
        readable: bool = super().readable()
        return readable

    def _shed(self, now: float) -> None:
        """At the limit: close the connections that have waited longest with no request
        being answered (a tenth of the limit), so a flood cannot lock everyone out."""
        waiting = sorted(
            (
                channel
                for channel in self.active_channels.values()
                if not channel.requests and not channel.will_close
            ),
            key=lambda channel: channel.request_started or channel.last_activity,
        )
        shed = waiting[: max(1, self.adj.connection_limit // 10)]
        for channel in shed:
            channel.will_close = True
        if shed and now - self._shedding_logged_at > 60:
            self._shedding_logged_at = now
            logger.warning(
                "at the connection limit (%d): closed %d connections that sent no request "
                "in time (one line a minute at most)",
                self.adj.connection_limit,
                len(shed),
            )


def bind_waitress(
    app: Any,
    *,
    host: str,
    port: int,
    threads: int,
    max_request_body_size: int = DEFAULT_MAX_BODY_BYTES,
    limits: ConnectionLimits | None = None,
) -> GuardedServer:
    """A guarded waitress server for ``app``, bound to ``host:port`` (not yet serving).

    waitress's own body limit is 1 GB, buffered before the app sees a byte; past
    ``max_request_body_size`` it answers 413 without reading. A host name that resolves
    to several addresses is served on the first.
    """
    limits = limits or ConnectionLimits()
    adjustments = Adjustments(
        host=host,
        port=port,
        threads=threads,
        ident="otabot",
        clear_untrusted_proxy_headers=True,
        max_request_body_size=max_request_body_size,
        connection_limit=limits.max_connections,
        channel_timeout=limits.idle_seconds,
        cleanup_interval=limits.check_every,
        asyncore_use_poll=True,  # past 1024 descriptors too
        # A client that hangs up early is no error of ours: no traceback in the log.
        log_socket_errors=False,
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    try:
        return GuardedServer(
            app,
            {},
            dispatcher=dispatcher,
            adj=adjustments,
            sockinfo=adjustments.listen[0],
            limits=limits,
        )
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"{host}:{port} is already in use (choose another with --port)"
            ) from None
        raise


class BackgroundWsgiServer:
    """Waitress bound on construction; ``start()`` serves, ``stop()`` closes and joins."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 8,
        name: str,
        max_request_body_size: int = DEFAULT_MAX_BODY_BYTES,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self._server = bind_waitress(
            app,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=max_request_body_size,
            limits=limits,
        )
        self.name = name
        self.host = host
        self.port: int = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BackgroundWsgiServer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let running requests finish, close every connection, join."""
        if not self._thread.is_alive():
            self._server.close()
            self._server.task_dispatcher.shutdown(timeout=timeout)
            return
        # Sockets belong to the loop thread: close them from there, via the trigger.
        self._server.trigger.pull_trigger(self._stop_accepting)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        self._server.trigger.pull_trigger(self._close_all)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("%s did not stop within %.0f s", self.name, timeout)
        else:
            self._server.trigger.close()

    def _stop_accepting(self) -> None:
        wasyncore.dispatcher.close(self._server)

    def _close_all(self) -> None:
        # The trigger leaves the loop but stays open: a wake-up still pending (a task's
        # output) can run this before stop()'s pull_trigger has written its byte, and
        # writing to a trigger closed here would raise EBADF in stop().
        trigger = self._server.trigger
        for channel in list(self._server._map.values()):
            if channel is trigger:
                trigger.del_channel()
            else:
                channel.close()
