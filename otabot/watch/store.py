"""Where watches live: one small interface, in this process or in Redis (``redis_watches``).

Besides the watches themselves a store keeps, per watched job, when it is next due and
who is polling it now. A poll is *claimed* (a lease of ``lease`` seconds, renewed while
the poll runs) and *released* with the job's next due time, so exactly one replica polls
a job at a time and any replica may take the next poll: a replica that stops hands its
jobs on by releasing them, one that dies by letting its lease lapse. Due times are on
the wall clock, which every replica shares.

A watch is *reserved* before its card is posted (at most ``limit`` watches, posted or
being posted; one per job and channel) and *activated* with the card's ``ts``; a
reservation whose card never came lapses after ``PENDING_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from otabot.clocks import Monotonic
from otabot.watch.records import Watch, WatchedJob

# How long a reservation waits for its card to be posted before it lapses.
PENDING_SECONDS = 120.0


class Reserved(Enum):
    RESERVED = "reserved"  # go on: post the card, then activate
    EXISTING = "existing"  # this job is watched in this channel already (``watch`` is it)
    PENDING = "pending"  # someone is starting this very watch right now
    FULL = "full"  # OTABOT_MAX_WATCHES watches are live
    UNAVAILABLE = "unavailable"  # the store cannot be reached (Redis away)


class StoreUnavailable(Exception):
    """The store cannot be reached (Redis away): whether a watch exists is not known."""


@dataclass(frozen=True)
class Reservation:
    outcome: Reserved
    watch: Watch | None = None
    live: int = 0


class WatchStore(Protocol):
    """The watches and the poll schedule, shared by every replica or held in this process."""

    @property
    def shared(self) -> bool:
        """True when watches outlive this process (Redis)."""
        ...

    def reserve(self, watch: Watch, *, limit: int, now: float) -> Reservation: ...

    def activate(self, watch: Watch, *, due: float) -> bool:
        """Store the posted watch; its job is due at ``due`` unless it is due already."""
        ...

    def cancel(self, watch: Watch) -> None:
        """Drop a reservation whose card was not posted."""
        ...

    def find(self, watch_id: str) -> Watch | None:
        """The watch, or None when there is none; ``StoreUnavailable`` when unreachable."""
        ...

    def watches_of(self, job: WatchedJob) -> list[Watch]: ...

    def save(self, watch: Watch) -> bool:
        """Update a watch, only while the same card (``ts``) is still watched."""
        ...

    def remove(self, watch: Watch) -> bool:
        """End a watch, only if the same card (``ts``) is still watched."""
        ...

    def due(self, now: float, limit: int) -> list[WatchedJob]: ...

    def claim(self, job: WatchedJob, owner: str, lease: float) -> bool: ...

    def extend(self, job: WatchedJob, owner: str, lease: float) -> bool: ...

    def release(self, job: WatchedJob, owner: str, next_due: float) -> None:
        """Give up the claim; the job is due at ``next_due``, or dropped if no watch is left."""
        ...

    def live(self) -> int: ...

    def everything(self) -> list[Watch]: ...


class MemoryWatchStore:
    """Watches held in this process: they end with it (otabot serve without Redis)."""

    shared = False

    def __init__(self, *, monotonic: Monotonic = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._watches: dict[str, Watch] = {}
        self._pending: dict[str, float] = {}  # watch id -> wall-clock time it lapses
        self._due: dict[str, float] = {}  # job key -> wall-clock time
        self._claims: dict[str, tuple[str, float]] = {}  # job key -> (owner, monotonic until)

    def reserve(self, watch: Watch, *, limit: int, now: float) -> Reservation:
        with self._lock:
            self._pending = {key: until for key, until in self._pending.items() if until > now}
            existing = self._watches.get(watch.id)
            if existing is not None:
                return Reservation(Reserved.EXISTING, existing)
            if watch.id in self._pending:
                return Reservation(Reserved.PENDING)
            live = len(self._watches) + len(self._pending)
            if live >= limit:
                return Reservation(Reserved.FULL, live=live)
            self._pending[watch.id] = now + PENDING_SECONDS
            return Reservation(Reserved.RESERVED)

    def activate(self, watch: Watch, *, due: float) -> bool:
        with self._lock:
            self._pending.pop(watch.id, None)
            if watch.id in self._watches:
                return False
            self._watches[watch.id] = watch
            self._due.setdefault(watch.job.key, due)
            return True

    def cancel(self, watch: Watch) -> None:
        with self._lock:
            self._pending.pop(watch.id, None)

    def find(self, watch_id: str) -> Watch | None:
        with self._lock:
            return self._watches.get(watch_id)

    def watches_of(self, job: WatchedJob) -> list[Watch]:
        with self._lock:
            return [watch for watch in self._watches.values() if watch.job == job]

    def save(self, watch: Watch) -> bool:
        with self._lock:
            current = self._watches.get(watch.id)
            if current is None or current.ts != watch.ts:
                return False
            self._watches[watch.id] = watch
            return True

    def remove(self, watch: Watch) -> bool:
        with self._lock:
            current = self._watches.get(watch.id)
            if current is None or current.ts != watch.ts:
                return False
            del self._watches[watch.id]
            return True

    def due(self, now: float, limit: int) -> list[WatchedJob]:
        with self._lock:
            ready = sorted((at, key) for key, at in self._due.items() if at <= now)
            return [WatchedJob.from_key(key) for _, key in ready[:limit]]

    def claim(self, job: WatchedJob, owner: str, lease: float) -> bool:
        return self._hold(job, owner, lease, take=True)

    def extend(self, job: WatchedJob, owner: str, lease: float) -> bool:
        return self._hold(job, owner, lease, take=False)

    def _hold(self, job: WatchedJob, owner: str, lease: float, *, take: bool) -> bool:
        """Renew ``owner``'s lease on the job; with ``take``, also one that is free or lapsed."""
        with self._lock:
            now = self._monotonic()
            held = self._claims.get(job.key)
            ours = held is not None and held[0] == owner
            if not ours and not (take and (held is None or held[1] <= now)):
                return False
            self._claims[job.key] = (owner, now + lease)
            return True

    def release(self, job: WatchedJob, owner: str, next_due: float) -> None:
        with self._lock:
            held = self._claims.get(job.key)
            if held is None or held[0] != owner:
                return
            del self._claims[job.key]
            if any(watch.job == job for watch in self._watches.values()):
                self._due[job.key] = next_due
            else:
                self._due.pop(job.key, None)

    def live(self) -> int:
        with self._lock:
            return len(self._watches)

    def everything(self) -> list[Watch]:
        with self._lock:
            return list(self._watches.values())
