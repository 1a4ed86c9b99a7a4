"""``Watcher``: starts and stops watches, and keeps every watched card current.

**Polling.** Each watched job is polled once per ``OTABOT_WATCH_INTERVAL``, however many
channels watch it: the job card's two calls (``QueryOTAJob``, ``ListOTATaskByJob``; a
job of more than 100 devices takes more), through the same service, cache and quota
as people's lookups. A poll first takes the job's lease in the store, so one replica
polls it at a time, and gives it back with the next due time, so any replica may take
the next one. A thread renews the leases of polls under way.

**Within the budget.** A poll runs as background work (``fairness.Caller(background=
True)``): behind every person's lookup in the quota's queue. Before it starts it looks
at the quota: with anybody waiting, the next slot not free now, or a lookup let go since
the last look (a quarter of a second ago), it gives way and the job stays due for a
later tick. So a poll only takes a slot nobody was using, and never one in a burst.

**Changes.** A card is edited (``chat.update``) only when the job's status or task
counts changed, or the set of failed devices did; devices that failed since the last
edit are named in a reply in the card's thread, since an edit notifies nobody. When the
job completes or is canceled the card gets a last edit and the watch ends: no further
call. A watch older than ``OTABOT_WATCH_TTL``, or stopped with its button, gets a last
edit too (from the card's stored blocks: no upstream call).

**Slack's faults.** A 429 holds that Web API method for its ``Retry-After``; the edit
waits for the next poll after it. ``message_not_found`` (the card was deleted),
``channel_not_found`` and ``not_in_channel`` end the watch with a log line.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from slack_sdk import WebClient

from otabot.clocks import Monotonic, WallClock, utc_datetime
from otabot.config import Settings
from otabot.iot.errors import IotError, JobNotFoundError, QuotaBusyError
from otabot.iot.models import JobStatus, OtaTask, TaskStatus
from otabot.periodic import repeat
from otabot.query.answers import JobAnswer, products_of
from otabot.query.explain import explain
from otabot.query.queries import WatchQuery
from otabot.service import FailedLookup, JobResult, TasksResult
from otabot.service.fairness import BACKGROUND_CLASS, CALLER, Caller
from otabot.service.lookups import JobLookup
from otabot.service.quota import QuotaLimiter
from otabot.slack import ids
from otabot.slack.access import Requester, product_refusal
from otabot.slack.blocks import error_message, refusal_message
from otabot.slack.listeners import audit
from otabot.slack.replies import WatchReply
from otabot.watch import render
from otabot.watch.posting import ChannelPoster, Pauses, Posted
from otabot.watch.records import Ending, Watch, WatchedJob, watch_id
from otabot.watch.store import Reserved, StoreUnavailable, WatchStore

logger = logging.getLogger(__name__)

WATCH_USER = "otabot-watch"  # whom the quota's fair queue sees polls as
JOB_CARD_ACTIONS = ("QueryOTAJob", "ListOTATaskByJob")
# A quota whose next slot is further off than this is busy: polls give way. Zero: a poll
# starts only while its quotas are idle, so it never takes a slot a person was about to.
GIVE_WAY_AFTER = 0.0
# A job of at most this many devices brings its failed list along with its counts.
SMALL_JOB = 100
DUE_PER_TICK = 100
TICK_SECONDS = 0.25
# A Web API call at shutdown is only started with at least this long left.
SLACK_CALL_SECONDS = 5.0


class WatchLookups(Protocol):
    """What watching needs of ``OtaService``."""

    def job(self, lookup: JobLookup, refresh: bool = False) -> JobResult: ...

    def failed(self, lookup: FailedLookup, refresh: bool = False) -> TasksResult: ...


@dataclass(frozen=True)
class Polled:
    """One poll of a job: its card's answer, its failed tasks (None: not fetched, as the
    counts of a large job did not change) and the fingerprint a change is judged by."""

    answer: JobAnswer
    failed: tuple[OtaTask, ...] | None
    fingerprint: str

    @property
    def ending(self) -> Ending | None:
        status = self.answer.result.job.status
        if status == JobStatus.COMPLETED:
            return Ending.COMPLETED
        if status == JobStatus.CANCELED:
            return Ending.CANCELED
        return None


class Watcher:
    """The watches of this replica's Slack app: ``start()``, ``stop(deadline)``, ``live()``."""

    def __init__(
        self,
        settings: Settings,
        service: WatchLookups,
        store: WatchStore,
        poster: ChannelPoster,
        *,
        limiter: QuotaLimiter | None = None,
        replica: str | None = None,
        wall_clock: WallClock = time.time,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._settings = settings
        self._service = service
        self._store = store
        self._poster = poster
        self._limiter = limiter
        self.replica = replica or uuid.uuid4().hex[:12]
        self._wall = wall_clock
        self._monotonic = monotonic
        self.interval = settings.watch_interval
        # A dead replica's poll under way is taken over within one interval.
        self.lease = settings.watch_interval
        # Short, so polls that gave way find the next idle moment soon.
        self.tick_seconds = min(TICK_SECONDS, settings.watch_interval / 5)
        self._lock = threading.Lock()
        self._held: set[WatchedJob] = set()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._seen_attempts = -1  # the quota's attempts at the last look (-1: not looked yet)

    @classmethod
    def from_settings(cls, settings: Settings, service: WatchLookups, client: WebClient) -> Watcher:
        """Watches in Redis when ``OTABOT_REDIS_URL`` is set (over the service's own link:
        one connection pool, one warning when Redis goes away), else in this process."""
        from otabot.service.redis_store import RedisLink, connect
        from otabot.watch.redis_watches import RedisPauses, RedisWatchStore
        from otabot.watch.store import MemoryWatchStore

        store: WatchStore
        pauses: Pauses | None = None
        if settings.redis_url:
            link = getattr(service, "redis_link", None)
            if not isinstance(link, RedisLink):
                link = RedisLink(connect(settings.redis_url))
            store = RedisWatchStore(link, namespace=settings.quota_account)
            pauses = RedisPauses(link, namespace=settings.quota_account)
        else:
            store = MemoryWatchStore()
        poster = ChannelPoster(
            WebClient(
                token=client.token, base_url=client.base_url, timeout=int(SLACK_CALL_SECONDS)
            ),
            pauses=pauses,
        )
        limiter = getattr(service, "limiter", None)
        return cls(settings, service, store, poster, limiter=limiter)

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> Watcher:
        self._threads = [
            threading.Thread(target=self._run, name="otabot-watch", daemon=True),
            threading.Thread(target=self._keep_leases, name="otabot-watch-leases", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, deadline: float) -> None:
        """Stop polling and hand the jobs on, returning before ``deadline`` (monotonic).

        With Redis the watches stay there and the polls under way are released as due
        now, so another replica takes them at once. Without Redis the watches end with
        this process: each card gets a last edit saying so, while time allows.
        """
        self._stopping.set()
        for thread in self._threads:
            thread.join(max(0.0, deadline - self._monotonic()))
        if not self._store.shared:
            for watch in self._store.everything():
                if deadline - self._monotonic() < SLACK_CALL_SECONDS:
                    break
                self._finish(watch.ended(Ending.SHUTDOWN))
        with self._lock:
            held, self._held = list(self._held), set()
        for job in held:
            self._store.release(job, self.replica, self._wall())

    def live(self) -> int:
        """Watches live now (for metrics): every replica's, with Redis."""
        return self._store.live()

    def is_watched(self, job_id: str) -> bool:
        return any(watch.job_id == job_id for watch in self._store.everything())

    def _run(self) -> None:
        failed = "a round of watch polls failed; trying again"
        repeat(self.tick, self.tick_seconds, self._stopping, log=logger, failed=failed)

    def _keep_leases(self) -> None:
        repeat(
            self._extend_leases,
            self.lease / 3,
            self._stopping,
            log=logger,
            failed="could not extend the leases of watched jobs; trying again",
        )

    def _extend_leases(self) -> None:
        with self._lock:
            held = list(self._held)
        for job in held:
            if not self._store.extend(job, self.replica, self.lease):
                logger.warning("lost the lease on watched job %s", job.key)

    # --- starting and stopping a watch (the Slack listeners) ------------------------------

    def begin(self, requester: Requester, query: WatchQuery) -> WatchReply:
        """Post the job card in the requester's channel and keep it current."""
        if not requester.channel_id:
            return WatchReply(render.NO_CHANNEL, "no_channel")
        now = self._wall()
        watch = Watch(
            channel=requester.channel_id,
            job_id=query.job_id,
            instance=query.instance,
            product_key=query.product_key,
            team=requester.team_id,
            user=requester.user_id,
            started_at=now,
            expires_at=now + self._settings.watch_ttl,
        )
        reserved = self._store.reserve(watch, limit=self._settings.max_watches, now=now)
        if reserved.outcome is Reserved.EXISTING:
            assert reserved.watch is not None
            found = reserved.watch
            link = self._poster.permalink(found.channel, found.ts)
            return WatchReply(render.already_watched(found, link), "already_watched")
        if reserved.outcome is not Reserved.RESERVED:
            return _not_reserved(reserved.outcome, reserved.live)
        try:
            return self._post(watch, now)
        except BaseException:
            self._store.cancel(watch)
            raise

    def _post(self, watch: Watch, now: float) -> WatchReply:
        try:
            polled = self._poll(watch.job, watch.product_key, shown=set())
        except IotError as error:
            self._store.cancel(watch)
            # Said of the watch as typed: its Retry watches again rather than looks up.
            reply = error_message(explain(error, watch.job_query), watch.query, ids.ACTION_WATCH)
            return WatchReply(reply, f"error:{error.code or type(error).__name__}")
        refused = self._refusal(polled)
        if refused is not None:
            self._store.cancel(watch)
            return WatchReply(refusal_message(refused), "refused")
        if polled.ending is not None:
            self._store.cancel(watch)
            status = polled.answer.result.job.status.value
            return WatchReply(render.job_finished(watch, status), "job_finished")
        watch = self._showing(watch, polled, now)
        # The card's buttons name the job's product, so a click is checked against the
        # allowed products before any call, even when the watch was asked without it.
        product = watch.product_key or polled.answer.result.job.product_key or None
        watch = replace(watch, failed=_names(polled.failed or ()), product_key=product)
        posted = self._poster.post(
            watch.channel, render.live_message(watch, interval=self.interval)
        )
        if not posted.ok or not posted.ts:
            self._store.cancel(watch)
            return WatchReply(
                render.not_posted(posted.error, posted.retry_after), f"slack:{posted.error}"
            )
        watch = replace(watch, ts=posted.ts)
        if not self._store.activate(watch, due=now + self.interval):
            logger.warning("a second card watches job %s in %s", watch.job_id, watch.channel)
        origin = polled.answer.provenance
        return WatchReply(None, "watching", origin.upstream_calls, origin.from_cache)

    def end(self, requester: Requester, query: WatchQuery) -> WatchReply:
        """Stop watching (the card's button): its last edit says who stopped it."""
        job = WatchedJob(query.job_id, query.instance)
        try:
            watch = self._store.find(watch_id(requester.channel_id or "", job))
        except StoreUnavailable:  # not "no longer watched": it may well be, and go on
            return WatchReply(render.UNAVAILABLE, "store_unavailable")
        if watch is None:
            return WatchReply(render.NOT_WATCHED, "not_watched")
        self._finish(watch.ended(Ending.STOPPED, requester.user_id))
        return WatchReply(None, "stopped")

    # --- one round of polls ---------------------------------------------------------

    def tick(self) -> None:
        """Poll every job that is due (a test calls this with fake clocks, no thread)."""
        now = self._wall()
        for job in self._store.due(now, DUE_PER_TICK):
            if self._stopping.is_set() or self._busy():
                return  # the rest stay due: a later tick takes them
            if not self._store.claim(job, self.replica, self.lease):
                continue
            with self._lock:
                self._held.add(job)
            next_due = now + self.interval
            try:
                next_due = self._serve(job)
            except Exception:
                logger.exception("watching job %s failed; trying again next interval", job.key)
            finally:
                with self._lock:
                    self._held.discard(job)
                self._store.release(job, self.replica, next_due)
                self._seen_attempts = self._attempts()  # the poll's own attempts are no sign

    def _busy(self) -> bool:
        """Whether people's lookups use the job card's quotas now: then polls give way.

        Busy: anybody waits for them (in any replica), or their next slot is not free now,
        or this process let an attempt go since the last look (a person between two
        lookups of a burst leaves the quota idle for a moment: not for a poll to take).
        """
        if self._limiter is None:
            return False
        attempts = self._attempts()
        recent, self._seen_attempts = attempts != self._seen_attempts, attempts
        if recent:
            return True
        for action in JOB_CARD_ACTIONS:
            quota = self._limiter.scheduler(action).quota
            ahead, next_wait = quota.ahead(WATCH_USER, BACKGROUND_CLASS)
            if ahead > 0 or next_wait > GIVE_WAY_AFTER:
                return True
        return False

    def _attempts(self) -> int:
        """Attempts this process's quota let go for the job card's actions, so far."""
        if self._limiter is None:
            return 0
        counters = self._limiter.counters
        return sum(counters.count("attempts", action=action) for action in JOB_CARD_ACTIONS)

    def _serve(self, job: WatchedJob) -> float:
        """Finish the job's ended watches, poll it for the others; its next due time."""
        now = self._wall()
        waits: list[float] = []
        live: list[Watch] = []
        for watch in self._store.watches_of(job):
            if watch.ending is None and watch.expires_at <= now:
                watch = watch.ended(Ending.EXPIRED)
            if watch.ending is None:
                live.append(watch)
            elif (wait := self._finish(watch)) is not None:
                waits.append(wait)
        next_due = now
        if live:
            next_due = now + self.interval
            shown = {watch.shown for watch in live}
            try:
                polled = self._poll_in_background(job, live[0].product_key, shown)
            except QuotaBusyError:
                return now + self.tick_seconds  # gave way to people's lookups
            except JobNotFoundError:
                for watch in live:
                    self._finish(watch.ended(Ending.GONE))
                return now
            except IotError as error:
                logger.warning("could not poll watched job %s: %s", job.key, error.code or error)
                return next_due
            refused = self._refusal(polled)
            for watch in live:
                if refused is not None:
                    wait = self._finish(watch.ended(Ending.REFUSED))
                else:
                    wait = self._update(watch, polled)
                if wait is not None:
                    waits.append(wait)
        if waits:
            next_due = max(next_due, now + max(waits))
        return next_due

    # --- a poll ---------------------------------------------------------------------

    def _poll_in_background(self, job: WatchedJob, product: str | None, shown: set[str]) -> Polled:
        token = CALLER.set(Caller(WATCH_USER, background=True))
        try:
            return self._poll(job, product, shown)
        finally:
            CALLER.reset(token)

    def _poll(self, job: WatchedJob, product: str | None, shown: set[str]) -> Polled:
        """The job card, from the cache while it is fresh enough; the failed tasks when they
        come free or the counts changed."""
        query = WatchQuery(job.job_id, product, job.instance).job()
        answer = JobAnswer(query, self._service.job(query.lookup()))
        now = utc_datetime(self._wall())
        if answer.provenance.age_seconds(now) > self.interval / 2:
            answer = JobAnswer(query, self._service.job(query.lookup(), refresh=True))
        fingerprint = render.fingerprint(answer)
        counts = answer.result.counts.value
        failed: tuple[OtaTask, ...] | None = ()
        if counts is not None and counts.by_status.get(TaskStatus.FAILED.value):
            if counts.total <= SMALL_JOB or shown != {fingerprint}:
                failed = self._failed(job, answer)
            else:
                failed = None
        return Polled(answer, failed, fingerprint)

    def _failed(self, job: WatchedJob, answer: JobAnswer) -> tuple[OtaTask, ...]:
        lookup = FailedLookup(job.job_id, job.instance)
        listed = self._service.failed(lookup)
        if listed.provenance.fetched_at < answer.provenance.fetched_at:
            listed = self._service.failed(lookup, refresh=True)
        return listed.tasks

    def _refusal(self, polled: Polled) -> str | None:
        for product in sorted(products_of(polled.answer)):
            reason = product_refusal(self._settings, product)
            if reason is not None:
                return reason
        return None

    # --- the card -------------------------------------------------------------------

    def _showing(self, watch: Watch, polled: Polled, now: float) -> Watch:
        """The watch with the card it will show for this poll."""
        card, text = render.card_blocks(polled.answer, utc_datetime(now))
        return replace(watch, shown=polled.fingerprint, card=card, text=text)

    def _update(self, watch: Watch, polled: Polled) -> float | None:
        """Edit the card if the job changed, name newly failed devices in its thread; the
        seconds to wait before trying again when Slack asked otabot to wait."""
        named = watch.failed if polled.failed is None else _names(polled.failed)
        ending = polled.ending
        if watch.shown == polled.fingerprint and set(named) == set(watch.failed) and not ending:
            return None
        showing = replace(self._showing(watch, polled, self._wall()), failed=named)
        if ending is not None:
            message = render.ended_message(showing.ended(ending), now=utc_datetime(self._wall()))
        else:
            message = render.live_message(showing, interval=self.interval)
        if self._stopping.is_set() and self._store.shared:
            return None  # handed on: the next replica edits
        try:
            if self._store.find(watch.id) != watch:
                return None  # stopped (or changed) while this poll ran: not ours to edit
        except StoreUnavailable:
            return None  # whether it was stopped meanwhile is not known: a later poll edits
        edited = self._poster.update(watch.channel, watch.ts, message)
        if not edited.ok:
            return self._not_edited(watch, edited)
        new = render.newly_failed(watch, polled.failed or ())
        if new:
            told = self._poster.post(
                watch.channel, render.failed_reply(new, len(named)), thread_ts=watch.ts
            )
            if not told.ok:
                showing = replace(showing, failed=watch.failed)  # named again next time
                if told.ends_watch:
                    return self._not_edited(watch, told)
        if ending is not None:
            if self._store.remove(showing):
                self._audit_end(showing, ending.value)
            return None
        self._store.save(showing)
        return None

    def _finish(self, watch: Watch) -> float | None:
        """The last edit of an ended watch, then forget it; the wait when Slack said wait."""
        assert watch.ending is not None
        edited = self._poster.update(
            watch.channel, watch.ts, render.ended_message(watch, now=utc_datetime(self._wall()))
        )
        if not edited.ok and not edited.ends_watch:
            self._store.save(watch)  # the ending is kept: a later poll makes the edit
            return edited.retry_after or self.interval
        if self._store.remove(watch) and watch.ending is not Ending.STOPPED:
            self._audit_end(watch, watch.ending.value)
        return None

    def _not_edited(self, watch: Watch, posted: Posted) -> float | None:
        if not posted.ends_watch:
            return posted.retry_after  # None: a failure that the next poll may not have
        logger.warning(
            "stopped watching job %s in channel %s: Slack says %s",
            watch.job_id,
            watch.channel,
            posted.error,
        )
        if self._store.remove(watch):
            self._audit_end(watch, f"slack:{posted.error}")
        return None

    def _audit_end(self, watch: Watch, outcome: str) -> None:
        audit(
            Requester(watch.team, watch.channel, watch.user),
            action="watch_ended",
            query=render.watch_text(watch),
            outcome=outcome,
        )


def _names(tasks: Sequence[OtaTask]) -> tuple[str, ...]:
    return tuple(sorted({task.device_name for task in tasks}))


def _not_reserved(outcome: Reserved, live: int) -> WatchReply:
    if outcome is Reserved.FULL:
        return WatchReply(render.full(live), "full")
    if outcome is Reserved.PENDING:
        return WatchReply(render.PENDING, "pending")
    return WatchReply(render.UNAVAILABLE, "store_unavailable")
