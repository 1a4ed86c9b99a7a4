"""Alibaba Cloud credentials through the official default chain (``alibabacloud-credentials``).

The sources, in the official chain's order; the first that gives credentials is kept for
the life of the process, as the official ``DefaultCredentialsProvider`` keeps it:

1. the environment's AccessKey: ``ALIBABA_CLOUD_ACCESS_KEY_ID``, ``…_SECRET`` and, for
   STS, ``ALIBABA_CLOUD_SECURITY_TOKEN``;
2. RRSA: the OIDC token in ``ALIBABA_CLOUD_OIDC_TOKEN_FILE`` exchanged at STS for the
   credentials of ``ALIBABA_CLOUD_ROLE_ARN`` (``ALIBABA_CLOUD_OIDC_PROVIDER_ARN``);
3. a profile of the aliyun CLI's ``~/.aliyun/config.json`` (``ALIBABA_CLOUD_PROFILE``,
   else the file's ``current``), in any mode the library knows (AK, StsToken,
   RamRoleArn, EcsRamRole, OIDC, ChainableRamRoleArn, CloudSSO, OAuth, External);
4. a section of the SDKs' INI file ``~/.alibabacloud/credentials.ini``;
5. the ECS instance's RAM role, from the instance metadata service;
6. ``ALIBABA_CLOUD_CREDENTIALS_URI``, an endpoint that hands out STS credentials.

Credentials that expire are refreshed by the library (STS ones 15 minutes before they
do), and the chain is asked again for every signed attempt, so each attempt is signed
with the credentials current then. The environment's AccessKey is used as it is: the
library's provider for it would only hold the same three values, and importing the
library costs a quarter of a second that a one-shot ``otabot jobs`` need not pay.

Only ``otabot.config`` reads the environment. The library reads it too, once, when it is
imported (``alibabacloud_credentials.utils.auth_util`` keeps a copy), and falls back on
that copy wherever a provider is not handed a value. Here every provider is handed what
the settings say, and the copy is blanked first (``_forget_library_environment``), so no
fallback can pick up a value otabot did not read. What remains: the library's HTTP layer
(Tea) takes ``HTTP_PROXY``/``HTTPS_PROXY`` from the environment for a request whose
provider has no proxy of its own (RRSA's STS call is given the configured proxy).

No secret leaves this module: the library's messages can carry the body a credentials
endpoint answered (``result: {…}``), so every reason is cut before it, and the
library's ``credentials`` logger loses the handler it prints to stderr with and gets a
filter that does the same cut.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from otabot.config import ConfigError, Credentials, CredentialSources, Settings, shown_url
from otabot.iot.errors import CredentialsUnavailableError

if TYPE_CHECKING:
    from alibabacloud_credentials_api import ICredentialsProvider

logger = logging.getLogger(__name__)

LIBRARY_LOGGER = "credentials"
ECS_METADATA_HOST = "100.100.100.200"
# Secrets and tokens of the latest credentials handed out, for the log formatter's mask.
REMEMBERED_SECRETS = 8
_MAX_REASON = 240


class CredentialsNotFoundError(ConfigError):
    """No source of the chain gave credentials; the message says where it looked."""

    def __init__(self, looked: Sequence[str]) -> None:
        super().__init__(
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "no Alibaba Cloud credentials found; looked at " + ", ".join(looked),
        )

    def __str__(self) -> str:
        return self.problem


@dataclass(frozen=True)
class Source:
    """One place the chain looks: a name for messages, and either why it is not looked at
    (``off``) or how to make the library's provider for it (``make(library)``, handed the
    library's providers module once it is imported)."""

    name: str
    off: str | None = None
    make: Callable[[Any], ICredentialsProvider] | None = None
    fixed: Credentials | None = None
    hidden: tuple[str, ...] = ()  # texts the library may quote that must not be shown


@dataclass(frozen=True)
class _Kept:
    source: Source
    provider: ICredentialsProvider | Credentials


class CredentialChain:
    """The official default chain over one ``Settings``: looks on first use, then asks the
    source it found for the current credentials every time. Thread-safe."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self._sources = tuple(sources)
        self._lock = threading.Lock()
        self._kept: _Kept | None = None
        self._first_access_key_id: str | None = None
        self._last: Credentials | None = None
        self._secrets: deque[str] = deque(maxlen=REMEMBERED_SECRETS)

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialChain:
        """The chain the settings configure; nothing is read, fetched or imported yet."""
        return cls(sources(settings))

    def __repr__(self) -> str:
        kept = self._kept
        if kept is None:
            return "CredentialChain(not looked yet)"
        return (
            f"CredentialChain(source={kept.source.name!r}, "
            f"access_key_id={self._first_access_key_id!r})"
        )

    @property
    def source(self) -> str | None:
        """Where the credentials come from, once found."""
        return None if self._kept is None else self._kept.source.name

    @property
    def access_key_id(self) -> str:
        """The AccessKeyId found first (looking now if the chain has not yet)."""
        if self._first_access_key_id is None:
            self.current()
        assert self._first_access_key_id is not None
        return self._first_access_key_id

    def secrets(self) -> tuple[str, ...]:
        """The secrets and STS tokens handed out lately, for masking in logs."""
        return tuple(self._secrets)

    def current(self) -> Credentials:
        """The credentials to sign with now.

        The first call looks through the sources (``CredentialsNotFoundError`` when none
        gives any); later ones ask the source found, which refreshes what expires
        (``CredentialsUnavailableError`` when it cannot).
        """
        with self._lock:
            if self._kept is None:
                self._kept, found = self._find()
                self._first_access_key_id = found.access_key_id
                return self._remember(found)
            kept = self._kept
        try:
            credentials = _ask(kept.provider)
        except Exception as error:
            raise CredentialsUnavailableError(
                f"could not get credentials from {kept.source.name}: "
                + reason(error, kept.source.hidden)
            ) from None
        return self._remember(credentials)

    def _find(self) -> tuple[_Kept, Credentials]:
        looked: list[str] = []
        for source in self._sources:
            if source.off is not None:
                looked.append(f"{source.name} ({source.off})")
                continue
            try:
                provider = source.fixed or _made(source)
                credentials = _ask(provider)
            except Exception as error:  # whatever the library raises: noted, next source
                why = reason(error, source.hidden)
                logger.debug("no credentials from %s: %s", source.name, why)
                looked.append(f"{source.name} ({why})")
                continue
            logger.debug("Alibaba Cloud credentials from %s", source.name)
            return _Kept(source, provider), credentials
        raise CredentialsNotFoundError(looked)

    def _remember(self, credentials: Credentials) -> Credentials:
        last = self._last
        if last is not None and last == credentials:
            return last
        for value in (credentials.access_key_secret, credentials.security_token):
            if value and value not in self._secrets:
                self._secrets.append(value)
        self._last = credentials
        return credentials


def _made(source: Source) -> ICredentialsProvider:
    assert source.make is not None
    return source.make(_library())


def _ask(provider: ICredentialsProvider | Credentials) -> Credentials:
    """The provider's credentials now, as otabot's ``Credentials``."""
    if isinstance(provider, Credentials):
        return provider
    answer = provider.get_credentials()
    access_key_id = answer.get_access_key_id() if answer is not None else None
    access_key_secret = answer.get_access_key_secret() if answer is not None else None
    if not access_key_id or not access_key_secret:
        raise ValueError("it gave no AccessKey")
    return Credentials(access_key_id, access_key_secret, answer.get_security_token() or None)


def reason(error: BaseException, hidden: Sequence[str] = ()) -> str:
    """Why a source failed, in one short line without the body an endpoint answered (the
    library quotes it after ``result:``) and without any of the ``hidden`` texts."""
    text = str(error)
    for secret in hidden:
        text = text.replace(secret, "…")
    text = " ".join(text.split())
    for marker in (" result:", "(Caused by"):
        text = text.split(marker, 1)[0]
    text = text.strip(" ,.") or type(error).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


# --- the sources ----------------------------------------------------------------------------


def sources(settings: Settings) -> list[Source]:
    """The chain's sources in the official order, each configured from ``settings``."""
    where = settings.credential_sources
    return [
        _environment(settings),
        _rrsa(settings, where),
        _cli_profile(where),
        _credentials_file(where),
        _ecs_ram_role(where),
        _credentials_uri(settings, where),
    ]


def _environment(settings: Settings) -> Source:
    name = "environment"
    if not settings.access_key_id or not settings.access_key_secret:
        return Source(name, off="ALIBABA_CLOUD_ACCESS_KEY_ID not set")
    return Source(
        name,
        fixed=Credentials(
            settings.access_key_id, settings.access_key_secret, settings.security_token
        ),
    )


def _rrsa(settings: Settings, where: CredentialSources) -> Source:
    name = "RRSA"
    if not where.rrsa:
        return Source(name, off="ALIBABA_CLOUD_ROLE_ARN not set")
    name = f"RRSA role {where.role_arn}"
    proxy = settings.proxies_for(f"https://{where.sts_endpoint}").get("https")

    def make(library: Any) -> ICredentialsProvider:
        return library.OIDCRoleArnCredentialsProvider(
            role_arn=where.role_arn,
            oidc_provider_arn=where.oidc_provider_arn,
            oidc_token_file_path=where.oidc_token_file,
            role_session_name=where.role_session_name,
            sts_endpoint=where.sts_endpoint,
            http_options=_http_options(settings, proxy),
        )

    return Source(name, make=make)


def _from_file(
    name: str, path: str | None, found: str, make: Callable[[Any], ICredentialsProvider]
) -> Source:
    """The source read from the file at ``path``: named ``found``, its provider made by
    ``make``; off, saying why, when there is no such file."""
    if path is None:
        return Source(name, off="HOME not set")
    if not os.path.isfile(path):
        return Source(name, off=f"no file {path}")
    return Source(found, make=make)


def _cli_profile(where: CredentialSources) -> Source:
    name = "aliyun CLI profile"
    if where.cli_profile_disabled:
        return Source(name, off="ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true")
    profile, path = where.profile_name, where.cli_profile_file

    def make(library: Any) -> ICredentialsProvider:
        return library.CLIProfileCredentialsProvider(profile_name=profile, profile_file=path)

    found = f"{name} {profile or '(current)'} in {path}"
    return _from_file(name, path, found, make)


def _credentials_file(where: CredentialSources) -> Source:
    name = "credentials file"
    section, path = where.profile_name or "default", where.credentials_file

    def make(library: Any) -> ICredentialsProvider:
        return library.ProfileCredentialsProvider(profile_file=path, profile_name=section)

    return _from_file(name, path, f"{name} {path} [{section}]", make)


def _ecs_ram_role(where: CredentialSources) -> Source:
    name = "ECS RAM role"
    if not where.ecs_metadata:
        return Source(name, off="ALIBABA_CLOUD_ECS_METADATA_DISABLED=true")
    role = where.ecs_role_name
    name = (
        f"ECS RAM role {role} at {ECS_METADATA_HOST}"
        if role
        else f"ECS RAM role at {ECS_METADATA_HOST}"
    )

    def make(library: Any) -> ICredentialsProvider:
        return library.EcsRamRoleCredentialsProvider(
            role_name=role,
            disable_imds_v1=where.imds_v1_disabled,
            # Refreshed when asked (a minute's scheduler thread per provider otherwise).
            async_update_enabled=False,
        )

    return Source(name, make=make)


def _credentials_uri(settings: Settings, where: CredentialSources) -> Source:
    name = "credentials URI"
    uri = where.credentials_uri
    if uri is None:
        return Source(name, off="ALIBABA_CLOUD_CREDENTIALS_URI not set")
    name = f"credentials URI {shown_url(uri)}"

    def make(library: Any) -> ICredentialsProvider:
        return library.URLCredentialsProvider(uri=uri, http_options=_http_options(settings, None))

    # The library quotes the URI in its errors; its query may hold a token.
    return Source(name, make=make, hidden=(uri,))


def _http_options(settings: Settings, proxy: str | None) -> Any:
    from alibabacloud_credentials.http import HttpOptions

    return HttpOptions(
        proxy=proxy,
        connect_timeout=int(settings.connect_timeout * 1000),
        read_timeout=int(settings.read_timeout * 1000),
    )


# --- keeping the library to what otabot tells it ---------------------------------------------


def _library() -> Any:
    """The library's providers, imported on first need, its environment copy blanked and
    its logger tamed."""
    from alibabacloud_credentials import provider

    _forget_library_environment()
    _tame_library_logger()
    return provider


def _forget_library_environment() -> None:
    """Blank the copy of the environment the library took when imported, so that a value a
    provider is not handed stays unset instead of coming from ``os.environ``."""
    from alibabacloud_credentials.utils import auth_util

    unset: dict[str, str | None] = {
        "environment_access_key_id": None,
        "environment_access_key_secret": None,
        "environment_security_token": None,
        "environment_ECSMeta_data": None,
        "environment_ecs_metadata": None,
        "environment_credentials_file": None,
        "environment_profile_name": None,
        "environment_oidc_token_file": None,
        "environment_role_arn": None,
        "environment_oidc_provider_arn": None,
        "environment_role_session_name": None,
        "environment_credentials_uri": None,
        "environment_sts_region": None,
        # Switches the providers check themselves; otabot decides them before it asks.
        "environment_imds_v1_disabled": "false",
        "environment_ecs_metadata_disabled": "false",
        "environment_cli_profile_disabled": "false",
        "environment_enable_vpc": "false",
        "client_type": "default",
    }
    for attribute, value in unset.items():
        setattr(auth_util, attribute, value)
    auth_util.enable_oidc_credential = False


class LibraryLogRedaction(logging.Filter):
    """Cuts what a credentials endpoint answered out of the library's log records, and
    their tracebacks, whose messages carry the same text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = reason(Exception(message)), None
        if record.exc_info and record.exc_info[1] is not None:
            record.msg += f" ({type(record.exc_info[1]).__name__})"
        record.exc_info, record.exc_text = None, None
        return True


_library_level = logging.NOTSET


def quiet_library_log(quiet: bool) -> None:
    """Keep the library's own lines out (``quiet``: a one-shot command, whose one line
    names every source that failed and why) or let them through at otabot's level."""
    global _library_level
    _library_level = logging.CRITICAL if quiet else logging.NOTSET
    logging.getLogger(LIBRARY_LOGGER).setLevel(_library_level)


def _tame_library_logger() -> None:
    """The library's logger prints to stderr through handlers of its own and at INFO
    whatever the configured level: it now goes through otabot's logging only, at
    otabot's level (or not at all: ``quiet_library_log``), redacted."""
    library_logger = logging.getLogger(LIBRARY_LOGGER)
    for handler in list(library_logger.handlers):
        library_logger.removeHandler(handler)
    library_logger.setLevel(_library_level)
    if not any(isinstance(f, LibraryLogRedaction) for f in library_logger.filters):
        library_logger.addFilter(LibraryLogRedaction())
