"""The operator's side of a replica: readiness, the probe and metrics endpoints, the pool."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from otabot.counters import Counters
from otabot.operations import DaemonPool, Metrics, Readiness, metric_name, operations_app


def call(app: Any, path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method}, start_response))
    return seen["status"], seen["headers"], body


def test_readiness_is_starting_then_ready_then_draining_for_good() -> None:
    readiness = Readiness()
    app = operations_app(readiness, None)
    assert call(app, "/readyz")[0].startswith("503")
    readiness.set_ready()
    assert call(app, "/readyz") == (
        "200 OK",
        {"Content-Type": "application/json", "Content-Length": "17"},
        b'{"state":"ready"}',
    )
    readiness.set_draining()
    readiness.set_ready()  # a drain is not undone
    status, _, body = call(app, "/readyz")
    assert status.startswith("503") and body == b'{"state":"draining"}'
    assert call(app, "/healthz")[0] == "200 OK"  # alive while draining


def test_operations_refuse_other_methods_and_unknown_paths_in_words() -> None:
    app = operations_app(Readiness(), None)
    assert call(app, "/healthz", "POST")[0].startswith("405")
    status, _, body = call(app, "/metrics")  # no metrics given: not served here
    assert status.startswith("404") and b"not found" in body


@pytest.mark.parametrize(
    ("prefix", "name", "full"),
    [
        ("otabot_quota", "quota_busy", "otabot_quota_busy"),
        ("otabot_quota", "attempts", "otabot_quota_attempts"),
        ("otabot_redis", "redis_failures", "otabot_redis_failures"),
        ("otabot", "cache_hits", "otabot_cache_hits"),
        ("otabot_iot", "calls", "otabot_iot_calls"),
    ],
)
def test_metric_names_say_a_shared_word_once(prefix: str, name: str, full: str) -> None:
    assert metric_name(prefix, name) == full


def test_counters_and_gauges_are_exposed_as_prometheus_reads_them() -> None:
    metrics = Metrics()
    counters = Counters("calls")
    counters.add("calls", 3, action="QueryOTAJob")
    counters.add("calls", action="ListOTATaskByJob")
    counters.add("answers", action="QueryOTAJob", code="Throttling.User")
    metrics.count("otabot_iot", counters)
    metrics.gauge("otabot_queue", "waiting now", lambda: 7)
    metrics.gauge("otabot_broken", "a gauge that fails", lambda: 1 / 0)
    metrics.observe_quota_wait("QueryOTAJob", 0.3)
    metrics.observe_lookup("command", "ok", 1.2)
    metrics.observe_lookup("ota_next", "error:Throttling.User", 0.4)

    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    calls = {tuple(s.labels.items()): s.value for s in families["otabot_iot_calls"].samples}
    assert calls == {
        (("action", "QueryOTAJob"),): 3.0,
        (("action", "ListOTATaskByJob"),): 1.0,
    }
    (throttled,) = families["otabot_iot_answers"].samples
    assert throttled.labels == {"action": "QueryOTAJob", "code": "Throttling.User"}
    assert families["otabot_queue"].samples[0].value == 7
    assert "otabot_broken" not in families  # logged, and the scrape still answers
    waits = {s.name: s.value for s in families["otabot_quota_wait_seconds"].samples}
    assert waits["otabot_quota_wait_seconds_count"] == 1
    assert waits["otabot_quota_wait_seconds_sum"] == pytest.approx(0.3)
    lookups = families["otabot_lookup_seconds"].samples
    assert {(s.labels["source"], s.labels["outcome"]) for s in lookups} == {
        ("command", "ok"),
        ("ota_next", "error"),  # the API's error codes are not label values
    }


def test_the_pool_drains_within_its_bound_and_takes_no_more_after() -> None:
    pool = DaemonPool(2, "test-pool")
    release = threading.Event()
    done: list[int] = []
    pool.submit(done.append, 1).result(5)
    stuck = pool.submit(release.wait, 30)
    assert pool.in_flight == 1
    started = time.monotonic()
    assert pool.drain(0.2) is False  # a stuck task does not hold the drain past its bound
    assert time.monotonic() - started < 2
    with pytest.raises(RuntimeError):
        pool.submit(done.append, 2)
    release.set()
    assert stuck.result(5) is True
    assert pool.drain(5) is True and done == [1]


def test_a_failing_task_reports_its_error_through_its_future() -> None:
    pool = DaemonPool(1, "test-pool")
    future = pool.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        future.result(5)
    assert pool.drain(5)
