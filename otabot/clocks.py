"""The two clocks otabot reads, named apart everywhere.

- ``monotonic``: seconds that only move forward (``time.monotonic``), for deadlines,
  TTLs, pacing and latencies. Never compared with a date or with another process.
- ``wall_clock``: POSIX seconds (``time.time``), for anything compared with another
  machine's time: signature timestamps, Slack's request timestamps, when a result was
  fetched.

Every component takes the clocks it reads as keyword arguments of exactly these names
(``monotonic=``, ``wall_clock=``), so a test passes a fake one instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Monotonic = Callable[[], float]
WallClock = Callable[[], float]
Sleep = Callable[[float], None]

monotonic: Monotonic = time.monotonic
wall_clock: WallClock = time.time


def utc_datetime(seconds: float) -> datetime:
    """A wall-clock reading as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)
