"""Watching in the demo, as a person sees it in headless Chromium: ``/ota watch`` posts the
rollout's card in the channel, the card changes on the page as the rollout moves on, a
newly failed device shows up in its thread, and Stop watching ends it.

The demo runs in this process, so the test moves the rollout a step itself instead of
waiting for the mover's timer. Needs Debian's ``chromium`` (see ``test_browser``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otabot.config import Settings
from otabot.demo.runner import Demo, DemoOptions
from otabot.emulator.fleet import ROLLOUT_JOB_ID
from tests.demo.chromium import chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# The card edited in place (a new revision of the same message) with the new counts.
EDITED = """() => [...document.querySelectorAll('.message[data-kind=app]')].some(m =>
    m.dataset.visibility === 'channel' && m.dataset.revision !== '1'
    && m.innerText.includes('19 succeeded'))"""
CARD = (
    ".message[data-visibility='channel'][data-kind='app']"
    f":has-text('OTA job · {ROLLOUT_JOB_ID}'):not(.thread-reply)"
)


@pytest.fixture
def demo() -> Iterator[Demo]:
    running = Demo(Settings(), DemoOptions(port=0)).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium() as browser:
        opened = browser.new_page(viewport={"width": 1280, "height": 1100})
        opened.set_default_timeout(20_000)  # a watch interval of the demo is 5 s
        yield opened


def test_a_watched_card_changes_on_the_page_as_the_rollout_moves(
    demo: Demo, page: Any, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(demo.url)
    page.fill("#composer", f"/ota watch {ROLLOUT_JOB_ID}")
    page.press("#composer", "Enter")

    card = page.locator(CARD)
    card.wait_for()
    assert "18 succeeded" in card.inner_text() and "Watched" in card.inner_text()
    assert card.get_attribute("data-revision") == "1"

    assert demo.rollout is not None
    demo.rollout.step()  # lamp-32 finishes, lamp-31 fails
    page.wait_for_function(EDITED)
    assert "(updated)" in card.inner_text()
    reply = page.locator(".message.thread-reply", has_text="lamp-31")
    reply.wait_for()
    assert "checksum mismatch after download" in reply.inner_text()
    page.screenshot(path=str(tmp_path / "watched.png"), full_page=True)

    card.get_by_role("button", name="Stop watching").click()
    page.locator(CARD, has_text="stopped watching").wait_for()
    assert card.get_by_role("button", name="Stop watching").count() == 0
    assert errors == []
