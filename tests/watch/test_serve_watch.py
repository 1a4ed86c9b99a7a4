"""Watching end to end over HTTP: two ``otabot serve --http`` replicas sharing a real Redis,
the emulator's fleet changed through ``POST /__emulator/fleet``, Slack played by the
recording server. The card is posted, edited when the fleet changes, taken over by the
other replica when the first stops, ended when the job completes, and stopped by its
button."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import requests

from otabot.demo.rollout import advanced
from otabot.demo.slack_side import SlackSide
from otabot.emulator.fleet import LIGHT_PRODUCT_KEY, ROLLOUT_JOB_ID, Fleet
from otabot.emulator.server import EmulatorServer
from otabot.slack import ids
from tests.slack.conftest import action_body, command_body
from tests.slack.test_serve import ServeProcess, serve_env

pytestmark = pytest.mark.slow

INTERVAL = 5  # OTABOT_WATCH_INTERVAL's least
OTHER_JOB = "xtpYlSXpfKtHF4vUCsMe020100"  # another running job of the sample fleet


def wait_until(condition: Callable[[], Any], timeout: float = 4 * INTERVAL) -> Any:
    """Poll ``condition`` until it is truthy (bounded); its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def post_fleet(emulator: EmulatorServer, fleet: Fleet) -> None:
    """Replace the emulator's fleet as an operator or a test harness would: over HTTP."""
    reply = requests.post(f"{emulator.url}/__emulator/fleet", json=fleet.to_dict(), timeout=5)
    assert reply.status_code == 200, reply.text


def edits_of(recorder: SlackSide, ts: str) -> list[dict[str, Any]]:
    return [call for call in recorder.calls("chat.update") if call.get("ts") == ts]


@pytest.fixture
def replicas(
    recorder: SlackSide, emulator: EmulatorServer, redis_url: str
) -> Iterator[list[ServeProcess]]:
    env = serve_env(recorder, emulator) | {
        "OTABOT_REDIS_URL": redis_url,
        "OTABOT_WATCH_INTERVAL": str(INTERVAL),
    }
    started = [ServeProcess(env), ServeProcess(env)]
    yield started
    for process in started:
        process.stop()


def test_a_watched_card_follows_the_rollout_across_replicas_until_it_ends(
    replicas: list[ServeProcess],
    recorder: SlackSide,
    emulator: EmulatorServer,
    redis_url: str,
) -> None:
    first, second = replicas
    first_url, second_url = first.events_url(), second.events_url()
    store = redis.Redis.from_url(redis_url)

    # /ota watch: the card is posted in the channel.
    ack = first.post(first_url, command_body(f"watch {ROLLOUT_JOB_ID}", recorder.response_url()))
    assert ack.status_code == 200
    (card,) = recorder.wait_for_calls("chat.postMessage", 1)
    assert card["channel"] == "C0001" and "18 succeeded" in json.dumps(card)
    card_ts = recorder.answers("chat.postMessage")[0]["ts"]  # the ts Slack gave the card

    # The fleet changes: the card is edited.
    post_fleet(emulator, advanced(emulator.fleet, datetime.now(UTC)))
    edit = wait_until(lambda: edits_of(recorder, card_ts))[-1]
    assert "19 succeeded" in json.dumps(edit)  # lamp-32 finished
    # Its thread reply (the newly failed device) follows the edit.
    replies = wait_until(lambda: recorder.calls("chat.postMessage")[1:])
    assert [reply["thread_ts"] for reply in replies] == [card_ts]

    # The first replica stops: the second keeps the card current.
    assert first.stop() == 0
    edits = len(edits_of(recorder, card_ts))
    post_fleet(emulator, advanced(emulator.fleet, datetime.now(UTC)))
    wait_until(lambda: len(edits_of(recorder, card_ts)) > edits)

    # The job completes: a last edit, and the watch is gone from Redis.
    finished = emulator.fleet
    while (moved := advanced(finished, datetime.now(UTC))) is not finished:
        finished = moved
    post_fleet(emulator, finished)
    last = wait_until(
        lambda: [e for e in edits_of(recorder, card_ts) if "The job completed" in json.dumps(e)]
    )[0]
    assert ids.ACTION_UNWATCH not in json.dumps(last)
    wait_until(lambda: not store.keys("otabot:{watch:testid}:*"))

    # Another job, watched with the job card's button and stopped with the card's.
    value = f"watch {OTHER_JOB} product={LIGHT_PRODUCT_KEY}"
    second.post(second_url, action_body(ids.ACTION_WATCH, value, recorder.response_url("c1")))
    (_, other) = wait_until(lambda: _cards(recorder) if len(_cards(recorder)) == 2 else None)
    assert OTHER_JOB in json.dumps(other)
    second.post(second_url, action_body(ids.ACTION_UNWATCH, value, recorder.response_url("c2")))
    stopped = wait_until(
        lambda: [e for e in recorder.calls("chat.update") if "stopped watching" in json.dumps(e)]
    )
    assert "<@U0001> stopped watching" in json.dumps(stopped[0])
    wait_until(lambda: not store.keys("otabot:{watch:testid}:*"))
    assert edits_of(recorder, card_ts)[-1] == last  # the ended card was never touched again
    store.close()


def _cards(recorder: SlackSide) -> list[dict[str, Any]]:
    """Messages posted in the channel itself (not thread replies)."""
    return [post for post in recorder.calls("chat.postMessage") if not post.get("thread_ts")]
