"""``EmulatorServer``: the emulator's WSGI app served by waitress in the background.

The same server class as the Slack app and the demo (``otabot.wsgi``): one loop thread
holds every connection and a fixed pool of worker threads answers, so idle or
abandoned connections cost no thread. ``start()`` binds (port 0 picks a free one) and
serves; ``stop()`` first wakes every injected sleep, then closes and joins, promptly.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from otabot import clocks
from otabot.emulator.app import EmulatorApp
from otabot.emulator.fleet import Fleet, sample_fleet
from otabot.emulator.models import Faults, IotPlatform
from otabot.emulator.responses import IotResponses
from otabot.wsgi import BackgroundWsgiServer

# Enough workers for the benches' ~20 concurrent calls, each possibly held by a latency fault.
DEFAULT_THREADS = 32
# Far above any API call or fleet file; waitress refuses a larger body with 413 unread.
MAX_REQUEST_BYTES = 16 * 1024 * 1024


class EmulatorServer:
    """A local IoT Platform on ``host:port``; start, use, stop (or use as a context manager)."""

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        qps: float | Mapping[str, float] | None = None,
        monotonic: clocks.Monotonic = clocks.monotonic,
        wall_clock: clocks.WallClock = clocks.wall_clock,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        """``qps``: one limit for every action, limits by action name, or None for each
        action's documented quota. ``ValueError`` for a limit that is not positive."""
        self.platform = IotPlatform(
            fleet or sample_fleet(), qps=qps, monotonic=monotonic, wall_clock=wall_clock
        )
        self.app = EmulatorApp(self.platform, arrival_times=monotonic is clocks.monotonic)
        self._host = host
        self._port = port
        self._threads = threads
        self._server: BackgroundWsgiServer | None = None

    def start(self) -> EmulatorServer:
        """Bind and serve; ``PortInUseError`` or ``OSError`` if the address cannot be had."""
        if self._server is not None:
            return self
        self.app.pauses.resume()
        self._server = BackgroundWsgiServer(
            self.app,
            host=self._host,
            port=self._port,
            threads=self._threads,
            name="otabot-emulator",
            max_request_body_size=MAX_REQUEST_BYTES,
        ).start()
        self._port = self._server.port
        return self

    def stop(self) -> None:
        """Wake injected sleeps, stop serving, close open connections; prompt."""
        server, self._server = self._server, None
        if server is None:
            return
        self.app.pauses.stop()
        server.stop()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def fleet(self) -> Fleet:
        return self.platform.fleet

    @property
    def responses(self) -> IotResponses:
        return self.app.responses

    @property
    def timeout_fault_seconds(self) -> float:
        """How long the ``timeout`` fault holds a call before dropping it (unless woken)."""
        return self.app.timeout_fault_seconds

    @timeout_fault_seconds.setter
    def timeout_fault_seconds(self, seconds: float) -> None:
        self.app.timeout_fault_seconds = seconds

    def reset(self) -> None:
        """Clear stats, nonces, quota windows and faults (keeps the fleet)."""
        self.app.reset()

    def stats(self) -> dict[str, Any]:
        return self.platform.stats()

    def set_fleet(self, fleet: Fleet) -> None:
        self.platform.replace_fleet(fleet)

    def set_faults(
        self,
        latency_ms: float = 0.0,
        error: str | None = None,
        count: int | None = None,
        action: str | None = None,
    ) -> None:
        """Inject faults (see ``Faults``); no arguments clears them. ``ValueError`` if bad."""
        faults = Faults.from_dict(
            {"latency_ms": latency_ms, "error": error, "count": count, "action": action}
        )
        self.app.set_faults(faults)
