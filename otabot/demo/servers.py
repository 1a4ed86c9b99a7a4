"""A WSGI application served by waitress on a background thread, stoppable cleanly.

The demo runs two of these in one process (the page with Slack's side, and the real
Slack app in HTTP mode), so each must bind at once (a port in use fails at
construction, before anything starts) and stop without leaking a thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

logger = logging.getLogger(__name__)


class PortInUseError(OSError):
    """The address asked for is taken; the message says which and what to do."""


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
        max_request_body_size: int = 1_048_576,
    ) -> None:
        try:
            self._server = create_server(
                app,
                host=host,
                port=port,
                threads=threads,
                ident="otabot",
                clear_untrusted_proxy_headers=True,
                # waitress's default is 1 GB, buffered before the app sees a byte: answer 413.
                max_request_body_size=max_request_body_size,
            )
        except OSError as error:
            if error.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                raise PortInUseError(
                    f"{host}:{port} is already in use (choose another with --port)"
                ) from None
            raise
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

    def _stop_accepting(self) -> None:
        wasyncore.dispatcher.close(self._server)

    def _close_all(self) -> None:
        for channel in list(self._server._map.values()):
            channel.close()
