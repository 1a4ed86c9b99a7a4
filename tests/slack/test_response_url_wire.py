"""The response_urls otabot will post to: only what can go on the wire (found by the HTTP
property test)."""

from __future__ import annotations

import pytest

from otabot.config import Settings
from otabot.slack.access import response_url_refusal


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/actions/T1/2/\x1b",
        "https://hooks.slack.com/actions/T1/2/a\nb",
        "https://hooks.slack.com/actions/T1/2/a b",
        "https://hooks.slack.com/actions/T1/2/caf\u00e9",
        "https://hooks.slack.com/actions/T1/2/x\t",
        " https://hooks.slack.com/actions/T1/2/x",
    ],
)
def test_a_response_url_that_cannot_go_on_the_wire_is_refused(url: str) -> None:
    assert response_url_refusal(Settings(), url) is not None


def test_slack_response_urls_with_every_printable_character_are_still_slack_s() -> None:
    url = "https://hooks.slack.com/actions/T1/2/" + "".join(map(chr, range(0x21, 0x7F)))
    assert response_url_refusal(Settings(), url) is None
