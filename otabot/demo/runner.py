"""``Demo``: the emulator, the real Slack app over HTTP and the Slack-like page, in one process.

Three servers, all on this machine:
- the IoT Platform emulator with the sample fleet (skipped when a real endpoint is used),
- the real otabot Slack app (``build_app`` + ``create_wsgi_app`` under waitress) on a
  free port of 127.0.0.1, verifying every request with a signing secret made for the run,
- the page at ``--host:--port``, which plays Slack: it signs slash commands and button
  clicks and POSTs them to the app, takes the app's response_url posts and answers
  the Web API (``SLACK_API_URL`` points at it).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from otabot.clocks import utc_datetime
from otabot.config import Settings
from otabot.demo.rollout import WATCH_INTERVAL, RolloutMover, happening_now
from otabot.demo.slack_side import SlackSide
from otabot.demo.web import LOOPBACK_NAMES, DemoWebApp
from otabot.emulator.fleet import (
    LIGHT_PRODUCT_KEY,
    METER_PRODUCT_KEY,
    ROLLOUT_JOB_ID,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    sample_fleet,
)
from otabot.wsgi import BackgroundWsgiServer

if TYPE_CHECKING:
    from otabot.operations import DaemonPool
    from otabot.slack.deferred import DeferredLookups

logger = logging.getLogger(__name__)

# The sample fleet's products under the aliases the examples use.
SAMPLE_ALIASES = {"light": LIGHT_PRODUCT_KEY, "meter": METER_PRODUCT_KEY}
# The on-call story of the sample fleet (otabot.emulator.fleet), in the order an engineer
# meets it: the alert's device, the rollout job it is stuck in, the devices that failed
# and why; then an offline device with a 2.1.0 job planned, the version that names two
# packages, the jobs a device has been in for a version, the packages; the rollout
# watched in the channel (the demo moves it along while it is), the help.
EMULATOR_EXAMPLES = (
    "/ota light/light1",
    f"/ota job {ROLLOUT_JOB_ID} light1",
    f"/ota job {ROLLOUT_JOB_ID} status=failed",
    "/ota light/light2",
    "/ota light/light2 2.1.0",
    "/ota light/light1 1.3.0",
    "/ota firmware light",
    f"/ota watch {ROLLOUT_JOB_ID}",
    "/ota help",
)
REAL_EXAMPLES = ("/ota help", "/ota PRODUCTKEY/DEVICE", "/ota firmware PRODUCTKEY")
APP_THREADS = 8
PAGE_THREADS = 8
LOOKUP_THREADS = 16
DRAIN_TIMEOUT = 15.0


@dataclass(frozen=True)
class DemoOptions:
    """What ``otabot demo`` was asked for."""

    host: str = "127.0.0.1"
    port: int = 3000
    endpoint: str | None = None  # a real IoT Platform endpoint instead of the emulator
    force_emulator: bool = False


class Demo:
    """Start with ``start()``, stop with ``stop()`` (idempotent, also after a failed start)."""

    def __init__(self, environment: Settings, options: DemoOptions) -> None:
        self._environment = environment
        self.options = options
        self.uses_emulator = options.force_emulator or not (
            options.endpoint or environment.access_key_id
        )
        self.examples = EMULATOR_EXAMPLES if self.uses_emulator else REAL_EXAMPLES
        # Made for this run only: nothing outside this process can sign for the app.
        self._bot_token = f"xoxb-demo-{secrets.token_hex(12)}"
        self._signing_secret = secrets.token_hex(32)
        self.settings: Settings | None = None
        self.iot_endpoint = ""
        self._lock = threading.Lock()
        self._stopped = False
        self._emulator: Any = None
        self._service: Any = None
        self._executor: DaemonPool | None = None
        self._deferred: DeferredLookups | None = None
        self._app_server: BackgroundWsgiServer | None = None
        self._page_server: BackgroundWsgiServer | None = None
        self.side: SlackSide | None = None
        self.watcher: Any = None
        self.rollout: Any = None

    @property
    def url(self) -> str:
        """The page, as the user opens it."""
        assert self._page_server is not None, "start() first"
        return self._page_server.url + "/"

    def logging_settings(self) -> Settings:
        """The environment's logging settings, knowing this run's secrets so logs mask them."""
        return dataclasses.replace(
            self._environment,
            slack_bot_token=self._bot_token,
            slack_signing_secret=self._signing_secret,
        )

    def start(self) -> Demo:
        """Bind the page first (a taken port fails before anything else starts), then the rest."""
        bot_token, signing_secret = self._bot_token, self._signing_secret
        side = SlackSide(signing_secret, bot_token, examples=self.examples)
        self.side = side
        loopback = self.options.host in LOOPBACK_NAMES or self.options.host.startswith("127.")
        self._page_server = BackgroundWsgiServer(
            # On loopback only loopback host names are taken (no DNS rebinding); a page
            # served to the network is reached by names this process cannot know.
            DemoWebApp(
                side,
                allowed_hosts=LOOPBACK_NAMES | {self.options.host.lower()} if loopback else None,
            ),
            host=self.options.host,
            port=self.options.port,
            threads=PAGE_THREADS,
            name="otabot-demo-page",
        )
        try:
            self._start_rest(side, bot_token, signing_secret)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_rest(self, side: SlackSide, bot_token: str, signing_secret: str) -> None:
        assert self._page_server is not None
        page_port = self._page_server.port
        # The app reaches Slack's side over loopback even when the page listens more widely.
        internal = (
            self._page_server.url
            if self.options.host not in ("0.0.0.0", "::", "")
            else f"http://127.0.0.1:{page_port}"
        )
        side.base_url = internal
        iot = self._iot_settings()
        settings = dataclasses.replace(
            iot,
            slack_bot_token=bot_token,
            slack_signing_secret=signing_secret,
            slack_app_token=None,
            slack_api_url=f"{internal}/api/",
        )
        self.settings = settings
        self.iot_endpoint = settings.endpoint
        side.about = self._about(settings)
        self._page_server.start()

        # Imported here so the page and its tests need nothing of the service or the app.
        from otabot.operations import DaemonPool
        from otabot.service import OtaService
        from otabot.slack.app import build_app
        from otabot.slack.deferred import DeferredLookups
        from otabot.slack.http import create_wsgi_app
        from otabot.slack.responder import ResponseUrlPoster
        from otabot.watch.watcher import Watcher

        self._service = OtaService.from_settings(settings)
        client = WebClient(token=bot_token, base_url=f"{internal}/api/")
        identity = dict(client.auth_test().data)  # type: ignore[arg-type]
        self._executor = DaemonPool(LOOKUP_THREADS, "otabot-demo-lookup")
        poster = ResponseUrlPoster()
        self._deferred = DeferredLookups(poster)
        self.watcher = Watcher.from_settings(settings, self._service, client).start()
        if self._emulator is not None:
            self.rollout = RolloutMover(self._emulator, is_watched=self.watcher.is_watched).start()
        app = build_app(
            settings,
            self._service,
            client=client,
            listener_executor=self._executor,
            poster=poster,
            deferred=self._deferred,
            identity=identity,
            watching=self.watcher,
        )
        self._app_server = BackgroundWsgiServer(
            create_wsgi_app(app),
            host="127.0.0.1",
            port=0,
            threads=APP_THREADS,
            name="otabot-demo-app",
        ).start()
        side.events_url = f"{self._app_server.url}/slack/events"
        logger.info(
            "demo ready",
            extra={"page": self.url, "app": side.events_url, "iot_endpoint": self.iot_endpoint},
        )

    def _iot_settings(self) -> Settings:
        """The IoT side: the emulator with the sample fleet, or the configured real account."""
        env = self._environment
        if not self.uses_emulator:
            endpoint = self.options.endpoint or env.iot_endpoint
            settings = dataclasses.replace(env, iot_endpoint=endpoint)
            settings.credentials()  # the chain's: CredentialsNotFoundError says where it looked
            return settings
        from otabot.emulator.server import EmulatorServer

        story = happening_now(sample_fleet(), utc_datetime(time.time()))
        self._emulator = EmulatorServer(story, host="127.0.0.1", port=0).start()
        return Settings(
            access_key_id=SAMPLE_ACCESS_KEY_ID,
            access_key_secret=SAMPLE_ACCESS_KEY_SECRET,
            iot_endpoint=self._emulator.url,
            product_aliases=dict(SAMPLE_ALIASES),
            page_size=env.page_size,
            cache_ttl=env.cache_ttl,
            watch_interval=WATCH_INTERVAL,
            log_level=env.log_level,
            log_format=env.log_format,
        )

    def _about(self, settings: Settings) -> str:
        if self.uses_emulator:
            return (
                "Everything runs on this machine: otabot answers from the IoT Platform "
                "emulator with its sample fleet."
            )
        return f"otabot answers from the IoT Platform at {settings.endpoint}."

    def stop(self) -> None:
        """Stop taking commands, let lookups finish, then stop the app, page and emulator."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self.watcher is not None:
            self.watcher.stop(time.monotonic() + DRAIN_TIMEOUT)
        if self.rollout is not None:
            self.rollout.stop()
        if self._app_server is not None:
            self._app_server.stop()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        if self._executor is not None:
            self._executor.drain(DRAIN_TIMEOUT)
        if self._deferred is not None:
            self._deferred.stop(deadline)
        if self._page_server is not None:
            self._page_server.stop()
        if self.side is not None:
            self.side.close()
        if self._service is not None:
            self._service.close()
        if self._emulator is not None:
            self._emulator.stop()
