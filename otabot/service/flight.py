"""Single-flight in one process: concurrent identical lookups share one upstream fetch."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from otabot.counters import Counters
from otabot.iot.errors import UpstreamUnavailableError, fresh_copy

T = TypeVar("T")


@dataclass
class Flight(Generic[T]):
    """One fetch in progress; waiters get its result or the very same failure."""

    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None
    joined: int = 0

    def wait(self) -> T:
        """The leader's result, or its error raised anew. A leader stopped by a
        ``BaseException`` (Ctrl-C, ``SystemExit``) stops only its own thread: waiters get an
        ordinary ``UpstreamUnavailableError`` they can answer with."""
        self.done.wait()
        if self.error is not None and not isinstance(self.error, Exception):
            raise UpstreamUnavailableError(
                f"lookup interrupted ({type(self.error).__name__} in the thread fetching it)",
                code="otabot.Interrupted",
            )
        if self.error is not None:
            raise fresh_copy(self.error)
        assert self.result is not None
        return self.result


class SingleFlight(Generic[T]):
    """Runs ``fetch`` once per key at a time; callers arriving meanwhile join that run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, Flight[T]] = {}
        self.counters = Counters("single_flight_joins")

    def run(self, key: str, fetch: Callable[[], T]) -> tuple[T, bool]:
        """The result of ``fetch`` for ``key``, and whether this caller joined another's run."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = Flight[T]()
            else:
                flight.joined += 1
                self.counters.add("single_flight_joins")
        if not leader:
            return flight.wait(), True
        try:
            result = flight.result = fetch()
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return result, False

    @property
    def joins(self) -> int:
        """How many callers joined another's run so far (counted as they join)."""
        return self.counters.count("single_flight_joins")

    def __len__(self) -> int:
        with self._lock:
            return len(self._flights)
