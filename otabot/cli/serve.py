"""``otabot serve``: the Slack app, over Socket Mode when SLACK_APP_TOKEN is set, else HTTP.

A replica answers ``/healthz``, ``/readyz`` and ``/metrics`` for its operator: on the
Slack port over HTTP, on ``--port`` in Socket Mode, or on ``OTABOT_METRICS_PORT`` when
set (and then ``/metrics`` only there, off the public port). SIGTERM drains it within
``OTABOT_DRAIN_TIMEOUT`` (see ``otabot.slack.runner``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_sdk import WebClient

from otabot.cli.process import (
    EXIT_OK,
    add_listen_options,
    stop_on_signals,
    wait_for,
    whole_number,
)
from otabot.config import Settings
from otabot.logs import configure_logging
from otabot.operations import DaemonPool, Metrics, Readiness, WsgiApp, operations_app
from otabot.service import OtaService
from otabot.slack.app import LISTENER_THREADS, api_base_url, build_app
from otabot.slack.bot_token import check_bot_token
from otabot.slack.deferred import DeferredLookups
from otabot.slack.responder import ResponseUrlPoster
from otabot.slack.runner import HTTP_THREADS, Drain, Replica
from otabot.watch.watcher import Watcher
from otabot.wsgi import BackgroundWsgiServer

MAX_THREADS = 512


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Slack app (Socket Mode when SLACK_APP_TOKEN is set, else HTTP)",
        description=(
            "Run the /ota Slack app. With SLACK_APP_TOKEN it connects over Socket Mode "
            "(no public URL) and answers GET /healthz, /readyz and /metrics on --host:--port; "
            "otherwise, or with --http, it serves POST /slack/events there as well. "
            "OTABOT_METRICS_PORT moves /metrics to a port of its own. SIGTERM drains: "
            "/readyz turns 503, lookups in flight finish or are told otabot is restarting."
        ),
    )
    parser.add_argument(
        "--http", action="store_true", help="serve HTTP even if SLACK_APP_TOKEN is set"
    )
    add_listen_options(parser, what="HTTP", port=3000)
    parser.add_argument(
        "--threads",
        type=whole_number(1, MAX_THREADS),
        default=HTTP_THREADS,
        help=f"HTTP worker threads (default {HTTP_THREADS})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    configure_logging(settings, long_running=True)
    socket_mode = settings.slack_app_token is not None and not args.http
    # Everything missing in one line, credentials included, before any call to Slack.
    settings.require_serve(socket_mode=socket_mode)
    client = WebClient(token=settings.slack_bot_token, base_url=api_base_url(settings))
    identity = check_bot_token(client)
    service = OtaService.from_settings(settings)
    watcher = Watcher.from_settings(settings, service, client)
    readiness = Readiness()
    metrics = Metrics()
    metrics.watch_service(service)
    metrics.gauge("otabot_watches_live", "Jobs this replica's channels watch", watcher.live)
    pool = DaemonPool(LISTENER_THREADS, "otabot-lookup")
    poster = ResponseUrlPoster()
    deferred = DeferredLookups(poster)
    metrics.gauge(
        "otabot_lookups_pending",
        "Lookups of this replica waiting for the IoT API (deferred, not answered yet)",
        lambda: deferred.pending,
    )
    try:
        app = build_app(
            settings,
            service,
            client=client,
            listener_executor=pool,
            poster=poster,
            deferred=deferred,
            observe=metrics.observe_lookup,
            identity=identity,
            socket_mode=socket_mode,
            watching=watcher,
        )
        replica = Replica(
            app,
            pool=pool,
            deferred=deferred,
            readiness=readiness,
            drain=Drain(grace=settings.drain_grace, timeout=settings.drain_timeout),
            workers=[watcher],
        )
        # In Socket Mode nothing else listens: the operations port is OTABOT_METRICS_PORT
        # or --port. Over HTTP they share the Slack port unless OTABOT_METRICS_PORT is set.
        own_port = settings.metrics_port
        if socket_mode and own_port is None:
            own_port = args.port
        with (
            stop_on_signals() as stop,
            _operations(readiness, metrics, args.host, own_port) as operations_url,
        ):
            if socket_mode:
                assert settings.slack_app_token is not None
                serving = replica.serving_socket_mode(
                    app_token=settings.slack_app_token, web_client=client
                )
            else:
                public_metrics = None if operations_url else metrics
                serving = replica.serving_http(
                    host=args.host,
                    port=args.port,
                    threads=args.threads,
                    operations=operations_app(readiness, public_metrics),
                )
            with serving as where:
                team = identity.get("team") or identity.get("team_id") or "?"
                shown = where if socket_mode else f"{where}/slack/events"
                print(f"otabot serve: metrics on {operations_url or where}/metrics", flush=True)
                print(f"otabot serve: serving /ota for {team} on {shown}", flush=True)
                wait_for(stop)
                print("otabot serve: draining", flush=True)
    finally:
        service.close()
    print("otabot serve: stopped", flush=True)
    return EXIT_OK


@contextmanager
def _operations(
    readiness: Readiness, metrics: Metrics, host: str, port: int | None
) -> Iterator[str | None]:
    """``/healthz``, ``/readyz`` and ``/metrics`` on a port of their own while inside (none
    when ``port`` is None); yields the base URL."""
    if port is None:
        yield None
        return
    app: WsgiApp = operations_app(readiness, metrics)
    server = BackgroundWsgiServer(app, host=host, port=port, threads=2, name="otabot-operations")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
