"""Redis, shared by every replica: the quota, the L2 result cache and the fetch locks.

Everything here degrades instead of failing. ``RedisLink`` tracks whether Redis is
usable: the first failure logs ONE warning and switches every user of the link to its
local fallback; while degraded, one caller probes Redis again every ``retry_interval``
seconds, and the first success logs one info line and switches back.

While degraded, each replica limits itself to ``qps / N`` where ``N`` is the number of
replicas it last saw registered in Redis (each replica heartbeats into a sorted set on
every quota reservation; entries older than 30 s do not count). A replica that never
reached Redis uses the whole ``qps``: it cannot know of others.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock
from redis.retry import Retry

from otabot.clocks import Monotonic
from otabot.counters import Counters
from otabot.service.quota import (
    DEFAULT_MARGIN,
    FIRST_PAUSE,
    MAX_PAUSE,
    MemoryQuota,
    Reservation,
    busy_error,
    capacity_and_window,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

KEY_PREFIX = "otabot"
HEARTBEAT_SECONDS = 30.0

# Times are integer microseconds of Redis's own clock (TIME), so every replica shares one
# clock; string.format('%.0f') keeps 16-digit numbers exact (tostring would round them).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local capacity = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
redis.call('ZADD', KEYS[3], string.format('%.0f', now), ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('%.0f', now - tonumber(ARGV[6])))
redis.call('PEXPIRE', KEYS[3], math.ceil(tonumber(ARGV[6]) / 1000))
local replicas = redis.call('ZCARD', KEYS[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
-- Back from the local fallback: the attempts it let go (ages in ARGV[7..]) count here too.
for i = 7, #ARGV do
  local at = string.format('%.0f', now - tonumber(ARGV[i]))
  local member = ARGV[5] .. ':local:' .. at .. ':' .. i
  redis.call('ZADD', KEYS[1], at, member)
  redis.call('ZADD', KEYS[4], at, member)
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  redis.call('PEXPIRE', KEYS[4], math.ceil(window / 1000) + 1000)
end
local slot = now
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > slot then slot = paused end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  local paced = tonumber(last[2]) + window / capacity
  if paced > slot then slot = paced end
end
if redis.call('ZCARD', KEYS[1]) >= capacity then
  local kth = redis.call('ZRANGE', KEYS[1], -capacity, -capacity, 'WITHSCORES')
  local earliest = tonumber(kth[2]) + window
  if earliest > slot then slot = earliest end
end
local wait = slot - now
if max_wait >= 0 and wait > max_wait then
  return {0, string.format('%.0f', wait), replicas, string.format('%.0f', slot)}
end
redis.call('ZADD', KEYS[1], string.format('%.0f', slot), ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil((wait + window) / 1000) + 1000)
return {1, string.format('%.0f', wait), replicas, string.format('%.0f', slot)}
"""

# The times attempts were really let go (a late waker may not crowd the next window).
_CONFIRM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local capacity = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local sent_at = math.max(now, tonumber(ARGV[3]))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', sent_at - window))
if redis.call('ZCARD', KEYS[1]) >= capacity then
  local kth = redis.call('ZRANGE', KEYS[1], -capacity, -capacity, 'WITHSCORES')
  local earliest = tonumber(kth[2]) + window
  if earliest > sent_at then return string.format('%.0f', earliest - now) end
end
redis.call('ZADD', KEYS[1], string.format('%.0f', sent_at), ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
return '0'
"""

_REPORT = """
if ARGV[1] == '0' then
  redis.call('DEL', KEYS[2])
  return '0'
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
-- Throttling during a pause answers attempts sent before it: the same episode.
if now < tonumber(redis.call('GET', KEYS[1]) or '0') then return string.format('%.0f', pause) end
if pause == 0 then pause = tonumber(ARGV[2]) else pause = math.min(tonumber(ARGV[3]), pause * 2) end
redis.call('SET', KEYS[2], string.format('%.0f', pause), 'PX', 60000)
redis.call('SET', KEYS[1], string.format('%.0f', now + pause), 'PX', math.ceil(pause / 1000) + 1000)
return string.format('%.0f', pause)
"""

# A result replaces the stored one only if it is not older (KEYS[2] holds the stored one's
# time, in microseconds, with the same ttl): a slow fetch must not bring back older jobs.
_PUT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  local stored = tonumber(redis.call('GET', KEYS[2]) or '')
  if stored and stored > tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return 1
"""


def connect(url: str, *, timeout: float = 0.5) -> redis.Redis:
    """A client with short timeouts, so an unreachable Redis costs half a second, not a hang."""
    # One try per command: RedisLink decides when to try again, not the client's retry loop.
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=15,
        retry=Retry(NoBackoff(), 0),
    )


def describe(client: redis.Redis) -> str:
    """``host:port/db`` of a client, never its password."""
    kwargs: dict[str, Any] = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


class RedisLink:
    """Whether Redis is usable right now; logs the transitions, once each.

    ``attempt`` is the one way every Redis user calls it: skip while degraded (but for
    the periodic probe), note a failure or a success, and fall back on failure.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        monotonic: Monotonic = time.monotonic,
        retry_interval: float = 5.0,
    ) -> None:
        self.client = client
        self._monotonic = monotonic
        self._retry_interval = retry_interval
        self._lock = threading.Lock()
        self._degraded = False
        self._retry_at = 0.0
        self._counters = Counters("redis_failures")

    @property
    def degraded(self) -> bool:
        with self._lock:
            return self._degraded

    @property
    def failures(self) -> int:
        return self._counters.count("redis_failures")

    def attempt(self, operation: Callable[[redis.Redis], T], fallback: T) -> T:
        """``operation(client)``, or ``fallback`` when Redis is unusable or the call fails."""
        if not self.usable():
            return fallback
        try:
            result = operation(self.client)
        except redis.RedisError as error:
            self.failed(error)
            return fallback
        self.succeeded()
        return result

    def usable(self) -> bool:
        """True when Redis should be tried: healthy, or this caller's turn to probe it."""
        with self._lock:
            if not self._degraded:
                return True
            now = self._monotonic()
            if now < self._retry_at:
                return False
            self._retry_at = now + self._retry_interval
            return True

    def failed(self, error: redis.RedisError) -> None:
        self._counters.add("redis_failures")
        with self._lock:
            self._retry_at = self._monotonic() + self._retry_interval
            if self._degraded:
                logger.debug("Redis still unavailable: %s", error)
                return
            self._degraded = True
        logger.warning(
            "Redis at %s unavailable (%s: %s): serving with the local quota and cache, "
            "retrying every %g s",
            describe(self.client),
            type(error).__name__,
            error,
            self._retry_interval,
        )

    def succeeded(self) -> None:
        with self._lock:
            if not self._degraded:
                return
            self._degraded = False
        logger.info("Redis at %s is back: quota and cache are shared again", describe(self.client))


@dataclass(frozen=True)
class QuotaKeys:
    """The Redis keys of one action's quota. One hash tag per account, so the scripts'
    keys share a slot on Redis Cluster too; ``replicas`` is the account's, not the action's."""

    slots: str  # reservations: slot times (sorted set)
    sent: str  # when attempts were really let go (sorted set)
    paused_until: str  # the collective back-off's end
    pause: str  # the back-off's current step
    replicas: str  # replicas seen lately (sorted set of heartbeats)

    @classmethod
    def of(cls, account: str, action: str) -> QuotaKeys:
        base = f"{KEY_PREFIX}:quota:{{{account}}}"
        return cls(
            slots=f"{base}:{action}",
            sent=f"{base}:{action}:sent",
            paused_until=f"{base}:{action}:paused_until",
            pause=f"{base}:{action}:pause",
            replicas=f"{base}:replicas",
        )


class RedisQuota:
    """One action's quota shared through Redis by every replica; a local share while Redis
    is away."""

    def __init__(
        self,
        link: RedisLink,
        qps: float,
        *,
        account: str,
        action: str,
        replica: str | None = None,
        monotonic: Monotonic = time.monotonic,
        margin: float = DEFAULT_MARGIN,
        first_pause: float = FIRST_PAUSE,
        max_pause: float = MAX_PAUSE,
    ) -> None:
        self._link = link
        self._qps = qps
        self._capacity, window = capacity_and_window(qps, margin)
        self._window_us = round(window * 1_000_000)
        self._first_pause_us = round(first_pause * 1_000_000)
        self._max_pause_us = round(max_pause * 1_000_000)
        self.keys = QuotaKeys.of(account, action)
        self._monotonic = monotonic
        self._last_redis_slot = -math.inf  # local time of this replica's latest Redis slot
        self._replica = replica or uuid.uuid4().hex
        self._seq = itertools.count(1)
        self.replicas_seen = 1
        self.local = MemoryQuota(
            qps, monotonic=monotonic, margin=margin, first_pause=first_pause, max_pause=max_pause
        )
        self._reserve = link.client.register_script(_RESERVE)
        self._confirm = link.client.register_script(_CONFIRM)
        self._report = link.client.register_script(_REPORT)

    def _member(self) -> str:
        return f"{self._replica}:{next(self._seq)}"

    def reserve(self, max_wait: float | None) -> Reservation:
        max_wait_us = -1 if max_wait is None else max(0, round(max_wait * 1_000_000))
        # Returning from the local fallback: Redis must learn what it let go.
        local_sends = self.local.recent_sends() if self._link.degraded else []
        keys = self.keys
        answer = self._link.attempt(
            lambda client: self._reserve(
                keys=[keys.slots, keys.paused_until, keys.replicas, keys.sent],
                args=[
                    self._capacity,
                    self._window_us,
                    max_wait_us,
                    self._member(),
                    self._replica,
                    round(HEARTBEAT_SECONDS * 1_000_000),
                    *(round(age * 1_000_000) for age in local_sends),
                ],
                client=client,
            ),
            None,
        )
        if answer is not None:
            granted, wait_us, replicas, slot_us = answer
            self._note_replicas(int(replicas))
            wait = int(wait_us) / 1_000_000
            if not int(granted):
                raise busy_error(wait, max_wait or 0.0)
            self._last_redis_slot = max(self._last_redis_slot, self._monotonic() + wait)
            return Reservation(wait, int(slot_us) / 1_000_000, in_redis=True)
        # The local share must not crowd the attempts Redis has just let go.
        self.local.not_before(self._last_redis_slot + self._window_us / 1_000_000)
        return self.local.reserve(max_wait)

    def confirm(self, reservation: Reservation) -> float:
        if not reservation.in_redis:
            return self.local.confirm(reservation)
        late_us = self._link.attempt(
            lambda client: self._confirm(
                keys=[self.keys.sent],
                args=[
                    self._capacity,
                    self._window_us,
                    round(reservation.slot * 1_000_000),
                    self._member(),
                ],
                client=client,
            ),
            0,  # granted by Redis, which has gone: its slot stands
        )
        return int(late_us) / 1_000_000

    def _note_replicas(self, replicas: int) -> None:
        replicas = max(1, replicas)
        if replicas != self.replicas_seen:
            self.replicas_seen = replicas
            self.local.set_qps(self._qps / replicas)

    def report(self, throttled: bool) -> None:
        self.local.report(throttled)
        self._link.attempt(
            lambda client: self._report(
                keys=[self.keys.paused_until, self.keys.pause],
                args=["1" if throttled else "0", self._first_pause_us, self._max_pause_us],
                client=client,
            ),
            None,
        )


class RedisCache:
    """The L2 cache and the cross-replica fetch locks, as JSON text in Redis."""

    def __init__(self, link: RedisLink, *, namespace: str = "default") -> None:
        self._link = link
        self._prefix = f"{KEY_PREFIX}:{namespace}"
        self._put = link.client.register_script(_PUT)

    def _entry_key(self, key: str) -> str:
        return f"{self._prefix}:result:{key}"

    def _as_of_key(self, key: str) -> str:
        return f"{self._prefix}:as_of:{key}"

    def lock_key(self, key: str) -> str:
        return f"{self._prefix}:fetching:{key}"

    def get(self, key: str) -> tuple[str, float] | None:
        """The stored text and its remaining seconds to live, or None (absent or no Redis)."""

        def read(client: redis.Redis) -> tuple[Any, Any]:
            pipe = client.pipeline(transaction=False)
            pipe.get(self._entry_key(key))
            pipe.pttl(self._entry_key(key))
            raw, pttl = pipe.execute()
            return raw, pttl

        raw, pttl = self._link.attempt(read, (None, None))
        if raw is None or pttl is None or pttl <= 0:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return text, pttl / 1000

    def put(self, key: str, text: str, ttl: float, *, as_of: datetime) -> bool:
        """Store ``text`` for ``ttl`` seconds unless the stored entry is newer than ``as_of``
        (when its answer was fetched); True when stored, False when kept or Redis failed."""
        if ttl <= 0:
            return False
        stored = self._link.attempt(
            lambda client: self._put(
                keys=[self._entry_key(key), self._as_of_key(key)],
                args=[text, max(1, round(ttl * 1000)), round(as_of.timestamp() * 1_000_000)],
                client=client,
            ),
            0,
        )
        return bool(stored)

    def lock(self, key: str, ttl: float) -> FetchLock:
        """The cross-replica fetch lock for ``key`` (not yet taken)."""
        return FetchLock(self._link, self.lock_key(key), ttl)

    def held(self, key: str) -> bool:
        """Whether some replica holds the fetch lock (False when Redis is unusable)."""
        return bool(self._link.attempt(lambda client: client.exists(self.lock_key(key)), 0))


class FetchLock:
    """redis-py's ``Lock`` for one fetch, degrading with the link: while Redis is away every
    replica fetches for itself. While held, a heartbeat thread ``extend``s it every third
    of its ttl, so the lock can be short (a crashed holder costs waiters at most one ttl)
    while a long fetch still keeps it. ``wait`` (tests) replaces the pause between
    renewals and returns True when the heartbeat should end."""

    def __init__(
        self,
        link: RedisLink,
        name: str,
        ttl: float,
        *,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self._link = link
        self.name = name
        self._ttl = ttl
        # thread_local=False: the heartbeat thread extends the token the fetching thread set.
        self._lock = Lock(link.client, name, timeout=ttl, thread_local=False)
        self._held_in_redis = False
        self._stopped = threading.Event()
        self._wait = wait if wait is not None else self._stopped.wait
        self._heartbeat = threading.Thread(
            target=self._renew, name=f"otabot-fetch-lock-{uuid.uuid4().hex[:8]}", daemon=True
        )

    def acquire(self) -> bool:
        """Take it; also True when Redis is unusable (fetch locally then)."""
        acquired = self._link.attempt(lambda client: self._lock.acquire(blocking=False), None)
        if acquired is None:
            return True
        self._held_in_redis = bool(acquired)
        if self._held_in_redis:
            self._heartbeat.start()
        return self._held_in_redis

    def _extend(self, client: redis.Redis) -> bool:
        try:
            return bool(self._lock.extend(self._ttl, replace_ttl=True))
        except LockNotOwnedError:  # a RedisError too, but Redis is fine: the lock lapsed
            return False

    def _renew(self) -> None:
        try:
            while not self._wait(self._ttl / 3) and not self._stopped.is_set():
                if not self._link.attempt(self._extend, True):
                    logger.warning(
                        "the fetch lock %s lapsed and another replica took it", self.name
                    )
                    return
        except Exception:
            logger.exception("the heartbeat of fetch lock %s failed; it may lapse", self.name)

    @property
    def renewing(self) -> bool:
        return self._heartbeat.is_alive()

    def release(self) -> None:
        """Stop renewing and drop the lock if it is still ours; safe if never taken."""
        self._stopped.set()
        if self._heartbeat.ident is not None:
            self._heartbeat.join(self._ttl)
        if not self._held_in_redis:
            return
        self._held_in_redis = False

        self._link.attempt(self._drop, None)

    def _drop(self, client: redis.Redis) -> None:
        try:
            self._lock.release()
        except LockError:  # a RedisError too, but Redis is fine: the lock lapsed
            logger.debug("fetch lock %s was no longer ours to release", self.name)
