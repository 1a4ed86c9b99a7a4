"""Lookups that must wait for the IoT API: each on a thread of its own, the person told.

A lookup whose answer is cached is answered at once on the listener pool. One that
needs the API would hold a pool worker for as long as it waits for its quota turn, and
cached answers, page turns and acks would queue behind it; so it is handed to
``DeferredLookups``, which runs it on a thread of its own (parked on its quota ticket,
costing nothing while it waits) and returns at once.

Whoever waits is told: a slash command whose estimate is long says so in its ack (the
answer follows as a second message: a command's response_url cannot replace its ack),
and any lookup still unanswered ``notice_after`` seconds after it began, and not told
yet, gets a notice then — a new message for a command, the clicked card replaced for a
button. When otabot stops, what cannot be answered before the drain deadline is told
"otabot is restarting — run it again" instead of being lost.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from otabot.clocks import Monotonic
from otabot.operations import DaemonPool
from otabot.slack.blocks import Message, notice_message
from otabot.slack.responder import ResponseUrlPoster

logger = logging.getLogger(__name__)

# A lookup expected to wait longer than this is told so at once (in the ack, or a notice).
TELL_AFTER = 2.0
# One not told, and still unanswered this long after it began, is told then: a second
# early, so that a notice held up on a busy machine still arrives within 3 s.
NOTICE_AFTER = 2.0
# Lookups one replica lets wait at once; past it a lookup is refused in words.
MAX_PENDING = 1000
# A stopping replica keeps this long before its deadline to tell the unanswered.
TELLING_RESERVE = 3.0
# Restart notices posted at once.
MAX_TELLING = 32
RESTARTING = "otabot is restarting — run it again in a moment."
TOO_BUSY = "otabot has {pending} lookups waiting for the IoT API already — try again in a minute."


def queued_words(seconds: float) -> str:
    """What someone waiting is told: that it is queued, and roughly for how long."""
    wait = max(1, round(seconds))
    return (
        f"Queued for the IoT API — about {wait} s (it is busy; otabot shares its quota "
        "fairly between everyone asking). The answer will follow here."
    )


def waiting_words(queued_for: float) -> str:
    """What a lookup still unanswered at its notice time is told: queued for its quota
    turn, or (no turn to wait for) waiting on the API itself, slow or being retried."""
    if queued_for >= 1:
        return queued_words(queued_for)
    return (
        "Still waiting for the IoT API: it is slow to answer, or otabot is trying again "
        "after a failed call. The answer will follow here."
    )


@dataclass(eq=False)
class Pending:
    """One deferred lookup: where its answer goes, whether its person knows it waits."""

    response_url: str
    replace: bool  # a click on a card that the answer replaces (else: a new message)
    estimate: Callable[[], float]
    started: float
    told: bool = False
    done: bool = False
    abandoned: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    posting: threading.Lock = field(default_factory=threading.Lock)  # one post at a time


class Delivery:
    """How a deferred lookup posts: at most once, and never after it was abandoned."""

    def __init__(self, pending: Pending, poster: ResponseUrlPoster) -> None:
        self._pending = pending
        self._poster = poster

    def post(self, message: Message, **options: Any) -> bool:
        with self._pending.posting:
            with self._pending.lock:
                if self._pending.abandoned:
                    return False
                self._pending.done = True
            return self._poster.post(self._pending.response_url, message, **options)


class DeferredLookups:
    """Runs lookups that need the API on threads of their own; tells who waits."""

    def __init__(
        self,
        poster: ResponseUrlPoster,
        *,
        monotonic: Monotonic = time.monotonic,
        notice_after: float = NOTICE_AFTER,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._poster = poster
        self._monotonic = monotonic
        self._notice_after = notice_after
        self._max_pending = max_pending
        self._lock = threading.Condition()
        self._pending: set[Pending] = set()
        self._stopping = False
        self._told_in_ack: dict[str, float] = {}
        self._notices: list[tuple[float, int, Pending]] = []
        self._order = itertools.count()
        self._noticer: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Deferred lookups not answered yet."""
        with self._lock:
            return len(self._pending)

    def told_in_ack(self, response_url: str) -> None:
        """The ack of this command already said the lookup is queued."""
        with self._lock:
            now = self._monotonic()
            self._told_in_ack[response_url] = now
            # A command's lazy half follows its ack within moments: forget old ones.
            for url, at in list(self._told_in_ack.items()):
                if now - at > 60:
                    del self._told_in_ack[url]

    def submit(
        self,
        work: Callable[[Delivery], None],
        *,
        response_url: str,
        replace: bool,
        estimate: Callable[[], float],
        name: str,
    ) -> str | None:
        """Run ``work`` on its own thread; None, or the words to answer with instead
        (otabot is stopping, or too many lookups wait already)."""
        with self._lock:
            if self._stopping:
                return RESTARTING
            if len(self._pending) >= self._max_pending:
                return TOO_BUSY.format(pending=len(self._pending))
            told = self._told_in_ack.pop(response_url, None) is not None
            pending = Pending(response_url, replace, estimate, self._monotonic(), told)
            self._pending.add(pending)
            heapq.heappush(
                self._notices, (pending.started + self._notice_after, next(self._order), pending)
            )
            if self._noticer is None:
                self._noticer = threading.Thread(
                    target=self._tell_the_waiting, name="otabot-notices", daemon=True
                )
                self._noticer.start()
            self._lock.notify_all()
        thread = threading.Thread(
            target=self._run, args=(work, pending), name=f"otabot-{name}", daemon=True
        )
        thread.start()
        return None

    def _run(self, work: Callable[[Delivery], None], pending: Pending) -> None:
        try:
            work(Delivery(pending, self._poster))
        except Exception:
            logger.exception("a deferred lookup failed unexpectedly")
        finally:
            with pending.lock:
                pending.done = True  # answered, or answered elsewhere (a watched card)
            with self._lock:
                self._pending.discard(pending)
                self._lock.notify_all()

    def _tell_the_waiting(self) -> None:
        """The notice thread: tells each lookup still waiting at its notice time."""
        while True:
            with self._lock:
                while True:
                    if not self._notices or self._stopping:
                        self._noticer = None
                        return
                    due, _, pending = self._notices[0]
                    wait = due - self._monotonic()
                    if wait <= 0:
                        heapq.heappop(self._notices)
                        break
                    self._lock.wait(wait)
            self._notify(pending)

    def _notify(self, pending: Pending) -> None:
        try:
            queued_for = pending.estimate()
        except Exception:
            logger.exception("could not estimate a waiting lookup")
            queued_for = 0.0
        # Holding the posting lock, the answer waits for the notice: a notice that
        # replaces a card must never land after the answer that replaces it.
        with pending.posting:
            with pending.lock:
                if pending.done or pending.told or pending.abandoned:
                    return
                pending.told = True
            self._poster.post(
                pending.response_url,
                notice_message(waiting_words(queued_for)),
                replace_original=pending.replace,
            )

    def wait_idle(self, deadline: float) -> bool:
        """Wait until no lookup is pending, or ``deadline`` (monotonic); True when idle."""
        with self._lock:
            while self._pending and self._monotonic() < deadline:
                self._lock.wait(max(0.0, min(deadline - self._monotonic(), 0.5)))
            return not self._pending

    def stop(self, deadline: float) -> int:
        """Take no more; wait for the lookups in flight until shortly before ``deadline``
        (monotonic), then tell the ones still unanswered, all at once, that otabot is
        restarting, so that every word is posted by the deadline. Returns how many were told."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        reserve = min(TELLING_RESERVE, max(0.0, deadline - self._monotonic()) / 2)
        self.wait_idle(deadline - reserve)
        with self._lock:
            left = list(self._pending)
        abandoned = []
        for pending in left:
            with pending.lock:
                if pending.done:
                    continue
                pending.abandoned = True
            abandoned.append(pending)
        if abandoned:
            self._tell_restarting(abandoned, deadline)
            logger.warning("told %d unanswered lookups that otabot is restarting", len(abandoned))
        # Answers being posted as the deadline came are not cut off by the exit.
        with self._lock:
            self._lock.wait_for(
                lambda: all(pending.abandoned for pending in self._pending),
                max(0.0, deadline - self._monotonic()),
            )
        return len(abandoned)

    def _tell_restarting(self, abandoned: list[Pending], deadline: float) -> None:
        """Post the restart notice to each abandoned lookup in parallel, within the deadline."""
        timeout = max(1.0, deadline - self._monotonic())
        message = notice_message(RESTARTING)
        pool = DaemonPool(min(MAX_TELLING, len(abandoned)), "otabot-restarting")
        for pending in abandoned:
            pool.submit(
                self._poster.post,
                pending.response_url,
                message,
                replace_original=pending.replace,
                timeout=timeout,
            )
        if not pool.drain(max(0.0, deadline - self._monotonic())):
            logger.warning("some restart notices were still being posted at the deadline")
