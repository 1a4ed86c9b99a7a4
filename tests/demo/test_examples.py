"""The examples ``otabot demo`` prints and its page offers: each one, typed into the page,
answers as the on-call story of the sample fleet says it should."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from otabot.config import Settings
from otabot.demo.runner import EMULATOR_EXAMPLES, Demo, DemoOptions
from otabot.demo.slack_side import ChannelMessage, SlackSide
from otabot.emulator.fleet import ROLLOUT_JOB_ID

# What each example must show: its header (None: a message without one) and a fact of
# the story that the answer carries.
STORY = {
    "/ota light/light1": ("OTA · light1", "*in progress* · module `default` · `2.0.0 → 2.1.0`"),
    f"/ota job {ROLLOUT_JOB_ID} light1": (
        f"OTA job · {ROLLOUT_JOB_ID}",
        "Device `light1`: :hourglass_flowing_sand: *IN_PROGRESS* · 40 %",
    ),
    f"/ota job {ROLLOUT_JOB_ID} status=failed": (
        f"Failed devices · {ROLLOUT_JOB_ID}",
        "> signature verification failed",
    ),
    "/ota light/light2": ("OTA · light2", ":red_circle: offline"),
    "/ota light/light2 2.1.0": ("Which firmware package?", "names 2 packages — which one?"),
    "/ota light/light1 1.3.0": ("OTA jobs · light1", "*14 jobs*"),
    "/ota firmware light": ("Firmware · Smart light", "*6 packages*"),
    f"/ota watch {ROLLOUT_JOB_ID}": (
        f"OTA job · {ROLLOUT_JOB_ID}",
        "*Watched* — this card changes",
    ),
    "/ota help": (None, "/ota job JOBID status=failed [page=N]"),
}


@pytest.fixture(scope="module")
def side() -> Iterator[SlackSide]:
    demo = Demo(Settings(), DemoOptions(port=0)).start()
    assert demo.side is not None and demo.examples == EMULATOR_EXAMPLES
    yield demo.side
    demo.stop()


def answer_to(side: SlackSide, typed: str, timeout: float = 10.0) -> ChannelMessage:
    """Type into an empty channel; the app's first message with blocks (polled, bounded)."""
    side.clear()
    side.submit(typed)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answers = [m for m in side.messages() if m.kind == "app" and m.blocks]
        if answers:
            return answers[0]
        time.sleep(0.02)
    pytest.fail(f"no answer to {typed!r}: {[m.text for m in side.messages()]}")


def test_every_example_has_its_place_in_the_story() -> None:
    assert sorted(STORY) == sorted(EMULATOR_EXAMPLES)


@pytest.mark.parametrize("example", EMULATOR_EXAMPLES)
def test_the_example_answers_as_the_story_says(side: SlackSide, example: str) -> None:
    header, fact = STORY[example]

    answer = answer_to(side, example)

    shown = json.dumps(answer.blocks, ensure_ascii=False)
    first = answer.blocks[0]
    assert (first["text"]["text"] if first["type"] == "header" else None) == header
    assert json.dumps(fact, ensure_ascii=False)[1:-1] in shown
    assert ":warning:" not in shown


def test_every_example_in_the_help_answers_in_the_demo(side: SlackSide) -> None:
    """The help's examples name the sample fleet, so each one answers there (no warning)."""
    import re

    from otabot.slack.blocks import help_message

    text = json.dumps(help_message().as_payload()["blocks"], ensure_ascii=False)
    examples = re.findall(r"`(/ota [^`]+)`", text.split("Examples:", 1)[1])
    assert len(examples) >= 5
    for example in examples:
        answer = answer_to(side, example)
        assert ":warning:" not in json.dumps(answer.blocks, ensure_ascii=False), example
