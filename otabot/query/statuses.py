"""The one set of status words: what a user may type for a status, and the order counts go in.

A job's statuses (``JobStatus``) and a device task's (``TaskStatus``) are typed the same
way in ``/ota`` and on the command line (``status=done`` and ``--status done`` alike),
and every count by status is listed in the order of ``JOB_STATUS_ORDER`` or
``TASK_STATUS_ORDER`` (the same in a message, a table and JSON), with statuses otabot
does not know after them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from otabot.iot.models import JobStatus, TaskStatus

JOB_STATUS_ORDER: tuple[str, ...] = tuple(status.value for status in JobStatus)
# A job's devices: how it ended first (succeeded, failed), then the ones still going,
# nearest to done first, then canceled.
TASK_STATUS_ORDER: tuple[str, ...] = tuple(
    status.value
    for status in (
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.IN_PROGRESS,
        TaskStatus.NOTIFIED,
        TaskStatus.QUEUED,
        TaskStatus.CONFIRM,
        TaskStatus.CANCELED,
    )
)


@dataclass(frozen=True)
class StatusWord:
    """What one typed word means for a job and for a device's task (None: nothing)."""

    job: JobStatus | None
    task: TaskStatus | None


def _word(job: JobStatus | None, task: TaskStatus | None, *spellings: str) -> dict[str, StatusWord]:
    return dict.fromkeys(spellings, StatusWord(job, task))


TYPED_STATUSES: dict[str, StatusWord] = {
    **_word(JobStatus.PLANNED, None, "planned", "scheduled"),
    **_word(
        JobStatus.IN_PROGRESS,
        TaskStatus.IN_PROGRESS,
        "in_progress",
        "in-progress",
        "inprogress",
        "running",
    ),
    **_word(JobStatus.COMPLETED, TaskStatus.SUCCEEDED, "completed", "complete", "done"),
    **_word(JobStatus.CANCELED, TaskStatus.CANCELED, "canceled", "cancelled"),
    **_word(None, TaskStatus.SUCCEEDED, "succeeded", "success"),
    **_word(None, TaskStatus.FAILED, "failed", "fail"),
    **_word(None, TaskStatus.CONFIRM, "confirm"),
    **_word(None, TaskStatus.QUEUED, "queued"),
    **_word(None, TaskStatus.NOTIFIED, "notified"),
}

JOB_STATUS_HELP = "planned, in_progress (or running), completed (or done) or canceled"


def typed_status(word: str) -> StatusWord | None:
    """What a typed status word means, case and spelling forgiven; None when nothing."""
    return TYPED_STATUSES.get(word.strip().lower())


def status_token(status: str) -> str:
    """A status as otabot writes it in a query: ``in_progress``."""
    return status.lower()


def status_words(status: str) -> str:
    """A status in words: ``in progress``."""
    return status.lower().replace("_", " ")


def ordered_counts(counts: Mapping[str, int], order: Iterable[str]) -> list[tuple[str, int]]:
    """``(status, count)`` with a count, in ``order``; statuses not in it after, by name."""
    known = list(order)
    listed = [(status, counts[status]) for status in known if counts.get(status)]
    others = sorted((s, n) for s, n in counts.items() if s not in known and n)
    return listed + others
