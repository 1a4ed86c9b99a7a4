"""The page's Block Kit and mrkdwn rendering, checked in headless Chromium.

Messages are posted through the Web API stub (as an app would), then the DOM is
read back: formatting, links, dates in the reader's zone, emoji, mentions, and that
nothing from a message ever becomes markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from otabot.demo.slack_side import SlackSide
from otabot.demo.web import SlackServer
from tests.conftest import skip_or_fail
from tests.demo.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import BOT_TOKEN, LIGHT_PRODUCT_KEY, SIGNING_SECRET

MOMENT = datetime(2024, 3, 5, 14, 7, tzinfo=UTC)  # 22:07 in Shanghai, 15:07 in Paris

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        skip_or_fail("OTABOT_REQUIRE_BROWSER", f"Debian's chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def side() -> Iterator[SlackSide]:
    with SlackServer(SlackSide(SIGNING_SECRET, BOT_TOKEN), name="render-page") as slack:
        yield slack


Show = Callable[[list[dict[str, Any]], str], Any]


@pytest.fixture
def show(chromium: Any, side: SlackSide) -> Iterator[Show]:
    """Post blocks as the app, open the page for a reader in a zone; gives the message."""
    contexts: list[Any] = []

    def post_and_open(blocks: list[dict[str, Any]], zone: str) -> Any:
        answer = side.web_api("chat.postMessage", BOT_TOKEN, {"text": "fallback", "blocks": blocks})
        assert answer["ok"]
        context = chromium.new_context(locale="en-US", timezone_id=zone)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(side.base_url + "/")
        message = page.locator(f'article[data-message-id="{answer["ts"]}"]')
        message.wait_for()
        return message

    yield post_and_open
    for context in contexts:
        context.close()


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_mrkdwn_bold_italic_strike_code_and_pre(show: Show) -> None:
    message = show(
        [mrkdwn("*bold* _italic_ ~gone~ `a<b` and\n```line 1\nline &amp; 2```")],
        "UTC",
    )

    assert message.locator("b").inner_text() == "bold"
    assert message.locator("i").inner_text() == "italic"
    assert message.locator("s").inner_text() == "gone"
    assert message.locator("code").inner_text() == "a<b"
    assert message.locator("pre").inner_text() == "line 1\nline & 2"


def test_markup_in_a_message_stays_text(show: Show) -> None:
    hostile = "&lt;img src=x onerror=alert(1)&gt; <b>raw</b> &lt;!channel&gt;"

    message = show([mrkdwn(hostile)], "UTC")

    assert message.locator("img").count() == 0
    assert message.locator(".bk-text b").count() == 0
    assert "<img src=x onerror=alert(1)>" in message.inner_text()
    assert "<!channel>" in message.inner_text()


def test_links_open_only_web_urls(show: Show) -> None:
    message = show(
        [mrkdwn("<https://example.com/a?b=1&amp;c=2|the docs> <javascript:alert(1)|x>")],
        "UTC",
    )

    [link] = message.locator("a").all()
    assert link.inner_text() == "the docs"
    assert link.get_attribute("href") == "https://example.com/a?b=1&c=2"
    assert link.get_attribute("rel") == "noopener noreferrer"


@pytest.mark.parametrize(
    ("zone", "expected"), [("Asia/Shanghai", "10:07 PM"), ("Europe/Paris", "3:07 PM")]
)
def test_dates_show_in_the_readers_time_zone(show: Show, zone: str, expected: str) -> None:
    stamp = int(MOMENT.timestamp())

    message = show([mrkdwn(f"at <!date^{stamp}^{{date_short}} {{time}}|fallback>")], zone)

    assert message.locator("time.slack-date").inner_text() == f"Mar 5, 2024 {expected}"


def test_known_emoji_are_drawn_and_unknown_ones_stay_text(show: Show) -> None:
    message = show([mrkdwn(":white_check_mark: done :party_parrot: 12:30:45")], "UTC")

    assert message.locator("svg.emoji[aria-label=':white_check_mark:']").count() == 1
    text = message.locator(".bk-text").inner_text()
    assert ":party_parrot:" in text
    assert "12:30:45" in text


def test_mentions_show_names(show: Show) -> None:
    message = show([mrkdwn("by <@U0DEMO0001> in <#C0DEMO0001>")], "UTC")

    assert [m.inner_text() for m in message.locator(".mention").all()] == [
        "@Dana (on call)",
        "#ops-oncall",
    ]


def test_header_fields_context_divider_and_styled_buttons(show: Show) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "OTA jobs · light1"}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Status*\nIN_PROGRESS"},
                {"type": "plain_text", "text": "Type"},
            ],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"product `{LIGHT_PRODUCT_KEY}`"}],
        },
        {"type": "divider"},
        {
            "type": "actions",
            "block_id": "nav",
            "elements": [
                {
                    "type": "button",
                    "action_id": "go",
                    "text": {"type": "plain_text", "text": "Go"},
                    "style": "primary",
                },
                {
                    "type": "button",
                    "action_id": "stop",
                    "text": {"type": "plain_text", "text": "Stop"},
                    "style": "danger",
                },
            ],
        },
    ]

    message = show(blocks, "UTC")

    assert message.locator(".bk-header").inner_text() == "OTA jobs · light1"
    assert message.locator(".bk-field").count() == 2
    assert message.locator(".bk-context code").inner_text() == LIGHT_PRODUCT_KEY
    assert message.locator("hr.bk-divider").count() == 1
    assert message.locator("button.bk-button.primary").inner_text() == "Go"
    assert message.locator("button.bk-button.danger").inner_text() == "Stop"
    assert message.get_attribute("data-visibility") == "channel"
