"""Any text at all after ``/ota``, as a signed request: otabot answers 200 in words, never
crashes, and an input it refuses costs no service call."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient

from otabot.config import Settings
from otabot.demo.slack_side import SlackSide
from otabot.demo.web import SlackServer
from otabot.slack.app import build_app
from otabot.slack.deferred import DeferredLookups
from otabot.slack.replies import APOLOGY
from otabot.slack.responder import ResponseUrlPoster
from tests.helpers import (
    BOT_TOKEN,
    EXAMPLE_JOB_ID,
    SHOWCASE_FIRMWARE_ID,
    SIGNING_SECRET,
    make_slack_side,
)
from tests.slack.conftest import NOW, signed_command
from tests.world import ENV, RecordingService


class InlineExecutor(Executor):
    """Runs each lazy listener at once, so a dispatch returns with its work done."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        done: Future[Any] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to whoever reads the future, as a pool would
            done.set_exception(error)
        return done


@pytest.fixture(scope="module")
def recorder_once() -> Iterator[SlackSide]:
    with SlackServer(make_slack_side()) as side:
        yield side


PIECES = [
    "light/light1", "light1", SHOWCASE_FIRMWARE_ID, EXAMPLE_JOB_ID, "1.2.0", "v2", "2.5.0", "job",
    "jobs", "firmware",
    "help", "status=done", "status=failed", "page=2", "page=0", "product=light", "device=x",
    "version=", "instance=iot-1", "`", "*", "<!channel>", "<http://a.b|a.b>", "&amp;", "\u00a0",
    "=", "/", "lamp/light1", "light/li",
]  # fmt: skip

TEXTS = st.one_of(
    st.text(max_size=120),
    st.lists(st.sampled_from(PIECES), max_size=6).map(" ".join),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=TEXTS)
def test_any_text_is_answered_and_a_refused_one_costs_no_call(
    recorder_once: SlackSide, text: str
) -> None:
    service = RecordingService()
    poster = ResponseUrlPoster()
    deferred = DeferredLookups(poster)
    app = build_app(
        dataclasses.replace(
            Settings.from_env(ENV),
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=recorder_once.api_url,
        ),
        service,
        client=WebClient(base_url=recorder_once.api_url, token=BOT_TOKEN),
        listener_executor=InlineExecutor(),
        poster=poster,
        deferred=deferred,
        wall_clock=NOW.timestamp,
    )
    before = len(recorder_once.responses())
    response = app.dispatch(signed_command(text, recorder_once.response_url()))
    assert response.status == 200
    assert deferred.wait_idle(time.monotonic() + 10)
    ack = json.loads(response.body) if response.body else None
    posted = recorder_once.responses()[before:]
    if ack is not None:
        assert ack["response_type"] == "ephemeral" and ack["text"] != APOLOGY
        assert service.calls == [] and posted == []
    else:
        assert service.calls and len(posted) == 1
        assert not posted[0]["text"].startswith("Sorry")
