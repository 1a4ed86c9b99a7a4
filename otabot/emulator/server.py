"""The emulator's HTTP server: the IoT Platform API at ``/`` and control endpoints.

``EmulatorServer`` runs a ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, daemon
threads) in a background thread. API calls go to ``IotResponses``; the control
endpoints of SPEC.md (``/__emulator/{health,stats,reset,fleet,faults}``) drive the
state for tests, benchmarks and the demo. Injected sleeps (latency, ``timeout``)
wait on a condition that ``reset()``, ``set_faults()`` and ``stop()`` wake, so a
test never waits for them to run out.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from otabot.emulator.exceptions import InternalError
from otabot.emulator.fleet import Fleet, FleetError, sample_fleet
from otabot.emulator.models import Faults, IotPlatform
from otabot.emulator.responses import (
    JSON_TYPE,
    IotResponses,
    WireRequest,
    WireResponse,
    new_request_id,
)

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/__emulator/"
TIMEOUT_FAULT_SECONDS = 30.0
IDLE_CONNECTION_SECONDS = 60.0
# Far above any API call or fleet file; a larger Content-Length is refused unread.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
# An injected latency longer than this is a mistake (and past what a sleep can take).
MAX_LATENCY_MS = 3_600_000.0


class EmulatorServer:
    """A local IoT Platform on ``host:port`` (port 0 picks a free one); start, use, stop."""

    def __init__(
        self,
        fleet: Fleet | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        qps: float = 10.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.platform = IotPlatform(fleet or sample_fleet(), qps=qps, clock=clock)
        self.responses = IotResponses(self.platform)
        self.timeout_fault_seconds = TIMEOUT_FAULT_SECONDS
        self._host = host
        self._port = port
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Condition()
        self._generation = 0
        self._stopping = False

    def start(self) -> EmulatorServer:
        """Bind and serve in a daemon thread; ``OSError`` if the port cannot be had."""
        if self._httpd is not None:
            return self
        self._stopping = False
        httpd = _HttpServer((self._host, self._port), _Handler, self)
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"otabot-emulator-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake injected sleeps and close open connections; prompt."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        with self._wake:
            self._stopping = True
            self._generation += 1
            self._wake.notify_all()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

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

    def reset(self) -> None:
        """Clear stats, nonces, quota windows and faults (keeps the fleet)."""
        self.platform.reset()
        self._wake_sleepers()

    def stats(self) -> dict[str, Any]:
        return self.platform.stats()

    def set_fleet(self, fleet: Fleet) -> None:
        self.platform.replace_fleet(fleet)

    def set_faults(
        self, latency_ms: float = 0.0, error: str | None = None, count: int | None = None
    ) -> None:
        """Inject faults (see ``Faults``); no arguments clears them. ``ValueError`` if bad."""
        faults = checked_faults({"latency_ms": latency_ms, "error": error, "count": count})
        self.platform.set_faults(faults)
        self._wake_sleepers()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; ``False`` when reset, new faults or stop cut it short."""
        with self._wake:
            generation = self._generation
            return not self._wake.wait_for(
                lambda: self._generation != generation or self._stopping, timeout=seconds
            )

    def _wake_sleepers(self) -> None:
        with self._wake:
            self._generation += 1
            self._wake.notify_all()


def checked_faults(data: object) -> Faults:
    """``Faults.from_dict`` plus a latency a sleep can take; ``ValueError`` says what is wrong."""
    faults = Faults.from_dict(data)
    if not (math.isfinite(faults.latency_ms) and faults.latency_ms <= MAX_LATENCY_MS):
        raise ValueError(f"latency_ms must be a number from 0 to {MAX_LATENCY_MS:.0f}")
    return faults


class _HttpServer(ThreadingHTTPServer):
    """Threading server that knows its emulator and can close its open connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        emulator: EmulatorServer,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("connection already closed", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """One connection: API calls at ``/``, control endpoints under ``/__emulator/``."""

    protocol_version = "HTTP/1.1"
    server_version = "otabot-emulator"
    sys_version = ""
    timeout = IDLE_CONNECTION_SECONDS
    # Headers and body go out in two writes: without this, Nagle's algorithm meets the
    # client's delayed ACK and every keep-alive call waits ~40 ms.
    disable_nagle_algorithm = True
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds signatures and STS tokens: never log it.
        return

    def _dispatch(self) -> None:
        """Answer one request; a bug is a 500 (in the API's shape at ``/``), not a dead thread."""
        try:
            self._route()
        except Exception:
            logger.exception("the emulator failed to answer %s", urlsplit(self.path).path)
            self.close_connection = True
            if urlsplit(self.path).path == "/":
                request = WireRequest(self.command, self.path, {}, b"")
                error = self.server.emulator.responses.error(
                    request, InternalError(), new_request_id()
                )
                self._send(WireResponse(error.status, JSON_TYPE, error.body, error.headers))
            else:
                self._send_json(500, {"error": "the emulator failed; see its log"})

    def _route(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._send_json(400, {"error": "bad Content-Length"})
            return
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True  # the body stays unread
            self._send_json(413, {"error": f"body is larger than {MAX_REQUEST_BYTES} bytes"})
            return
        body = self.rfile.read(length) if length > 0 else b""
        request = WireRequest(
            method=self.command,
            target=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            self._control(path[len(CONTROL_PREFIX) :], request)
        elif path == "/":
            self._api(request)
        else:
            self._send_json(404, {"error": f"nothing at {urlsplit(self.path).path}"})

    def _api(self, request: WireRequest) -> None:
        emulator = self.server.emulator
        platform = emulator.platform
        call = platform.arrive()
        if call.latency_ms > 0:
            emulator.sleep(call.latency_ms / 1000)
        if call.fault in ("timeout", "reset"):
            platform.record(request.action, f"fault.{call.fault}")
            if call.fault == "timeout":
                emulator.sleep(emulator.timeout_fault_seconds)
            self._drop_connection()
            return
        response = emulator.responses.respond(request, call.fault)
        platform.record(request.action, response.code)
        logger.debug(
            "%s %s -> %s %s", request.method, request.action, response.status, response.code
        )
        self._send(response)

    def _control(self, name: str, request: WireRequest) -> None:
        emulator = self.server.emulator
        route = (request.method, name)
        if request.method == "POST" and "origin" in request.headers:
            # Only a browser sends Origin: a web page must not drive a local emulator (CSRF).
            self._send_json(403, {"error": "control endpoints take no requests from web pages"})
            return
        if route == ("GET", "health"):
            fleet = emulator.fleet
            self._send_json(
                200,
                {
                    "status": "ok",
                    "products": len(fleet.products),
                    "firmwares": len(fleet.firmwares),
                    "jobs": len(fleet.jobs),
                },
            )
        elif route == ("GET", "stats"):
            self._send_json(200, emulator.stats())
        elif route == ("POST", "reset"):
            emulator.reset()
            self._send_json(200, {"status": "reset"})
        elif route == ("POST", "fleet"):
            try:
                fleet = Fleet.from_json(request.body or b"null", source="posted fleet")
            except FleetError as error:
                self._send_json(400, {"error": str(error)})
                return
            except RecursionError:
                self._send_json(400, {"error": "posted fleet is nested too deeply"})
                return
            emulator.set_fleet(fleet)
            self._send_json(200, {"status": "ok", "jobs": len(fleet.jobs)})
        elif route == ("POST", "faults"):
            try:
                faults = checked_faults(json.loads(request.body or b"{}"))
            except ValueError as error:
                self._send_json(400, {"error": f"bad faults: {error}"})
                return
            except RecursionError:
                self._send_json(400, {"error": "bad faults: nested too deeply"})
                return
            emulator.set_faults(faults.latency_ms, faults.error, faults.count)
            self._send_json(200, {"status": "ok", "faults": faults.to_dict()})
        elif name in ("health", "stats", "reset", "fleet", "faults"):
            self._send_json(405, {"error": f"{request.method} not allowed on {name}"})
        else:
            self._send_json(404, {"error": f"no control endpoint {name!r}"})

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        self._send(WireResponse(status, JSON_TYPE, json.dumps(body).encode()))

    def _send(self, response: WireResponse) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _drop_connection(self) -> None:
        """Close the socket without a word, as a crashed proxy would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            logger.debug("connection already gone", exc_info=True)
