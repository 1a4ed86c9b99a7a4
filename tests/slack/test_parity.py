"""The parity table as signed ``/ota`` commands through the real app and the harness.

Each row must end as ``otabot`` ends it (``tests/cli/test_parity.py``): the same usage
error (in the ack, no call), the same service calls, the same words.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Iterator

import pytest

from otabot.config import Settings
from otabot.demo.slack_side import SlackSide
from tests.helpers import BOT_TOKEN, SIGNING_SECRET
from tests.parity import ROWS, Names, Refused, Row, Says
from tests.slack.conftest import SlackHarness, harness_for
from tests.world import ENV, RecordingService


def texts(value: object) -> list[str]:
    """Every ``text`` string in a message, depth first."""
    if isinstance(value, dict):
        found = [value["text"]] if isinstance(value.get("text"), str) else []
        return found + [t for item in value.values() for t in texts(item)]
    if isinstance(value, list):
        return [t for item in value for t in texts(item)]
    return []


def words_of(message: object) -> str:
    """A message's text as words: code spans and mrkdwn escapes taken off."""
    return html.unescape("\n".join(texts(message)).replace("`", ""))


@pytest.fixture
def world(recorder: SlackSide) -> Iterator[SlackHarness]:
    settings = dataclasses.replace(
        Settings.from_env(ENV),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=recorder.api_url,
    )
    built = harness_for(settings, RecordingService(), recorder)
    yield built
    built.executor.shutdown(wait=True)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_ota_reads_each_row_as_the_cli_does(row: Row, world: SlackHarness) -> None:
    response = world.command(row.slack)
    verdict = row.verdict
    if isinstance(verdict, Refused):
        ack = json.loads(response.body)
        assert ack["response_type"] == "ephemeral"
        assert f":warning: {verdict.said(cli=False)}\n" in words_of(ack["blocks"])
        world.drain()
        assert world.service.calls == [] and world.recorder.responses() == []
        return
    assert response.status == 200 and response.body == ""
    (posted,) = world.recorder.wait_for_responses(1)
    world.drain()
    if isinstance(verdict, Names):
        assert world.service.calls == list(verdict.calls)
        assert ":warning:" not in json.dumps(posted)
    else:
        assert isinstance(verdict, Says)
        assert verdict.words in words_of(posted)
        assert world.service.calls
