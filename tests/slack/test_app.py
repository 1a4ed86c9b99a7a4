"""Signed requests through ``app.dispatch``: the command, each button, errors, access, retries."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from typing import Any

import pytest

from otabot.demo.slack_side import SlackSide
from otabot.emulator.server import EmulatorServer
from otabot.iot.errors import (
    AccessKeyError,
    DeviceNotFoundError,
    FirmwareProductMismatchError,
    QuotaBusyError,
    ThrottledError,
    UpstreamUnavailableError,
)
from otabot.iot.models import JobStatus
from otabot.query.queries import at_page, query_text
from otabot.service import JobsLookup, OtaService
from otabot.slack import ids
from tests.helpers import (
    LIGHT_PRODUCT_KEY,
    METER_PRODUCT_KEY,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)
from tests.slack.conftest import (
    LOOKUP,
    QUERY,
    FakeLookupService,
    SlackHarness,
    harness_for,
    settings_for,
    signed_command,
)


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def buttons(message: dict) -> dict[str, str]:
    return {
        element["action_id"]: element["value"]
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    }


def ack_body(response) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(response.body) if response.body else {}


def test_command_acks_empty_then_posts_the_first_page(harness: SlackHarness) -> None:
    response = harness.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    assert response.status == 200 and response.body == ""
    (posted,) = harness.recorder.wait_for_responses(1)
    assert posted["response_type"] == "ephemeral" and posted["replace_original"] is False
    assert posted["blocks"][0]["text"]["text"] == "OTA jobs · light1"
    assert "page 1 of 3" in dumps(posted)
    assert harness.service.calls == [("jobs", LOOKUP)]
    assert harness.service.refreshes == [False]


def test_ack_does_not_wait_for_the_lookup(
    recorder: SlackSide, fake_service: FakeLookupService
) -> None:
    release = threading.Event()

    class BlockedService(FakeLookupService):
        def jobs(self, query: JobsLookup, refresh: bool = False):  # type: ignore[no-untyped-def]
            assert release.wait(10), "the test never released the lookup"
            return super().jobs(query, refresh)

    blocked = harness_for(
        settings_for(recorder), BlockedService(answers=fake_service.answers), recorder
    )
    response = blocked.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    assert response.status == 200 and recorder.responses() == []
    release.set()
    assert "OTA jobs" in dumps(recorder.wait_for_responses(1))
    blocked.drain()


@pytest.mark.parametrize("text", ["help", ""])
def test_help_is_answered_in_the_ack_with_no_lookup(harness: SlackHarness, text: str) -> None:
    response = harness.command(text)
    body = ack_body(response)
    assert body["response_type"] == "ephemeral"
    assert "/ota [jobs] DEVICE FIRMWARE" in dumps(body)
    harness.drain()
    assert harness.service.calls == [] and harness.recorder.responses() == []


def test_usage_error_names_the_token_in_the_ack_with_no_lookup(harness: SlackHarness) -> None:
    body = ack_body(harness.command(f"light/li {SHOWCASE_FIRMWARE_ID}"))
    assert body["response_type"] == "ephemeral"
    assert "`light/li`" in body["blocks"][0]["text"]["text"]
    harness.drain()
    assert harness.service.calls == [] and harness.recorder.responses() == []


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("allowed_teams", frozenset({"T9999"})),
        ("allowed_channels", frozenset({"C9999"})),
        ("allowed_users", frozenset({"U9999"})),
        ("allowed_products", frozenset({METER_PRODUCT_KEY})),
    ],
)
def test_who_is_not_allowed_gets_an_ephemeral_refusal_and_no_lookup(
    recorder: SlackSide, fake_service: FakeLookupService, setting: str, value: frozenset[str]
) -> None:
    locked = harness_for(settings_for(recorder, **{setting: value}), fake_service, recorder)
    body = ack_body(locked.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}"))
    assert body["response_type"] == "ephemeral" and ":no_entry:" in dumps(body)
    locked.drain()
    assert fake_service.calls == [] and recorder.responses() == []


def test_allowed_requester_gets_the_answer(
    recorder: SlackSide, fake_service: FakeLookupService
) -> None:
    allowed = settings_for(
        recorder,
        allowed_teams=frozenset({"T0001"}),
        allowed_channels=frozenset({"C0001"}),
        allowed_users=frozenset({"U0001"}),
        allowed_products=frozenset({LIGHT_PRODUCT_KEY}),
    )
    built = harness_for(allowed, fake_service, recorder)
    built.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    assert "OTA jobs · light1" in dumps(recorder.wait_for_responses(1))
    built.drain()


def test_next_replaces_the_message_from_cache_without_an_upstream_call(
    harness: SlackHarness,
) -> None:
    harness.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    first = harness.recorder.wait_for_responses(1)[0]
    harness.click(ids.ACTION_NEXT, buttons(first)[ids.ACTION_NEXT])
    second = harness.recorder.wait_for_responses(2)[1]
    assert second["replace_original"] is True and second["response_type"] == "ephemeral"
    assert "page 2 of 3" in dumps(second)
    assert ids.ACTION_PREV in buttons(second)
    assert harness.service.upstream == 1


def test_prev_turns_back_a_page(harness: SlackHarness) -> None:
    harness.click(ids.ACTION_PREV, query_text(at_page(QUERY, 2)))
    (posted,) = harness.recorder.wait_for_responses(1)
    assert posted["replace_original"] is True and "page 2 of 3" in dumps(posted)


def test_refresh_bypasses_the_cache(harness: SlackHarness) -> None:
    harness.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    first = harness.recorder.wait_for_responses(1)[0]
    harness.click(ids.ACTION_REFRESH, buttons(first)[ids.ACTION_REFRESH])
    second = harness.recorder.wait_for_responses(2)[1]
    assert second["replace_original"] is True
    assert harness.service.calls[-1] == ("jobs", LOOKUP) and harness.service.refreshes[-1]
    assert harness.service.upstream == 2


def test_share_posts_a_new_in_channel_message_naming_the_sharer(harness: SlackHarness) -> None:
    state = query_text(dataclasses.replace(QUERY, page=2, status=JobStatus.COMPLETED))
    harness.click(ids.ACTION_SHARE, state, user="U0042")
    (posted,) = harness.recorder.wait_for_responses(1)
    assert posted["response_type"] == "in_channel" and posted["replace_original"] is False
    assert "Shared by <@U0042>" in dumps(posted)
    assert buttons(posted) == {}


def test_retry_looks_up_again_and_replaces_the_error(harness: SlackHarness) -> None:
    harness.click(ids.ACTION_RETRY, query_text(QUERY))
    (posted,) = harness.recorder.wait_for_responses(1)
    assert posted["replace_original"] is True and "OTA jobs · light1" in dumps(posted)


def test_tampered_button_value_is_refused_without_a_lookup(harness: SlackHarness) -> None:
    forged = f"jobs {LIGHT_PRODUCT_KEY}/<!channel> {SHOWCASE_FIRMWARE_ID}"
    harness.click(ids.ACTION_NEXT, forged)
    (posted,) = harness.recorder.wait_for_responses(1)
    assert posted["replace_original"] is False and "<!channel>" not in dumps(posted)
    assert harness.service.calls == []


def test_button_from_a_user_not_allowed_is_refused_without_a_lookup(
    recorder: SlackSide, fake_service: FakeLookupService
) -> None:
    locked = harness_for(
        settings_for(recorder, allowed_users=frozenset({"U0001"})), fake_service, recorder
    )
    locked.click(ids.ACTION_NEXT, query_text(at_page(QUERY, 2)), user="U0666")
    (posted,) = recorder.wait_for_responses(1)
    assert ":no_entry:" in dumps(posted) and posted["replace_original"] is False
    assert fake_service.calls == []
    locked.drain()


def test_button_for_a_product_not_allowed_is_refused_without_a_lookup(
    recorder: SlackSide, fake_service: FakeLookupService
) -> None:
    locked = harness_for(
        settings_for(recorder, allowed_products=frozenset({METER_PRODUCT_KEY})),
        fake_service,
        recorder,
    )
    locked.click(ids.ACTION_REFRESH, query_text(QUERY))
    assert ":no_entry:" in dumps(recorder.wait_for_responses(1))
    assert fake_service.calls == []
    locked.drain()


@pytest.mark.parametrize(
    ("error", "words", "retry"),
    [
        (
            DeviceNotFoundError("no", code="iot.device.NotExistedDevice", request_id="R-1"),
            f"Device `light1` not found in product `{LIGHT_PRODUCT_KEY}`.",
            False,
        ),
        (
            FirmwareProductMismatchError("x", request_id="R-1"),
            f"does not belong to product `{LIGHT_PRODUCT_KEY}`",
            False,
        ),
        (QuotaBusyError("busy", retry_after=2.2, request_id="R-1"), "try again in 3 s", True),
        (ThrottledError("t", code="Throttling.User", request_id="R-1"), "IoT API busy", True),
        (AccessKeyError("k", request_id="R-1"), "credentials — tell your otabot admin", False),
        (UpstreamUnavailableError("down", request_id="R-1"), "not answering", True),
    ],
)
def test_lookup_errors_are_told_in_words_with_request_id(
    recorder: SlackSide, error: Exception, words: str, retry: bool
) -> None:
    failing = harness_for(
        settings_for(recorder), FakeLookupService(answers={"light1": error}), recorder
    )
    failing.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    (posted,) = recorder.wait_for_responses(1)
    text = dumps(posted)
    assert words in text and "RequestId `R-1`" in text
    assert (ids.ACTION_RETRY in buttons(posted)) is retry
    if retry:
        assert buttons(posted)[ids.ACTION_RETRY] == query_text(QUERY)
    failing.drain()


def test_unexpected_exception_sends_an_apology_and_is_logged(
    recorder: SlackSide, caplog: pytest.LogCaptureFixture
) -> None:
    broken = harness_for(
        settings_for(recorder), FakeLookupService(answers={"light1": KeyError("bug")}), recorder
    )
    with caplog.at_level(logging.ERROR):
        broken.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
        (posted,) = recorder.wait_for_responses(1)
        broken.drain()
    assert posted["text"].startswith("Sorry")
    assert any(record.exc_info for record in caplog.records)


@pytest.mark.parametrize(
    ("signing", "status"),
    [
        ({"retry": 1}, 200),
        ({"secret": "wrong-secret"}, 401),
        ({"timestamp": int(time.time()) - 600}, 401),
    ],
    ids=["a-slack-retry-is-acked", "a-forged-signature-is-401", "a-stale-timestamp-is-401"],
)
def test_a_retry_or_a_request_slack_did_not_sign_now_runs_no_lookup(
    harness: SlackHarness, signing: dict[str, Any], status: int
) -> None:
    text = f"light/light1 {SHOWCASE_FIRMWARE_ID}"
    request = signed_command(text, harness.recorder.response_url(), **signing)
    assert harness.app.dispatch(request).status == status
    harness.drain()
    assert harness.service.calls == [] and harness.recorder.responses() == []


def test_each_lookup_writes_one_audit_line_without_secrets(
    harness: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="otabot.audit"):
        harness.command(f"light/light1 {SHOWCASE_FIRMWARE_ID} page=2")
        harness.recorder.wait_for_responses(1)
        harness.drain()
    (line,) = [record for record in caplog.records if record.name == "otabot.audit"]
    fields = {
        key: getattr(line, key)
        for key in (
            "team",
            "channel",
            "user",
            "query",
            "action",
            "outcome",
            "upstream_calls",
            "cache_hit",
        )
    }
    assert fields == {
        "team": "T0001",
        "channel": "C0001",
        "user": "U0001",
        "query": f"jobs {LIGHT_PRODUCT_KEY}/light1 {SHOWCASE_FIRMWARE_ID} page=2",
        "action": "command",
        "outcome": "ok",
        "upstream_calls": 1,
        "cache_hit": False,
    }
    assert isinstance(line.latency_ms, int)
    rendered = json.dumps(vars(line), default=str)
    assert "xoxb-" not in rendered and "test-signing-secret" not in rendered
    assert harness.recorder.response_url() not in rendered


def test_each_click_writes_an_audit_line_with_cache_hit(
    harness: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    harness.recorder.wait_for_responses(1)
    with caplog.at_level(logging.INFO, logger="otabot.audit"):
        harness.click(ids.ACTION_NEXT, query_text(at_page(QUERY, 2)))
        harness.recorder.wait_for_responses(2)
        harness.drain()
    clicks = [r for r in caplog.records if r.name == "otabot.audit" and r.action == "ota_next"]
    assert len(clicks) == 1 and clicks[0].cache_hit is True and clicks[0].upstream_calls == 0


def test_build_app_refuses_http_without_a_signing_secret(recorder: SlackSide) -> None:
    from otabot.config import ConfigError
    from otabot.slack.app import build_app

    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        build_app(
            dataclasses.replace(settings_for(recorder), slack_signing_secret=None),
            FakeLookupService(),
        )


def test_the_audit_counts_this_interactions_attempts_against_the_emulator(
    recorder: SlackSide, emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The real service with its quota: a lookup that failed after four attempts says 4,
    the same lookup answered next says 1, again from the cache 0, refreshed 1."""
    settings = settings_for(
        recorder,
        iot_endpoint=emulator.url,
        access_key_id=SAMPLE_ACCESS_KEY_ID,
        access_key_secret=SAMPLE_ACCESS_KEY_SECRET,
        product_aliases={"light": LIGHT_PRODUCT_KEY},
    )
    service = OtaService.from_settings(settings)
    built = harness_for(settings, service, recorder)
    emulator.set_faults(error="ServiceUnavailable", count=4)
    with caplog.at_level(logging.INFO, logger="otabot.audit"):
        for count in (1, 2, 3):
            built.command(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
            recorder.wait_for_responses(count)
        built.click(ids.ACTION_REFRESH, f"jobs light/light1 {SHOWCASE_FIRMWARE_ID}")
        recorder.wait_for_responses(4)
        built.drain()
    service.close()
    lines = [record for record in caplog.records if record.name == "otabot.audit"]
    assert [(r.outcome, r.upstream_calls, r.cache_hit) for r in lines] == [  # type: ignore[attr-defined]
        ("error:ServiceUnavailable", 4, False),
        ("ok", 1, False),
        ("ok", 0, True),
        ("ok", 1, False),
    ]
    assert emulator.stats()["calls"] == 6
