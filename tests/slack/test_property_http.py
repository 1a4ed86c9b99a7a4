"""Any signed request at all, over HTTP: ``block_actions`` payloads of every shape and
slash-command form bodies of every field.

Whatever Slack's signature vouches for, otabot never answers 5xx, never shows or logs a
traceback, never asks the lookup service for a request it refuses, and what it does
answer is words: a post to the response_url, an ephemeral ack, or a 4xx ``{"error": …}``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, quote, quote_from_bytes
from urllib.request import Request

import pytest
import requests
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from slack_sdk.webhook import WebhookClient

from otabot.demo.slack_side import SlackSide
from otabot.demo.web import SlackServer
from otabot.slack import ids
from otabot.slack.access import SLACK_RESPONSE_HOSTS
from otabot.slack.http import MAX_BODY_BYTES, create_wsgi_app
from otabot.slack.replies import APOLOGY
from otabot.wsgi import BackgroundWsgiServer
from tests.helpers import EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID, make_slack_side
from tests.slack.conftest import harness_for
from tests.slack.test_clicks import settings_of
from tests.slack.test_security_http import FORM, signed_bytes
from tests.world import RecordingService

# Where the generated response_url points at the recorder (filled in per request).
LOCAL = "{local}"
TEAM, CHANNEL, USER = "T0001", "C0001", "U0001"
# Outcomes in the audit line of a request answered without a lookup.
REFUSED = frozenset(
    {"refused", "invalid_button", "unsupported_action", "no_response_url", "usage_error", "help"}
)
PROPERTY = settings(
    max_examples=200,
    deadline=None,  # a first example pays for imports; the whole test is bounded instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Records(logging.Handler):
    """Every log record while the module runs (otabot at INFO, so the audit lines too)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)  # under the handler's own lock


class Served:
    """One waitress server for the module, answering with each example's own app; every
    response_url post is recorded here, a Slack-hosted one delivered to the recorder."""

    def __init__(self, recorder: SlackSide) -> None:
        self.recorder = recorder
        self.url = ""
        self.session = requests.Session()
        self.app: Callable[..., Any] | None = None
        self.posts: list[dict[str, Any]] = []
        self.logs = Records()

    def __repr__(self) -> str:
        return "served"

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)

    def deliver(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``WebhookClient``'s last step, sending Slack's hosts to the recorder (path kept)."""
        served = self

        def send(client: WebhookClient, url: str, req: Request) -> Any:
            served.posts.append(json.loads(req.data or b"{}"))  # type: ignore[arg-type]
            if (req.host or "").split(":")[0] in SLACK_RESPONSE_HOSTS:
                url = re.sub(r"^[A-Za-z]+://[^/?#]*", served.recorder.url, url)
                req.full_url = url
            return original(client, url, req)

        return send


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    slack = SlackServer(make_slack_side()).start()
    here = Served(slack.side)
    server = BackgroundWsgiServer(
        here.wsgi, threads=2, name="test-property-http", max_request_body_size=MAX_BODY_BYTES
    ).start()
    here.url = server.url
    otabot = logging.getLogger("otabot")
    level = otabot.level
    otabot.setLevel(logging.INFO)
    logging.getLogger().addHandler(here.logs)
    internal = WebhookClient._perform_http_request_internal
    try:
        with mock.patch.object(
            WebhookClient, "_perform_http_request_internal", here.deliver(internal)
        ):
            yield here
    finally:
        logging.getLogger().removeHandler(here.logs)
        otabot.setLevel(level)
        here.session.close()
        server.stop()
        slack.stop()


@dataclass
class Exchange:
    """One signed request and all it caused."""

    status: int
    text: str
    posts: list[dict[str, Any]]
    logs: list[logging.LogRecord]
    calls: list[tuple[str, object]]

    @property
    def outcomes(self) -> list[str]:
        return [str(getattr(r, "outcome", "")) for r in self.logs if r.name == "otabot.audit"]


def exchange(served: Served, body: bytes, restricted: bool, content_type: str = FORM) -> Exchange:
    """POST ``body``, correctly signed, to a fresh app; wait until all it started is done."""
    allowed = {
        "allowed_teams": frozenset({TEAM}),
        "allowed_channels": frozenset({CHANNEL}),
        "allowed_users": frozenset({USER}),
        "allowed_products": frozenset({LIGHT_PRODUCT_KEY}),
    }
    base = settings_of(served.recorder, **(allowed if restricted else {}))
    service = RecordingService()
    harness = harness_for(base, service, served.recorder)
    served.app = create_wsgi_app(harness.app)
    posts, logs = len(served.posts), len(served.logs.records)
    response = served.session.post(
        served.url + "/slack/events",
        data=body,
        headers=signed_bytes(body, content_type=content_type),
        timeout=10,
    )
    harness.drain()
    return Exchange(
        response.status_code,
        response.text,
        served.posts[posts:],
        served.logs.records[logs:],
        list(service.calls),
    )


def words_of(refusal: str) -> str:
    """The words of a 4xx: otabot's ``{"error": …}``, or waitress's own text (413)."""
    try:
        error = json.loads(refusal)["error"]
    except ValueError:
        return refusal.strip()
    return error.strip() if isinstance(error, str) else ""


def assert_answered_in_words(answer: Exchange, restricted: bool, ids_present: bool) -> None:
    """The property, for any request: no 5xx, no traceback, words, no call when refused."""
    assert answer.status < 500, answer.text
    assert "Traceback" not in answer.text
    for record in answer.logs:
        assert record.exc_info is None and record.levelno < logging.ERROR, record.getMessage()
        assert "Traceback" not in record.getMessage()
    assert "crashed" not in answer.outcomes
    for post in answer.posts:
        assert isinstance(post.get("text"), str) and post["text"].strip()
        assert post["text"] != APOLOGY
    if answer.status >= 400:
        assert words_of(answer.text)
        assert answer.calls == [] and answer.posts == []
    else:
        assert answer.status == 200
        ack = json.loads(answer.text) if answer.text else {}
        assert answer.posts or ack.get("text") or ack.get("challenge") is not None
    if set(answer.outcomes) & REFUSED or (restricted and not ids_present):
        assert answer.calls == []
    posted = "posted" if answer.posts else "no post"
    event(f"{answer.status}, {posted}, calls: {bool(answer.calls)}")


# -- block_actions -------------------------------------------------------------------------

ABSENT: Any = object()  # a field left out
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
QUERIES = [
    "light/light1", "light/light1 page=2", f"{LIGHT_PRODUCT_KEY}/light1", f"job {EXAMPLE_JOB_ID}",
    f"failed {EXAMPLE_JOB_ID}", f"failed {EXAMPLE_JOB_ID} page=3", f"jobs {SHOWCASE_FIRMWARE_ID}",
    f"jobs {SHOWCASE_FIRMWARE_ID} status=done", "firmware light",
    "firmware light version=1.2.0", f"watch {EXAMPLE_JOB_ID}", "help", "light/light2", "meter/m1",
    "light/light1 page=0", "light/nobody", f"job {EXAMPLE_JOB_ID} device=light1",
]  # fmt: skip
ODD_TEXT = [
    "", " ", "*bold* _it_ ~s~ `c` ```block```", "<!channel> <!here>", "<@U0001|x>",
    "<http://a.b|click>", "&lt;&gt;&amp;", "\x00\x01\x1b[31mred", "light/light1\n\r\t",
    "light/light1\u202e", "\U0001f4a5 light/\u0661\u0662", "\ud7ff\ufeff", "payload",
    "payload=%7B%7D", "{}", "[]", "null",
]  # fmt: skip
TEXTS = st.one_of(
    st.sampled_from(QUERIES),
    st.sampled_from(ODD_TEXT),
    st.text(max_size=60),
    st.lists(st.sampled_from(QUERIES + ODD_TEXT), min_size=1, max_size=4).map(" ".join),
)
# Past what a button may carry (2,000 characters), and far past it.
HUGE = st.builds(
    lambda piece, size: ((piece + " ") * size)[:size],
    st.sampled_from(QUERIES),
    st.sampled_from([2_001, 40_000]),
)
VALUES = st.one_of(TEXTS, HUGE, JSON.map(json.dumps), JSON, st.just(ABSENT))
ACTION_IDS = st.one_of(
    st.sampled_from(ids.ACTIONS),
    st.sampled_from(["", "ota", "OTA_PREV", "ota_prev ", "ota_next\n", "x" * 300, "ota_*"]),
    st.text(max_size=30),
)
RESPONSE_URL_CASES = [
    f"{LOCAL}/response/click",
    "https://hooks.slack.com/actions/T0001/1/abc",
    "https://hooks.slack.com:443/actions/T0001/1/abc",
    "https://hooks.slack-gov.com/actions/T0001/1/abc",
    "https://hooks.slack.com:8443/actions/T0001/1/abc",
    "http://hooks.slack.com/actions/T0001/1/abc",
    "https://user:pw@hooks.slack.com/actions/x",
    "https://hooks.slack.com.evil.example/actions/x",
    "https://evil.example/actions/x",
    "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd", "javascript:alert(1)", "", "   ", "https://", "https://[::1",
    "https://hooks.slack.com:99999/x", f"{LOCAL}", f"{LOCAL}/response/a b",
]  # fmt: skip
RESPONSE_URLS = st.one_of(
    st.sampled_from(RESPONSE_URL_CASES),
    st.text(max_size=20).map(lambda tail: f"{LOCAL}/response/{tail}"),
    st.text(max_size=20).map(lambda tail: f"https://hooks.slack.com/actions/{tail}"),
    st.text(max_size=30),
    JSON,
    st.just(ABSENT),
)


def mostly(good: st.SearchStrategy[Any], *odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` four times in five, else one of ``odd`` (a field left out, any JSON, …)."""
    odd = odd or (st.just(ABSENT), JSON)
    return st.integers(0, 4).flatmap(lambda n: st.one_of(*odd) if n == 0 else good)


def present(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not ABSENT}


def slack_object(**fields: Any) -> st.SearchStrategy[dict[str, Any]]:
    """An object as Slack nests it, each field possibly left out or odd."""
    return st.fixed_dictionaries(
        {
            key: mostly(value if isinstance(value, st.SearchStrategy) else st.just(value))
            for key, value in fields.items()
        }
    ).map(present)


def slack_field(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field holding ``inner``: or left out, or any JSON, or a list where one is meant."""
    return mostly(inner, st.just(ABSENT), JSON, st.lists(inner, min_size=1, max_size=2))


ACTION = slack_object(
    type=st.sampled_from(["button", "static_select", "overflow"]),
    action_id=ACTION_IDS,
    block_id=st.sampled_from([ids.BLOCK_NAVIGATION, ids.BLOCK_TASK, "other"]),
    value=VALUES,
    action_ts="1.2",
)
# Slack's shape, each part of it possibly left out, of another type, or a list of it.
ANY_SHAPE = st.fixed_dictionaries(
    {
        "type": mostly(
            st.just("block_actions"),
            st.sampled_from(["interactive_message", "view_submission", "shortcut", ""]),
            JSON,
        ),
        "team": slack_field(slack_object(id=TEAM, domain="test")),
        "user": slack_field(slack_object(id=USER, username="oncall", team_id=TEAM)),
        "api_app_id": mostly(st.just("A0001")),
        "token": mostly(st.just("deprecated")),
        "container": slack_field(
            slack_object(type="message", is_ephemeral=True, channel_id=CHANNEL)
        ),
        "channel": slack_field(slack_object(id=CHANNEL, name="incident")),
        "trigger_id": mostly(st.just("1.2.3")),
        "response_url": RESPONSE_URLS,
        "actions": mostly(
            st.lists(mostly(ACTION, JSON), min_size=1, max_size=3), st.just(ABSENT), JSON, ACTION
        ),
    },
    optional={"enterprise": JSON, "is_enterprise_install": JSON, "message": JSON, "state": JSON},
).map(present)
# Slack's shape, with any button, value, response_url and IDs in it: what the listeners see.
SLACK_SHAPE = st.builds(
    lambda action_id, value, response_url, team, channel, user: present(
        {
            "type": "block_actions",
            "team": {"id": team},
            "user": {"id": user, "team_id": team},
            "container": {"type": "message", "channel_id": channel},
            "channel": {"id": channel},
            "response_url": response_url,
            "actions": [
                present({"type": "button", "action_id": action_id, "value": value}),
            ],
        }
    ),
    mostly(st.sampled_from(ids.ACTIONS), ACTION_IDS),
    mostly(st.sampled_from(QUERIES), VALUES),
    mostly(st.just(f"{LOCAL}/response/click"), RESPONSE_URLS),
    mostly(st.just(TEAM), st.text(max_size=12)),
    mostly(st.just(CHANNEL), st.text(max_size=12)),
    mostly(st.just(USER), st.text(max_size=12)),
)
PAYLOADS = st.one_of(SLACK_SHAPE, ANY_SHAPE)


def payload_body(payload: Any, served: Served, *, form: bool = True) -> bytes:
    text = json.dumps(payload).replace(LOCAL, served.recorder.url)
    return ("payload=" + quote(text, safe="")).encode() if form else text.encode()


def with_ids(body: bytes) -> bool:
    """Whether the team, channel and user an allow-list admits appear at all."""
    return all(known.encode() in body for known in (TEAM, CHANNEL, USER))


def click(action_id: str, value: Any, response_url: Any = f"{LOCAL}/response/click") -> Any:
    action = {"type": "button", "action_id": action_id, "block_id": "b", "value": value}
    return {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": USER, "team_id": TEAM},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "channel_id": CHANNEL},
        "response_url": response_url,
        "actions": [action],
    }


@PROPERTY
@given(payload=PAYLOADS, restricted=st.booleans())
@example(payload=click(ids.ACTION_JOB, f"job {EXAMPLE_JOB_ID}"), restricted=False)
@example(payload=click(ids.ACTION_PREV, "light/light1 page=2"), restricted=True)
# Found by this test: a response_url http.client cannot send (a control character, a
# letter outside ASCII) passed the check, then failed the post, and the apology's too.
@example(payload=click(ids.ACTION_PREV, "x", f"{LOCAL}/response/\x1b"), restricted=False)
@example(
    payload=click(ids.ACTION_JOB, f"job {EXAMPLE_JOB_ID}", f"{LOCAL}/r\u00e9"), restricted=False
)
@example(payload=click(ids.ACTION_JOB, "x", "https://hooks.slack.com/a\nb"), restricted=False)
def test_any_signed_click_is_answered_in_words(
    served: Served, payload: Any, restricted: bool
) -> None:
    body = payload_body(payload, served)
    assert_answered_in_words(exchange(served, body, restricted), restricted, with_ids(body))


@settings(PROPERTY, max_examples=25)
@given(payload=PAYLOADS)
def test_any_signed_click_sent_as_json_is_answered_in_words(served: Served, payload: Any) -> None:
    body = payload_body(payload, served, form=False)
    answer = exchange(served, body, False, content_type="application/json")
    assert_answered_in_words(answer, False, with_ids(body))


# -- slash commands ------------------------------------------------------------------------

COMMAND_FIELDS = {
    "token": "deprecated", "team_id": TEAM, "team_domain": "test", "channel_id": CHANNEL,
    "channel_name": "incident", "user_id": USER, "user_name": "oncall", "command": "/ota",
    "text": "light/light1", "api_app_id": "A0001", "response_url": f"{LOCAL}/response/c",
    "trigger_id": "1.2.3",
}  # fmt: skip
FIELD_VALUES = st.one_of(
    TEXTS.map(str.encode),
    st.binary(max_size=20),
    st.sampled_from([b"/ota", b"/OTA", b"/other", b"ota", b"\xff\xfe", b"%FF", b"payload"]),
)
FIELD_NAMES = st.one_of(
    st.sampled_from([*COMMAND_FIELDS, "payload", "type", "enterprise_id", "is_enterprise_install"]),
    st.text(max_size=10).map(str.encode),
).map(lambda name: name if isinstance(name, bytes) else name.encode())
# A pair is sent percent-encoded (True) or as the raw bytes it is (False).
Pair = tuple[bytes, bytes, bool]


def command_field(name: str, good: str) -> st.SearchStrategy[list[Pair]]:
    """A command's field as Slack sends it, or left out, doubled, or of another value."""
    sent = (name.encode(), good.encode(), True)
    return mostly(
        st.just([sent]),
        st.just([]),
        FIELD_VALUES.map(lambda other: [sent, (name.encode(), other, True)]),
        st.tuples(FIELD_VALUES, st.booleans()).map(lambda v: [(name.encode(), *v)]),
    )


COMMAND_PAIRS = st.builds(
    lambda fields, extra: [pair for pairs in fields for pair in pairs] + extra,
    st.tuples(*(command_field(name, good) for name, good in COMMAND_FIELDS.items())),
    st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES, st.booleans()), max_size=3),
).flatmap(lambda pairs: mostly(st.just(pairs), st.permutations(pairs)))


def form(pairs: list[Pair], served: Served) -> bytes:
    def part(data: bytes, encode: bool) -> bytes:
        data = data.replace(LOCAL.encode(), served.recorder.url.encode())
        return quote_from_bytes(data, safe="").encode() if encode else data

    return b"&".join(part(name, code) + b"=" + part(value, code) for name, value, code in pairs)


def is_ota_command(body: bytes, served: Served) -> bool:
    """Whether Slack's form reading makes this an /ota command with the recorder's URL."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    fields = dict(parse_qsl(text, keep_blank_values=True))
    return (
        not text.startswith("{")
        and "payload" not in fields
        and "type" not in fields  # Slack's commands have none; a 400 in words is fair
        and fields.get("command") == "/ota"
        and fields.get("response_url") == served.recorder.response_url("c")
    )


def command_pairs(**changes: str) -> list[Pair]:
    fields = COMMAND_FIELDS | changes
    return [(name.encode(), value.encode(), True) for name, value in fields.items()]


@PROPERTY
@given(pairs=COMMAND_PAIRS, restricted=st.booleans())
@example(pairs=command_pairs(), restricted=False)
# Found by this test: Bolt took any form with "payload" in it for an interaction payload.
@example(pairs=command_pairs(text="payload"), restricted=False)
@example(pairs=command_pairs(channel_name="payload-team"), restricted=True)
def test_any_signed_command_form_is_answered_in_words(
    served: Served, pairs: list[Pair], restricted: bool
) -> None:
    body = form(pairs, served)
    answer = exchange(served, body, restricted)
    assert_answered_in_words(answer, restricted, with_ids(body))
    if is_ota_command(body, served):
        assert answer.status == 200  # an /ota command is answered, whatever else it carries
