"""``Counters``: the one way otabot's components count what they do.

A component keeps one ``Counters`` and adds to it as things happen (``add`` is a lock
and a dict update: cheap enough for every request); ``stats()`` reads a snapshot. A
counter may carry labels (``add("calls", action="QueryOTAJob", code="OK")``), and
reads sum over the labels not asked for, so one count serves both a total and a
breakdown.
"""

from __future__ import annotations

import threading
from collections import defaultdict

Labels = tuple[tuple[str, str], ...]


class Counters:
    """Named counters with optional labels; thread-safe."""

    def __init__(self, *names: str) -> None:
        """``names`` start at 0, so a snapshot lists them before anything happened."""
        self._lock = threading.Lock()
        self._names = names
        self._values: defaultdict[str, defaultdict[Labels, float]] = defaultdict(
            lambda: defaultdict(float)
        )
        self.clear()

    def add(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[name][key] += amount

    def get(self, name: str, **labels: str) -> float:
        """The sum of ``name`` over every label set that has ``labels`` (all of them by default)."""
        wanted = set(labels.items())
        with self._lock:
            series = self._values.get(name)
            if series is None:
                return 0.0
            return sum(value for key, value in series.items() if wanted <= set(key))

    def count(self, name: str, **labels: str) -> int:
        """``get`` for a counter of events (a whole number)."""
        return round(self.get(name, **labels))

    def by(self, name: str, label: str) -> dict[str, float]:
        """``name`` summed per value of ``label`` (label sets without it are left out)."""
        totals: defaultdict[str, float] = defaultdict(float)
        with self._lock:
            for key, value in self._values.get(name, defaultdict(float)).items():
                for label_name, label_value in key:
                    if label_name == label:
                        totals[label_value] += value
        return dict(totals)

    def series(self) -> dict[str, dict[Labels, float]]:
        """Every counter and label set as it stands (for exporting)."""
        with self._lock:
            return {name: dict(values) for name, values in self._values.items()}

    def totals(self) -> dict[str, int | float]:
        """Each counter summed over its labels; whole numbers as ``int``."""
        with self._lock:
            sums = {name: sum(values.values()) for name, values in self._values.items()}
        return {name: int(value) if value == int(value) else value for name, value in sums.items()}

    def clear(self) -> None:
        """Back to zero: every counter named at construction at 0, every other one gone."""
        with self._lock:
            self._values.clear()
            for name in self._names:
                self._values[name][()] += 0
