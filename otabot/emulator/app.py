"""The emulator as a WSGI application (moto's urls.py): routes, control endpoints, faults.

``EmulatorApp`` is a plain WSGI callable: the IoT Platform API at ``/`` (answered by
``IotResponses``) and the control endpoints under ``/__emulator/`` that tests,
benchmarks and the demo drive it with (``GET health|stats|fleet``, ``POST
reset|fleet|faults``). Injected sleeps (latency, the ``timeout`` fault) wait on
``Pauses``, which a reset, new faults or a stop wake, so no worker thread outlives
them. The ``reset`` and ``timeout`` faults end in a dropped connection, which WSGI
cannot say; the app asks ``otabot.wsgi``'s server for it (``DROP_CONNECTION``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from otabot.emulator.exceptions import InternalError
from otabot.emulator.fleet import Fleet, FleetError, strict_json
from otabot.emulator.models import Faults, IotPlatform
from otabot.emulator.responses import (
    JSON_TYPE,
    IotResponses,
    WireRequest,
    WireResponse,
    new_request_id,
)
from otabot.wsgi import ARRIVED, DROP_CONNECTION

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/__emulator/"
CONTROL_NAMES = frozenset({"health", "stats", "fleet", "reset", "faults"})
TIMEOUT_FAULT_SECONDS = 30.0

StartResponse = Callable[..., Any]


class Pauses:
    """Injected sleeps that ``wake()`` (a reset, new faults) and ``stop()`` cut short."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0
        self._stopped = False

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; ``False`` when woken early (at once once stopped)."""
        with self._condition:
            generation = self._generation
            return not self._condition.wait_for(
                lambda: self._generation != generation or self._stopped, timeout=seconds
            )

    def wake(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def stop(self) -> None:
        """Wake every sleeper; later sleeps return at once until ``resume()``."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def resume(self) -> None:
        with self._condition:
            self._stopped = False


class EmulatorApp:
    """The emulated API and its control endpoints, as one WSGI application."""

    def __init__(self, platform: IotPlatform, *, arrival_times: bool = False) -> None:
        """``arrival_times``: count calls by when they arrived (the server's stamp, on
        ``time.monotonic``), not when a worker got to them; only for a platform on that
        clock."""
        self.platform = platform
        self._arrival_times = arrival_times
        self.responses = IotResponses(platform)
        self.pauses = Pauses()
        self.timeout_fault_seconds = TIMEOUT_FAULT_SECONDS

    def reset(self) -> None:
        """Clear stats, nonces, quota windows and faults (keeps the fleet); wake sleepers."""
        self.platform.reset()
        self.pauses.wake()

    def set_faults(self, faults: Faults) -> None:
        self.platform.set_faults(faults)
        self.pauses.wake()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = _wire_request(environ, self._arrival_times)
        try:
            response = self._route(request, environ)
        except Exception:
            logger.exception("the emulator failed to answer %s", request.path[:100])
            response = self._failure(request)
        if response is None:
            return []  # the connection was dropped: no status line, no body
        status = HTTPStatus(response.status)
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *response.headers.items(),
        ]
        start_response(f"{status.value} {status.phrase}", headers)
        return [response.body]

    def _route(self, request: WireRequest, environ: dict[str, Any]) -> WireResponse | None:
        path = request.path
        if path == "/":
            return self._api(request, environ)
        if path.startswith(CONTROL_PREFIX):
            return self._control(path[len(CONTROL_PREFIX) :], request)
        return _json(404, {"error": f"nothing at {path[:100]}"})

    def _api(self, request: WireRequest, environ: dict[str, Any]) -> WireResponse | None:
        platform = self.platform
        call = platform.arrive(request.action, at=request.arrived)
        if call.latency_ms > 0:
            self.pauses.sleep(call.latency_ms / 1000)
        if call.fault in ("timeout", "reset"):
            platform.record(f"fault.{call.fault}")
            if call.fault == "timeout":
                self.pauses.sleep(self.timeout_fault_seconds)
            drop: Callable[[], None] = environ[DROP_CONNECTION]
            drop()
            return None
        response = self.responses.respond(request, call.fault)
        platform.record(response.code)
        logger.debug(
            "%s %s -> %s %s", request.method, request.action, response.status, response.code
        )
        return response

    def _control(self, name: str, request: WireRequest) -> WireResponse:
        method = request.method
        if method == "POST" and "origin" in request.headers:
            # Only a browser sends Origin: a web page must not drive a local emulator (CSRF).
            return _json(403, {"error": "control endpoints take no requests from web pages"})
        route = (method, name)
        if route == ("GET", "health"):
            fleet = self.platform.fleet
            counts = {"products": len(fleet.products), "firmwares": len(fleet.firmwares)}
            return _json(200, {"status": "ok", **counts, "jobs": len(fleet.jobs)})
        if route == ("GET", "stats"):
            return _json(200, self.platform.stats())
        if route == ("GET", "fleet"):
            return _json(200, self.platform.fleet.to_dict(), indent=2)
        if route == ("POST", "reset"):
            self.reset()
            return _json(200, {"status": "reset"})
        if route == ("POST", "fleet"):
            try:
                fleet = Fleet.from_json(request.body or b"null", source="posted fleet")
            except FleetError as error:
                return _json(400, {"error": str(error)})
            self.platform.replace_fleet(fleet)
            return _json(200, {"status": "ok", "jobs": len(fleet.jobs)})
        if route == ("POST", "faults"):
            try:
                faults = Faults.from_dict(strict_json(request.body or b"{}"))
            except ValueError as error:
                return _json(400, {"error": f"bad faults: {error}"})
            self.set_faults(faults)
            return _json(200, {"status": "ok", "faults": faults.to_dict()})
        if name in CONTROL_NAMES:
            return _json(405, {"error": f"{method[:10]} not allowed on {name}"})
        return _json(404, {"error": f"no control endpoint {name[:100]!r}"})

    def _failure(self, request: WireRequest) -> WireResponse:
        """A bug is a 500, in the API's own shape at ``/``; the traceback stays in the log."""
        if request.path != "/":
            return _json(500, {"error": "the emulator failed; see its log"})
        return self.responses.error(request, InternalError(), new_request_id())


def _wire_request(environ: dict[str, Any], arrival_times: bool) -> WireRequest:
    """The request as the wire layer reads it: raw target, lower-case headers, whole body."""
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    length = int(environ.get("CONTENT_LENGTH") or 0)  # waitress has checked and capped it
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    target = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    arrived = environ.get(ARRIVED) if arrival_times else None
    return WireRequest(environ["REQUEST_METHOD"], target, headers, body, arrived)


def _json(status: int, body: dict[str, Any], indent: int | None = None) -> WireResponse:
    return WireResponse(status, JSON_TYPE, json.dumps(body, indent=indent).encode())
