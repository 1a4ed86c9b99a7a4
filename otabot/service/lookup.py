"""The lookup use case's values: what is asked (``Lookup``) and what is known (``LookupResult``).

A result holds every job of one device and firmware, newest first; Slack pages and
CLI pages are slices of it, so turning a page never costs an upstream call.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from otabot.iot.models import JobStatus, OtaJob


@dataclass(frozen=True)
class Lookup:
    """One question: the jobs of this device for this firmware (on this instance)."""

    product_key: str
    device_name: str
    firmware_id: str
    iot_instance_id: str | None = None

    def cache_key(self) -> str:
        """A stable key naming the whole query, safe in Redis keys and button values."""
        return "|".join(
            (self.product_key, self.device_name, self.firmware_id, self.iot_instance_id or "")
        )


_OLDEST = datetime.min.replace(tzinfo=UTC)


def newest_first(jobs: tuple[OtaJob, ...] | list[OtaJob]) -> tuple[OtaJob, ...]:
    """Jobs ordered by ``UtcCreate``, newest first (JobId breaks ties, so order is stable)."""
    return tuple(
        sorted(jobs, key=lambda job: (job.utc_create or _OLDEST, job.job_id), reverse=True)
    )


@dataclass(frozen=True)
class LookupResult:
    """Every job of one lookup (up to the cap), newest first, and where it came from."""

    lookup: Lookup
    jobs: tuple[OtaJob, ...]
    total: int
    fetched_at: datetime
    truncated: bool = False
    from_cache: bool = False
    request_ids: tuple[str, ...] = ()
    upstream_calls: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.counts:
            object.__setattr__(self, "counts", status_counts(self.jobs))

    def filtered(self, status: JobStatus | None) -> tuple[OtaJob, ...]:
        """The jobs with this status (all of them when ``status`` is None)."""
        if status is None:
            return self.jobs
        return tuple(job for job in self.jobs if job.status == status)

    def age_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.fetched_at).total_seconds())


def status_counts(jobs: tuple[OtaJob, ...]) -> dict[str, int]:
    """How many jobs have each status, by the status's value."""
    return dict(Counter(job.status.value for job in jobs))
