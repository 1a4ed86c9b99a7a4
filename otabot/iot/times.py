"""The API's times, read and written in one place: otabot's client, the emulator and its fleet.

IoT Platform spells times in UTC as ``2019-12-28T02:43:10.000Z`` in answers, and a
request's ``Timestamp`` / ``x-acs-date`` as ``2019-12-28T02:43:10Z``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# What a request must carry, and a fleet file must hold: UTC with a "Z", optional fraction.
_STRICT_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


def parse_utc(text: str, *, strict: bool = False) -> datetime:
    """An API time as an aware UTC datetime; ``ValueError`` when it is not one.

    Answers are read leniently (an explicit offset or no zone at all is taken as what
    it says, or as UTC); ``strict`` takes only the documented ``…Z`` form, as the API
    does for a request's timestamp.
    """
    if strict and not _STRICT_RE.fullmatch(text):
        raise ValueError(f"not a UTC time like 2019-12-28T02:43:10Z: {text[:40]!r}")
    parsed = datetime.fromisoformat(text)  # Python 3.11 reads the trailing "Z" itself
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_optional_utc(value: str | None) -> datetime | None:
    """``parse_utc`` for a field that may be absent or empty (None then)."""
    return parse_utc(value) if value else None


def format_utc(value: datetime | None) -> str | None:
    """The API's own spelling of a time in an answer: ``2019-12-28T02:43:10.000Z``."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def request_timestamp(seconds: float) -> str:
    """A request's ``Timestamp`` / ``x-acs-date`` for a POSIX time: ``YYYY-MM-DDThh:mm:ssZ``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
