"""``RedisWatchStore``: watches every replica shares, so none is lost when one stops.

Keys (one hash tag, so every script's keys share a slot on Redis Cluster too)::

    otabot:{watch:NS}:records   hash  watch id -> the watch as JSON
    otabot:{watch:NS}:cards     hash  watch id -> its card's ts (whose card a save is for)
    otabot:{watch:NS}:pending   zset  watch id -> when its reservation lapses
    otabot:{watch:NS}:due       zset  job key  -> when its next poll is due
    otabot:{watch:NS}:claim:JOB string the replica polling the job, expiring with its lease
    otabot:{watch:NS}:slack:M   string set while Slack's Retry-After for Web API method M runs

Every step that reads and then writes is one Lua script, so two replicas never both
reserve the last place, save over an ended watch, or drop the schedule of a job a new
watch has just joined. Every call goes through ``RedisLink.attempt``: while Redis is
away nothing is due, claimed or reserved, and the watches wait for it in Redis.
"""

from __future__ import annotations

import re
from typing import Any

import redis

from otabot.service.redis_store import KEY_PREFIX, RedisLink, as_text, milliseconds
from otabot.watch.posting import LocalPauses
from otabot.watch.records import Watch, WatchedJob
from otabot.watch.store import PENDING_SECONDS, Reservation, Reserved, StoreUnavailable

# KEYS: records, pending. ARGV: id, now, lapses at, limit.
_RESERVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then return {'existing', existing} end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {'pending', ''} end
local live = redis.call('HLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
if live >= tonumber(ARGV[4]) then return {'full', tostring(live)} end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return {'reserved', ''}
"""

# KEYS: records, cards, pending, due. ARGV: id, json, ts, job key, due.
_ACTIVATE = """
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[4], 'NX', ARGV[5], ARGV[4])
return 1
"""

# KEYS: records, cards. ARGV: id, ts, json ('' removes).
_SAVE = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 1
"""

# KEYS: claim, due, cards. ARGV: owner, job key, next due.
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local suffix = ':' .. ARGV[2]
for _, id in ipairs(redis.call('HKEYS', KEYS[3])) do
  if string.sub(id, -string.len(suffix)) == suffix then
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
    return 1
  end
end
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""

# KEYS: claim. ARGV: owner, lease in ms.
_EXTEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


# Characters a Redis MATCH pattern would read as wildcards.
GLOB_SPECIAL = re.compile(r"[*?\[\]\\]")


class RedisWatchStore:
    """The ``WatchStore`` of every replica sharing ``link``'s Redis."""

    shared = True

    def __init__(self, link: RedisLink, *, namespace: str = "default") -> None:
        self._link = link
        prefix = f"{KEY_PREFIX}:{{watch:{namespace}}}"
        self._records = f"{prefix}:records"
        self._cards = f"{prefix}:cards"
        self._pending = f"{prefix}:pending"
        self._due = f"{prefix}:due"
        self._claim_prefix = f"{prefix}:claim:"
        client = link.client
        self._reserve = client.register_script(_RESERVE)
        self._activate = client.register_script(_ACTIVATE)
        self._save = client.register_script(_SAVE)
        self._release = client.register_script(_RELEASE)
        self._extend = client.register_script(_EXTEND)

    def _claim_key(self, job: WatchedJob) -> str:
        return self._claim_prefix + job.key

    def reserve(self, watch: Watch, *, limit: int, now: float) -> Reservation:
        def run(client: redis.Redis) -> Reservation:
            outcome, detail = self._reserve(
                keys=[self._records, self._pending],
                args=[watch.id, now, now + PENDING_SECONDS, limit],
                client=client,
            )
            kind = Reserved(as_text(outcome))
            if kind is Reserved.EXISTING:
                return Reservation(kind, Watch.from_json(detail))
            if kind is Reserved.FULL:
                return Reservation(kind, live=int(as_text(detail)))
            return Reservation(kind)

        return self._link.attempt(run, Reservation(Reserved.UNAVAILABLE))

    def activate(self, watch: Watch, *, due: float) -> bool:
        stored = self._link.attempt(
            lambda client: self._activate(
                keys=[self._records, self._cards, self._pending, self._due],
                args=[watch.id, watch.to_json(), watch.ts, watch.job.key, due],
                client=client,
            ),
            0,
        )
        return bool(stored)

    def cancel(self, watch: Watch) -> None:
        self._link.attempt(lambda client: client.zrem(self._pending, watch.id), None)

    def find(self, watch_id: str) -> Watch | None:
        found = self._link.attempt(lambda client: [client.hget(self._records, watch_id)], None)
        if found is None:
            raise StoreUnavailable(watch_id)
        return None if found[0] is None else Watch.from_json(found[0])

    def everything(self) -> list[Watch]:
        raw: list[Any] = self._link.attempt(lambda client: list(client.hvals(self._records)), [])
        return [Watch.from_json(item) for item in raw]

    def watches_of(self, job: WatchedJob) -> list[Watch]:
        """The job's watches: only their records are read (ids end in ``:JOBKEY``)."""
        pattern = "*:" + GLOB_SPECIAL.sub(r"\\\g<0>", job.key)
        raw: list[Any] = self._link.attempt(
            lambda client: [value for _, value in client.hscan_iter(self._records, match=pattern)],
            [],
        )
        return [watch for watch in map(Watch.from_json, raw) if watch.job == job]

    def save(self, watch: Watch) -> bool:
        return self._write(watch, watch.to_json())

    def remove(self, watch: Watch) -> bool:
        return self._write(watch, "")

    def _write(self, watch: Watch, text: str) -> bool:
        stored = self._link.attempt(
            lambda client: self._save(
                keys=[self._records, self._cards], args=[watch.id, watch.ts, text], client=client
            ),
            0,
        )
        return bool(stored)

    def due(self, now: float, limit: int) -> list[WatchedJob]:
        keys: list[Any] = self._link.attempt(
            lambda client: list(client.zrangebyscore(self._due, "-inf", now, start=0, num=limit)),
            [],
        )
        return [WatchedJob.from_key(as_text(key)) for key in keys]

    def claim(self, job: WatchedJob, owner: str, lease: float) -> bool:
        taken = self._link.attempt(
            lambda client: client.set(self._claim_key(job), owner, nx=True, px=milliseconds(lease)),
            None,
        )
        return bool(taken)

    def extend(self, job: WatchedJob, owner: str, lease: float) -> bool:
        kept = self._link.attempt(
            lambda client: self._extend(
                keys=[self._claim_key(job)], args=[owner, milliseconds(lease)], client=client
            ),
            0,
        )
        return bool(kept)

    def release(self, job: WatchedJob, owner: str, next_due: float) -> None:
        self._link.attempt(
            lambda client: self._release(
                keys=[self._claim_key(job), self._due, self._cards],
                args=[owner, job.key, next_due],
                client=client,
            ),
            None,
        )

    def live(self) -> int:
        return int(self._link.attempt(lambda client: client.hlen(self._records), 0))


# KEYS: the method's pause. ARGV: milliseconds. A shorter Retry-After never cuts a longer.
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


class RedisPauses:
    """``Pauses`` every replica sees: a 429 that one replica got holds back all of them.
    Kept here too, so the pause holds while Redis is away."""

    def __init__(self, link: RedisLink, *, namespace: str = "default") -> None:
        self._link = link
        self._prefix = f"{KEY_PREFIX}:{{watch:{namespace}}}:slack:"
        self._local = LocalPauses()
        self._pause = link.client.register_script(_PAUSE)

    def pause(self, method: str, seconds: float) -> None:
        self._local.pause(method, seconds)
        self._link.attempt(
            lambda client: self._pause(
                keys=[self._prefix + method], args=[milliseconds(seconds)], client=client
            ),
            None,
        )

    def paused_for(self, method: str) -> float:
        left_ms = self._link.attempt(lambda client: client.pttl(self._prefix + method), -2)
        shared = max(0, int(left_ms)) / 1000  # -2: no pause, -1: none can be (no expiry)
        return max(shared, self._local.paused_for(method))
