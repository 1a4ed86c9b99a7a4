"""The demo's rollout mover: the sample rollout one step at a time to COMPLETED, only while
it is watched, and the sample story back afterwards."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from otabot.demo.rollout import FAILS, REPLAY_AFTER_SECONDS, RolloutMover, advanced
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
