"""Slack's side of the demo, over real HTTP: signing, payloads, response_url rules, Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from otabot.demo.slack_side import (
    RESPONSE_URL_LIFETIME_SECONDS,
    DemoWorkspace,
    Fault,
    ResponseUrlError,
    SlackSide,
)
from otabot.demo.web import DemoWebApp, SlackServer
from otabot.wsgi import BackgroundWsgiServer
from tests.helpers import APP_TOKEN, BOT_TOKEN, SHOWCASE_FIRMWARE_ID, SIGNING_SECRET, FakeClock

BUTTON_BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*page 1*"}},
    {
        "type": "actions",
        "block_id": "nav",
        "elements": [
            {
                "type": "button",
                "action_id": "ota_next",
                "text": {"type": "plain_text", "text": "Next ▶"},
                "value": "state-page-2",
            }
        ],
    },
]


@dataclass
class RecordingApp:
    """A WSGI app standing in for otabot: records each request, answers a fixed body."""

    status: str = "200 OK"
    body: bytes = b""
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        self.requests.append((headers, raw))
        start_response(self.status, [("Content-Type", "application/json")])
        return [self.body]


@dataclass
class Running:
    side: SlackSide
    clock: FakeClock
    page: SlackServer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def running(clock: FakeClock) -> Iterator[Running]:
    """A SlackSide behind its page server on a free port."""
    page = SlackServer(SlackSide(SIGNING_SECRET, BOT_TOKEN, wall_clock=clock, app_token=APP_TOKEN))
    with page as side:
        yield Running(side, clock, page)


@pytest.fixture
def recording_app(running: Running) -> Iterator[RecordingApp]:
    app = RecordingApp()
    server = BackgroundWsgiServer(app, port=0, name="test-recording-app").start()
    running.side.events_url = f"{server.url}/slack/events"
    yield app
    server.stop()


def bolt_app(secret: str, api_url: str) -> App:
    """A minimal Bolt app: answers /ota with a button, replaces the message on a click.

    Its Web API calls (Bolt's auth.test) go to the page's stub, never to slack.com.
    """
    app = App(
        signing_secret=secret,
        client=WebClient(token=BOT_TOKEN, base_url=api_url),
        token_verification_enabled=False,
        process_before_response=True,
    )

    @app.command("/ota")
    def command(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        ack()
        respond(text=f"you typed {command['text']}", blocks=BUTTON_BLOCKS)

    @app.action("ota_next")
    def next_page(ack: Any, respond: Any, body: dict[str, Any]) -> None:
        ack()
        value = body["actions"][0]["value"]
        respond(
            replace_original=True,
            text=value,
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": value}}],
        )

    return app


@pytest.fixture
def with_bolt(running: Running) -> Iterator[Running]:
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    running.clock.now = time.time()  # Bolt checks the timestamp against the real clock
    server = BackgroundWsgiServer(
        SlackRequestHandler(bolt_app(SIGNING_SECRET, f"{running.page.url}/api/")),
        port=0,
        name="test-bolt",
    ).start()
    running.side.events_url = f"{server.url}/slack/events"
    yield running
    server.stop()


def form_of(raw: bytes) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(raw.decode()).items()}


# ----- requests to the app --------------------------------------------------------------
def test_slash_command_is_signed_so_the_signing_secret_verifies_it(
    running: Running, recording_app: RecordingApp
) -> None:
    running.side.submit(f"/ota light/light1 {SHOWCASE_FIRMWARE_ID}")

    headers, raw = recording_app.requests[0]
    verifier = SignatureVerifier(SIGNING_SECRET, clock=_SdkClock(running.clock))
    assert verifier.is_valid(
        body=raw.decode(),
        timestamp=headers["x-slack-request-timestamp"],
        signature=headers["x-slack-signature"],
    )
    assert headers["content-type"] == "application/x-www-form-urlencoded"


def test_slash_command_carries_the_fields_slack_sends(
    running: Running, recording_app: RecordingApp
) -> None:
    running.side.submit(f"/ota   light/light1 {SHOWCASE_FIRMWARE_ID} ")

    form = form_of(recording_app.requests[0][1])
    ws = running.side.workspace
    assert form["command"] == "/ota"
    assert form["text"] == f"light/light1 {SHOWCASE_FIRMWARE_ID}"
    assert (form["team_id"], form["channel_id"], form["user_id"]) == (
        ws.team_id,
        ws.channel_id,
        ws.user_id,
    )
    assert form["response_url"].startswith(f"{running.page.url}/response/")
    assert {"token", "team_domain", "channel_name", "user_name", "api_app_id", "trigger_id"} <= set(
        form
    )


def test_text_without_a_slash_is_posted_to_the_channel_and_not_sent_to_the_app(
    running: Running, recording_app: RecordingApp
) -> None:
    running.side.submit("hello <team> & all")

    assert recording_app.requests == []
    [message] = running.side.messages()
    assert (message.kind, message.ephemeral, message.text) == (
        "user",
        False,
        "hello &lt;team&gt; &amp; all",
    )


def test_an_unknown_slash_command_is_refused_like_slack_does(
    running: Running, recording_app: RecordingApp
) -> None:
    delivery = running.side.submit("/deploy now")

    assert delivery.error == "invalid_command"
    assert recording_app.requests == []
    assert "is not a valid command" in running.side.messages()[-1].text


def test_a_json_ack_body_is_shown_as_an_ephemeral_app_message(
    running: Running, recording_app: RecordingApp
) -> None:
    recording_app.body = json.dumps({"text": "Looking up…"}).encode()

    running.side.submit("/ota help")

    command, ack = running.side.messages()
    assert command.kind == "command"
    assert (ack.kind, ack.ephemeral, ack.text) == ("app", True, "Looking up…")


def test_an_app_that_refuses_the_request_shows_dispatch_failed(
    running: Running, recording_app: RecordingApp
) -> None:
    recording_app.status = "401 Unauthorized"

    delivery = running.side.submit("/ota help")

    assert (delivery.ok, delivery.status, delivery.error) == (False, 401, "dispatch_failed")
    assert "dispatch_failed" in running.side.messages()[-1].text


def test_button_click_sends_a_signed_block_actions_payload(
    running: Running, recording_app: RecordingApp
) -> None:
    message = running.side._post("app", ephemeral=True, text="jobs", blocks=BUTTON_BLOCKS)

    running.side.click(message.id, "ota_next", "nav")

    headers, raw = recording_app.requests[0]
    assert SignatureVerifier(SIGNING_SECRET, clock=_SdkClock(running.clock)).is_valid(
        raw.decode(), headers["x-slack-request-timestamp"], headers["x-slack-signature"]
    )
    payload = json.loads(form_of(raw)["payload"])
    assert payload["type"] == "block_actions"
    assert payload["container"] == {
        "type": "message",
        "message_ts": message.id,
        "channel_id": running.side.workspace.channel_id,
        "is_ephemeral": True,
    }
    assert "message" not in payload  # Slack sends no message for an ephemeral container
    [action] = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "ota_next",
        "nav",
        "state-page-2",
        "button",
    )


def test_a_click_on_an_in_channel_message_includes_the_message(
    running: Running, recording_app: RecordingApp
) -> None:
    message = running.side._post("app", ephemeral=False, text="jobs", blocks=BUTTON_BLOCKS)

    running.side.click(message.id, "ota_next", "nav")

    payload = json.loads(form_of(recording_app.requests[0][1])["payload"])
    assert payload["container"]["is_ephemeral"] is False
    assert payload["message"]["blocks"][1]["block_id"] == "nav"


def test_each_click_gets_a_fresh_response_url(
    running: Running, recording_app: RecordingApp
) -> None:
    message = running.side._post("app", ephemeral=True, text="jobs", blocks=BUTTON_BLOCKS)

    running.side.click(message.id, "ota_next", "nav")
    running.side.click(message.id, "ota_next", "nav")

    urls = {
        json.loads(form_of(raw)["payload"])["response_url"] for _, raw in recording_app.requests
    }
    assert len(urls) == 2


def test_a_click_on_a_button_that_is_not_there_is_not_sent(
    running: Running, recording_app: RecordingApp
) -> None:
    message = running.side._post("app", ephemeral=True, text="jobs", blocks=BUTTON_BLOCKS)

    delivery = running.side.click(message.id, "ota_share", "nav")

    assert delivery.error == "no_such_button"
    assert recording_app.requests == []


def test_blocks_without_a_block_id_get_one_like_slack_gives_them(running: Running) -> None:
    message = running.side._post("app", ephemeral=True, blocks=BUTTON_BLOCKS)

    assert message.blocks[0]["block_id"]
    assert message.blocks[1]["block_id"] == "nav"


# ----- response_url -------------------------------------------------------------------
def test_replace_original_replaces_the_clicked_message_in_place(running: Running) -> None:
    side = running.side
    first = side._post("app", ephemeral=True, text="page 1")
    later = side._post("user", ephemeral=False, text="chatter")
    response_id = side._new_response_url(message_id=first.id)

    side.respond(response_id, {"replace_original": True, "text": "page 2"})

    assert [(m.id, m.text) for m in side.messages()] == [
        (first.id, "page 2"),
        (later.id, "chatter"),
    ]
    assert side.messages()[0].revision == 2


def test_a_post_without_replace_original_is_a_new_ephemeral_message(running: Running) -> None:
    side = running.side
    original = side._post("app", ephemeral=True, text="page 1")
    response_id = side._new_response_url(message_id=original.id)

    posted = side.respond(response_id, {"text": "another", "replace_original": False})

    assert posted is not None
    assert (posted.ephemeral, len(side.messages())) == (True, 2)


def test_in_channel_posts_a_new_message_everyone_sees(running: Running) -> None:
    side = running.side
    original = side._post("app", ephemeral=True, text="page 1")
    response_id = side._new_response_url(message_id=original.id)

    posted = side.respond(response_id, {"text": "shared", "response_type": "in_channel"})

    assert posted is not None
    assert (posted.ephemeral, posted.kind) == (False, "app")
    assert side.messages()[0].text == "page 1"


def test_replacing_an_ephemeral_message_never_makes_it_public(running: Running) -> None:
    side = running.side
    original = side._post("app", ephemeral=True, text="page 1")
    response_id = side._new_response_url(message_id=original.id)

    side.respond(
        response_id, {"text": "p2", "replace_original": True, "response_type": "in_channel"}
    )

    assert side.messages()[0].ephemeral is True


def test_delete_original_removes_the_message(running: Running) -> None:
    side = running.side
    original = side._post("app", ephemeral=True, text="page 1")
    response_id = side._new_response_url(message_id=original.id)

    side.respond(response_id, {"delete_original": True})

    assert side.messages() == []


def test_a_response_url_takes_five_posts_and_refuses_the_sixth(running: Running) -> None:
    side = running.side
    response_id = side._new_response_url(message_id=None)
    for n in range(5):
        side.respond(response_id, {"text": f"post {n}"})

    with pytest.raises(ResponseUrlError) as refused:
        side.respond(response_id, {"text": "post 6"})

    assert (refused.value.status, refused.value.error) == (404, "used_url")
    assert len(side.messages()) == 5


def test_a_response_url_expires_after_thirty_minutes(running: Running) -> None:
    response_id = running.side._new_response_url(message_id=None)
    running.clock.now += RESPONSE_URL_LIFETIME_SECONDS + 1

    with pytest.raises(ResponseUrlError) as refused:
        running.side.respond(response_id, {"text": "late"})

    assert refused.value.error == "expired_url"


def test_a_post_with_neither_text_nor_blocks_is_refused(running: Running) -> None:
    response_id = running.side._new_response_url(message_id=None)

    with pytest.raises(ResponseUrlError) as refused:
        running.side.respond(response_id, {"response_type": "ephemeral"})

    assert (refused.value.status, refused.value.error) == (400, "no_text")


def test_response_url_over_http_answers_like_slack(running: Running) -> None:
    url = running.side.response_url(running.side._new_response_url(message_id=None))
    answers = [requests.post(url, json={"text": f"n{n}"}, timeout=5) for n in range(6)]

    assert [answer.status_code for answer in answers] == [200] * 5 + [404]
    assert answers[-1].json() == {"ok": False, "error": "used_url"}
    assert requests.post(url[:-4] + "0000", json={"text": "x"}, timeout=5).status_code == 404


# ----- a real Bolt app over HTTP ------------------------------------------------------------
def test_a_bolt_app_verifies_the_command_and_its_answer_appears(with_bolt: Running) -> None:
    delivery = with_bolt.side.submit("/ota light/light1 FW")

    assert delivery.ok
    answer = with_bolt.side.messages()[-1]
    assert (answer.kind, answer.ephemeral, answer.text) == (
        "app",
        True,
        "you typed light/light1 FW",
    )


def test_a_bolt_app_replaces_the_message_on_a_click(with_bolt: Running) -> None:
    with_bolt.side.submit("/ota light/light1 FW")
    answer = with_bolt.side.messages()[-1]

    delivery = with_bolt.side.click(answer.id, "ota_next", "nav")

    assert delivery.ok
    replaced = with_bolt.side.messages()[-1]
    assert (replaced.id, replaced.text, replaced.revision) == (answer.id, "state-page-2", 2)


def test_a_bolt_app_with_another_secret_rejects_the_requests(running: Running) -> None:
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    running.clock.now = time.time()
    server = BackgroundWsgiServer(
        SlackRequestHandler(bolt_app("another-secret", f"{running.page.url}/api/")),
        port=0,
        name="test-bolt-other",
    ).start()
    running.side.events_url = f"{server.url}/slack/events"
    try:
        delivery = running.side.submit("/ota help")
    finally:
        server.stop()

    assert (delivery.ok, delivery.status) == (False, 401)


# ----- Web API --------------------------------------------------------------------------
def test_web_api_auth_test_accepts_the_bot_token_only(running: Running) -> None:
    api = f"{running.page.url}/api/auth.test"
    good = requests.post(api, headers={"Authorization": f"Bearer {BOT_TOKEN}"}, timeout=5).json()
    bad = requests.post(api, headers={"Authorization": "Bearer xoxb-wrong"}, timeout=5).json()

    assert good["ok"] is True
    assert good["user_id"] == running.side.workspace.bot_user_id
    assert bad == {"ok": False, "error": "invalid_auth"}


def test_web_api_chat_post_message_posts_to_the_channel(running: Running) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=f"{running.page.url}/api/")
    response = client.chat_postMessage(channel="C0DEMO0001", text="hi", blocks=BUTTON_BLOCKS)

    assert response["ok"] is True
    [message] = running.side.messages()
    assert (message.ephemeral, message.text, message.id) == (False, "hi", response["ts"])


def test_web_api_chat_update_edits_the_apps_message_in_place(running: Running) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=f"{running.page.url}/api/")
    posted = client.chat_postMessage(channel="C0DEMO0001", text="before")
    version = running.side.version
    client.chat_update(channel="C0DEMO0001", ts=posted["ts"], text="after")
    [message] = running.side.messages()
    assert (message.text, message.revision) == ("after", 2)
    assert running.side.version > version


def test_web_api_chat_update_of_a_message_that_is_gone_is_message_not_found(
    running: Running,
) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=f"{running.page.url}/api/")
    posted = client.chat_postMessage(channel="C0DEMO0001", text="card")
    running.side.clear()
    with pytest.raises(SlackApiError) as refused:
        client.chat_update(channel="C0DEMO0001", ts=posted["ts"], text="after")
    assert refused.value.response["error"] == "message_not_found"


def test_web_api_a_reply_in_a_thread_names_its_parent(running: Running) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=f"{running.page.url}/api/")
    card = client.chat_postMessage(channel="C0DEMO0001", text="card")
    client.chat_postMessage(channel="C0DEMO0001", text="reply", thread_ts=card["ts"])
    assert [m.thread_ts for m in running.side.messages()] == [None, card["ts"]]


def test_web_api_another_channel_is_channel_not_found(running: Running) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=f"{running.page.url}/api/")
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0ELSEWHERE", text="hi")
    assert refused.value.response["error"] == "channel_not_found"


def test_web_api_a_permalink_leads_to_the_message_on_the_page(running: Running) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=f"{running.page.url}/api/")
    card = client.chat_postMessage(channel="C0DEMO0001", text="card")
    link = client.chat_getPermalink(channel="C0DEMO0001", message_ts=card["ts"])
    assert link["permalink"] == f"{running.side.base_url}/#m{card['ts']}"


# ----- the record the tests and benches read -------------------------------------------------
def test_a_named_response_url_is_under_slacks_rules_and_every_post_is_recorded(
    running: Running,
) -> None:
    side = running.side
    url = side.response_url("r1")
    assert url == f"{running.page.url}/response/r1"
    answers = [requests.post(url, json={"text": f"n{n}"}, timeout=5) for n in range(6)]

    assert [answer.status_code for answer in answers] == [200] * 5 + [404]
    assert side.responses() == [{"text": f"n{n}"} for n in range(5)]
    assert [(p.path, p.response_id, p.status) for p in side.posts][-2:] == [
        ("/response/r1", "r1", 200),
        ("/response/r1", "r1", 404),
    ]
    assert side.posts[-1].reply == {"ok": False, "error": "used_url"}
    assert requests.post(
        f"{running.page.url}/response/r2", json={"text": "x"}, timeout=5
    ).json() == {
        "ok": False,
        "error": "invalid_url",
    }  # a name no one handed out
    with pytest.raises(ValueError):
        side.response_url("../r1")


def test_waiting_for_posts_gives_them_or_times_out_saying_what_came(running: Running) -> None:
    side = running.side
    requests.post(side.response_url("r1"), json={"text": "one"}, timeout=5)

    assert side.wait_for_responses(1, timeout=1) == [{"text": "one"}]
    with pytest.raises(TimeoutError, match="expected 2 response_url post"):
        side.wait_for_responses(2, timeout=0.1)
    with pytest.raises(TimeoutError, match=r"expected 1 auth\.test call"):
        side.wait_for_calls("auth.test", 1, timeout=0.1)


def test_a_method_fails_on_demand_with_its_status_and_retry_after(running: Running) -> None:
    side = running.side
    side.fail("chat.postMessage", Fault("ratelimited", count=2, status=429, retry_after="7"))
    client = WebClient(token=BOT_TOKEN, base_url=side.api_url)
    for _ in range(2):
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel="C0DEMO0001", text="hi")
        assert refused.value.response.status_code == 429
        assert refused.value.response.headers["Retry-After"] == "7"
    posted = client.chat_postMessage(channel="C0DEMO0001", text="hi")

    assert side.calls("chat.postMessage") == [{"channel": "C0DEMO0001", "text": "hi"}] * 3
    assert [answer["ok"] for answer in side.answers("chat.postMessage")] == [False, False, True]
    assert side.answers("chat.postMessage")[-1]["ts"] == posted["ts"]
    assert [p.status for p in side.posts] == [429, 429, 200]


def test_auth_test_refuses_the_bot_token_on_demand(running: Running) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=running.side.api_url)
    running.side.auth_error = "account_inactive"
    with pytest.raises(SlackApiError) as refused:
        client.auth_test()
    assert refused.value.response["error"] == "account_inactive"


def test_socket_mode_opens_with_the_app_token_once_a_socket_url_is_set(running: Running) -> None:
    side = running.side
    app = WebClient(token=APP_TOKEN, base_url=side.api_url)
    with pytest.raises(SlackApiError) as refused:
        app.apps_connections_open(app_token=APP_TOKEN)
    assert refused.value.response["error"] == "invalid_auth"  # Socket Mode is off

    side.socket_url = "ws://127.0.0.1:1/socket"
    assert app.apps_connections_open(app_token=APP_TOKEN)["url"] == "ws://127.0.0.1:1/socket"
    with pytest.raises(SlackApiError):
        app.apps_connections_open(app_token=BOT_TOKEN)  # the bot token opens nothing


def test_a_workspace_in_every_channel_keeps_other_channels_off_the_page(
    running: Running,
) -> None:
    side = SlackSide(
        SIGNING_SECRET,
        BOT_TOKEN,
        workspace=DemoWorkspace(other_channels=None),
        wall_clock=running.clock,
    )
    with SlackServer(side):
        client = WebClient(token=BOT_TOKEN, base_url=side.api_url)
        card = client.chat_postMessage(channel="C0ELSEWHERE", text="card")
        client.chat_update(channel="C0ELSEWHERE", ts=card["ts"], text="edited")
        with pytest.raises(SlackApiError) as refused:
            client.chat_update(channel="C0DEMO0001", ts=card["ts"], text="wrong channel")
        link = client.chat_getPermalink(channel="C0ELSEWHERE", message_ts=card["ts"])

        assert refused.value.response["error"] == "message_not_found"
        assert link["permalink"].endswith(card["ts"])
        assert side.messages() == [] and side.snapshot()["messages"] == []


# ----- the page server ---------------------------------------------------------------------
def test_the_page_is_served_with_its_scripts_and_a_strict_content_policy(running: Running) -> None:
    page = requests.get(running.page.url + "/", timeout=5)
    script = requests.get(running.page.url + "/static/app.js", timeout=5)

    assert page.status_code == 200
    assert '<script src="/static/app.js"' in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert script.headers["Content-Type"].startswith("text/javascript")


def test_only_the_known_static_files_are_served(running: Running) -> None:
    answer = requests.get(running.page.url + "/static/..%2F__init__.py", timeout=5)

    assert answer.status_code == 404


def test_the_page_api_takes_a_command_and_lists_the_messages(
    running: Running, recording_app: RecordingApp
) -> None:
    sent = requests.post(
        running.page.url + "/demo/command", json={"text": "/ota help"}, timeout=5
    ).json()
    listed = requests.get(running.page.url + "/demo/messages", timeout=5).json()

    assert sent["ok"] is True
    assert [m["kind"] for m in listed["messages"]] == ["command"]
    assert listed["messages"][0]["text"] == "/ota help"


def test_a_taken_port_fails_with_a_clear_message(running: Running) -> None:
    from otabot.wsgi import PortInUseError

    with pytest.raises(PortInUseError, match="already in use"):
        BackgroundWsgiServer(DemoWebApp(running.side), port=running.page.port, name="dup")


def test_stopping_a_server_joins_its_thread(running: Running) -> None:
    server = BackgroundWsgiServer(DemoWebApp(running.side), port=0, name="short-lived").start()
    requests.get(server.url + "/healthz", timeout=5)  # leaves a keep-alive connection open

    server.stop()

    assert not server._thread.is_alive()


class _SdkClock:
    """slack_sdk's Clock interface over the fake clock (it checks timestamp freshness)."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock()
