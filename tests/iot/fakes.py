"""Test doubles for the IoT client — a recording gate — and ``held_by``, everything an
error exposes."""

from __future__ import annotations

import pickle
import sys
import traceback
from collections.abc import Callable
from typing import Any

from otabot.iot.client import IotClient
from otabot.iot.errors import QuotaBusyError

# What the ``make_client`` fixture gives: keyword arguments of ``IotClient`` override.
MakeClient = Callable[..., IotClient]


class RecordingGate:
    """An AttemptGate that records how it was called (action included), and can refuse."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.written: list[float | None] = []  # when each attempt's request was written
        self.refuse = refuse

    def before_attempt(self, action: str, deadline: float | None) -> None:
        self.calls.append(("before", action, deadline))
        if self.refuse:
            raise QuotaBusyError("quota busy", code="otabot.QuotaBusy")

    def after_attempt(self, action: str, throttled: bool, written_at: float | None = None) -> None:
        self.calls.append(("after", action, throttled))
        self.written.append(written_at)


def held_by(error: BaseException) -> str:
    """All an error and its chain say or hold: messages, reprs, attributes, the formatted
    chain, the pickled error, and the locals of every frame its tracebacks still reach
    (but the caller's own, which is still running and inspecting it)."""
    caller = sys._getframe(1)
    said = ["".join(traceback.format_exception(error)), repr(pickle.dumps(error))]
    chain: list[BaseException | None] = [error]
    while chain:
        current = chain.pop()
        if current is None:
            continue
        said += [str(current), repr(current), repr(vars(current))]
        tb = current.__traceback__
        while tb is not None:
            if tb.tb_frame is not caller:
                said.append(repr(tb.tb_frame.f_locals))
            tb = tb.tb_next
        chain += [current.__cause__, current.__context__]
    return "\n".join(said)
