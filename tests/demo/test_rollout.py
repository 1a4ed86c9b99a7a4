"""The demo's rollout mover: the sample rollout one step at a time to COMPLETED, only while
it is watched, and the sample story back afterwards."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

from otabot.demo.rollout import (
    FAILS,
    REPLAY_AFTER_SECONDS,
    RolloutMover,
    advanced,
    happening_now,
)
from otabot.emulator.fleet import ROLLOUT_JOB_ID, Fleet, sample_fleet
from otabot.emulator.server import EmulatorServer
from tests.service.fakes import FakeClock

AT = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def statuses(fleet: Fleet) -> Counter[str]:
    job = fleet.job(ROLLOUT_JOB_ID)
    assert job is not None
    return Counter(task.task_status for task in job.tasks)


def test_a_step_moves_every_unfinished_task_one_stage_on() -> None:
    before = sample_fleet()
    after = advanced(before, AT)
    assert statuses(before)["SUCCEEDED"] == 18 and statuses(after)["SUCCEEDED"] == 19
    assert statuses(after)["FAILED"] == 7  # lamp-31 failed as its download completed
    assert statuses(after)["QUEUED"] == statuses(before)["QUEUED"] - 3
    job = after.job(ROLLOUT_JOB_ID)
    assert job is not None and job.utc_modified == "2026-11-03T09:00:00.000Z"
    failed = {task.device_name: task.task_desc for task in job.tasks}
    assert failed["lamp-31"] == FAILS["lamp-31"]


def test_the_rollout_completes_within_a_few_minutes_of_steps_then_stays() -> None:
    fleet = sample_fleet()
    steps = 0
    while (moved := advanced(fleet, AT)) is not fleet:
        fleet, steps = moved, steps + 1
    assert steps <= 12  # at 15 s a step: three minutes at most
    job = fleet.job(ROLLOUT_JOB_ID)
    assert job is not None and (job.job_status, job.utc_end_time) == ("COMPLETED", job.utc_modified)
    assert set(statuses(fleet)) == {"SUCCEEDED", "FAILED", "CANCELED"}
    assert statuses(fleet)["FAILED"] == 6 + len(FAILS)


def test_the_mover_moves_only_while_watched_and_restores_the_story(
    emulator: EmulatorServer,
) -> None:
    watched = {"yes": False}
    clock = FakeClock()
    mover = RolloutMover(
        emulator, is_watched=lambda job_id: watched["yes"], monotonic=clock, wall_clock=clock.wall
    )
    story = emulator.fleet
    mover.turn()
    assert emulator.fleet is story
    watched["yes"] = True
    while emulator.fleet.job(ROLLOUT_JOB_ID).job_status != "COMPLETED":  # type: ignore[union-attr]
        mover.turn()
    watched["yes"] = False  # the completed job's last edit ended the watch at once
    finished = emulator.fleet
    mover.turn()  # over: it waits
    clock.advance(REPLAY_AFTER_SECONDS - 1)
    mover.turn()
    assert emulator.fleet is finished
    clock.advance(1)
    mover.turn()
    assert emulator.fleet is story  # back for the next person


def dates(fleet: Fleet) -> dict[str, list[datetime]]:
    """Every Utc* date of the fleet, by field name."""
    found: dict[str, list[datetime]] = {}
    for key, value in re.findall(r'"(Utc[A-Za-z]*)": "([^"]+)"', json.dumps(fleet.to_dict())):
        found.setdefault(key, []).append(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return found


def test_the_demo_tells_the_sample_story_as_of_today() -> None:
    sample = sample_fleet()
    now = datetime(2027, 5, 17, 6, 30, tzinfo=UTC)
    story = happening_now(sample, now)
    before, after = dates(sample), dates(story)
    shift = after["UtcCreate"][0] - before["UtcCreate"][0]
    assert shift.days > 0 and shift == timedelta(days=shift.days)  # whole days: times kept
    for key, moments in before.items():
        assert after[key] == [moment + shift for moment in moments]
    happened = [m for key, ms in after.items() if key != "UtcScheduleTime" for m in ms]
    assert now - timedelta(days=1) < max(happened) <= now
    assert min(after["UtcScheduleTime"]) > now  # a planned job is still ahead
    assert happening_now(story, now) is story  # already today: nothing to move
