"""One set of status words for jobs and tasks, and one order for counts."""

from __future__ import annotations

import pytest

from otabot.iot.models import JobStatus, TaskStatus
from otabot.query.statuses import (
    JOB_STATUS_ORDER,
    TASK_STATUS_ORDER,
    ordered_counts,
    status_words,
    typed_status,
)


@pytest.mark.parametrize(
    ("word", "job", "task"),
    [
        ("done", JobStatus.COMPLETED, TaskStatus.SUCCEEDED),
        ("COMPLETE", JobStatus.COMPLETED, TaskStatus.SUCCEEDED),
        ("running", JobStatus.IN_PROGRESS, TaskStatus.IN_PROGRESS),
        ("in-progress", JobStatus.IN_PROGRESS, TaskStatus.IN_PROGRESS),
        ("cancelled", JobStatus.CANCELED, TaskStatus.CANCELED),
        ("planned", JobStatus.PLANNED, None),
        ("failed", None, TaskStatus.FAILED),
        ("queued", None, TaskStatus.QUEUED),
    ],
)
def test_a_typed_word_means_one_job_status_and_one_task_status(
    word: str, job: JobStatus | None, task: TaskStatus | None
) -> None:
    meaning = typed_status(word)
    assert meaning is not None and (meaning.job, meaning.task) == (job, task)


def test_an_unknown_word_means_nothing() -> None:
    assert typed_status("paused") is None


def test_counts_come_in_status_order_with_unknown_statuses_last() -> None:
    counts = {"CANCELED": 1, "ZAPPED": 2, "COMPLETED": 3, "AARDVARK": 1, "IN_PROGRESS": 0}
    assert ordered_counts(counts, JOB_STATUS_ORDER) == [
        ("COMPLETED", 3), ("CANCELED", 1), ("AARDVARK", 1), ("ZAPPED", 2)
    ]  # fmt: skip


def test_task_counts_lead_with_how_devices_ended() -> None:
    assert TASK_STATUS_ORDER[:3] == ("SUCCEEDED", "FAILED", "IN_PROGRESS")
    assert set(TASK_STATUS_ORDER) == {status.value for status in TaskStatus}


def test_a_status_in_words() -> None:
    assert status_words("IN_PROGRESS") == "in progress"
