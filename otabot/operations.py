"""What an operator's tooling asks of a running replica: is it alive, will it take work,
and what has it been doing (``/healthz``, ``/readyz``, ``/metrics``).

``Readiness`` is starting → ready → draining; a load balancer sends work only while
``/readyz`` answers 200. ``Metrics`` is one ``prometheus_client`` registry per replica:
histograms observed as things happen, and every component's ``Counters`` read only when
Prometheus scrapes (``CountersCollector``), so collecting adds nothing to the ack path
beyond the counting the components already do. ``DaemonPool`` is the listener pool:
its threads never hold the process up at exit, so a drain deadline is a deadline.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from otabot.counters import Counters

if TYPE_CHECKING:
    from otabot.service import OtaService

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
OPERATIONS_PATHS = frozenset({HEALTH_PATH, READY_PATH, METRICS_PATH})

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Waits from a few milliseconds (a free slot) to OTABOT_MAX_WAIT (a long queue).
WAIT_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)


class Readiness:
    """Whether this replica takes work: not while starting, and not once draining."""

    STARTING, READY, DRAINING = "starting", "ready", "draining"

    def __init__(self) -> None:
        self._state = self.STARTING
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    def set_ready(self) -> None:
        with self._lock:
            if self._state == self.STARTING:
                self._state = self.READY

    def set_draining(self) -> None:
        with self._lock:
            self._state = self.DRAINING


class CountersCollector(Collector):
    """Turns components' ``Counters`` into Prometheus families at scrape time.

    Each ``(prefix, counters, skip)`` exposes every counter but those in ``skip`` as
    ``<prefix>_<name>_total`` with its labels (a name that repeats the prefix's last word
    says it once: ``otabot_quota`` + ``quota_busy`` is ``otabot_quota_busy_total``).
    Gauges are callables read the same way.
    """

    def __init__(
        self,
        counters: list[tuple[str, Counters, frozenset[str]]],
        gauges: Mapping[str, tuple[str, Callable[[], float]]],
    ) -> None:
        self._counters = counters
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        for prefix, counters, skip in self._counters:
            for name, series in sorted(counters.series().items()):
                if name in skip:
                    continue
                labels = sorted({label for key in series for label, _ in key})
                full = metric_name(prefix, name)
                doc = COUNTER_HELP.get(full, full.replace("_", " "))
                family = CounterMetricFamily(full, doc, labels=labels)
                for key, value in series.items():
                    if not key and labels and value == 0:
                        continue  # the zero a counter starts at, before its labelled counts
                    values = dict(key)
                    family.add_metric([values.get(label, "") for label in labels], value)
                yield family
        for name, (doc, read) in self._gauges.items():
            try:
                value = float(read())
            except Exception:
                logger.exception("could not read gauge %s", name)
                continue
            yield GaugeMetricFamily(name, doc, value=value)


# What each counter counts, as Prometheus shows it (docs/deploy.md lists them all).
COUNTER_HELP = {
    "otabot_lookups": "Lookups asked of the caches, by kind",
    "otabot_cache_hits": "Lookups answered from a cache, by kind and layer (memory, redis)",
    "otabot_cache_misses": "Lookups that went past both caches, by kind",
    "otabot_remembered": "Not-found and forbidden answers kept as such, by kind",
    "otabot_upstream_calls": "Upstream calls made for each kind of lookup",
    "otabot_single_flight_joins": "Lookups that joined a fetch already running here",
    "otabot_replica_flight_joins": "Lookups answered by another replica's fetch, by kind",
    "otabot_iot_calls": "IoT Platform calls asked of the client, by action",
    "otabot_iot_attempts": "Attempts sent to IoT Platform, retries included, by action",
    "otabot_iot_retries": "Retries sent to IoT Platform, by action",
    "otabot_iot_throttled": "Attempts IoT Platform throttled, by action",
    "otabot_iot_failures": "IoT Platform calls that ended in an error, by action",
    "otabot_iot_answers": "IoT Platform answers by action and code (OK, the API's, otabot's)",
    "otabot_quota_attempts": "Attempts the quota let go, by action",
    "otabot_quota_late_writes": "Attempts written to the socket late, counted from then",
    "otabot_quota_busy": "Attempts refused for want of a quota slot in time, by action",
    "otabot_quota_too_many_waiting": "Attempts refused: the person had 50 waiting already",
    "otabot_redis_failures": "Redis commands that failed",
}


def metric_name(prefix: str, name: str) -> str:
    """``prefix_name``, saying a word the two share once (``otabot_quota`` + ``quota_busy``)."""
    head, _, last = prefix.rpartition("_")
    if head and name.startswith(f"{last}_"):
        return f"{head}_{name}"
    return f"{prefix}_{name}"


class Metrics:
    """One replica's metrics: a registry, the histograms, and the counters it reads."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.quota_wait = Histogram(
            "otabot_quota_wait_seconds",
            "Seconds an upstream attempt waited for its quota turn",
            ["action"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.lookup_latency = Histogram(
            "otabot_lookup_seconds",
            "Seconds from a lookup's request (a command or a button) to its answer being sent",
            ["source", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self._counters: list[tuple[str, Counters, frozenset[str]]] = []
        self._gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self.registry.register(CountersCollector(self._counters, self._gauges))

    def count(self, prefix: str, counters: Counters, skip: Iterable[str] = ()) -> None:
        """Expose ``counters`` as ``<prefix>_<name>_total`` (but those in ``skip``)."""
        self._counters.append((prefix, counters, frozenset(skip)))

    def gauge(self, name: str, doc: str, read: Callable[[], float]) -> None:
        self._gauges[name] = (doc, read)

    def observe_lookup(self, source: str, outcome: str, seconds: float) -> None:
        """One answered lookup: ``source`` is ``command`` or the button's action_id; an
        outcome naming the API's error code is counted as ``error`` (codes are the API's to
        invent: as label values they would grow without bound)."""
        self.lookup_latency.labels(source, outcome.split(":", 1)[0]).observe(seconds)

    def observe_quota_wait(self, action: str, seconds: float) -> None:
        self.quota_wait.labels(action).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def watch_service(self, service: OtaService) -> None:
        """Expose the lookup service: its counters, its quota waits and queue, Redis."""
        for part, counters in service.counters().items():
            prefix = SERVICE_PREFIXES.get(part, f"otabot_{part}")
            # The quota's wait is the histogram's _sum, and the API's throttling answers
            # are the client's count: neither is exposed twice.
            skip = ("quota_wait_seconds", "throttled") if part == "quota" else ()
            self.count(prefix, counters, skip)
        service.on_quota_wait(self.observe_quota_wait)
        self.gauge(
            "otabot_quota_waiting",
            "Upstream attempts of this replica waiting for a quota slot",
            service.waiting,
        )
        self.gauge(
            "otabot_redis_degraded",
            "1 while Redis is configured but unusable (local quota and cache)",
            lambda: float(service.redis_degraded),
        )


# Metric prefixes of the service's parts (see OtaService.counters).
SERVICE_PREFIXES = {
    "lookups": "otabot",
    "flights": "otabot",
    "iot": "otabot_iot",
    "quota": "otabot_quota",
    "redis": "otabot_redis",
}


def operations_app(readiness: Readiness, metrics: Metrics | None) -> WsgiApp:
    """``/healthz`` (alive), ``/readyz`` (200 when taking work, else 503 and why) and
    ``/metrics`` (Prometheus text format) as a WSGI application."""

    def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _send(start_response, "405 Method Not Allowed", b'{"error":"GET only"}')
        if path == HEALTH_PATH:
            return _send(start_response, "200 OK", b'{"ok":true}')
        if path == READY_PATH:
            state = readiness.state
            status = "200 OK" if state == Readiness.READY else "503 Service Unavailable"
            return _send(start_response, status, f'{{"state":"{state}"}}'.encode())
        if path == METRICS_PATH and metrics is not None:
            return _send(start_response, "200 OK", metrics.exposition(), CONTENT_TYPE_LATEST)
        return _send(start_response, "404 Not Found", b'{"error":"not found"}')

    return answer


def _send(
    start_response: Callable[..., Any],
    status: str,
    body: bytes,
    content_type: str = "application/json",
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonPool(Executor):
    """A fixed pool of daemon threads: like ``ThreadPoolExecutor``, except that the
    interpreter does not wait for its threads at exit (``ThreadPoolExecutor`` joins them,
    which let a stalled upstream hold a stopping replica for tens of seconds)."""

    def __init__(self, workers: int, name: str) -> None:
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._busy = 0
        self._queued = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            self._queued += 1
        self._work.put((future, fn, args, kwargs))
        return future

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            future, fn, args, kwargs = item
            with self._lock:
                self._queued -= 1
                self._busy += 1
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args, **kwargs))
                    except BaseException as error:
                        future.set_exception(error)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()

    @property
    def in_flight(self) -> int:
        """Work queued or running."""
        with self._lock:
            return self._busy + self._queued

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.drain(None if wait else 0.0)

    def drain(self, timeout: float | None) -> bool:
        """Take no more; wait up to ``timeout`` s (None: as long as it takes) for the work
        queued and running. True when it all finished."""
        with self._lock:
            if not self._closed:
                self._closed = True
                for _ in self._threads:
                    self._work.put(None)
            finished = self._lock.wait_for(lambda: self._busy + self._queued == 0, timeout)
        if finished:
            for thread in self._threads:
                thread.join(5)  # idle: each takes its sentinel and ends at once
        return finished
