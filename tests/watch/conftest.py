"""A watcher on fake clocks: the real service over the in-memory world, the real Web API
client against the recording Slack server, watches in this process (or in Redis)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from slack_sdk import WebClient

from otabot.config import Settings
from otabot.demo.slack_side import SlackSide
from otabot.iot.models import JobStatus, TaskStatus
from otabot.query.queries import WatchQuery
from otabot.slack.access import Requester
from otabot.slack.replies import WatchReply
from otabot.watch.posting import ChannelPoster
from otabot.watch.records import Watch
from otabot.watch.store import MemoryWatchStore, WatchStore
from otabot.watch.watcher import Watcher
from tests.helpers import BOT_TOKEN, EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY
from tests.service.fakes import FakeClock
from tests.world import RecordingService

INTERVAL = 30.0
TTL = 3600.0
CHANNEL = "C0001"
OTHER_CHANNEL = "C0002"
DANA = Requester("T0001", CHANNEL, "U0DANA")


def watch_settings(recorder: SlackSide, **changes: Any) -> Settings:
    base = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_api_url=recorder.api_url,
        watch_interval=INTERVAL,
        watch_ttl=TTL,
        max_watches=3,
    )
    return dataclasses.replace(base, **changes)


@dataclass
class Rig:
    """A watcher and what it talks to; ``later(s)`` moves both clocks and runs one round."""

    watcher: Watcher
    service: RecordingService
    recorder: SlackSide
    clock: FakeClock
    store: WatchStore

    def watch(self, requester: Requester = DANA, job_id: str = EXAMPLE_JOB_ID) -> WatchReply:
        return self.watcher.begin(requester, WatchQuery(job_id, LIGHT_PRODUCT_KEY))

    def stop(self, requester: Requester = DANA, job_id: str = EXAMPLE_JOB_ID) -> WatchReply:
        return self.watcher.end(requester, WatchQuery(job_id, LIGHT_PRODUCT_KEY))

    def later(self, seconds: float = INTERVAL) -> None:
        self.clock.advance(seconds)
        self.watcher.tick()

    def updates(self) -> list[dict[str, Any]]:
        return self.recorder.calls("chat.update")

    def posts(self) -> list[dict[str, Any]]:
        return self.recorder.calls("chat.postMessage")

    def card_ts(self) -> str:
        """The ts Slack gave the first message posted: the card's."""
        ts: str = self.recorder.answers("chat.postMessage")[0]["ts"]
        return ts

    def replies(self) -> list[dict[str, Any]]:
        return [post for post in self.posts() if post.get("thread_ts")]

    def watches(self) -> list[Watch]:
        return self.store.everything()

    def fail_tasks(self, *names: str, reason: str = "flash write failed") -> None:
        """Devices of the job fail (their tasks, in the world the service reads)."""
        tasks = self.service.source.tasks[EXAMPLE_JOB_ID]
        self.service.source.tasks[EXAMPLE_JOB_ID] = [
            dataclasses.replace(task, status=TaskStatus.FAILED, description=reason)
            if task.device_name in names
            else task
            for task in tasks
        ]

    def finish_job(self, status: JobStatus = JobStatus.COMPLETED) -> None:
        source = self.service.source
        source.jobs[EXAMPLE_JOB_ID] = dataclasses.replace(
            source.jobs[EXAMPLE_JOB_ID], status=status
        )


def rig_for(
    recorder: SlackSide,
    *,
    store: WatchStore | None = None,
    service: RecordingService | None = None,
    replica: str | None = None,
    **changes: Any,
) -> Rig:
    service = service or RecordingService()
    clock = service.clock
    used = store if store is not None else MemoryWatchStore(monotonic=clock)
    poster = ChannelPoster(WebClient(base_url=recorder.api_url, token=BOT_TOKEN), monotonic=clock)
    watcher = Watcher(
        watch_settings(recorder, **changes),
        service,
        used,
        poster,
        replica=replica,
        wall_clock=clock.wall,
        monotonic=clock,
    )
    return Rig(watcher, service, recorder, clock, used)


@pytest.fixture
def rig(recorder: SlackSide) -> Iterator[Rig]:
    yield rig_for(recorder)


def section_texts(body: dict[str, Any]) -> list[str]:
    """The text of every section and context element of a posted message."""
    found = []
    for block in body.get("blocks", []):
        if block["type"] == "section":
            found.append(block["text"]["text"])
        elif block["type"] == "context":
            found.extend(element.get("text", "") for element in block["elements"])
    return found


def button_ids(body: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in body.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    ]
