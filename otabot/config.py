"""Settings read from the environment: the only place otabot looks at ``os.environ``.

Every variable of SPEC.md is read and checked here, so a typo in a deployment stops
the program at start with a message that names the variable, instead of surfacing
as a strange answer to the first user at 3 a.m.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from otabot.iot.actions import parse_qps_spec

DEFAULT_REGION = "cn-shanghai"
SIGNATURE_VERSIONS = ("v3", "v1")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")

# Identifier formats, checked before any upstream call. Always with ``fullmatch``: a
# pattern ending in ``$`` lets a trailing newline through.
IDENTIFIER_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEVICE_NAME_RE = re.compile(r"[A-Za-z0-9_@.:-]{4,32}")
ALIAS_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
REGION_RE = re.compile(r"[a-z0-9-]{2,32}")


class ConfigError(ValueError):
    """A setting is missing or malformed; ``variable`` names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True)
class Credentials:
    """An Alibaba Cloud AccessKey pair, optionally with an STS token. Never printed."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    """Everything otabot can be told through the environment, validated."""

    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str | None = None
    access_key_id: str | None = None
    access_key_secret: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    region_id: str = DEFAULT_REGION
    iot_endpoint: str | None = None
    iot_instance_id: str | None = None
    signature: str = "v3"
    default_product_key: str | None = None
    product_aliases: Mapping[str, str] = field(default_factory=dict)
    api_qps: Mapping[str, float] = field(default_factory=lambda: parse_qps_spec(""))
    quota_account: str = "anonymous"
    cache_ttl: float = 60.0
    max_wait: float = 120.0
    quota_margin: float = 0.05
    page_size: int = 5
    max_jobs: int = 1000
    redis_url: str | None = None
    watch_interval: float = 30.0
    watch_ttl: float = 86_400.0
    max_watches: int = 50
    allowed_teams: frozenset[str] = frozenset()
    allowed_channels: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()
    allowed_products: frozenset[str] = frozenset()
    log_level: str = "INFO"
    log_format: str = "text"
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    https_proxy: str | None = field(default=None, repr=False)
    http_proxy: str | None = field(default=None, repr=False)
    no_proxy: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable; raise ``ConfigError`` naming the first bad one."""
        env = _Env(os.environ if environ is None else environ)
        signature = env.choice("OTABOT_SIGNATURE", SIGNATURE_VERSIONS, "v3")
        settings = cls(
            slack_bot_token=env.text("SLACK_BOT_TOKEN"),
            slack_signing_secret=env.text("SLACK_SIGNING_SECRET"),
            slack_app_token=env.text("SLACK_APP_TOKEN"),
            slack_api_url=env.url("SLACK_API_URL"),
            access_key_id=env.text("ALIBABA_CLOUD_ACCESS_KEY_ID"),
            access_key_secret=env.text("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
            security_token=env.text("ALIBABA_CLOUD_SECURITY_TOKEN"),
            region_id=env.pattern("ALIBABA_CLOUD_REGION_ID", REGION_RE, DEFAULT_REGION),
            iot_endpoint=env.url("OTABOT_IOT_ENDPOINT"),
            iot_instance_id=env.identifier("OTABOT_IOT_INSTANCE_ID"),
            signature=signature,
            default_product_key=env.identifier("OTABOT_DEFAULT_PRODUCT_KEY"),
            product_aliases=env.aliases("OTABOT_PRODUCT_ALIASES"),
            api_qps=env.qps("OTABOT_API_QPS"),
            quota_account=env.identifier("OTABOT_QUOTA_ACCOUNT")
            or env.text("ALIBABA_CLOUD_ACCESS_KEY_ID")
            or "anonymous",
            cache_ttl=env.number("OTABOT_CACHE_TTL", 60.0, minimum=0, maximum=86_400),
            max_wait=env.number("OTABOT_MAX_WAIT", 120.0, minimum=1, maximum=1_800),
            quota_margin=env.number("OTABOT_QUOTA_MARGIN", 0.05, minimum=0, maximum=0.5),
            page_size=env.integer("OTABOT_PAGE_SIZE", 5, minimum=1, maximum=20),
            max_jobs=env.integer("OTABOT_MAX_JOBS", 1000, minimum=1, maximum=100_000),
            redis_url=env.redis_url("OTABOT_REDIS_URL"),
            watch_interval=env.number("OTABOT_WATCH_INTERVAL", 30.0, minimum=5, maximum=3_600),
            watch_ttl=env.number("OTABOT_WATCH_TTL", 86_400.0, minimum=60, maximum=7 * 86_400),
            max_watches=env.integer("OTABOT_MAX_WATCHES", 50, minimum=1, maximum=1_000),
            allowed_teams=env.id_set("OTABOT_ALLOWED_TEAMS"),
            allowed_channels=env.id_set("OTABOT_ALLOWED_CHANNELS"),
            allowed_users=env.id_set("OTABOT_ALLOWED_USERS"),
            allowed_products=env.id_set("OTABOT_ALLOWED_PRODUCTS"),
            log_level=env.choice("OTABOT_LOG_LEVEL", LOG_LEVELS, "INFO", upper=True),
            log_format=env.choice("OTABOT_LOG_FORMAT", LOG_FORMATS, "text"),
            connect_timeout=env.number("OTABOT_CONNECT_TIMEOUT", 5.0, minimum=0.1, maximum=120),
            read_timeout=env.number("OTABOT_READ_TIMEOUT", 10.0, minimum=0.1, maximum=300),
            https_proxy=env.proxy("HTTPS_PROXY"),
            http_proxy=env.proxy("HTTP_PROXY"),
            no_proxy=env.text("NO_PROXY") or env.text("no_proxy"),
        )
        if settings.slack_app_token is not None and not settings.slack_app_token.startswith(
            "xapp-"
        ):
            raise ConfigError("SLACK_APP_TOKEN", "must be an app-level token starting with xapp-")
        if settings.slack_bot_token is not None and not settings.slack_bot_token.startswith(
            "xoxb-"
        ):
            raise ConfigError("SLACK_BOT_TOKEN", "must be a bot token starting with xoxb-")
        if (settings.access_key_id is None) != (settings.access_key_secret is None):
            missing = (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
                if settings.access_key_secret is None
                else "ALIBABA_CLOUD_ACCESS_KEY_ID"
            )
            raise ConfigError(missing, "is required when the other half of the AccessKey is set")
        return settings

    @property
    def endpoint(self) -> str:
        """Base URL of the IoT Platform API: the override, or the region's public host."""
        if self.iot_endpoint:
            return self.iot_endpoint.rstrip("/")
        return f"https://iot.{self.region_id}.aliyuncs.com"

    def credentials(self) -> Credentials:
        """The AccessKey to sign with; raises ``ConfigError`` when it is not configured."""
        if not self.access_key_id:
            raise ConfigError("ALIBABA_CLOUD_ACCESS_KEY_ID", "is required (with its secret)")
        if not self.access_key_secret:
            raise ConfigError("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "is required")
        return Credentials(self.access_key_id, self.access_key_secret, self.security_token)

    def require_slack(self, *, socket_mode: bool) -> None:
        """Check what ``otabot serve`` needs: a bot token, and a signing secret over HTTP."""
        if not self.slack_bot_token:
            raise ConfigError("SLACK_BOT_TOKEN", "is required to serve Slack (xoxb-…)")
        if not socket_mode and not self.slack_signing_secret:
            raise ConfigError("SLACK_SIGNING_SECRET", "is required in HTTP mode")

    def proxies_for(self, url: str) -> dict[str, str]:
        """The proxies ``requests`` should use for ``url``: none when NO_PROXY covers its host.

        NO_PROXY is read as curl reads it: ``*``, or host names and domain suffixes
        (``example.com`` and ``.example.com`` both cover ``iot.example.com``), optionally
        with a port.
        """
        proxies = {
            scheme: proxy
            for scheme, proxy in (("https", self.https_proxy), ("http", self.http_proxy))
            if proxy
        }
        if proxies and self.no_proxy and _no_proxy_covers(url, self.no_proxy):
            return {}
        return proxies

    def resolve_product(self, name_or_alias: str) -> str:
        """A ProductKey for what a user typed before the ``/``: an alias or the key itself."""
        return self.product_aliases.get(name_or_alias, name_or_alias)


def _no_proxy_covers(url: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` covers the host of ``url``.

    The matching is the standard library's (``proxy_bypass_environment``, which requests
    itself falls back to), given the value read here: so nothing reads the environment.
    requests' ``should_bypass_proxies`` would, even with ``no_proxy=`` passed, and would
    set ``os.environ["no_proxy"]`` while it does. A ``*`` among the entries covers all.
    """
    # Imported here: urllib.request (http.client, ssl, email) costs every start 25 ms.
    from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

    if "*" in (entry.strip() for entry in no_proxy.split(",")):
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return bool(proxy_bypass_environment(host, {"no": no_proxy}))


class _Env:
    """Typed reads of one environment mapping; every failure names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def choice(self, name: str, allowed: tuple[str, ...], default: str, upper: bool = False) -> str:
        value = self.text(name)
        if value is None:
            return default
        value = value.upper() if upper else value.lower()
        if value not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)} (got {value!r})")
        return value

    def pattern(self, name: str, regex: re.Pattern[str], default: str) -> str:
        value = self.text(name)
        if value is None:
            return default
        if not regex.fullmatch(value):
            raise ConfigError(name, f"is not a valid value ({value!r})")
        return value

    def identifier(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and not IDENTIFIER_RE.fullmatch(value):
            raise ConfigError(name, "must be letters, digits, '-' and '_', at most 64 characters")
        return value

    def url(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(name, f"must be an http(s) URL (got {value!r})")
        return value

    def proxy(self, name: str) -> str | None:
        """A proxy URL from ``NAME`` or its lower-case spelling, as curl and requests read it."""
        value = self.text(name) or self.text(name.lower())
        if value is None:
            return None
        if "://" not in value:
            value = "http://" + value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
            raise ConfigError(name, "must be a proxy URL such as http://proxy.example:3128")
        return value

    def redis_url(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
            raise ConfigError(name, "must be a redis://, rediss:// or unix:// URL")
        return value

    def qps(self, name: str) -> dict[str, float]:
        """Calls per second by action: ``N``, ``Action=M`` items (documented limits unset)."""
        try:
            return parse_qps_spec(self.text(name) or "")
        except ValueError as error:
            raise ConfigError(name, str(error)) from None

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(name, f"must be a number (got {value!r})") from None
        if not minimum <= number <= maximum:
            raise ConfigError(name, f"must be between {minimum:g} and {maximum:g}")
        return number

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(name, f"must be a whole number (got {value!r})") from None
        if not minimum <= number <= maximum:
            raise ConfigError(name, f"must be between {minimum} and {maximum}")
        return number

    def id_set(self, name: str) -> frozenset[str]:
        value = self.text(name)
        if value is None:
            return frozenset()
        items = [item.strip() for item in value.split(",") if item.strip()]
        for item in items:
            if not IDENTIFIER_RE.fullmatch(item):
                raise ConfigError(name, f"{item!r} is not a valid ID")
        return frozenset(items)

    def aliases(self, name: str) -> dict[str, str]:
        value = self.text(name)
        if value is None:
            return {}
        aliases: dict[str, str] = {}
        for pair in (item.strip() for item in value.split(",")):
            if not pair:
                continue
            alias, sep, key = (part.strip() for part in pair.partition("="))
            if not sep or not ALIAS_RE.fullmatch(alias) or not IDENTIFIER_RE.fullmatch(key):
                raise ConfigError(name, f"{pair!r} is not alias=ProductKey")
            if alias in aliases:
                raise ConfigError(name, f"alias {alias!r} is given twice")
            aliases[alias] = key
        return aliases
