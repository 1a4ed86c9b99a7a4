"""Waitress, bound at once: every HTTP server otabot runs (the Slack app, the emulator, the demo).

Binding happens at construction, so a port in use fails before anything starts, with
one line that says which address and what to do. ``otabot serve`` runs the server in
the foreground; ``BackgroundWsgiServer`` serves on a thread and stops without leaking
it (the demo runs three in one process; tests and benches use it too).

One escape hatch beyond WSGI: an app served here finds a callable under
``environ[DROP_CONNECTION]``; calling it, and then returning no body without calling
``start_response``, closes the connection with a TCP reset instead of an answer. The
emulator uses it to play a network that drops calls, which WSGI has no words for.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import struct
import threading
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask

from otabot.iot.errors import OtabotError

logger = logging.getLogger(__name__)

# Far above any request otabot serves (Slack's are a few KB); waitress's own default is 1 GB.
DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_CONNECTION_LIMIT = 100  # waitress's own
DROP_CONNECTION = "otabot.drop_connection"


class PortInUseError(OtabotError):
    """The address asked for is taken; the message says which and what to do."""


class _DroppableTask(WSGITask):  # type: ignore[misc]
    """A WSGI task whose app may ask, through ``environ[DROP_CONNECTION]``, for no answer."""

    dropped = False

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[DROP_CONNECTION] = self.drop_connection
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


class _Channel(HTTPChannel):  # type: ignore[misc]
    task_class = _DroppableTask


def bind_waitress(
    app: Any,
    *,
    host: str,
    port: int,
    threads: int,
    max_request_body_size: int = DEFAULT_MAX_BODY_BYTES,
    connection_limit: int = DEFAULT_CONNECTION_LIMIT,
) -> Any:
    """A waitress server for ``app``, bound to ``host:port`` (not yet serving).

    waitress's own body limit is 1 GB, buffered before the app sees a byte; past
    ``max_request_body_size`` it answers 413 without reading. Connections are held by
    one loop thread (with ``poll``, so past 1024 descriptors too), not a thread each;
    past ``connection_limit`` open ones, new ones wait in the listen backlog.
    """
    try:
        server = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="otabot",
            clear_untrusted_proxy_headers=True,
            max_request_body_size=max_request_body_size,
            connection_limit=connection_limit,
            asyncore_use_poll=True,
            # A client that hangs up early is no error of ours: no traceback in the log.
            log_socket_errors=False,
        )
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"{host}:{port} is already in use (choose another with --port)"
            ) from None
        raise
    server.channel_class = _Channel  # read at each accept; nothing is accepted yet
    return server


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
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
    ) -> None:
        self._server = bind_waitress(
            app,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=max_request_body_size,
            connection_limit=connection_limit,
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
