"""Test doubles for the IoT client: a clock that moves only when slept on, a recording gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otabot.iot.client import IotClient
from otabot.iot.errors import QuotaBusyError

# What the ``make_client`` fixture gives: keyword arguments of ``IotClient`` override.
MakeClient = Callable[..., IotClient]


class FakeTime:
    """A monotonic clock that moves only when the client sleeps on it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingGate:
    """An AttemptGate that records how it was called (action included), and can refuse."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.refuse = refuse

    def before_attempt(self, action: str, deadline: float | None) -> None:
        self.calls.append(("before", action, deadline))
        if self.refuse:
            raise QuotaBusyError("quota busy", code="otabot.QuotaBusy")

    def after_attempt(self, action: str, throttled: bool) -> None:
        self.calls.append(("after", action, throttled))
