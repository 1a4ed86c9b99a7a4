"""Ack latency of ``/ota`` under load: 100 concurrent signed requests over HTTP.

The real app (``build_app`` + ``create_wsgi_app`` under waitress, real ``OtaService``)
is measured against the emulator adding 1 s of latency to every call, next to a
minimal Bolt app that only acks, served the same way, in the same run, and again with
its metrics on and ``/metrics`` scraped every second (alternating rounds). Prints
p50/p99/max ack times, the p99 ratio to the minimal app and the p99 ratio with metrics
to without; exits 1 if p99
>= 3 s, the first ratio > 1.5, the second > 1.1, or an answer is missing.

    python bench/ack_latency.py [--requests 100] [--latency-ms 1000] [--threads 16] [--rounds 3]

Everything runs on 127.0.0.1: the emulator as a subprocess (``otabot emulator``), the
two apps and the demo's Slack side (``response_url`` and the Web API) in this process.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from slack_bolt import Ack, App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processes import otabot_emulator

from otabot.config import Settings
from otabot.demo.slack_side import SlackSide
from otabot.demo.web import SlackServer
from otabot.emulator.fleet import (
    LIGHT_PRODUCT_KEY,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)
from otabot.operations import DaemonPool, Metrics, Readiness, operations_app
from otabot.service import OtaService
from otabot.slack.app import LISTENER_THREADS, build_app
from otabot.slack.deferred import DeferredLookups
from otabot.slack.http import create_wsgi_app
from otabot.slack.responder import ResponseUrlPoster
from otabot.wsgi import BackgroundWsgiServer
from tests.helpers import BOT_TOKEN, SIGNING_SECRET

DEVICES = ("light/light1", "light/light2", "light/light3")
PLAIN_ROW = "otabot /ota (real app)"
METRICS_ROW = "otabot with /metrics scraped"
# Prometheus scrapes every 15-60 s; once a second puts several scrapes into each burst.
SCRAPE_EVERY = 1.0


@contextmanager
def emulator(latency_ms: int) -> Iterator[str]:
    """``otabot emulator`` in a subprocess (its own GIL), with latency added to every call."""
    with otabot_emulator() as url:
        requests.post(
            url + "/__emulator/faults", json={"latency_ms": latency_ms}, timeout=5
        ).raise_for_status()
        yield url


@contextmanager
def served(wsgi: Callable[..., Any], threads: int) -> Iterator[str]:
    """Either app on the server ``otabot serve`` uses (closed from its own loop thread)."""
    server = BackgroundWsgiServer(wsgi, threads=threads, name="bench-slack").start()
    try:
        yield f"{server.url}/slack/events"
    finally:
        server.stop(10)


def minimal_app(api_url: str) -> App:
    """The baseline: a Bolt app whose /ota listener only acks."""

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=BOT_TOKEN)

    app = App(
        signing_secret=SIGNING_SECRET,
        client=WebClient(base_url=api_url),
        authorize=authorize,
        token_verification_enabled=False,
    )

    @app.command("/ota")
    def ack_only(ack: Ack) -> None:
        ack()

    return app


def fire(url: str, slack: SlackSide, count: int) -> list[float]:
    """``count`` signed /ota requests at once, each from its own user with a response_url
    of its own; each one's ack time in ms."""
    start = threading.Barrier(count)

    def one(index: int) -> float:
        text = f"{DEVICES[index % len(DEVICES)]} {SHOWCASE_FIRMWARE_ID}"
        form = slack.command_form(text, slack.open_response_url(), user_id=f"U{index:04d}")
        body = urlencode(form)
        headers = slack.sign(body)
        start.wait(30)
        began = time.perf_counter()
        response = requests.post(url, data=body, headers=headers, timeout=30)
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"ack was HTTP {response.status_code}")
        return elapsed

    with ThreadPoolExecutor(max_workers=count) as pool:
        return sorted(pool.map(one, range(count)))


def wait_answered(slack: SlackSide, count: int, timeout: float) -> bool:
    """Whether ``count`` answers in all have reached their response_urls within ``timeout`` s."""
    try:
        slack.wait_for_responses(count, timeout)
    except TimeoutError:
        return False
    return True


def percentile(sorted_ms: list[float], fraction: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, max(0, round(fraction * len(sorted_ms)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=16, help="waitress threads for both apps")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternating rounds of otabot without and with metrics",
    )
    args = parser.parse_args(argv)
    # 100 requests on 16 threads queue by design; waitress would warn about each one.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    slack_server = SlackServer(
        SlackSide(SIGNING_SECRET, BOT_TOKEN), threads=16, name="bench-slack"
    ).start()
    slack = slack_server.side
    rows: dict[str, list[float]] = {}
    answers: dict[str, tuple[bool, float, int]] = {}
    try:
        with emulator(args.latency_ms) as iot_url:
            with served(create_wsgi_app(minimal_app(slack.api_url)), args.threads) as url:
                fire(url, slack, 5)  # warm-up
                rows["minimal Bolt app (ack only)"] = fire(url, slack, args.requests)
            settings = Settings.from_env(
                {
                    "SLACK_BOT_TOKEN": BOT_TOKEN,
                    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "SLACK_API_URL": slack.api_url,
                    "OTABOT_IOT_ENDPOINT": iot_url,
                    "ALIBABA_CLOUD_ACCESS_KEY_ID": SAMPLE_ACCESS_KEY_ID,
                    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SAMPLE_ACCESS_KEY_SECRET,
                    "OTABOT_PRODUCT_ALIASES": f"light={LIGHT_PRODUCT_KEY}",
                    "OTABOT_CACHE_TTL": "0",
                }
            )
            # Alternating rounds, so neither variant gets the quieter moments of the run.
            for _ in range(args.rounds):
                for name, with_metrics in ((PLAIN_ROW, False), (METRICS_ROW, True)):
                    times, all_answered, answer_s, scrapes = run_otabot(
                        settings, slack, args, with_metrics=with_metrics
                    )
                    rows.setdefault(name, []).extend(times)
                    was = answers.get(name, (True, 0.0, 0))
                    answers[name] = (
                        was[0] and all_answered,
                        max(was[1], answer_s),
                        was[2] + scrapes,
                    )
            rows = {name: sorted(times) for name, times in rows.items()}
            stats = requests.get(iot_url + "/__emulator/stats", timeout=5).json()
    finally:
        slack_server.stop()
    print(
        f"ack latency: {args.requests} concurrent signed /ota over HTTP "
        f"(waitress, {args.threads} threads); emulator latency {args.latency_ms} ms"
    )
    print(f"{'':32}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'mean ms':>10}")
    for name, times in rows.items():
        print(
            f"{name:32}{percentile(times, 0.5):10.1f}{percentile(times, 0.99):10.1f}"
            f"{times[-1]:10.1f}{statistics.fmean(times):10.1f}"
        )
    base, real = rows["minimal Bolt app (ack only)"], rows[PLAIN_ROW]
    measured = rows[METRICS_ROW]
    ratio = percentile(real, 0.99) / max(percentile(base, 0.99), 0.001)
    metrics_ratio = percentile(measured, 0.99) / max(percentile(real, 0.99), 0.001)
    print(f"p99 ratio otabot / minimal: {ratio:.2f}")
    print(f"p99 ratio otabot with metrics / without: {metrics_ratio:.2f}")
    for name, (answered, answer_s, scrapes) in answers.items():
        print(
            f"{name}: answers via response_url: {'all' if answered else 'NOT all'} "
            f"{args.requests} within {answer_s:.1f} s in each of {args.rounds} rounds"
            + (f"; /metrics scraped {scrapes} times meanwhile" if scrapes else "")
        )
    print(f"emulator calls: {stats.get('calls')}, throttled: {stats.get('throttled')}")
    ok = (
        percentile(real, 0.99) < 3000
        and ratio <= 1.5
        and metrics_ratio <= 1.1
        and all(answered for answered, _, _ in answers.values())
    )
    print(
        "target (p99 < 3000 ms, ratio <= 1.5, metrics ratio <= 1.1, all answered):",
        "met" if ok else "MISSED",
    )
    return 0 if ok else 1


def run_otabot(
    settings: Settings, slack: SlackSide, args: argparse.Namespace, *, with_metrics: bool
) -> tuple[list[float], bool, float, int]:
    """The real app as ``otabot serve`` builds it; with metrics, /metrics scraped every
    ``SCRAPE_EVERY`` s while the requests arrive. Ack times, whether all were answered,
    how long that took, and how many scrapes."""
    service = OtaService.from_settings(settings)
    pool = DaemonPool(LISTENER_THREADS, "bench-lookup")
    poster = ResponseUrlPoster()
    deferred = DeferredLookups(poster)
    metrics = Metrics() if with_metrics else None
    if metrics is not None:
        metrics.watch_service(service)
    app = build_app(
        settings,
        service,
        client=WebClient(base_url=slack.api_url, token=BOT_TOKEN),
        listener_executor=pool,
        poster=poster,
        deferred=deferred,
        observe=metrics.observe_lookup if metrics is not None else None,
        identity={"user_id": "UBOT"},
    )
    readiness = Readiness()
    readiness.set_ready()
    operations = operations_app(readiness, metrics)
    scrapes = 0
    stop_scraping = threading.Event()
    with served(create_wsgi_app(app, operations=operations), args.threads) as url:
        fire(url, slack, 5)  # warm-up; with no cache every lookup goes upstream
        wait_answered(slack, len(slack.responses()) + 5, 30)

        def scrape() -> None:
            nonlocal scrapes
            while not stop_scraping.wait(SCRAPE_EVERY):
                page = requests.get(url.replace("/slack/events", "/metrics"), timeout=5)
                page.raise_for_status()
                scrapes += 1

        scraper = threading.Thread(target=scrape, daemon=True)
        if metrics is not None:
            scraper.start()
        posted_before = len(slack.responses())
        began = time.monotonic()
        times = fire(url, slack, args.requests)
        all_answered = wait_answered(slack, posted_before + args.requests, 120)
        answer_s = time.monotonic() - began
        stop_scraping.set()
        if metrics is not None:
            scraper.join(10)
        pool.drain(30)
        deferred.stop(time.monotonic() + 30)
    service.close()
    return times, all_answered, answer_s, scrapes


if __name__ == "__main__":
    sys.exit(main())
