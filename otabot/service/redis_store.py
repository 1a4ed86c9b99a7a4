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
from otabot.periodic import repeat
from otabot.service.fairness import MAX_WAITING_PER_USER, FairQueue, Ticket, TooManyWaiting
from otabot.service.quota import (
    DEFAULT_MARGIN,
    FIRST_PAUSE,
    MAX_PAUSE,
    Grant,
    MemoryActionQuota,
    MemoryQuota,
    Reservation,
    capacity_and_window,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

KEY_PREFIX = "otabot"
# Connections one replica keeps to Redis at most (each command holds one for its moment).
MAX_CONNECTIONS = 64
HEARTBEAT_SECONDS = 30.0
HEARTBEAT_US = round(HEARTBEAT_SECONDS * 1_000_000)

# Times are integer microseconds of Redis's own clock (TIME), so every replica shares one
# clock; string.format('%.0f') keeps 16-digit numbers exact (tostring would round them).

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
  if earliest > sent_at then return {string.format('%.0f', earliest - now), '0'} end
end
redis.call('ZADD', KEYS[1], string.format('%.0f', sent_at), ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
return {'0', string.format('%.0f', sent_at)}
"""

# An attempt written late counts from its write (KEYS: sent; ARGV: member, lag in µs).
_WRITTEN_LATE = """
local sent_at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not sent_at then return 0 end
redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', tonumber(sent_at) + tonumber(ARGV[2])),
  ARGV[1])
return 1
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

# The fair queue of every replica's waiting attempts (see otabot.service.fairness for the
# rule). KEYS: slots, paused_until, replicas, queue, turns, serving, waiting, who, seq.
# A queue member is "<arrival, 16 digits>:<replica>:<ticket>", so equal turns go by arrival.
_QUEUE_PRELUDE_TEMPLATE = """
local function fmt(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- Replicas seen lately but not in the last few seconds may be serving from their local
-- share (Redis was away for them, or they have just stopped): Redis keeps their share free.
local function share(capacity)
  local recent = redis.call('ZCARD', KEYS[3])
  if recent <= 1 then return capacity end
  local alive = redis.call('ZCOUNT', KEYS[3], fmt(now - ALIVE_US), '+inf')
  return math.max(1, math.floor(capacity * alive / recent))
end
local function next_slot(capacity, window)
  capacity = share(capacity)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now - window))
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
  return slot
end
local function reserve(slot, member, window)
  redis.call('ZADD', KEYS[1], fmt(slot), member)
  redis.call('PEXPIRE', KEYS[1], math.ceil((slot - now + window) / 1000) + 1000)
end
local function heartbeat(replica, keep)
  redis.call('ZADD', KEYS[3], fmt(now), replica)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', fmt(now - keep))
  redis.call('PEXPIRE', KEYS[3], math.ceil(keep / 1000))
  return redis.call('ZCARD', KEYS[3])
end
local function take(member)
  if redis.call('ZREM', KEYS[4], member) == 0 then return 0 end
  local user = redis.call('HGET', KEYS[8], member)
  redis.call('HDEL', KEYS[8], member)
  if user and redis.call('HINCRBY', KEYS[7], user, -1) <= 0 then
    redis.call('HDEL', KEYS[7], user)
  end
  return 1
end
local function turn_for(user, continuation)
  local serving = tonumber(redis.call('GET', KEYS[6]) or '0')
  if continuation then return serving end
  return math.max(serving, tonumber(redis.call('HGET', KEYS[5], user) or '0') + 1)
end
local function serve(turn)
  if turn > tonumber(redis.call('GET', KEYS[6]) or '0') then
    redis.call('SET', KEYS[6], fmt(turn), 'PX', 3600000)
  end
end
"""

# A replica asks Redis every second (and every few milliseconds while it has attempts
# waiting); one not heard from for this long is taken for stopped (its waiting attempts are
# dropped) or serving from its local share (Redis keeps that share free for it).
HEARTBEAT_EVERY_SECONDS = 1.0
ALIVE_SECONDS = 3.0


def _queue_prelude(alive_seconds: float) -> str:
    return _QUEUE_PRELUDE_TEMPLATE.replace("ALIVE_US", str(round(alive_seconds * 1_000_000)))


# ARGV: capacity, window, lookahead, replica, ticket, user, priority, continuation,
# max waiting per user, heartbeat keep. {1, slot, wait, replicas}: go at once;
# {0, member, ahead, replicas}: queued; {-1, waiting, 0, replicas}: too many waiting.
_ARRIVE_BODY = """
local capacity, window, lookahead = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local replicas = heartbeat(ARGV[4], tonumber(ARGV[10]))
if redis.call('ZCARD', KEYS[4]) == 0 then
  local slot = next_slot(capacity, window)
  if slot - now <= lookahead then
    reserve(slot, ARGV[4] .. ':' .. ARGV[5], window)
    if ARGV[8] ~= '1' then  -- it used the user's next turn without queueing
      local turn = turn_for(ARGV[6], false)
      redis.call('HSET', KEYS[5], ARGV[6], turn)
      redis.call('PEXPIRE', KEYS[5], 3600000)
      serve(turn)
    end
    return {1, fmt(slot), fmt(slot - now), replicas}
  end
end
local user = ARGV[6]
local waiting = tonumber(redis.call('HGET', KEYS[7], user) or '0')
if user ~= '-' and waiting >= tonumber(ARGV[9]) then return {-1, waiting, 0, replicas} end
local turn = turn_for(user, ARGV[8] == '1')
if ARGV[8] ~= '1' then redis.call('HSET', KEYS[5], user, turn) end
local arrival = string.format('%016d', redis.call('INCR', KEYS[9]))
local member = arrival .. ':' .. ARGV[4] .. ':' .. ARGV[5]
redis.call('ZADD', KEYS[4], fmt(tonumber(ARGV[7]) * 1e12 + turn), member)
redis.call('HSET', KEYS[8], member, user)
redis.call('HINCRBY', KEYS[7], user, 1)
for i = 4, 9 do redis.call('PEXPIRE', KEYS[i], 3600000) end
return {0, member, redis.call('ZRANK', KEYS[4], member), replicas}
"""

# ARGV: capacity, window, lookahead, replica, alive, heartbeat keep.
# {1, member, slot, wait, replicas}: this replica's ticket goes; {0, delay, replicas}: ask
# again after delay (0: the turn is another replica's); {0, -1, replicas}: nobody waits.
_GRANT_BODY = """
local capacity, window, lookahead = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local replicas = heartbeat(ARGV[4], tonumber(ARGV[6]))
while true do
  local head = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
  if not head[1] then return {0, '-1', replicas} end
  local member = head[1]
  local owner = string.match(member, '^%d+:([^:]+):')
  local seen = tonumber(redis.call('ZSCORE', KEYS[3], owner) or '0')
  if now - seen > tonumber(ARGV[5]) then
    take(member)  -- its replica is gone: nobody is waiting for this ticket
  elseif owner ~= ARGV[4] then
    return {0, '0', replicas}
  else
    local slot = next_slot(capacity, window)
    local wait = slot - now
    if wait > lookahead then return {0, fmt(wait - lookahead), replicas} end
    reserve(slot, member, window)
    take(member)
    serve(tonumber(head[2]) % 1e12)
    return {1, member, fmt(slot), fmt(wait), replicas}
  end
end
"""

# KEYS: the queue keys (only KEYS[3], the replicas, is used). ARGV: replica, heartbeat keep.
_HEARTBEAT_BODY = """
return heartbeat(ARGV[1], tonumber(ARGV[2]))
"""

_CANCEL_BODY = """
local taken = 0
for i = 1, #ARGV do taken = taken + take(ARGV[i]) end
return taken
"""

# ARGV: user, priority, capacity, window. {attempts ahead of a new one of user, next wait}
_AHEAD_BODY = """
local score = tonumber(ARGV[2]) * 1e12 + turn_for(ARGV[1], false)
local ahead = redis.call('ZCOUNT', KEYS[4], '-inf', fmt(score))
return {ahead, fmt(math.max(0, next_slot(tonumber(ARGV[3]), tonumber(ARGV[4])) - now))}
"""

# Back from the local fallback: the attempts it let go (ages in ARGV[3..]) count in Redis.
# KEYS: slots, sent. ARGV: window, replica, ages…
_HANDOVER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
for i = 3, #ARGV do
  local at = string.format('%.0f', now - tonumber(ARGV[i]))
  local member = ARGV[2] .. ':local:' .. at .. ':' .. i
  redis.call('ZADD', KEYS[1], at, member)
  redis.call('ZADD', KEYS[2], at, member)
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
redis.call('PEXPIRE', KEYS[2], math.ceil(window / 1000) + 1000)
return #ARGV - 2
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


def connect(
    url: str, *, timeout: float = 0.5, max_connections: int = MAX_CONNECTIONS
) -> redis.Redis:
    """A client with short timeouts, so an unreachable Redis costs half a second, not a hang.

    Its pool blocks (up to ``timeout``) for a free connection instead of failing: in an
    incident every waiting lookup has a thread of its own, and a burst of them must not
    run out of connections and take Redis for gone.
    """
    # One try per command: RedisLink decides when to try again, not the client's retry loop.
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=15,
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis(connection_pool=pool)


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
        self.counters = Counters("redis_failures")

    @property
    def degraded(self) -> bool:
        with self._lock:
            return self._degraded

    @property
    def failures(self) -> int:
        return self.counters.count("redis_failures")

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
        self.counters.add("redis_failures")
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
    """The Redis keys of one action's quota (``replicas`` is the account's, not the
    action's). otabot needs one Redis (or a primary with replicas), not a Redis Cluster:
    the cache and watch scripts touch keys of different slots."""

    slots: str  # reservations: slot times (sorted set)
    sent: str  # when attempts were really let go (sorted set)
    paused_until: str  # the collective back-off's end
    pause: str  # the back-off's current step
    replicas: str  # replicas seen lately (sorted set of heartbeats)
    queue: str  # waiting attempts by turn (sorted set)
    turns: str  # each person's last turn (hash)
    serving: str  # the turn granted last
    waiting: str  # attempts waiting per person (hash)
    who: str  # whose each waiting attempt is (hash)
    arrivals: str  # arrival counter

    @classmethod
    def of(cls, account: str, action: str) -> QuotaKeys:
        base = f"{KEY_PREFIX}:quota:{{{account}}}"
        return cls(
            slots=f"{base}:{action}",
            sent=f"{base}:{action}:sent",
            paused_until=f"{base}:{action}:paused_until",
            pause=f"{base}:{action}:pause",
            replicas=f"{base}:replicas",
            queue=f"{base}:{action}:queue",
            turns=f"{base}:{action}:turns",
            serving=f"{base}:{action}:serving",
            waiting=f"{base}:{action}:waiting",
            who=f"{base}:{action}:who",
            arrivals=f"{base}:{action}:arrivals",
        )

    @property
    def for_queue(self) -> list[str]:
        """The keys of the queue scripts, in their order."""
        return [
            self.slots,
            self.paused_until,
            self.replicas,
            self.queue,
            self.turns,
            self.serving,
            self.waiting,
            self.who,
            self.arrivals,
        ]


# How often a waiting replica checks that its attempts are still queued in Redis.
MEMBERSHIP_CHECK_SECONDS = 1.0


class RedisActionQuota:
    """One action's ``ActionQuota`` for every replica: the rate, the back-off and the fair
    queue in Redis, on Redis's clock.

    While Redis is away the replica serves its waiting attempts from a local queue at its
    share of the rate (``qps / N``, N the replicas it last saw heartbeating), and not
    before a window after the last slot Redis granted it. When Redis is back, the attempts
    the local share let go are handed over (they count in Redis's window) and the attempts
    still waiting join the shared queue again, in their local order.
    """

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
        max_per_user: int = MAX_WAITING_PER_USER,
        alive_seconds: float = ALIVE_SECONDS,
    ) -> None:
        self._link = link
        self._qps = qps
        self._monotonic = monotonic
        self.replica = replica or uuid.uuid4().hex[:12]
        self.keys = QuotaKeys.of(account, action)
        self._capacity, window = capacity_and_window(qps, margin)
        self._window_us = round(window * 1_000_000)
        self._first_pause_us = round(first_pause * 1_000_000)
        self._max_pause_us = round(max_pause * 1_000_000)
        self._max_per_user = max_per_user
        self._alive_us = round(alive_seconds * 1_000_000)
        self._last_redis_slot = -math.inf  # local time of this replica's latest Redis slot
        self._sent = itertools.count(1)
        self.replicas_seen = 1
        self.local = MemoryActionQuota(
            MemoryQuota(
                qps,
                monotonic=monotonic,
                margin=margin,
                first_pause=first_pause,
                max_pause=max_pause,
            ),
            FairQueue(max_per_user),
        )
        self._lock = threading.Lock()
        self._members: dict[str, str] = {}  # ticket id -> queue member, for tickets in Redis
        self._tickets: dict[str, Ticket] = {}
        self._stale: list[str] = []  # members left in Redis when it went away (now local)
        self._ready: list[Grant] = []  # tickets that went at once on rejoining the queue
        self._checked_at = -math.inf
        client = link.client
        prelude = _queue_prelude(alive_seconds)
        self._arrive = client.register_script(prelude + _ARRIVE_BODY)
        self._grant = client.register_script(prelude + _GRANT_BODY)
        self._cancel = client.register_script(prelude + _CANCEL_BODY)
        self._ahead = client.register_script(prelude + _AHEAD_BODY)
        self._handover = client.register_script(_HANDOVER)
        self._confirm = client.register_script(_CONFIRM)
        self._written_late = client.register_script(_WRITTEN_LATE)
        self._confirmed = threading.local()  # this thread's last confirm: (reservation, member)
        self._report = client.register_script(_REPORT)

    @property
    def spacing(self) -> float:
        return self._window_us / 1_000_000 / self._capacity

    # --- the queue ---------------------------------------------------------------------

    def arrive(self, ticket: Ticket, lookahead: float) -> Reservation | None:
        if not len(self.local.queue):
            answer = self._arrive_in_redis(ticket, lookahead)
            if isinstance(answer, Reservation):
                return answer
            if answer is not None:
                return None
        self._hold_off_local()
        return self.local.arrive(ticket, lookahead)

    def grant(self, lookahead: float) -> Grant | float:
        with self._lock:
            if self._ready:
                return self._ready.pop(0)
        if len(self.local.queue) and not self._rejoin():
            self._hold_off_local()
            return self.local.grant(lookahead)
        self._check_membership()
        answer = self._link.attempt(
            lambda client: self._grant(
                keys=self.keys.for_queue,
                args=[*self._queue_args(lookahead), self._alive_us, HEARTBEAT_US],
                client=client,
            ),
            None,
        )
        if answer is None:  # Redis went away: the attempts queued there wait here now
            self._move_to_local()
            self._hold_off_local()
            return self.local.grant(lookahead)
        self._note_replicas(int(answer[-1]))
        if int(answer[0]) == 0:
            delay = int(answer[1])
            return math.inf if delay < 0 else delay / 1_000_000
        member = as_text(answer[1])
        ticket_id = member.rsplit(":", 1)[1]
        with self._lock:
            self._tickets.pop(ticket_id, None)
            if self._members.pop(ticket_id, None) != member:  # a stale member: nobody waits
                return 0.0
        return Grant(ticket_id, self._reservation(answer[2], answer[3]))

    def cancel(self, ticket: Ticket) -> None:
        with self._lock:
            member = self._members.pop(ticket.id, None)
            self._tickets.pop(ticket.id, None)
        if member is None:
            self.local.cancel(ticket)
            return
        self._link.attempt(
            lambda client: self._cancel(keys=self.keys.for_queue, args=[member], client=client),
            None,
        )

    def ahead(self, user: str, priority: int) -> tuple[int, float]:
        answer = self._link.attempt(
            lambda client: self._ahead(
                keys=self.keys.for_queue,
                args=[user, priority, self._capacity, self._window_us],
                client=client,
            ),
            None,
        )
        if answer is None:
            return self.local.ahead(user, priority)
        local_ahead, _ = self.local.ahead(user, priority)
        return int(answer[0]) + local_ahead, int(answer[1]) / 1_000_000

    def _queue_args(self, lookahead: float) -> list[Any]:
        """The queue scripts' first arguments: capacity, window, lookahead, this replica."""
        return [self._capacity, self._window_us, round(lookahead * 1_000_000), self.replica]

    def _reservation(self, slot_us: Any, wait_us: Any) -> Reservation:
        wait = int(wait_us) / 1_000_000
        due = self._monotonic() + wait
        self._last_redis_slot = max(self._last_redis_slot, due)
        return Reservation(wait, int(slot_us) / 1_000_000, in_redis=True, due=due)

    def _arrive_in_redis(self, ticket: Ticket, lookahead: float) -> Reservation | str | None:
        """A reservation (go now), the queue member (queued), or None (Redis unusable)."""
        answer = self._link.attempt(
            lambda client: self._arrive(
                keys=self.keys.for_queue,
                args=[
                    *self._queue_args(lookahead),
                    ticket.id,
                    ticket.user,
                    ticket.priority,
                    "1" if ticket.continuation else "0",
                    self._max_per_user,
                    HEARTBEAT_US,
                ],
                client=client,
            ),
            None,
        )
        if answer is None:
            return None
        status, first, second, replicas = answer
        self._note_replicas(int(replicas))
        if int(status) == 1:
            return self._reservation(first, second)
        if int(status) == -1:
            raise TooManyWaiting(int(first))
        member = as_text(first)
        with self._lock:
            self._members[ticket.id] = member
            self._tickets[ticket.id] = ticket
        return member

    def _move_to_local(self) -> None:
        with self._lock:
            moved = sorted(self._members.items(), key=lambda item: item[1])
            self._members.clear()
            self._stale.extend(member for _, member in moved)
            tickets = [self._tickets.pop(ticket_id) for ticket_id, _ in moved]
        for ticket in tickets:
            self.local.queue.push(ticket)

    def _rejoin(self) -> bool:
        """Back from the fallback: hand over what it let go, and queue its waiting tickets
        in Redis again (in their local order). False while Redis is still away."""
        ages = self.local.rate.recent_sends()
        handed = self._link.attempt(
            lambda client: self._handover(
                keys=[self.keys.slots, self.keys.sent],
                args=[self._window_us, self.replica, *(round(a * 1_000_000) for a in ages)],
                client=client,
            ),
            None,
        )
        if handed is None:
            return False
        stale, self._stale = self._stale, []
        if (
            stale
            and self._link.attempt(
                lambda client: self._cancel(keys=self.keys.for_queue, args=stale, client=client),
                None,
            )
            is None
        ):
            self._stale = stale + self._stale
            return False
        for ticket in self.local.queue.tickets():
            self.local.queue.remove(ticket.id)
            if not self._requeue(ticket):  # gone again: it waits here
                self.local.queue.push(ticket)
                return False
        return True

    def _requeue(self, ticket: Ticket) -> bool:
        """Queue a ticket in Redis again (it may go at once); False when Redis is away."""
        try:
            answer = self._arrive_in_redis(ticket, 0.0)
        except TooManyWaiting:  # already queued to its cap elsewhere: it keeps its place
            answer = None
        if isinstance(answer, Reservation):
            with self._lock:
                self._ready.append(Grant(ticket.id, answer))
        return answer is not None

    def _check_membership(self) -> None:
        """Tickets Redis dropped (it took this replica for gone) are queued again."""
        now = self._monotonic()
        if now - self._checked_at < MEMBERSHIP_CHECK_SECONDS:
            return
        self._checked_at = now
        with self._lock:
            members = list(self._members.items())
        if not members:
            return
        scores = self._link.attempt(
            lambda client: client.zmscore(self.keys.queue, [m for _, m in members]), None
        )
        if scores is None:
            return
        for (ticket_id, _), score in zip(members, scores, strict=True):
            if score is not None:
                continue
            with self._lock:
                self._members.pop(ticket_id, None)
                ticket = self._tickets.pop(ticket_id, None)
            if ticket is not None and not self._requeue(ticket):
                self.local.queue.push(ticket)

    # --- the rate -----------------------------------------------------------------------

    def _hold_off_local(self) -> None:
        """The local share must not crowd the attempts Redis has just let go."""
        self.local.rate.not_before(self._last_redis_slot + self._window_us / 1_000_000)

    def _note_replicas(self, replicas: int) -> None:
        replicas = max(1, replicas)
        if replicas != self.replicas_seen:
            self.replicas_seen = replicas
            self.local.rate.set_qps(self._qps / replicas)

    def confirm(self, reservation: Reservation) -> float:
        if not reservation.in_redis:
            return self.local.confirm(reservation)
        member = f"{self.replica}:{next(self._sent)}"
        answer = self._link.attempt(
            lambda client: self._confirm(
                keys=[self.keys.sent],
                args=[
                    self._capacity,
                    self._window_us,
                    round(reservation.slot * 1_000_000),
                    member,
                ],
                client=client,
            ),
            None,
        )
        if answer is None:
            return 0.0  # granted by Redis, which has gone: its slot stands
        late_us = int(answer[0])
        if late_us == 0:
            self._confirmed.last = (reservation, member)
        return late_us / 1_000_000

    def written_late(self, reservation: Reservation, lag: float) -> None:
        if not reservation.in_redis:
            self.local.written_late(reservation, lag)
            return
        last = getattr(self._confirmed, "last", None)
        self._confirmed.last = None
        if last is None or last[0] is not reservation:
            return
        self._link.attempt(
            lambda client: self._written_late(
                keys=[self.keys.sent], args=[last[1], round(lag * 1_000_000)], client=client
            ),
            None,
        )

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


class ReplicaHeartbeat:
    """Tells Redis every second that this replica is alive (so the others leave it its
    share and its waiting attempts their turn), and that it is gone when it stops."""

    def __init__(
        self,
        link: RedisLink,
        *,
        account: str,
        replica: str,
        every: float = HEARTBEAT_EVERY_SECONDS,
    ) -> None:
        self._link = link
        self._replica = replica
        self._key = QuotaKeys.of(account, "-").replicas
        self._every = every
        self._stopped = threading.Event()
        self._beat = link.client.register_script(_queue_prelude(ALIVE_SECONDS) + _HEARTBEAT_BODY)
        self._thread = threading.Thread(
            target=self._run, name=f"otabot-heartbeat-{replica}", daemon=True
        )

    def start(self) -> ReplicaHeartbeat:
        self._thread.start()
        return self

    def beat(self) -> None:
        keep = HEARTBEAT_US
        self._link.attempt(
            lambda client: self._beat(
                keys=["", "", self._key], args=[self._replica, keep], client=client
            ),
            None,
        )

    def _run(self) -> None:
        repeat(
            self.beat,
            self._every,
            self._stopped,
            log=logger,
            failed="the replica heartbeat failed; trying again",
        )

    def stop(self) -> None:
        """Stop beating and leave the replicas Redis counts (a clean stop frees its share)."""
        self._stopped.set()
        if self._thread.ident is not None:
            self._thread.join(self._every + 1)
        self._link.attempt(lambda client: client.zrem(self._key, self._replica), None)


def milliseconds(seconds: float) -> int:
    """A PX/PEXPIRE argument: at least 1 ms (0 would be refused, or expire at once)."""
    return max(1, round(seconds * 1000))


def as_text(value: Any) -> str:
    """A value redis-py returns (bytes, or text with ``decode_responses``) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


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
        return as_text(raw), pttl / 1000

    def put(self, key: str, text: str, ttl: float, *, as_of: datetime) -> bool:
        """Store ``text`` for ``ttl`` seconds unless the stored entry is newer than ``as_of``
        (when its answer was fetched); True when stored, False when kept or Redis failed."""
        if ttl <= 0:
            return False
        stored = self._link.attempt(
            lambda client: self._put(
                keys=[self._entry_key(key), self._as_of_key(key)],
                args=[text, milliseconds(ttl), round(as_of.timestamp() * 1_000_000)],
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
