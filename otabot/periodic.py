"""The loop of a background thread that does one step every so often until it is stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


def repeat(
    step: Callable[[], None],
    seconds: float,
    stopped: threading.Event,
    *,
    log: logging.Logger,
    failed: str,
) -> None:
    """Run ``step`` every ``seconds`` until ``stopped`` is set (the first after ``seconds``).

    A step that raises is logged on ``log`` (``failed``, with the traceback) and the next
    one runs as planned: one bad round does not end the thread.
    """
    while not stopped.wait(seconds):
        try:
            step()
        except Exception:
            log.exception(failed)
