"""The Bolt app: built here, listeners registered from ``otabot.slack.listeners``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.middleware.request_verification import RequestVerification
from slack_sdk import WebClient

from otabot.clocks import Monotonic, WallClock
from otabot.config import ConfigError, Settings
from otabot.slack.access import response_url_refusal
from otabot.slack.deferred import DeferredLookups
from otabot.slack.listeners import Answering, register_listeners
from otabot.slack.replies import LookupService
from otabot.slack.responder import ResponseUrlPoster

if TYPE_CHECKING:
    from otabot.watch.watcher import Watcher

logger = logging.getLogger(__name__)

# Lookups wait on the account-wide quota (10 calls/s) and on a slow API; acks never
# queue behind them because acks run on the request thread (process_before_response).
LISTENER_THREADS = 32


def build_app(
    settings: Settings,
    service: LookupService,
    *,
    client: WebClient | None = None,
    listener_executor: Executor | None = None,
    poster: ResponseUrlPoster | None = None,
    deferred: DeferredLookups | None = None,
    observe: Callable[[str, str, float], None] | None = None,
    identity: Mapping[str, Any] | None = None,
    socket_mode: bool = False,
    wall_clock: WallClock = time.time,
    monotonic: Monotonic = time.monotonic,
    watching: Watcher | None = None,
) -> App:
    """Build the ``/ota`` app around a lookup service.

    ``client`` gives the Web API base URL and bot token (default: from settings);
    ``identity`` is the ``auth.test`` answer the caller already has, so no request
    ever waits on a Web API call; ``deferred`` runs the lookups that must wait for the
    API (the caller keeps it to drain it at shutdown); ``watching`` serves ``/ota watch``
    and the watch buttons (without it they say it is not available). Over HTTP a signing
    secret is required.
    """
    if not socket_mode and not settings.slack_signing_secret:
        raise ConfigError("SLACK_SIGNING_SECRET", "is required to verify requests over HTTP")
    poster = poster or ResponseUrlPoster()
    token = (client.token if client is not None else None) or settings.slack_bot_token
    base_url = client.base_url if client is not None else api_base_url(settings)
    known = dict(identity or {})

    def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> Any:
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=token,
            bot_id=known.get("bot_id"),
            bot_user_id=known.get("user_id"),
        )

    app = App(
        # Token-less on purpose: ``authorize`` supplies the token per request, so Bolt
        # makes no auth.test call of its own (serve checks the token once at start).
        client=WebClient(base_url=base_url),
        authorize=authorize,
        signing_secret=settings.slack_signing_secret or "",
        # Bolt's own check logs a refused request's signature and body; ours, in the same
        # place of the chain (before authorize), logs neither.
        request_verification_enabled=False,
        before_authorize=(
            QuietRequestVerification(settings.slack_signing_secret)
            if settings.slack_signing_secret
            else None
        ),
        token_verification_enabled=False,
        process_before_response=True,
        listener_executor=listener_executor
        or ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="otabot-lookup"),
        name="otabot",
        # Bolt gives the logger named after the app the root's level at build time unless
        # it gets a base logger; ours inherits, so OTABOT_LOG_LEVEL keeps applying.
        logger=bolt_logger(),
    )
    app.middleware(ignore_slack_retries)

    def only_slack_response_urls(
        request: BoltRequest, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        return refuse_foreign_response_urls(settings, request, next)

    app.middleware(only_slack_response_urls)
    register_listeners(
        app,
        Answering(
            settings=settings,
            service=service,
            poster=poster,
            deferred=deferred or DeferredLookups(poster, monotonic=monotonic),
            wall_clock=wall_clock,
            monotonic=monotonic,
            observe=observe,
            watching=watching,
        ),
    )
    return app


class _TokenFromAuthorize(logging.Filter):
    """Drops Bolt's start-up warning that a ``SLACK_BOT_TOKEN`` in the environment goes
    unused beside ``client``: by design, ``authorize`` hands out the token per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def bolt_logger() -> logging.Logger:
    """The logger Bolt writes to: below ``otabot``, so OTABOT_LOG_LEVEL applies."""
    bolt = logging.getLogger("otabot.slack.bolt")
    if not any(isinstance(f, _TokenFromAuthorize) for f in bolt.filters):
        bolt.addFilter(_TokenFromAuthorize())
    return bolt


def api_base_url(settings: Settings) -> str:
    """The Web API base URL WebClient wants (with a trailing slash)."""
    url = settings.slack_api_url or WebClient.BASE_URL
    return url if url.endswith("/") else url + "/"


def ignore_slack_retries(request: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse:
    """Ack a redelivery (``X-Slack-Retry-Num``) and stop: the first delivery already runs it."""
    if request.headers.get("x-slack-retry-num"):
        reason = request.headers.get("x-slack-retry-reason") or ["?"]
        logger.info("ignored a Slack retry", extra={"retry_reason": reason[0]})
        return BoltResponse(status=200, body="")
    return next()


class QuietRequestVerification(RequestVerification):
    """Bolt's signature check, without its log line of the signature and the whole body."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        try:
            return super().process(req=req, resp=resp, next=next)
        except ValueError:  # a timestamp that is not a number
            self._debug_log_error("", "", "")
            return BoltResponse(status=401, body={"error": "invalid request"})

    def _debug_log_error(self, signature: Any, timestamp: Any, body: Any) -> None:
        logger.warning("refused a request without a valid, current Slack signature")


def refuse_foreign_response_urls(
    settings: Settings, request: BoltRequest, next: Callable[[], BoltResponse]
) -> BoltResponse:
    """Never post to a response_url that is not Slack's: a command hears why, a click 400."""
    body = request.body if isinstance(request.body, dict) else {}
    if "response_url" not in body:
        return next()
    reason = response_url_refusal(settings, body["response_url"])
    if reason is None:
        return next()
    logger.warning("refused a request: %s", reason)
    if body.get("command"):
        return BoltResponse(
            status=200,
            body={"response_type": "ephemeral", "text": f"otabot refused this: {reason}."},
        )
    return BoltResponse(status=400, body={"error": reason})
