"""Settings read from the environment: the only place otabot looks at ``os.environ``.

Every setting otabot takes from the environment is checked here, so a typo in a
deployment stops the program at start with a message that names the variable, instead
of surfacing as a strange answer to the first user at 3 a.m.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Protocol
from urllib.parse import SplitResult, urlsplit

from otabot.iot.actions import parse_qps_spec

if TYPE_CHECKING:
    from otabot.credentials import CredentialChain

DEFAULT_REGION = "cn-shanghai"
SIGNATURE_VERSIONS = ("v3", "v1")
# otabot's own variables; those under DEVELOPMENT_PREFIXES are read by its tests and
# benches, not by otabot.
OWN_PREFIX = "OTABOT_"
DEVELOPMENT_PREFIXES = (
    "OTABOT_TEST_",
    "OTABOT_BENCH_",
    "OTABOT_BURST_",
    "OTABOT_REQUIRE_",
    "OTABOT_UPDATE_",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")

# Identifier formats, checked before any upstream call. Always with ``fullmatch``: a
# pattern ending in ``$`` lets a trailing newline through.
IDENTIFIER_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEVICE_NAME_RE = re.compile(r"[A-Za-z0-9_@.:-]{4,32}")
ALIAS_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
REGION_RE = re.compile(r"[a-z0-9-]{2,32}")
# RAM ARNs as RRSA hands them out: acs:ram::<account>:role/<name>, …:oidc-provider/<name>.
ROLE_ARN_RE = re.compile(r"acs:ram::[0-9]{1,32}:role/[A-Za-z0-9._@/-]{1,128}")
OIDC_PROVIDER_ARN_RE = re.compile(r"acs:ram::[0-9]{1,32}:oidc-provider/[A-Za-z0-9._-]{1,128}")
SESSION_NAME_RE = re.compile(r"[A-Za-z0-9._@-]{2,64}")
PROFILE_NAME_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")
RRSA_VARIABLES = (
    "ALIBABA_CLOUD_ROLE_ARN",
    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
    "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
)


class ConfigError(ValueError):
    """A setting is missing or malformed; ``variable`` names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class ConfigErrors(ConfigError):
    """Several settings are missing or malformed, reported together in one line."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        super().__init__(errors[0].variable, errors[0].problem)
        self.args = ("; ".join(str(error) for error in errors),)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Credentials:
    """An Alibaba Cloud AccessKey pair, optionally with an STS token. Never printed.

    A fixed AccessKey is its own ``CredentialsProvider``: ``current()`` is itself.
    """

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def current(self) -> Credentials:
        return self


class CredentialsProvider(Protocol):
    """Gives the credentials to sign with now; asked again for every signed attempt, so
    credentials that rotate (STS) are always the current ones."""

    def current(self) -> Credentials:
        """The credentials valid now; raises an ``OtabotError`` when they cannot be had."""
        ...


@dataclass(frozen=True)
class CredentialSources:
    """Where the credential chain looks after the environment's AccessKey.

    The defaults look nowhere that is not named (no file, no network): that is what
    ``Settings()`` gets. ``Settings.from_env`` fills in the official chain's own defaults:
    the CLI profile and credentials file under ``HOME``, and the ECS RAM role.
    """

    role_arn: str | None = None
    oidc_provider_arn: str | None = None
    oidc_token_file: str | None = None
    role_session_name: str = "otabot"
    sts_region: str | None = None
    sts_vpc_endpoint: bool = False
    profile_name: str | None = None  # for the CLI profile and the credentials file
    cli_profile_file: str | None = None  # the aliyun CLI's config.json
    cli_profile_disabled: bool = False
    credentials_file: str | None = None  # the INI file of the Alibaba Cloud SDKs
    credentials_uri: str | None = field(default=None, repr=False)  # its query may hold a token
    ecs_metadata: bool = False  # ask the ECS instance metadata service for the RAM role's
    ecs_role_name: str | None = None
    imds_v1_disabled: bool = False

    @property
    def rrsa(self) -> bool:
        """Whether RRSA (OIDC role) is configured: all three of its variables."""
        return bool(self.role_arn and self.oidc_provider_arn and self.oidc_token_file)

    @property
    def sts_endpoint(self) -> str:
        """The STS host RRSA exchanges its OIDC token at, as the official chain picks it."""
        prefix = "sts-vpc" if self.sts_vpc_endpoint else "sts"
        return f"{prefix}.{self.sts_region}.aliyuncs.com" if self.sts_region else "sts.aliyuncs.com"


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
    credential_sources: CredentialSources = field(default_factory=CredentialSources)
    region_id: str = DEFAULT_REGION
    iot_endpoint: str | None = None
    iot_instance_id: str | None = None
    signature: str = "v3"
    default_product_key: str | None = None
    product_aliases: Mapping[str, str] = field(default_factory=dict)
    api_qps: Mapping[str, float] = field(default_factory=lambda: parse_qps_spec(""))
    quota_account_name: str | None = None  # OTABOT_QUOTA_ACCOUNT; see ``quota_account``
    cache_ttl: float = 60.0
    max_wait: float = 120.0
    quota_margin: float = 0.04
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
    log_level: str | None = None  # None: each command's own default (``otabot.logs``)
    log_format: str = "text"
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    drain_grace: float = 5.0
    drain_timeout: float = 25.0
    metrics_port: int | None = None
    https_proxy: str | None = field(default=None, repr=False)
    http_proxy: str | None = field(default=None, repr=False)
    no_proxy: str | None = None
    # OTABOT_* variables set that otabot does not read, each with the nearest it does.
    unread_variables: tuple[tuple[str, str | None], ...] = ()

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
            credential_sources=env.credential_sources(),
            region_id=env.pattern("ALIBABA_CLOUD_REGION_ID", REGION_RE, DEFAULT_REGION),
            iot_endpoint=env.url("OTABOT_IOT_ENDPOINT"),
            iot_instance_id=env.identifier("OTABOT_IOT_INSTANCE_ID"),
            signature=signature,
            default_product_key=env.identifier("OTABOT_DEFAULT_PRODUCT_KEY"),
            product_aliases=env.aliases("OTABOT_PRODUCT_ALIASES"),
            api_qps=env.qps("OTABOT_API_QPS"),
            quota_account_name=env.identifier("OTABOT_QUOTA_ACCOUNT"),
            cache_ttl=env.number("OTABOT_CACHE_TTL", 60.0, minimum=0, maximum=86_400),
            max_wait=env.number("OTABOT_MAX_WAIT", 120.0, minimum=1, maximum=1_800),
            quota_margin=env.number("OTABOT_QUOTA_MARGIN", 0.04, minimum=0, maximum=0.5),
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
            log_level=env.optional_choice("OTABOT_LOG_LEVEL", LOG_LEVELS, upper=True),
            log_format=env.choice("OTABOT_LOG_FORMAT", LOG_FORMATS, "text"),
            connect_timeout=env.number("OTABOT_CONNECT_TIMEOUT", 5.0, minimum=0.1, maximum=120),
            read_timeout=env.number("OTABOT_READ_TIMEOUT", 10.0, minimum=0.1, maximum=300),
            drain_grace=env.number("OTABOT_DRAIN_GRACE", 5.0, minimum=0, maximum=300),
            drain_timeout=env.number("OTABOT_DRAIN_TIMEOUT", 25.0, minimum=1, maximum=3_600),
            metrics_port=env.optional_integer("OTABOT_METRICS_PORT", minimum=0, maximum=65_535),
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
        if settings.drain_grace >= settings.drain_timeout:
            raise ConfigError(
                "OTABOT_DRAIN_GRACE",
                f"must be shorter than OTABOT_DRAIN_TIMEOUT ({settings.drain_timeout:g} s), "
                "which also covers the lookups that finish after the grace",
            )
        unread = tuple((name, env.nearest(name)) for name in env.unread())
        return replace(settings, unread_variables=unread)

    def unread_notes(self) -> list[str]:
        """A line for each ``OTABOT_*`` variable set that otabot does not read (a typo would
        otherwise leave its setting at the default without a word)."""
        notes = []
        for name, nearest in self.unread_variables:
            guess = f" — did you mean {nearest}?" if nearest else ""
            notes.append(f"{name} is set but is not a setting otabot reads{guess}")
        return notes

    @property
    def endpoint(self) -> str:
        """Base URL of the IoT Platform API: the override, or the region's public host."""
        if self.iot_endpoint:
            return self.iot_endpoint.rstrip("/")
        return f"https://iot.{self.region_id}.aliyuncs.com"

    @cached_property
    def credentials_provider(self) -> CredentialChain:
        """The official default credential chain over these settings (``otabot.credentials``).

        Made once per ``Settings`` (``dataclasses.replace`` makes a new one); it looks for
        credentials the first time it is asked, not before.
        """
        from otabot.credentials import CredentialChain

        return CredentialChain.from_settings(self)

    def credentials(self) -> Credentials:
        """The credentials to sign with now, from the chain.

        The first call finds them (``CredentialsNotFoundError``, a ``ConfigError``, says
        everywhere it looked when there are none).
        """
        return self.credentials_provider.current()

    @property
    def quota_account(self) -> str:
        """Whose API quota the calls spend (Redis keys and the emulator count per account):
        OTABOT_QUOTA_ACCOUNT, else the AccessKeyId the chain found first (finding it now if
        it has not looked yet), which stays the same while STS credentials rotate."""
        return self.quota_account_name or self.credentials_provider.access_key_id

    def require_serve(self, *, socket_mode: bool) -> None:
        """Check everything ``otabot serve`` needs before it calls anything: the Slack
        variables and credentials from the chain, all that is missing in one error."""
        problems = self._slack_problems(socket_mode=socket_mode)
        try:
            self.credentials()
        except ConfigError as error:
            problems.append(error)
        if problems:
            raise problems[0] if len(problems) == 1 else ConfigErrors(problems)

    def _slack_problems(self, *, socket_mode: bool) -> list[ConfigError]:
        problems: list[ConfigError] = []
        if not self.slack_bot_token:
            problems.append(ConfigError("SLACK_BOT_TOKEN", "is required to serve Slack (xoxb-…)"))
        if not socket_mode and not self.slack_signing_secret:
            # With an app token, HTTP mode was asked for (--http): Socket Mode is no way out.
            alternative = (
                ""
                if self.slack_app_token
                else " (or set SLACK_APP_TOKEN, an xapp- token, to use Socket Mode instead)"
            )
            problems.append(
                ConfigError("SLACK_SIGNING_SECRET", "is required in HTTP mode" + alternative)
            )
        return problems

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


def shown_url(url: str) -> str:
    """``url`` fit for a message: no password, and ``?…`` for a query that may hold a token."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username:
        netloc = (
            f"{parts.username}:***@{netloc}" if parts.password else f"{parts.username}@{netloc}"
        )
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}"


def http_url(name: str, value: str) -> str:
    """``value``, an http(s) URL with a host and, if any, a port from 1 to 65535;
    ``ConfigError`` naming ``name`` otherwise."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(name, f"must be an http(s) URL (got {shown_url(value)!r})")
    _check_port(name, parts)
    return value


def _check_port(name: str, parts: SplitResult) -> None:
    """A URL's port, when it names one, is a number from 1 to 65535."""
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.rpartition("@")[2].endswith(":")):
        raise ConfigError(name, "has a port that is not a number from 1 to 65535")


def _no_proxy_covers(url: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` covers the host of ``url``.

    The matching is the standard library's (``proxy_bypass_environment``, which requests
    itself falls back to), given the value read here: so nothing reads the environment.
    A ``*`` among the entries covers all.

    requests' own helper, ``requests.utils.should_bypass_proxies(url, no_proxy=…)``, is not
    used (tests/test_no_proxy.py keeps the comparison): when its own loop finds no match it
    sets ``os.environ["no_proxy"]`` around a call that reads the whole environment, with no
    lock (psf/requests#4997, open), from any thread that builds a client; it takes ``*``
    only as the whole value, not among entries; and an IPv4 ``address:port`` entry never
    matches (it compares the address without the port). It does know IPv4 CIDR blocks
    (``10.0.0.0/8``), which this does not.
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
        self._read: set[str] = set()

    def text(self, name: str) -> str | None:
        self._read.add(name)
        value = self._environ.get(name, "").strip()
        return value or None

    def unread(self) -> tuple[str, ...]:
        """``OTABOT_*`` variables set but never read: most likely misspelled."""
        return tuple(
            sorted(
                name
                for name in self._environ
                if name.startswith(OWN_PREFIX)
                and name not in self._read
                and not name.startswith(DEVELOPMENT_PREFIXES)
            )
        )

    def nearest(self, name: str) -> str | None:
        """The variable otabot reads that ``name`` was most likely meant to be."""
        known = sorted(known for known in self._read if known.startswith(OWN_PREFIX))
        found = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
        return found[0] if found else None

    def choice(self, name: str, allowed: tuple[str, ...], default: str, upper: bool = False) -> str:
        return self.optional_choice(name, allowed, upper) or default

    def optional_choice(
        self, name: str, allowed: tuple[str, ...], upper: bool = False
    ) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        value = value.upper() if upper else value.lower()
        if value not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)} (got {value!r})")
        return value

    def flag(self, name: str) -> bool:
        """``true`` or ``false`` (any case), as the official SDKs read their switches."""
        return self.optional_choice(name, ("true", "false")) == "true"

    def pattern(self, name: str, regex: re.Pattern[str], default: str) -> str:
        value = self.text(name)
        if value is None:
            return default
        if not regex.fullmatch(value):
            raise ConfigError(name, f"is not a valid value ({value!r})")
        return value

    def identifier(self, name: str) -> str | None:
        return self.matching(
            name, IDENTIFIER_RE, "letters, digits, '-' and '_', at most 64 characters"
        )

    def url(self, name: str) -> str | None:
        value = self.text(name)
        return None if value is None else http_url(name, value)

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
        _check_port(name, parts)
        return value

    def redis_url(self, name: str) -> str | None:
        """A URL redis-py accepts and means as written: a port from 1 to 65535, a whole-number
        database. redis-py itself drops a database it cannot read (``/abc`` is db 0) and a
        port of 0; both are refused here. No message shows the password."""
        value = self.text(name)
        if value is None:
            return None
        # Imported here: only a deployment with Redis pays for redis-py at start.
        from redis.connection import parse_url

        parts = urlsplit(value)
        _check_port(name, parts)
        try:
            options: dict[str, object] = parse_url(value)  # type: ignore[no-untyped-call]
        except ValueError as error:
            raise ConfigError(name, f"is not a Redis URL: {error}") from None
        if parts.scheme == "unix":
            if not options.get("path"):
                raise ConfigError(name, "names no socket path (unix:///path/to/redis.sock)")
        elif not options.get("host"):
            raise ConfigError(name, "names no host (redis://host:6379/0)")
        elif "db" not in options and parts.path.strip("/"):
            raise ConfigError(
                name, f"database {parts.path.strip('/')!r} is not a whole number (redis://host/0)"
            )
        return value

    def credential_sources(self) -> CredentialSources:
        """Where the official default chain looks, as the environment configures it."""
        home = self.text("HOME")
        cli_profile_disabled = self.flag("ALIBABA_CLOUD_CLI_PROFILE_DISABLED")
        cli_profile_file = self.text("OTABOT_ALIYUN_CONFIG") or (
            os.path.join(home, ".aliyun", "config.json") if home else None
        )
        credentials_file = self.text("ALIBABA_CLOUD_CREDENTIALS_FILE") or (
            os.path.join(home, ".alibabacloud", "credentials.ini") if home else None
        )
        sources = CredentialSources(
            role_arn=self.matching("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN_RE, "acs:ram::<uid>:role/…"),
            oidc_provider_arn=self.matching(
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                OIDC_PROVIDER_ARN_RE,
                "acs:ram::<uid>:oidc-provider/…",
            ),
            oidc_token_file=self.text("ALIBABA_CLOUD_OIDC_TOKEN_FILE"),
            role_session_name=self.pattern(
                "ALIBABA_CLOUD_ROLE_SESSION_NAME", SESSION_NAME_RE, "otabot"
            ),
            sts_region=self.matching(
                "ALIBABA_CLOUD_STS_REGION", REGION_RE, "a region such as cn-hangzhou"
            ),
            sts_vpc_endpoint=self.flag("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"),
            profile_name=self.matching("ALIBABA_CLOUD_PROFILE", PROFILE_NAME_RE, "a profile name"),
            cli_profile_file=None if cli_profile_disabled else cli_profile_file,
            cli_profile_disabled=cli_profile_disabled,
            credentials_file=credentials_file,
            credentials_uri=self.url("ALIBABA_CLOUD_CREDENTIALS_URI"),
            ecs_metadata=not self.flag("ALIBABA_CLOUD_ECS_METADATA_DISABLED"),
            ecs_role_name=self.matching(
                "ALIBABA_CLOUD_ECS_METADATA", PROFILE_NAME_RE, "a RAM role name"
            ),
            imds_v1_disabled=self.flag("ALIBABA_CLOUD_IMDSV1_DISABLED"),
        )
        rrsa = dict(
            zip(
                RRSA_VARIABLES,
                (sources.role_arn, sources.oidc_provider_arn, sources.oidc_token_file),
                strict=True,
            )
        )
        given = [name for name, value in rrsa.items() if value]
        if given and len(given) < len(rrsa):
            missing = next(name for name, value in rrsa.items() if not value)
            raise ConfigError(missing, f"is required for RRSA along with {', '.join(given)}")
        return sources

    def matching(self, name: str, regex: re.Pattern[str], expected: str) -> str | None:
        value = self.text(name)
        if value is not None and not regex.fullmatch(value):
            raise ConfigError(name, f"must be {expected}")
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
        number = self.optional_integer(name, minimum=minimum, maximum=maximum)
        return default if number is None else number

    def optional_integer(self, name: str, *, minimum: int, maximum: int) -> int | None:
        value = self.text(name)
        if value is None:
            return None
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
