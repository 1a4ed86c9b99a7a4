"""The device-first flow as a user clicks it: signed commands and button clicks in, posts to
response_url out, over the in-memory world; each click re-checked and audited."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from otabot.config import Settings
from otabot.demo.slack_side import SlackSide
from otabot.query.queries import DeviceQuery, FailedQuery, JobQuery, JobsQuery, query_text
from otabot.service import DeviceLookup, FailedLookup, FirmwareJobsLookup, JobLookup, JobsLookup
from otabot.slack import ids
from tests.helpers import (
    BOT_TOKEN,
    EXAMPLE_JOB_ID,
    LIGHT_PRODUCT_KEY,
    METER_PRODUCT_KEY,
    SHOWCASE_FIRMWARE_ID,
    SIGNING_SECRET,
)
from tests.slack.conftest import SlackHarness, harness_for
from tests.world import ENV, RecordingService, fleet


def settings_of(recorder: SlackSide, **changes: Any) -> Settings:
    return dataclasses.replace(
        Settings.from_env(ENV),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=recorder.api_url,
        **changes,
    )


@pytest.fixture
def world(recorder: SlackSide) -> Iterator[SlackHarness]:
    built = harness_for(settings_of(recorder), RecordingService(), recorder)
    yield built
    built.executor.shutdown(wait=True)


def every_button(message: dict[str, Any]) -> dict[str, str]:
    """action_id → value of the first button with that action (actions blocks, accessories)."""
    found: dict[str, str] = {}
    for block in message.get("blocks", []):
        elements = list(block.get("elements", [])) if block["type"] == "actions" else []
        if block.get("accessory"):
            elements.append(block["accessory"])
        for element in elements:
            if element.get("type") == "button":
                found.setdefault(element["action_id"], element["value"])
    return found


def header(message: dict[str, Any]) -> str:
    text: str = message["blocks"][0]["text"]["text"]
    return text


def post_of(world: SlackHarness, count: int) -> dict[str, Any]:
    posted: dict[str, Any] = world.recorder.wait_for_responses(count)[count - 1]
    return posted


def test_from_the_device_card_to_the_job_to_its_failed_devices(world: SlackHarness) -> None:
    world.command("light/light1")
    card = post_of(world, 1)
    assert header(card) == "OTA · light1" and card["response_type"] == "ephemeral"

    world.click(ids.ACTION_JOB, every_button(card)[ids.ACTION_JOB])
    job = post_of(world, 2)
    assert header(job) == f"OTA job · {EXAMPLE_JOB_ID}"
    assert job["replace_original"] is False  # the device card stays on screen
    assert "Device `light1`: :hourglass_flowing_sand: *IN_PROGRESS*" in json.dumps(job)

    world.click(ids.ACTION_FAILED, every_button(job)[ids.ACTION_FAILED])
    failed = post_of(world, 3)
    assert header(failed) == f"Failed devices · {EXAMPLE_JOB_ID}"
    assert "insufficient storage" in json.dumps(failed)
    world.drain()
    assert world.service.calls == [
        ("device", DeviceLookup(LIGHT_PRODUCT_KEY, "light1")),
        ("job", JobLookup(EXAMPLE_JOB_ID, None, "light1")),
        ("job", JobLookup(EXAMPLE_JOB_ID)),
        ("failed", FailedLookup(EXAMPLE_JOB_ID)),
    ]


def test_jobs_for_this_firmware_lists_the_devices_jobs(world: SlackHarness) -> None:
    world.command("light/light1")
    world.click(ids.ACTION_JOBS, every_button(post_of(world, 1))[ids.ACTION_JOBS])
    jobs = post_of(world, 2)
    assert header(jobs) == "OTA jobs · light1" and "*12 jobs*" in json.dumps(jobs)
    world.drain()
    assert world.service.calls[-1] == (
        "jobs",
        JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID),
    )


def test_a_failed_devices_page_turns_from_the_cache(world: SlackHarness) -> None:
    world.click(ids.ACTION_FAILED, query_text(FailedQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY)))
    first = post_of(world, 1)
    assert "page 1 of 1" in json.dumps(first)
    before = world.service.upstream
    world.click(ids.ACTION_NEXT, query_text(FailedQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, page=2)))
    turned = post_of(world, 2)
    assert turned["replace_original"] is True
    assert "there is no page 2; this is the last page" in json.dumps(turned)
    assert world.service.upstream == before


def test_picking_a_package_replaces_the_question_with_its_jobs(world: SlackHarness) -> None:
    world.command("light/light1 2.5.0")
    question = post_of(world, 1)
    assert header(question) == "Which firmware package?"
    world.click(ids.ACTION_PICK, every_button(question)[ids.ACTION_PICK])
    picked = post_of(world, 2)
    assert picked["replace_original"] is True and header(picked) == "OTA jobs · light1"
    world.drain()
    assert world.service.calls[-1] == ("jobs", JobsLookup(LIGHT_PRODUCT_KEY, "light1", "FWdelta"))


def test_a_firmware_rows_jobs_button_lists_that_packages_jobs(world: SlackHarness) -> None:
    world.command("firmware light")
    firmware = post_of(world, 1)
    assert header(firmware) == f"Firmware · {LIGHT_PRODUCT_KEY}"
    world.click(ids.ACTION_FW_JOBS, query_text_of(firmware, SHOWCASE_FIRMWARE_ID))
    jobs = post_of(world, 2)
    assert (
        header(jobs) == f"OTA jobs · firmware {SHOWCASE_FIRMWARE_ID}"
        and jobs["replace_original"] is False
    )
    world.drain()
    assert world.service.calls[-1] == ("firmware_jobs", FirmwareJobsLookup(SHOWCASE_FIRMWARE_ID))


def query_text_of(message: dict[str, Any], firmware_id: str) -> str:
    for block in message["blocks"]:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == ids.ACTION_FW_JOBS and firmware_id in accessory["value"]:
            value: str = accessory["value"]
            return value
    raise AssertionError(f"no Jobs button for {firmware_id}")


def test_refresh_of_the_device_card_bypasses_the_cache(world: SlackHarness) -> None:
    world.command("light/light1")
    card = post_of(world, 1)
    world.click(ids.ACTION_REFRESH, every_button(card)[ids.ACTION_REFRESH])
    post_of(world, 2)
    world.drain()
    assert world.service.refreshes == [False, True]
    assert world.service.upstream == 4


def test_share_posts_the_card_in_the_channel_without_buttons(world: SlackHarness) -> None:
    world.click(
        ids.ACTION_SHARE,
        query_text(JobQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, "light1")),
        user="U0042",
    )
    shared = post_of(world, 1)
    assert shared["response_type"] == "in_channel"
    assert every_button(shared) == {}
    text = json.dumps(shared)
    assert "Shared by <@U0042> on <!date^" in text
    assert (
        f"rerun with `/ota job {EXAMPLE_JOB_ID} product={LIGHT_PRODUCT_KEY} device=light1`" in text
    )


def test_a_refused_product_on_any_button_costs_no_call(recorder: SlackSide) -> None:
    locked = harness_for(
        settings_of(recorder, allowed_products=frozenset({METER_PRODUCT_KEY})),
        RecordingService(),
        recorder,
    )
    for number, (action, query) in enumerate(
        [
            (ids.ACTION_JOB, JobQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, "light1")),
            (ids.ACTION_JOBS, JobsQuery(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)),
            (ids.ACTION_FAILED, FailedQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY)),
            (ids.ACTION_REFRESH, DeviceQuery(LIGHT_PRODUCT_KEY, "light1")),
            (ids.ACTION_PICK, JobsQuery(LIGHT_PRODUCT_KEY, "light1", "FWfull")),
        ],
        start=1,
    ):
        locked.click(action, query_text(query))
        assert ":no_entry:" in json.dumps(recorder.wait_for_responses(number)[-1])
    locked.drain()
    assert locked.service.calls == []


def test_a_typed_job_of_a_product_not_allowed_is_refused_once_known(
    recorder: SlackSide,
) -> None:
    locked = harness_for(
        settings_of(recorder, allowed_products=frozenset({METER_PRODUCT_KEY})),
        RecordingService(),
        recorder,
    )
    locked.command(f"job {EXAMPLE_JOB_ID}")
    (posted,) = recorder.wait_for_responses(1)
    locked.drain()
    assert ":no_entry:" in json.dumps(posted) and EXAMPLE_JOB_ID not in json.dumps(posted)


def test_a_forged_button_is_refused_in_words_without_a_call(world: SlackHarness) -> None:
    world.click(ids.ACTION_JOB, f"job {EXAMPLE_JOB_ID} device=<!channel>")
    posted = post_of(world, 1)
    assert "&lt;!channel&gt;" in json.dumps(posted) and "<!channel>" not in json.dumps(posted)
    assert world.service.calls == []


def test_each_click_writes_one_audit_line_with_the_calls_it_cost(
    world: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="otabot.audit"):
        world.click(
            ids.ACTION_JOB, query_text(JobQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, "light1"))
        )
        post_of(world, 1)
        world.click(ids.ACTION_FAILED, query_text(FailedQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY)))
        post_of(world, 2)
        world.drain()
    lines = [record for record in caplog.records if record.name == "otabot.audit"]
    assert [(r.action, r.outcome, r.upstream_calls) for r in lines] == [  # type: ignore[attr-defined]
        (ids.ACTION_JOB, "ok", 2),
        (ids.ACTION_FAILED, "ok", 0),  # the job card brought the failed list along
    ]
    assert lines[1].query == f"job {EXAMPLE_JOB_ID} status=failed product={LIGHT_PRODUCT_KEY}"  # type: ignore[attr-defined]


def test_a_partial_card_is_audited_as_partial(
    recorder: SlackSide, caplog: pytest.LogCaptureFixture
) -> None:
    source = fleet()
    source.forbidden.add("QueryDeviceDetail")
    built = harness_for(settings_of(recorder), RecordingService(source), recorder)
    with caplog.at_level(logging.INFO, logger="otabot.audit"):
        built.command("light/light1")
        (posted,) = recorder.wait_for_responses(1)
        built.drain()
    assert "`iot:QueryDeviceDetail`" in json.dumps(posted)
    (line,) = [record for record in caplog.records if record.name == "otabot.audit"]
    assert line.outcome == "partial"  # type: ignore[attr-defined]
    assert line.upstream_calls == 1  # type: ignore[attr-defined]  # what provenance counts


def test_an_unknown_device_is_said_with_the_request_id_and_no_retry(world: SlackHarness) -> None:
    world.command("light/nosuch")
    posted = post_of(world, 1)
    text = json.dumps(posted)
    assert "Device `nosuch` not found in product" in text
    assert "code `iot.device.NotExistedDevice`" in text and ids.ACTION_RETRY not in text


def test_the_help_shows_every_command(world: SlackHarness) -> None:
    help_text = json.dumps(json.loads(world.command("help").body))
    for usage in ("/ota DEVICE", "/ota job JOBID", "/ota firmware [PRODUCT]", "status=failed"):
        assert usage in help_text
