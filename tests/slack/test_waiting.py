"""Lookups that wait for the IoT API's quota, as the person asking sees them.

Signed requests through the real app; the service's lookups held on an event (the API
"busy"), its wait estimate set by the test; what reaches ``response_url`` recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from otabot.demo.slack_side import SlackSide
from otabot.service import JobsLookup, JobsResult
from otabot.slack import ids
from otabot.slack.deferred import RESTARTING, DeferredLookups
from otabot.slack.responder import ResponseUrlPoster
from tests.helpers import SHOWCASE_FIRMWARE_ID
from tests.slack.conftest import FakeLookupService, SlackHarness, harness_for, job, settings_for


class BusyService(FakeLookupService):
    """Lookups not cached wait until ``release`` (the quota's turn); ``wait`` is what the
    quota would estimate."""

    def __init__(self) -> None:
        super().__init__(answers={"light1": [job("JOBA")], "light2": [job("JOBB")]})
        self.release = threading.Event()
        self.wait = 0.0

    def estimate(self, actions: Sequence[str], user: str) -> float:
        return self.wait

    def jobs(self, lookup: JobsLookup, refresh: bool = False) -> JobsResult:
        with self._lock:
            cached = not refresh and lookup in self._cache
        if not cached:
            assert self.release.wait(10), "the test never released the lookup"
        return super().jobs(lookup, refresh)


@pytest.fixture
def busy() -> BusyService:
    return BusyService()


@pytest.fixture
def waiting(recorder: SlackSide, busy: BusyService) -> Iterator[SlackHarness]:
    built = harness_for(settings_for(recorder), busy, recorder, notice_after=0.3)
    yield built
    busy.release.set()
    built.drain()


def texts(recorder: SlackSide) -> list[str]:
    return [json.dumps(body, ensure_ascii=False) for body in recorder.responses()]


def test_a_command_expected_to_wait_says_so_in_its_ack_then_answers(
    waiting: SlackHarness, busy: BusyService, recorder: SlackSide
) -> None:
    busy.wait = 40.0
    ack = waiting.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    assert ack.status == 200
    said = json.loads(ack.body)
    assert said["response_type"] == "ephemeral"
    assert "Queued for the IoT API — about 40 s" in said["text"]
    time.sleep(0.6)  # past the notice time: told in the ack, so no second notice
    assert recorder.responses() == []
    busy.release.set()
    (answer,) = recorder.wait_for_responses(1)
    assert "JOBA" in json.dumps(answer)


def test_a_command_with_a_short_wait_acks_empty(
    waiting: SlackHarness, busy: BusyService, recorder: SlackSide
) -> None:
    busy.wait = 0.5
    busy.release.set()
    ack = waiting.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    assert ack.status == 200 and ack.body == ""
    (answer,) = recorder.wait_for_responses(1)
    assert "JOBA" in json.dumps(answer)


def test_a_lookup_still_waiting_at_its_notice_time_is_told_then_answered(
    waiting: SlackHarness, busy: BusyService, recorder: SlackSide
) -> None:
    busy.wait = 1.0  # short enough for an empty ack; the wait turns out longer
    waiting.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    (notice,) = recorder.wait_for_responses(1)
    assert "Queued for the IoT API — about 1 s" in notice["text"]
    busy.release.set()
    answer = recorder.wait_for_responses(2)[1]
    assert "JOBA" in json.dumps(answer)


def test_a_page_turn_waiting_replaces_the_card_with_its_notice_then_its_answer(
    waiting: SlackHarness, busy: BusyService, recorder: SlackSide
) -> None:
    busy.wait = 5.0
    waiting.click(ids.ACTION_REFRESH, f"jobs light/light1 {SHOWCASE_FIRMWARE_ID}")
    (notice,) = recorder.wait_for_responses(1)
    assert notice["replace_original"] is True and "Queued" in notice["text"]
    busy.release.set()
    answer = recorder.wait_for_responses(2)[1]
    assert answer["replace_original"] is True and "JOBA" in json.dumps(answer)


def test_cached_answers_do_not_queue_behind_lookups_waiting_for_the_api(
    waiting: SlackHarness, busy: BusyService, recorder: SlackSide
) -> None:
    busy.release.set()
    waiting.command(f"light/light2 {SHOWCASE_FIRMWARE_ID}")
    recorder.wait_for_responses(1)  # light2 cached from here on
    busy.release.clear()
    for n in range(20):  # more than the harness's 4 listener workers
        waiting.command(f"light/light1 v{n}.0.0")
    started = time.monotonic()
    waiting.command(f"light/light2 {SHOWCASE_FIRMWARE_ID}")
    deadline = started + 5
    while not any("JOBB" in text for text in texts(recorder)[1:]):
        assert time.monotonic() < deadline, "the cached answer waited behind the queue"
        time.sleep(0.02)
    busy.release.set()


def test_stopping_tells_every_unanswered_lookup_and_refuses_new_ones_in_words(
    recorder: SlackSide,
) -> None:
    deferred = DeferredLookups(ResponseUrlPoster(), notice_after=60)
    never = threading.Event()

    def stuck(delivery: Any) -> None:
        never.wait(10)

    for name in ("a", "b"):
        refused = deferred.submit(
            stuck,
            response_url=recorder.response_url(name),
            replace=False,
            estimate=lambda: 1.0,
            name="test",
        )
        assert refused is None
    assert deferred.pending == 2
    started = time.monotonic()
    assert deferred.stop(time.monotonic() + 0.2) == 2
    assert time.monotonic() - started < 2
    told = recorder.wait_for_responses(2)
    assert all(RESTARTING in body["text"] for body in told)
    assert (
        deferred.submit(
            stuck,
            response_url=recorder.response_url("c"),
            replace=False,
            estimate=lambda: 1.0,
            name="test",
        )
        == RESTARTING
    )
    never.set()


def test_past_the_pending_limit_a_lookup_is_refused_in_words(recorder: SlackSide) -> None:
    deferred = DeferredLookups(ResponseUrlPoster(), notice_after=60, max_pending=1)
    hold = threading.Event()
    assert (
        deferred.submit(
            lambda delivery: hold.wait(10),
            response_url=recorder.response_url("a"),
            replace=False,
            estimate=lambda: 1.0,
            name="test",
        )
        is None
    )
    refused = deferred.submit(
        lambda delivery: None,
        response_url=recorder.response_url("b"),
        replace=False,
        estimate=lambda: 1.0,
        name="test",
    )
    assert refused is not None and "1 lookups waiting" in refused
    hold.set()
    assert deferred.wait_idle(time.monotonic() + 5)


def test_a_lookup_with_no_turn_to_wait_for_is_told_the_api_is_slow_not_that_it_queues(
    waiting: SlackHarness, busy: BusyService, recorder: SlackSide
) -> None:
    busy.wait = 0.0  # nobody ahead: what holds the lookup is the API itself
    waiting.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    (notice,) = recorder.wait_for_responses(1)
    assert "Still waiting for the IoT API: it is slow to answer" in notice["text"]
    assert "Queued" not in notice["text"] and "fairly" not in notice["text"]
    busy.release.set()
    assert "JOBA" in json.dumps(recorder.wait_for_responses(2)[1])


def test_work_that_answers_elsewhere_gets_no_notice(recorder: SlackSide) -> None:
    """A watch posts its card in the channel, not to the response_url: once its work is
    done, nobody is told it is still queued."""
    deferred = DeferredLookups(ResponseUrlPoster(), notice_after=0.2)
    refused = deferred.submit(
        lambda delivery: None,
        response_url=recorder.response_url("w"),
        replace=False,
        estimate=lambda: 5.0,
        name="watch",
    )
    assert refused is None
    assert deferred.wait_idle(time.monotonic() + 5)
    time.sleep(0.5)  # past the notice time
    assert recorder.responses() == []


def test_a_notice_never_lands_after_the_answer_it_would_replace(recorder: SlackSide) -> None:
    """The notice and the answer of a page turn both replace the card: the answer, posted
    while the notice is on its way, waits for it, so the card ends as the answer."""
    slow_posts: list[str] = []

    class SlowPoster(ResponseUrlPoster):
        def post(self, response_url: str, message: Any, **options: Any) -> bool:
            if "Still waiting" in message.text or "Queued" in message.text:
                slow_posts.append("notice")
                time.sleep(0.4)  # the notice is slow to reach Slack
            return super().post(response_url, message, **options)

    deferred = DeferredLookups(SlowPoster(), notice_after=0.1)
    release = threading.Event()

    def work(delivery: Any) -> None:
        release.wait(5)
        from otabot.slack.blocks import Message

        delivery.post(Message(text="the answer"), replace_original=True)

    deferred.submit(
        work,
        response_url=recorder.response_url("p"),
        replace=True,
        estimate=lambda: 0.0,
        name="page",
    )
    deadline = time.monotonic() + 5
    while not slow_posts and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()  # the answer is ready while the notice is still being posted
    assert deferred.wait_idle(time.monotonic() + 5)
    posted = [body["text"] for body in recorder.responses()]
    assert posted[-1] == "the answer" and len(posted) == 2
