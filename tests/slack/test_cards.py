"""The cards as plain functions of an answer: what each shows, its buttons (each carrying its
query), and Slack's limits held with absurd input."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest

from otabot.config import Settings
from otabot.iot.errors import InvalidRequestError
from otabot.iot.models import JobStatus, TaskStatus
from otabot.query.answers import Answer, look_up
from otabot.query.explain import explain
from otabot.query.grammar import UsageProblem, parse_text, parse_value
from otabot.query.queries import (
    DeviceQuery,
    FailedQuery,
    JobQuery,
    JobsQuery,
    Query,
    WatchQuery,
    query_text,
)
from otabot.slack import ids
from otabot.slack.blocks import MAX_BLOCKS, error_message, usage_message
from otabot.slack.cards import card_message
from tests.helpers import EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from tests.service.fleet_source import FleetSource, firmware, ota_job, task
from tests.slack.conftest import NOW
from tests.world import ENV, RecordingService, fleet

SETTINGS = Settings.from_env(ENV)


def ask(text: str, source: FleetSource | None = None) -> Answer:
    query = parse_text(text, SETTINGS)
    assert not hasattr(query, "why"), query
    return look_up(RecordingService(source), query)  # type: ignore[arg-type]


def render(answer: Answer, *, shared_by: str | None = None, page_size: int = 5) -> dict[str, Any]:
    payload: dict[str, Any] = card_message(
        answer, now=NOW, page_size=page_size, shared_by=shared_by
    ).as_payload()
    return payload


def show(text: str, source: FleetSource | None = None, **options: Any) -> dict[str, Any]:
    return render(ask(text, source), **options)


def sections(payload: dict[str, Any]) -> list[str]:
    return [block["text"]["text"] for block in payload["blocks"] if block["type"] == "section"]


def buttons(payload: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(text, action_id, value)`` of every button: in actions blocks and as accessories."""
    found = []
    for block in payload["blocks"]:
        elements = block.get("elements", []) if block["type"] == "actions" else []
        if block.get("accessory"):
            elements = [block["accessory"]]
        found.extend(
            (element["text"]["text"], element["action_id"], element["value"])
            for element in elements
            if element.get("type") == "button"
        )
    return found


def query_of(value: str) -> Query:
    parsed = parse_value(value, SETTINGS)
    assert isinstance(parsed, DeviceQuery | JobsQuery | JobQuery | FailedQuery)
    return parsed


# --- the device card --------------------------------------------------------------------


def test_the_device_card_shows_the_device_and_the_update_running_on_it() -> None:
    payload = show("light/light1")
    assert payload["blocks"][0]["text"]["text"] == "OTA · light1"
    device, update = sections(payload)
    assert device.splitlines()[0] == f"product *Smart light* `{LIGHT_PRODUCT_KEY}` · nickname lobby"
    assert device.splitlines()[1].startswith(
        ":large_green_circle: online · firmware `1.1.0` · last online <!date^"
    )
    assert update.startswith(":hourglass_flowing_sand: *in progress* · module `default` · ")
    assert f"`1.1.0 → 1.2.0` · job `{EXAMPLE_JOB_ID}` · since <!date^" in update
    assert payload["text"] == "OTA · light1: online, 1 update pending or running"


def test_each_task_of_the_device_card_opens_its_job_and_its_firmwares_jobs() -> None:
    payload = show("light/light1")
    by_action = {action: query_of(value) for _, action, value in buttons(payload)}
    assert by_action[ids.ACTION_JOB] == JobQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, "light1")
    assert by_action[ids.ACTION_JOBS] == JobsQuery(
        LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID
    )
    assert by_action[ids.ACTION_REFRESH] == DeviceQuery(LIGHT_PRODUCT_KEY, "light1")
    assert [text for text, _, _ in buttons(payload)] == [
        "Job", "Jobs for this firmware", "↻ Refresh", "Share in channel"
    ]  # fmt: skip


def test_a_device_with_no_update_says_so() -> None:
    assert "No OTA update is pending or running on this device." in sections(show("light/light2"))


def test_without_query_device_detail_the_card_still_lists_the_tasks_and_names_the_action() -> None:
    source = fleet()
    source.forbidden.add("QueryDeviceDetail")
    device, update = sections(show("light/light1", source))
    assert ":warning: otabot may not read this device's details" in device
    assert "`iot:QueryDeviceDetail`" in device
    assert update.startswith(":hourglass_flowing_sand: *in progress*")


def test_a_device_offline_and_never_seen_online_says_so() -> None:
    source = fleet()
    source.add_device("light2", status="OFFLINE")
    device = sections(show("light/light2", source))[0]
    assert ":red_circle: offline · firmware `1.0.0` · last online unknown" in device


# --- the jobs list ----------------------------------------------------------------------


def test_every_job_row_opens_the_job_card_with_the_device() -> None:
    payload = show(f"light/light1 {SHOWCASE_FIRMWARE_ID}")
    details = [value for _, action, value in buttons(payload) if action == ids.ACTION_JOB]
    assert [query_of(value) for value in details] == [
        JobQuery(f"J{i:04d}", LIGHT_PRODUCT_KEY, "light1") for i in range(11, 6, -1)
    ]


def test_jobs_by_version_say_which_firmware_the_version_was() -> None:
    payload = show("light/light1 v1.2.0")
    context = payload["blocks"][1]["elements"][0]["text"]
    assert f"version `v1.2.0` (as `1.2.0`) is firmware `{SHOWCASE_FIRMWARE_ID}`" in context
    refresh = dict((action, value) for _, action, value in buttons(payload))[ids.ACTION_REFRESH]
    assert query_of(refresh) == JobsQuery(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)


def test_the_jobs_of_a_firmware_open_the_job_card_without_a_device() -> None:
    payload = show(f"jobs firmware={SHOWCASE_FIRMWARE_ID} product=light")
    assert payload["blocks"][0]["text"]["text"] == f"OTA jobs · firmware {SHOWCASE_FIRMWARE_ID}"
    first = next(value for _, action, value in buttons(payload) if action == ids.ACTION_JOB)
    assert query_of(first) == JobQuery("J0011", LIGHT_PRODUCT_KEY)


# --- the job card and its failed devices ------------------------------------------------


def test_the_job_card_shows_the_rollout_counts_and_the_devices_task() -> None:
    payload = show(f"job {EXAMPLE_JOB_ID} light1")
    assert payload["blocks"][0]["text"]["text"] == f"OTA job · {EXAMPLE_JOB_ID}"
    job, counts, device = sections(payload)
    assert job.splitlines()[0].startswith(
        f":hourglass_flowing_sand: *IN_PROGRESS* · `{EXAMPLE_JOB_ID}` · UPGRADE_FIRMWARE"
        " · running for"
    )
    assert (
        job.splitlines()[1]
        == f"package *light-fw* · `1.0.0 → 1.2.0` · firmware `{SHOWCASE_FIRMWARE_ID}`"
    )
    assert "1 retry every 60 min · timeout 1440 min" in job
    assert counts == (
        ":white_check_mark: 33 succeeded · :x: 3 failed · :hourglass_flowing_sand: 4 in progress"
        " … of 40"
    )
    assert device.startswith("Device `light1`: :hourglass_flowing_sand: *IN_PROGRESS* · 40 %")


def test_the_job_card_offers_the_failed_devices_when_any_failed() -> None:
    found = {action: value for _, action, value in buttons(show(f"job {EXAMPLE_JOB_ID}"))}
    assert query_of(found[ids.ACTION_FAILED]) == FailedQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY)
    assert query_of(found[ids.ACTION_REFRESH]) == JobQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY)


def test_a_running_job_card_offers_to_watch_the_whole_job_in_the_channel() -> None:
    found = {action: value for _, action, value in buttons(show(f"job {EXAMPLE_JOB_ID} light1"))}
    assert parse_value(found[ids.ACTION_WATCH], SETTINGS) == WatchQuery(
        EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY
    )


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.CANCELED])
def test_a_finished_job_card_has_no_watch_button(status: JobStatus) -> None:
    source = fleet()
    source.jobs[EXAMPLE_JOB_ID] = dataclasses.replace(source.jobs[EXAMPLE_JOB_ID], status=status)
    assert ids.ACTION_WATCH not in {
        action for _, action, _ in buttons(show(f"job {EXAMPLE_JOB_ID}", source))
    }


def test_a_job_with_no_failed_device_has_no_failed_devices_button() -> None:
    source = fleet()
    source.tasks[EXAMPLE_JOB_ID] = [
        t for t in source.tasks[EXAMPLE_JOB_ID] if t.status != TaskStatus.FAILED
    ]
    assert ids.ACTION_FAILED not in {
        action for _, action, _ in buttons(show(f"job {EXAMPLE_JOB_ID}", source))
    }


def test_a_job_card_without_list_ota_task_by_job_names_the_action() -> None:
    source = fleet()
    source.forbidden.add("ListOTATaskByJob")
    counts = sections(show(f"job {EXAMPLE_JOB_ID}", source))[1]
    assert "`iot:ListOTATaskByJob`" in counts


def test_the_failed_devices_page_with_their_reasons_and_lead_back_to_the_job() -> None:
    payload = show(f"job {EXAMPLE_JOB_ID} status=failed", page_size=2)
    summary, *rows = sections(payload)
    assert summary.startswith("*3 failed devices* of 40 devices · page 1 of 2")
    assert rows[0].splitlines() == [
        rows[0].splitlines()[0],
        "> download timed out",
    ]
    assert rows[0].startswith(":x: `lamp0006` · 40 % · `1.1.0 → 1.2.0` · failed <!date^")
    found = {action: value for _, action, value in buttons(payload)}
    assert query_of(found[ids.ACTION_NEXT]) == FailedQuery(
        EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, page=2
    )
    assert query_of(found[ids.ACTION_JOB]) == JobQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY)


# --- firmware ---------------------------------------------------------------------------


def test_the_firmware_list_shows_each_package_with_its_jobs_button() -> None:
    payload = show("firmware light")
    summary, newest, delta, *_ = sections(payload)
    assert summary.startswith("*4 packages* · page 1 of 1, newest first")
    assert newest.startswith("*light-fw* · `v3.0.0` · module `default` · full · verified · ")
    assert "`1.0.0 → 2.5.0` · module `default` · delta" in delta
    jobs = [value for _, action, value in buttons(payload) if action == ids.ACTION_FW_JOBS]
    assert query_of(jobs[0]) == JobsQuery(LIGHT_PRODUCT_KEY, None, "FWv3")


def test_a_version_of_several_packages_asks_which_with_one_pick_each() -> None:
    payload = show("light/light1 2.5.0 status=done")
    assert payload["blocks"][0]["text"]["text"] == "Which firmware package?"
    picks = [value for _, action, value in buttons(payload) if action == ids.ACTION_PICK]
    assert [query_of(value) for value in picks] == [
        JobsQuery(LIGHT_PRODUCT_KEY, "light1", firmware_id, status=JobStatus.COMPLETED)
        for firmware_id in ("FWdelta", "FWfull")
    ]
    assert "ota_share" not in {action for _, action, _ in buttons(payload)}


def test_a_version_no_package_has_lists_the_newest_to_pick_from() -> None:
    payload = show("light/light1 9.9.9")
    said = sections(payload)[0]
    assert said == (
        f":warning: No firmware package of product `{LIGHT_PRODUCT_KEY}` has version `9.9.9`. "
        "Newest versions: `v3.0.0`, `2.5.0`, `1.2.0`."
    )
    picks = [query_of(v) for _, action, v in buttons(payload) if action == ids.ACTION_PICK]
    assert picks[0] == JobsQuery(LIGHT_PRODUCT_KEY, "light1", "FWv3")


# --- every card: shared copies, escaping, limits ----------------------------------------

EVERY_CARD = [
    "light/light1",
    f"light/light1 {SHOWCASE_FIRMWARE_ID}",
    f"jobs firmware={SHOWCASE_FIRMWARE_ID} product=light",
    f"job {EXAMPLE_JOB_ID} light1",
    f"job {EXAMPLE_JOB_ID} status=failed",
    "firmware light",
    "firmware light version=2.5.0",
    "light/light1 2.5.0",
    "light/light1 9.9.9",
]


@pytest.mark.parametrize("text", EVERY_CARD)
def test_every_card_has_refresh_and_its_shared_copy_has_no_button(text: str) -> None:
    answer = ask(text)
    actions = {action for _, action, _ in buttons(render(answer))}
    assert ids.ACTION_REFRESH in actions
    shared = render(answer, shared_by="U0042")
    if ids.ACTION_SHARE in actions:
        assert buttons(shared) == []
        assert "Shared by <@U0042> on <!date^" in json.dumps(shared)


def hostile_world() -> FleetSource:
    """Every value the API could send, absurdly long and full of Slack syntax."""
    ping = "<!channel> & <@U123> *bold* `tick` " * 200
    source = fleet()
    source.devices["light1"] = dataclasses.replace(
        source.devices["light1"], product_name=ping, nickname=ping, firmware_version=ping
    )
    tasks = []
    for index in range(300):
        made = task(f"JOB{index:04d}", "light1", "QUEUED", index, ping)
        tasks.append(
            dataclasses.replace(made, module_name=ping, src_version=ping, dest_version=ping)
        )
    source.tasks["MANY"] = tasks
    source.jobs[EXAMPLE_JOB_ID] = dataclasses.replace(
        source.jobs[EXAMPLE_JOB_ID],
        name=ping,
        description=ping,
        src_versions=tuple(ping for _ in range(50)),
        gray_percent=ping,
        tags=tuple((f"k{i}", ping) for i in range(300)),
    )
    source.tasks[EXAMPLE_JOB_ID] = [
        dataclasses.replace(t, description=ping) for t in source.tasks[EXAMPLE_JOB_ID]
    ] + [
        task(EXAMPLE_JOB_ID, f"odd{i:04d}", status, i)
        for i, status in enumerate(["PAUSED", "WEIRD"] * 30)
    ]
    source.firmwares = [
        dataclasses.replace(firmware(f"FW{i:04d}", "2.5.0", i), name=ping, module_name=ping)
        for i in range(300)
    ]
    source.firmware_jobs[SHOWCASE_FIRMWARE_ID] = [
        dataclasses.replace(ota_job(f"J{i:04d}", i), tags=tuple((f"k{j}", ping) for j in range(60)))
        for i in range(300)
    ]
    return source


def limits_hold(payload: dict[str, Any]) -> None:
    blocks = payload["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    assert len(payload["text"]) <= 3000
    block_ids = [block["block_id"] for block in blocks if "block_id" in block]
    assert len(block_ids) == len(set(block_ids))
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(element["text"]) <= 3000 for element in block["elements"])
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
    for text, action, value in buttons(payload):
        assert len(text) <= 75 and len(action) <= 255 and len(value) <= 2000
    raw = json.dumps(payload)
    assert "<!channel>" not in raw and "<@U123>" not in raw


@pytest.mark.parametrize("text", [*EVERY_CARD, f"job {EXAMPLE_JOB_ID} light1 status=failed"])
@pytest.mark.parametrize("page_size", [1, 20])
def test_every_card_stays_within_slacks_limits_whatever_the_api_says(
    text: str, page_size: int
) -> None:
    answer = ask(text, hostile_world())
    for shared_by in (None, "U0042"):
        limits_hold(render(answer, page_size=page_size, shared_by=shared_by))


def test_a_device_with_hundreds_of_tasks_stays_within_fifty_blocks() -> None:
    payload = show("light/light1", hostile_world())
    limits_hold(payload)
    assert "more" in sections(payload)[-1]


@pytest.mark.parametrize(
    "query",
    [
        JobsQuery(
            "P" * 64, "d" * 32, None, "v" + "9" * 63, JobStatus.IN_PROGRESS, 10_000, "i" * 64
        ),
        JobsQuery("P" * 64, None, None, "9" * 64, JobStatus.IN_PROGRESS, 10_000, "i" * 64),
        FailedQuery("J" * 64, "P" * 64, "d" * 32, 10_000, "i" * 64),
    ],
)
def test_the_longest_queries_fit_a_button_value_and_read_back(query: Query) -> None:
    settings = dataclasses.replace(SETTINGS, allowed_products=frozenset({"P" * 64}))
    assert len(query_text(query)) < 400
    assert parse_value(query_text(query), settings) == query


def test_dates_in_cards_never_say_today_mid_sentence() -> None:
    for text in EVERY_CARD:
        raw = json.dumps(render(ask(text))) + json.dumps(render(ask(text), shared_by="U1"))
        assert "_pretty}" not in raw


def test_card_times_follow_the_fetch_time_words() -> None:
    answer = ask("light/light1")
    summary = render(answer)["blocks"][1]["elements"][0]["text"]
    assert "default instance · fetched <!date^" in summary and "{time_secs}" in summary
    later = dataclasses.replace(
        answer.result,  # type: ignore[union-attr]
        provenance=dataclasses.replace(
            answer.provenance, from_cache=True, fetched_at=NOW - timedelta(seconds=26)
        ),
    )
    cached = render(dataclasses.replace(answer, result=later))  # type: ignore[type-var]
    assert "cached, fetched 26 s ago" in cached["blocks"][1]["elements"][0]["text"]


def test_errors_and_usage_stay_within_slacks_limits_whatever_they_quote() -> None:
    huge = "<!channel> " * 2000
    error = InvalidRequestError(huge, code=huge[:300], request_id=huge[:500])
    query = JobQuery("J" * 64, "P" * 64, "d" * 32, "i" * 64)
    limits_hold(error_message(explain(error, query), query).as_payload())
    limits_hold(usage_message(UsageProblem("a DeviceName is 4 to 32", huge)).as_payload())
