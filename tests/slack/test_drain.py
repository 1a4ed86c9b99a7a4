"""``otabot serve`` as an operator runs it: probes, metrics, and a SIGTERM in an incident.

A real ``otabot serve`` process over HTTP against the emulator, signed requests in,
``response_url`` posts recorded, ``/metrics`` parsed with Prometheus' own parser.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from otabot.demo.slack_side import SlackSide
from otabot.emulator.server import EmulatorServer
from otabot.slack.deferred import RESTARTING
from tests.helpers import SHOWCASE_FIRMWARE_ID as FIRMWARE
from tests.slack.conftest import command_body
from tests.slack.test_serve import ServeProcess, serve_env

pytestmark = pytest.mark.slow


def samples(metrics_text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus exposition, by name and labels (parsed, so malformed
    text fails here)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
    }


def total(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    wanted = set(labels.items())
    return sum(
        value for (sample, have), value in found.items() if sample == name and wanted <= have
    )


@pytest.fixture
def served(recorder: SlackSide, emulator: EmulatorServer) -> Iterator[ServeProcess]:
    process = ServeProcess(serve_env(recorder, emulator))
    yield process
    process.stop()


def test_probes_and_metrics_of_a_serving_replica(
    served: ServeProcess, recorder: SlackSide, emulator: EmulatorServer
) -> None:
    url = served.events_url()
    base = url.removesuffix("/slack/events")
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    ready = requests.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json() == {"state": "ready"}
    served.post(url, command_body(f"light/light1 {FIRMWARE}", recorder.response_url()))
    recorder.wait_for_responses(1)
    served.post(url, command_body(f"light/light1 {FIRMWARE}", recorder.response_url("again")))
    recorder.wait_for_responses(2)

    # The lookup is counted as its audit line is written, just after its answer is posted.
    deadline = time.monotonic() + 5
    while True:
        scraped = requests.get(f"{base}/metrics", timeout=5)
        assert scraped.status_code == 200
        found = samples(scraped.text)
        if total(found, "otabot_lookup_seconds_count") >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert scraped.headers["Content-Type"].startswith("text/plain")
    calls = total(found, "otabot_iot_calls_total", action="ListOTAJobByDevice")
    assert calls == emulator.stats()["by_action"]["ListOTAJobByDevice"] == 1
    assert total(found, "otabot_iot_answers_total", action="ListOTAJobByDevice", code="OK") == 1
    # Two lookups, one of them from the cache: the acks' look ahead is not counted.
    assert total(found, "otabot_lookups_total", kind="jobs") == 2
    assert total(found, "otabot_cache_hits_total", kind="jobs", layer="memory") == 1
    assert total(found, "otabot_lookup_seconds_count", source="command") == 2
    assert total(found, "otabot_quota_wait_seconds_count", action="ListOTAJobByDevice") == 1
    assert total(found, "otabot_quota_busy_total") == 0
    assert total(found, "otabot_quota_waiting") == 0
    assert total(found, "otabot_lookups_pending") == 0
    # Every family says what it counts in words (no help text made from its name).
    for family in text_string_to_metric_families(scraped.text):
        if family.name.startswith("otabot_"):
            assert family.documentation != family.name.replace("_", " "), family.name
    # No secret rides along in a label or a help text.
    for secret in ("testsecret", "xoxb-", recorder.url):
        assert secret not in scraped.text
    # Only GET; anything else is a short refusal in words.
    assert requests.post(f"{base}/metrics", timeout=5).status_code == 405


def test_metrics_move_to_their_own_port(recorder: SlackSide, emulator: EmulatorServer) -> None:
    env = serve_env(recorder, emulator) | {"OTABOT_METRICS_PORT": "0"}
    process = ServeProcess(env)
    try:
        url = process.events_url()
        (said,) = [line for line in process.output if line.startswith("otabot serve: metrics on ")]
        metrics_url = said.rsplit(" on ", 1)[1].strip()
        base = url.removesuffix("/slack/events")
        assert metrics_url != f"{base}/metrics"
        assert requests.get(metrics_url, timeout=5).status_code == 200
        assert "otabot_lookup_seconds" in requests.get(metrics_url, timeout=5).text
        # The public port still answers the probes, but not /metrics.
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        assert requests.get(f"{base}/metrics", timeout=5).status_code == 404
    finally:
        assert process.stop() == 0


def test_sigterm_mid_incident_drains_within_its_bound_and_loses_no_lookup(
    recorder: SlackSide, emulator: EmulatorServer
) -> None:
    grace, timeout = 1.5, 6.0
    env = serve_env(recorder, emulator) | {
        "OTABOT_DRAIN_GRACE": str(grace),
        "OTABOT_DRAIN_TIMEOUT": str(timeout),
        "OTABOT_API_QPS": "5",
    }
    process = ServeProcess(env)
    try:
        url = process.events_url()
        base = url.removesuffix("/slack/events")
        emulator.set_faults(latency_ms=1500)  # the API answers, slowly
        names = [f"r{n}" for n in range(150)]

        def ask(n: int) -> int:
            body = command_body(
                f"light/lamp-{n % 25 + 1:02d} v{n}.0.0",
                recorder.response_url(names[n]),
                user=f"U{n % 10:04d}",
            )
            return process.post(url, body).status_code

        with ThreadPoolExecutor(16) as senders:
            assert set(senders.map(ask, range(150))) == {200}

        process.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        states: list[tuple[float, int]] = []
        while time.monotonic() - signalled < grace * 0.8:
            code = requests.get(f"{base}/readyz", timeout=2).status_code
            states.append((time.monotonic() - signalled, code))
            time.sleep(0.05)
        # 503 once the process has taken the signal, and from then on while it still serves
        # (every one of these was answered: the listener is open through the grace).
        first = next(i for i, (_, code) in enumerate(states) if code == 503)
        assert {code for _, code in states[first:]} == {503}, states
        assert len(states) - first >= 5, states
        code = process.process.wait(timeout + 5)
        took = time.monotonic() - signalled
    finally:
        process.stop()
    assert code == 0
    assert took < timeout + 2, f"took {took:.1f} s to stop"

    last: dict[str, Any] = {}
    for item in recorder.posts:
        if item.path.startswith("/response/") and item.status == 200:
            last[item.path.rsplit("/", 1)[1]] = item.body
    assert sorted(last) == sorted(names), "a lookup was neither answered nor told"
    told = [
        name for name, body in last.items() if RESTARTING in json.dumps(body, ensure_ascii=False)
    ]
    answered = [name for name, body in last.items() if name not in told]
    for name in answered:
        text = json.dumps(last[name], ensure_ascii=False)
        assert "Queued for the IoT API" not in text, f"{name} was left at its queued notice"
    # With the API this slow, most of the 150 cannot be answered in time: they were told.
    assert told, (len(answered), len(told))
