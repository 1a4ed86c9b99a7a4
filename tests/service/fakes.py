"""Test doubles for the service layer: a fake job source, a TCP proxy (and the fake clock
of ``tests.helpers``, here too for the tests that take it from here)."""

from __future__ import annotations

import contextlib
import itertools
import math
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from otabot.iot.errors import IotError
from otabot.iot.models import OtaJob, Page
from otabot.service.quota import QuotaLimiter
from tests.helpers import LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from tests.helpers import FakeClock as FakeClock  # test_quota.py, test_redis_quota.py take it here
from tests.service.fleet_source import JobsByDevice, JobsCall, ota_job

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def make_job(
    index: int, status: str = "IN_PROGRESS", product_key: str = LIGHT_PRODUCT_KEY
) -> OtaJob:
    """Job ``index``; a higher index is a newer job."""
    return ota_job(
        f"Job{index:08d}",
        status=status,
        at=EPOCH + timedelta(hours=index),
        firmware_id=SHOWCASE_FIRMWARE_ID,
        product_key=product_key,
        tags=(("team", "ops"),),
    )


class FakeJobSource(JobsByDevice):
    """Answers ``list_ota_jobs_by_device`` from a dict, through the gate like IotClient.

    Pages come oldest first, so the service's newest-first ordering is really tested.
    """

    def __init__(
        self,
        jobs: dict[str, list[OtaJob]] | None = None,
        *,
        gate: QuotaLimiter | None = None,
        errors: dict[str, Callable[[], IotError]] | None = None,
    ) -> None:
        self.jobs = jobs or {}
        self.errors = errors or {}
        self.gate = gate
        self.calls: list[tuple[str, int, float | None]] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.closed = False

    def jobs_page(self, call: JobsCall) -> Page[OtaJob]:
        if self.gate is not None:
            self.gate.before_attempt("ListOTAJobByDevice", call.deadline)
        with self._lock:
            self.calls.append((call.device_name, call.current_page, call.deadline))
            request_id = f"REQ-{next(self._ids)}"
        self.entered.set()
        self.release.wait(timeout=10)
        if self.gate is not None:
            self.gate.after_attempt("ListOTAJobByDevice", False)
        if call.device_name in self.errors:
            raise self.errors[call.device_name]()
        jobs = self.jobs.get(call.device_name, [])
        start = (call.current_page - 1) * call.page_size
        return Page(
            items=tuple(jobs[start : start + call.page_size]),
            total=len(jobs),
            page_count=max(1, math.ceil(len(jobs) / call.page_size)),
            current_page=call.current_page,
            page_size=call.page_size,
            request_id=request_id,
        )

    def close(self) -> None:
        self.closed = True


class FirstCallAnswersLate:
    """A job source whose first answer (read at once) is delivered only when released."""

    def __init__(self, source: FakeJobSource) -> None:
        self.source = source
        self.entered, self.release = threading.Event(), threading.Event()
        self._first = True

    def list_ota_jobs_by_device(self, *args: Any, **kwargs: Any) -> Page[OtaJob]:
        page = self.source.list_ota_jobs_by_device(*args, **kwargs)
        if self._first:
            self._first = False
            self.entered.set()
            self.release.wait(5)
        return page

    def close(self) -> None:
        self.source.close()


class TcpProxy:
    """A TCP relay to a real server that a test can cut and restore, port kept."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pipe, args=(source, sink), daemon=True)
                thread.start()
                self._threads.append(thread)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
            except OSError:
                break
        for sock in (source, sink):
            with contextlib.suppress(OSError):  # already closed by the other direction
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the blocked accept() on Linux
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):  # the relay thread closed it first
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads = []
