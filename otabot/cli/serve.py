"""``otabot serve``: the Slack app, over Socket Mode when SLACK_APP_TOKEN is set, else HTTP."""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from otabot.cli.process import EXIT_OK, CommandError, UsageError, stop_on_signals, wait_for
from otabot.config import Settings
from otabot.logs import configure_logging
from otabot.service import OtaService
from otabot.slack.app import LISTENER_THREADS, api_base_url, build_app
from otabot.slack.runner import HTTP_THREADS, http_server, socket_mode_connection
from otabot.watch.watcher import Watcher

# SIGTERM: watches are handed on (Redis) or told they end (in memory) within this long.
WATCH_STOP_SECONDS = 10.0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Slack app (Socket Mode when SLACK_APP_TOKEN is set, else HTTP)",
        description=(
            "Run the /ota Slack app. With SLACK_APP_TOKEN it connects over Socket Mode "
            "(no public URL); otherwise, or with --http, it serves POST /slack/events and "
            "GET /healthz on --host:--port."
        ),
    )
    parser.add_argument(
        "--http", action="store_true", help="serve HTTP even if SLACK_APP_TOKEN is set"
    )
    parser.add_argument(
        "--port", type=int, default=3000, help="HTTP port (default 3000; 0 picks one)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=HTTP_THREADS,
        help=f"HTTP worker threads (default {HTTP_THREADS})",
    )
    parser.set_defaults(run=run)


def check_bot_token(client: WebClient) -> dict[str, Any]:
    """``auth.test`` the bot token: the bot's identity; ``CommandError`` says why not."""
    try:
        response = client.auth_test()
    except SlackApiError as error:
        raise CommandError(
            f"Slack refused SLACK_BOT_TOKEN (auth.test: {error.response.get('error', 'unknown')})"
        ) from None
    except (SlackRequestError, OSError) as error:
        reason = getattr(error, "reason", None) or type(error).__name__
        raise CommandError(
            f"could not reach the Slack Web API to check SLACK_BOT_TOKEN: {reason}"
        ) from None
    data = response.data
    return dict(data) if isinstance(data, dict) else {}


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    settings = Settings.from_env()
    configure_logging(settings)
    socket_mode = settings.slack_app_token is not None and not args.http
    settings.require_slack(socket_mode=socket_mode)
    settings.credentials()  # fail on missing IoT credentials before any network check
    client = WebClient(token=settings.slack_bot_token, base_url=api_base_url(settings))
    identity = check_bot_token(client)
    service = OtaService.from_settings(settings)
    watcher = Watcher.from_settings(settings, service, client)
    executor = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="otabot-lookup")
    try:
        app = build_app(
            settings,
            service,
            client=client,
            listener_executor=executor,
            identity=identity,
            socket_mode=socket_mode,
            watching=watcher,
        )

        with stop_on_signals() as stop:
            if socket_mode:
                assert settings.slack_app_token is not None
                serving = socket_mode_connection(
                    app, executor, app_token=settings.slack_app_token, web_client=client
                )
            else:
                serving = http_server(
                    app, executor, host=args.host, port=args.port, threads=args.threads
                )
            with serving as where:
                watcher.start()
                team = identity.get("team") or identity.get("team_id") or "?"
                shown = where if socket_mode else f"{where}/slack/events"
                print(f"otabot serve: serving /ota for {team} on {shown}", flush=True)
                wait_for(stop)
                watcher.stop(time.monotonic() + WATCH_STOP_SECONDS)
    finally:
        watcher.stop(time.monotonic())  # once stopped, this does nothing
        service.close()
    print("otabot serve: stopped", flush=True)
    return EXIT_OK
