"""What a watch is: one card in one channel kept current for one job, as the store keeps it.

A ``Watch`` is plain data, written as JSON in Redis (or held in this process): Slack
IDs, the job, times on the wall clock (every replica reads them), what the card shows
now (so a change is noticed, and the last edit needs no upstream call) and which failed
devices its thread has been told of. No token, no secret, no response_url.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any

from otabot.query.queries import JobQuery, WatchQuery


@dataclass(frozen=True)
class WatchedJob:
    """A job as the poller knows it: polled once per interval, whatever the channels."""

    job_id: str
    instance: str | None = None

    @property
    def key(self) -> str:
        """``JOBID`` or ``JOBID@INSTANCE`` (neither has an ``@`` of its own)."""
        return self.job_id if self.instance is None else f"{self.job_id}@{self.instance}"

    @classmethod
    def from_key(cls, key: str) -> WatchedJob:
        job_id, _, instance = key.partition("@")
        return cls(job_id, instance or None)


def watch_id(channel: str, job: WatchedJob) -> str:
    """One watch per job per channel: ``CHANNEL:JOBID[@INSTANCE]``."""
    return f"{channel}:{job.key}"


class Ending(Enum):
    """Why a card stops being kept current (the words for each are in ``render``)."""

    COMPLETED = "completed"
    CANCELED = "canceled"
    STOPPED = "stopped"  # someone pressed Stop watching
    EXPIRED = "expired"  # OTABOT_WATCH_TTL ran out
    SHUTDOWN = "shutdown"  # otabot stopped, and its watches lived in its memory
    GONE = "gone"  # the job is not found any more
    REFUSED = "refused"  # OTABOT_ALLOWED_PRODUCTS no longer allows the job's product


@dataclass(frozen=True)
class Watch:
    """One watched card. ``ts`` is the card's message (empty until posted); ``ending`` set
    means its last edit is still to be made (Slack asked otabot to wait)."""

    channel: str
    job_id: str
    instance: str | None
    product_key: str | None
    team: str | None
    user: str | None
    started_at: float  # wall clock
    expires_at: float  # wall clock
    ts: str = ""
    shown: str = ""  # fingerprint of the job as the card shows it
    failed: tuple[str, ...] = ()  # failed devices the card and its thread have named
    card: tuple[dict[str, Any], ...] = field(default=(), repr=False)  # the card's blocks
    text: str = ""  # the card's fallback text
    ending: Ending | None = None
    ended_by: str | None = None  # who pressed Stop watching

    @property
    def job(self) -> WatchedJob:
        return WatchedJob(self.job_id, self.instance)

    @property
    def id(self) -> str:
        return watch_id(self.channel, self.job)

    @property
    def query(self) -> WatchQuery:
        """What ``/ota watch`` takes to watch this job again (and Stop watching carries)."""
        return WatchQuery(self.job_id, self.product_key, self.instance)

    @property
    def job_query(self) -> JobQuery:
        return self.query.job()

    def ended(self, ending: Ending, by: str | None = None) -> Watch:
        return replace(self, ending=ending, ended_by=by)

    def to_json(self) -> str:
        data = asdict(self)
        data["failed"] = list(self.failed)
        data["card"] = list(self.card)
        data["ending"] = None if self.ending is None else self.ending.value
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Watch:
        data = json.loads(text)
        data["failed"] = tuple(data.get("failed") or ())
        data["card"] = tuple(data.get("card") or ())
        ending = data.get("ending")
        data["ending"] = None if ending is None else Ending(ending)
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})
