"""Who goes next when lookups wait for the same quota: the fairness rule, in one place.

**The rule.** Every attempt waiting for an action's quota gets a *turn*: the turn after
the same person's previous attempt, and never earlier than the turn being served now.
Attempts go in order of turn, then arrival. So each person's next lookup comes before
anyone's one after it, however many a script queued first: ten people with twenty
lookups each are served round-robin, and an eleventh person's lookup joins the round
being served, behind at most one lookup of each of the others. An attempt that continues
a lookup already under way (the second call of a job card) joins the round being served
too, so a card that needs several calls is not sent to the back between them.
Background work (watch polls) goes after every person's lookup. One person may have at
most ``MAX_WAITING_PER_USER`` attempts waiting per action: far more than anyone types,
few enough that a runaway script cannot fill the queue (lookups with no Slack user, from
the CLI, are one operator's and not capped). In Redis the same rule runs in
one Lua script for every replica (``otabot.service.redis_store``); ``FairQueue`` is this
process's copy of it.

``CALLER`` says, for the code that calls the quota, who asked: the Slack layer sets it
around each lookup (the CLI leaves the default).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field

MAX_WAITING_PER_USER = 50
ANONYMOUS = "-"  # no Slack user (the CLI, a bench): one operator, never capped
BACKGROUND_CLASS = 1  # watch polls and other work nobody is waiting for
INTERACTIVE_CLASS = 0


@dataclass
class Caller:
    """Who an interaction is for. ``admitted`` counts the attempts already let go, so later
    calls of the same lookup continue its turn."""

    user: str = ANONYMOUS
    background: bool = False
    admitted: int = 0

    @property
    def priority(self) -> int:
        return BACKGROUND_CLASS if self.background else INTERACTIVE_CLASS


CALLER: ContextVar[Caller | None] = ContextVar("otabot_caller", default=None)


def current_caller() -> Caller:
    """The caller set for this interaction, or an anonymous interactive one."""
    caller = CALLER.get()
    if caller is None:
        caller = Caller()
        CALLER.set(caller)
    return caller


_ids = itertools.count(1)


@dataclass
class Ticket:
    """One attempt waiting for its action's slot; its thread blocks on ``granted``."""

    action: str
    user: str
    priority: int
    continuation: bool
    deadline: float  # monotonic
    id: str = field(default_factory=lambda: f"t{next(_ids)}")
    granted: threading.Event = field(default_factory=threading.Event)
    slot: object | None = None  # the backend's reservation, once granted


class TooManyWaiting(Exception):
    """This user already has ``MAX_WAITING_PER_USER`` attempts waiting for the action."""

    def __init__(self, waiting: int) -> None:
        super().__init__(f"{waiting} lookups already waiting")
        self.waiting = waiting


class FairQueue:
    """The waiting attempts of one action in this process, in fair order. Thread-safe."""

    def __init__(self, max_per_user: int = MAX_WAITING_PER_USER) -> None:
        self._max_per_user = max_per_user
        self._lock = threading.Lock()
        self._heap: list[tuple[int, int, int, str]] = []  # (priority, turn, arrival, id)
        self._entries: dict[str, tuple[int, int, int, str]] = {}
        self._tickets: dict[str, Ticket] = {}
        self._last_turn: dict[str, int] = {}
        self._waiting: Counter[str] = Counter()
        self._serving = 0  # the turn of the attempt granted last
        self._arrivals = itertools.count()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _turn_for(self, user: str, continuation: bool) -> int:
        if continuation:
            return self._serving
        return max(self._serving, self._last_turn.get(user, 0) + 1)

    def served_at_once(self, user: str) -> None:
        """An attempt of ``user`` went without queueing: it used the user's next turn."""
        with self._lock:
            turn = self._turn_for(user, False)
            self._last_turn[user] = turn
            self._serving = max(self._serving, turn)

    def push(self, ticket: Ticket) -> int:
        """Queue ``ticket``; the number of attempts ahead of it. ``TooManyWaiting`` past the cap."""
        with self._lock:
            if ticket.user != ANONYMOUS and self._waiting[ticket.user] >= self._max_per_user:
                raise TooManyWaiting(self._waiting[ticket.user])
            turn = self._turn_for(ticket.user, ticket.continuation)
            if not ticket.continuation:
                self._last_turn[ticket.user] = turn
            entry = (ticket.priority, turn, next(self._arrivals), ticket.id)
            heapq.heappush(self._heap, entry)
            self._entries[ticket.id] = entry
            self._tickets[ticket.id] = ticket
            self._waiting[ticket.user] += 1
            return sum(1 for other in self._entries.values() if other < entry)

    def ahead_of_new(self, user: str, priority: int) -> int:
        """How many waiting attempts a new one of ``user`` would have ahead of it."""
        with self._lock:
            probe = (priority, self._turn_for(user, False), next(self._arrivals), "")
            return sum(1 for entry in self._entries.values() if entry < probe)

    def peek(self) -> Ticket | None:
        with self._lock:
            self._drop_removed()
            return self._tickets[self._heap[0][3]] if self._heap else None

    def pop(self, ticket_id: str) -> Ticket | None:
        """Take ``ticket_id`` out as granted (its turn becomes the turn being served)."""
        with self._lock:
            entry = self._entries.pop(ticket_id, None)
            if entry is None:
                return None
            self._serving = max(self._serving, entry[1])
            return self._forget(ticket_id)

    def remove(self, ticket_id: str) -> Ticket | None:
        """Take ``ticket_id`` out without serving it (it gave up, or moved elsewhere)."""
        with self._lock:
            if self._entries.pop(ticket_id, None) is None:
                return None
            return self._forget(ticket_id)

    def tickets(self) -> list[Ticket]:
        """Every waiting ticket, in the order they would be served."""
        with self._lock:
            return [self._tickets[entry[3]] for entry in sorted(self._entries.values())]

    def _forget(self, ticket_id: str) -> Ticket:
        ticket = self._tickets.pop(ticket_id)
        self._waiting[ticket.user] -= 1
        if self._waiting[ticket.user] <= 0:
            del self._waiting[ticket.user]
        # A person whose last turn is long behind the one being served counts as new.
        if self._last_turn.get(ticket.user, 0) < self._serving:
            self._last_turn.pop(ticket.user, None)
        self._drop_removed()
        return ticket

    def _drop_removed(self) -> None:
        while self._heap and self._heap[0][3] not in self._entries:
            heapq.heappop(self._heap)
