"""The demo page against other web origins: no CSRF into /demo/*, no DNS rebinding.

The page may drive a real IoT account (``otabot demo --endpoint``), so another site the
user has open must not be able to type commands into it or read the channel.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from otabot.demo.slack_side import SlackSide
from otabot.demo.web import DemoWebApp, SlackServer
from otabot.wsgi import BackgroundWsgiServer
from tests.helpers import BOT_TOKEN, SIGNING_SECRET


@pytest.fixture
def page() -> Iterator[tuple[SlackSide, str]]:
    with SlackServer(SlackSide(SIGNING_SECRET, BOT_TOKEN), name="test-page") as side:
        yield side, side.base_url


@pytest.mark.parametrize("path", ["/demo/command", "/demo/action", "/demo/clear"])
def test_a_simple_cross_site_form_post_is_refused(page: tuple[SlackSide, str], path: str) -> None:
    side, url = page
    response = requests.post(
        url + path,
        data=b'{"text": "hello from another site"}',
        headers={"Content-Type": "text/plain"},
        timeout=5,
    )
    assert response.status_code in (403, 415) and response.json()["ok"] is False
    assert side.messages() == []


def test_a_post_from_another_origin_is_refused(page: tuple[SlackSide, str]) -> None:
    side, url = page
    response = requests.post(
        url + "/demo/command",
        json={"text": "hello"},
        headers={"Origin": "https://evil.example"},
        timeout=5,
    )
    assert response.status_code == 403 and response.json()["error"] == "cross_origin"
    assert side.messages() == []


def test_a_post_from_the_page_itself_is_taken(page: tuple[SlackSide, str]) -> None:
    side, url = page
    response = requests.post(
        url + "/demo/command", json={"text": "hello"}, headers={"Origin": url}, timeout=5
    )
    assert response.status_code == 200 and len(side.messages()) == 1


def test_a_request_for_another_host_name_is_refused(page: tuple[SlackSide, str]) -> None:
    side, url = page
    side.submit("secret job list")
    port = url.rsplit(":", 1)[1]
    rebound = requests.get(
        url + "/demo/messages", headers={"Host": f"attacker.example:{port}"}, timeout=5
    )
    assert rebound.status_code == 403 and "secret" not in rebound.text
    local = requests.get(url + "/demo/messages", headers={"Host": f"localhost:{port}"}, timeout=5)
    assert local.status_code == 200


def test_a_page_served_to_the_network_takes_any_host_name() -> None:
    side = SlackSide(SIGNING_SECRET, BOT_TOKEN)
    app = DemoWebApp(side, allowed_hosts=None)
    server = BackgroundWsgiServer(app, port=0, name="test-page-lan").start()
    try:
        response = requests.get(
            server.url + "/demo/messages", headers={"Host": "demo-box.lan"}, timeout=5
        )
        assert response.status_code == 200
    finally:
        server.stop()
        side.close()


def test_the_demo_answers_its_own_page_and_refuses_a_rebound_host_name() -> None:
    from otabot.config import Settings
    from otabot.demo.runner import Demo, DemoOptions

    demo = Demo(Settings(), DemoOptions(host="127.0.0.1", port=0)).start()
    try:
        assert demo.side is not None
        sent = requests.post(demo.url + "demo/command", json={"text": "/ota help"}, timeout=10)
        assert sent.status_code == 200 and sent.json()["ok"] is True
        port = demo.url.rstrip("/").rsplit(":", 1)[1]
        rebound = requests.get(
            demo.url + "demo/messages", headers={"Host": f"evil.example:{port}"}, timeout=5
        )
        assert rebound.status_code == 403
    finally:
        demo.stop()
