"""Slack-side test helpers: the Bolt app around a fake service, signed requests.

Slack itself is the demo's ``SlackSide`` on a free port (the ``recorder`` fixture of
``tests/conftest.py``): response_urls and the Web API both point at it, and it records
every post.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from otabot.config import Settings
from otabot.demo.slack_side import SlackSide
from otabot.iot.models import OtaJob
from otabot.query.queries import JobsQuery
from otabot.service import JobsLookup, JobsResult
from otabot.service.fetching import WouldCall
from otabot.service.results import Provenance, newest_first
from otabot.slack.app import build_app
from otabot.slack.deferred import NOTICE_AFTER, DeferredLookups
from otabot.slack.responder import ResponseUrlPoster
from tests.helpers import (
    BOT_TOKEN,
    LIGHT_PRODUCT_KEY,
    SHOWCASE_FIRMWARE_ID,
    SIGNING_SECRET,
    api_job,
    make_slack_side,
)
from tests.world import CachedView, RecordingService

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
# light1's jobs for the showcase firmware: the lookup and the query the tests send most.
LOOKUP = JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
QUERY = JobsQuery(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)


def job(
    job_id: str,
    status: str = "IN_PROGRESS",
    created: str = "2024-04-01T10:00:00.000Z",
    **extra: Any,
) -> OtaJob:
    """An OtaJob as the API would describe it (API field names)."""
    tags = {"OtaTagDTO": [{"Key": "team", "Value": "lights"}]}
    return OtaJob.from_api(api_job(job_id, created, status, **({"Tags": tags} | extra)))


def result_of(
    lookup: JobsLookup, jobs: list[OtaJob], total: int | None = None, **provenance: Any
) -> JobsResult:
    """The service's answer with these jobs (of ``total``, when the cap cut the list);
    ``provenance`` overrides fetched_at, from_cache, upstream_calls or request_ids."""
    ordered = newest_first(jobs)
    fields = {"fetched_at": NOW, "from_cache": False, "upstream_calls": 1, "request_ids": ("R1",)}
    origin = Provenance(**(fields | provenance))
    return JobsResult(ordered, len(ordered) if total is None else total, origin, lookup=lookup)


def many_jobs(count: int) -> list[OtaJob]:
    statuses = ("IN_PROGRESS", "COMPLETED", "CANCELED")
    return [
        job(
            f"JOB{index:04d}",
            statuses[index % 3],
            f"2024-04-{1 + index % 28:02d}T10:{index % 60:02d}:00.000Z",
        )
        for index in range(count)
    ]


class FakeLookupService(RecordingService):
    """The recording service, with the jobs lists of ``answers`` by device name (or the
    error a lookup of that device raises), cached like the real one."""

    def __init__(self, answers: dict[str, list[OtaJob] | Exception] | None = None) -> None:
        super().__init__()
        self.answers = answers or {}
        self.jobs_fetched = 0
        self._cache: dict[JobsLookup, JobsResult] = {}

    @property
    def upstream(self) -> int:
        return super().upstream + self.jobs_fetched

    def cached(self, *, counted: bool = True) -> Any:
        return CachedJobs(self)

    def jobs(self, lookup: JobsLookup, refresh: bool = False) -> JobsResult:
        with self._lock:
            self.calls.append(("jobs", lookup))
            self.refreshes.append(refresh)
            if not refresh and lookup in self._cache:
                cached = self._cache[lookup]
                origin = dataclasses.replace(cached.provenance, from_cache=True, upstream_calls=0)
                return dataclasses.replace(cached, provenance=origin)
            answer = self.answers.get(lookup.device_name, [])
            self.jobs_fetched += 1
            if isinstance(answer, Exception):
                raise answer
            result = result_of(lookup, answer)
            self._cache[lookup] = result
            return result


class CachedJobs(CachedView):
    """``FakeLookupService`` answering from its caches only: its own jobs lists, the world's
    other answers."""

    def __init__(self, fake: FakeLookupService) -> None:
        super().__init__(fake)
        self._fake = fake

    def jobs(self, lookup: JobsLookup, refresh: bool = False) -> JobsResult:
        with self._fake._lock:
            if refresh or lookup not in self._fake._cache:
                raise WouldCall("ListOTAJobByDevice")
        return self._fake.jobs(lookup)


def settings_for(recorder: SlackSide, **changes: Any) -> Settings:
    base = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": recorder.api_url,
            "OTABOT_PRODUCT_ALIASES": f"light={LIGHT_PRODUCT_KEY}",
            "OTABOT_PAGE_SIZE": "5",
        }
    )
    return dataclasses.replace(base, **changes) if changes else base


@dataclass
class SlackHarness:
    """The real Bolt app around a service, with its lookup pool exposed so tests can drain it."""

    app: App
    service: Any
    recorder: SlackSide
    executor: ThreadPoolExecutor
    deferred: DeferredLookups

    def drain(self) -> None:
        """Wait for every lazy listener started so far, and every lookup they deferred."""
        self.executor.shutdown(wait=True)
        assert self.deferred.wait_idle(time.monotonic() + 10), "a deferred lookup hung"

    def command(self, text: str, **fields: Any) -> Any:
        """``/ota text``, with a response_url of its own as Slack gives each command."""
        url = self.recorder.open_response_url()
        return self.app.dispatch(signed_command(text, url, **fields))

    def click(self, action_id: str, value: str, **fields: Any) -> Any:
        """A button click, with a response_url of its own as Slack gives each click."""
        url = self.recorder.open_response_url()
        return self.app.dispatch(signed_action(action_id, value, url, **fields))


def harness_for(
    settings: Settings, service: Any, recorder: SlackSide, *, notice_after: float = NOTICE_AFTER
) -> SlackHarness:
    executor = ThreadPoolExecutor(max_workers=4)
    poster = ResponseUrlPoster()
    deferred = DeferredLookups(poster, notice_after=notice_after)
    app = build_app(
        settings,
        service,
        client=WebClient(base_url=recorder.api_url, token=BOT_TOKEN),
        listener_executor=executor,
        poster=poster,
        deferred=deferred,
        wall_clock=NOW.timestamp,
    )
    return SlackHarness(app, service, recorder, executor, deferred)


@pytest.fixture
def fake_service() -> FakeLookupService:
    return FakeLookupService(
        answers={"light1": many_jobs(12), "light2": [job("JOBA")], "light3": []}
    )


@pytest.fixture
def harness(recorder: SlackSide, fake_service: FakeLookupService) -> Iterator[SlackHarness]:
    built = harness_for(settings_for(recorder), fake_service, recorder)
    yield built
    built.executor.shutdown(wait=True)


def sign(
    body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, list[str]]:
    """Headers Slack would send with ``body`` (form-encoded), signed with ``secret``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-signature": [signature],
        "x-slack-request-timestamp": [ts],
    }


# Slack's side builds the requests (its workspace is the tests': T0001, C0001, U0001).
_SLACK = make_slack_side()


def command_body(
    text: str,
    response_url: str,
    *,
    team: str = "T0001",
    channel: str = "C0001",
    user: str = "U0001",
) -> str:
    """A slash command's form as Slack sends it, from ``user`` in ``channel`` of ``team``."""
    form = _SLACK.command_form(text, response_url, user_id=user)
    return urlencode(form | {"team_id": team, "channel_id": channel})


def action_body(
    action_id: str, value: str, response_url: str, *, team: str = "T0001", **where: str
) -> str:
    """A click on an ephemeral message's ``action_id`` button (in the navigation block) as
    Slack sends it; ``where``: ``channel`` and ``user``."""
    button = {"action_id": action_id, "block_id": "ota_navigation", "value": value}
    payload = _SLACK.block_actions_payload({"id": "1.2", "ephemeral": True}, button, response_url)
    channel, user = where.get("channel", "C0001"), where.get("user", "U0001")
    payload["team"]["id"] = payload["user"]["team_id"] = team
    payload["user"]["id"] = user
    payload["channel"]["id"] = payload["container"]["channel_id"] = channel
    return urlencode({"payload": json.dumps(payload)})


def signed_command(
    text: str,
    response_url: str,
    *,
    timestamp: int | None = None,
    secret: str = SIGNING_SECRET,
    retry: int | None = None,
    **fields: Any,
) -> BoltRequest:
    body = command_body(text, response_url, **fields)
    headers = sign(body, timestamp, secret)
    if retry is not None:
        headers["x-slack-retry-num"] = [str(retry)]
        headers["x-slack-retry-reason"] = ["http_timeout"]
    return BoltRequest(body=body, headers=headers)


def signed_action(action_id: str, value: str, response_url: str, **fields: Any) -> BoltRequest:
    body = action_body(action_id, value, response_url, **fields)
    return BoltRequest(body=body, headers=sign(body))
