"""Logging set-up: text or one JSON object a line, with every configured secret masked.

otabot never passes a secret to a logger on purpose; the mask is the second line of
defence, for what a library might print (a URL, a header) at DEBUG. It covers the
secrets the settings hold and those the credential chain has handed out since (STS
credentials from RRSA, a credentials URI or the ECS metadata service rotate).

A long-running process (``serve``, ``demo``) logs at INFO unless ``OTABOT_LOG_LEVEL``
says otherwise; a one-shot command (``jobs`` and the like) only logs errors, so that a
failure is the one line ``otabot <command>: …`` on stderr and nothing before it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from otabot.config import Settings
from otabot.credentials import quiet_library_log

MASK = "***"
LONG_RUNNING_LEVEL = "INFO"
ONE_SHOT_LEVEL = "ERROR"

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is data.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold, for masking."""
    values = [
        settings.access_key_secret,
        settings.security_token,
        settings.slack_bot_token,
        settings.slack_app_token,
        settings.slack_signing_secret,
        settings.https_proxy,  # a proxy URL may carry a password
        settings.http_proxy,
        redis_password(settings.redis_url),
        # a credentials URI may carry a token in its query
        urlsplit(settings.credential_sources.credentials_uri or "").query,
    ]
    return [value for value in values if value and len(value) >= 4]


def redis_password(url: str | None) -> str | None:
    """The password in a Redis URL, if it has one."""
    return urlsplit(url).password if url else None


class _Masking:
    """Masks fixed secrets, and those ``later()`` gives when a line is written."""

    def __init__(self, secrets: Iterable[str], later: Callable[[], Iterable[str]] | None) -> None:
        self._secrets = sorted(set(secrets), key=len, reverse=True)
        self._later = later

    def mask(self, text: str) -> str:
        secrets = self._secrets
        if self._later is not None:
            secrets = [*secrets, *(value for value in self._later() if len(value) >= 4)]
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value …`` with secrets masked."""

    def __init__(
        self, secrets: Iterable[str] = (), later: Callable[[], Iterable[str]] | None = None
    ) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._masking = _Masking(secrets, later)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        if extras:
            text += " " + " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in extras.items())
        return self._masking.mask(text)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and any ``extra=`` fields."""

    def __init__(
        self, secrets: Iterable[str] = (), later: Callable[[], Iterable[str]] | None = None
    ) -> None:
        super().__init__()
        self._masking = _Masking(secrets, later)

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return self._masking.mask(json.dumps(data, default=str))


def configure_logging(
    settings: Settings, stream: Any = None, *, long_running: bool = False
) -> None:
    """Send otabot's (and its libraries') logs to stderr in the configured format, at
    ``OTABOT_LOG_LEVEL``, else INFO for a ``long_running`` process and ERROR for the rest."""
    secrets = secrets_of(settings)
    later = settings.credentials_provider.secrets
    formatter: logging.Formatter = (
        JsonFormatter(secrets, later)
        if settings.log_format == "json"
        else TextFormatter(secrets, later)
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level or (LONG_RUNNING_LEVEL if long_running else ONE_SHOT_LEVEL))
    # The credentials library logs each source that failed as an ERROR of its own; a
    # one-shot command's one line already names every source and why (OTABOT_LOG_LEVEL
    # brings them back). A server keeps them: a rotation that fails later is news.
    quiet_library_log(settings.log_level is None and not long_running)
    if long_running:  # a one-shot command prints them itself, under its own name
        for note in settings.unread_notes():
            logging.getLogger("otabot.config").warning("%s", note)
