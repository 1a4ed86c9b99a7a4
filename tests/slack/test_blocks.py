"""The jobs list card and the messages that are not cards, as plain functions: limits,
escaping, dates, empty and truncated results."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

import pytest

from otabot.config import Settings
from otabot.iot.models import JobStatus
from otabot.query.answers import JobsAnswer
from otabot.query.explain import Explanation
from otabot.query.grammar import UsageProblem, parse_value
from otabot.query.phrases import Moment
from otabot.query.queries import JobsQuery, at_page
from otabot.query.words import duration_words
from otabot.service import JobsResult
from otabot.slack import ids
from otabot.slack.blocks import (
    MAX_BLOCKS,
    Message,
    error_message,
    help_message,
    refusal_message,
    usage_message,
)
from otabot.slack.cards import card_message
from otabot.slack.mrkdwn import escape, slack_date
from tests.helpers import EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from tests.slack.conftest import LOOKUP, NOW, QUERY, job, many_jobs, result_of

SETTINGS = Settings()


def jobs_message(
    result: JobsResult,
    query: JobsQuery,
    *,
    page_size: int = 5,
    now: datetime = NOW,
    shared_by: str | None = None,
) -> Message:
    answer = JobsAnswer(query, result, None, result.provenance)
    return card_message(answer, now=now, page_size=page_size, shared_by=shared_by)


def render(
    jobs: list,
    page: int = 1,
    status: JobStatus | None = None,
    page_size: int = 5,
    **changes: object,
) -> dict:
    result = result_of(LOOKUP, jobs, **changes)
    query = dataclasses.replace(QUERY, page=page, status=status)
    return jobs_message(result, query, page_size=page_size).as_payload()


def buttons(payload: dict) -> dict[str, str]:
    """action_id → value of every button in the message."""
    return {
        element["action_id"]: element["value"]
        for block in payload["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


def test_header_context_summary_and_one_section_per_job() -> None:
    payload = render(many_jobs(12))
    header, context, summary = payload["blocks"][:3]
    assert header["type"] == "header" and header["text"]["text"] == "OTA jobs · light1"
    assert (
        LIGHT_PRODUCT_KEY in context["elements"][0]["text"]
        and SHOWCASE_FIRMWARE_ID in context["elements"][0]["text"]
    )
    assert "*12 jobs*" in summary["text"]["text"] and "page 1 of 3" in summary["text"]["text"]
    jobs = [b for b in payload["blocks"] if b["type"] == "section" and "JOB" in b["text"]["text"]]
    assert len(jobs) == 5


def test_jobs_are_newest_first() -> None:
    old = job("OLD", created="2023-01-01T00:00:00.000Z")
    new = job("NEW", created="2024-01-01T00:00:00.000Z")
    text = json.dumps(render([old, new]))
    assert text.index("NEW") < text.index("OLD")


def test_summary_counts_jobs_by_status_with_emoji() -> None:
    summary = render(many_jobs(12))["blocks"][2]["text"]["text"]
    assert ":hourglass_flowing_sand: 4 in progress" in summary
    assert ":white_check_mark: 4 completed" in summary
    assert ":no_entry_sign: 4 canceled" in summary


def test_job_section_shows_status_id_type_selection_target_and_tags() -> None:
    text = render([job(EXAMPLE_JOB_ID, "COMPLETE")])["blocks"][4]["text"]["text"]
    assert ":white_check_mark: *COMPLETED*" in text
    assert f"`{EXAMPLE_JOB_ID}`" in text
    assert "UPGRADE_FIRMWARE · STATIC · SPECIFIC" in text
    assert "`team=lights`" in text


def test_unknown_status_is_shown_as_it_is() -> None:
    text = render([job("J1", "PAUSED")])["blocks"][4]["text"]["text"]
    assert ":grey_question: *PAUSED*" in text


def test_times_use_slack_date_tokens_with_a_utc_fallback() -> None:
    text = render([job("J1", created="2019-12-28T02:43:10.000Z")])["blocks"][4]["text"]["text"]
    assert "created <!date^1577500990^{date_short} {time}|2019-12-28 02:43 UTC>" in text
    assert "ended" not in text


def test_slack_date_floors_to_whole_seconds() -> None:
    assert slack_date(Moment(NOW + timedelta(milliseconds=999))).startswith(
        f"<!date^{int(NOW.timestamp())}^"
    )


def test_a_channel_ping_in_a_tag_pings_nobody() -> None:
    evil = job("J1", Tags=[{"Key": "note", "Value": "<!channel> & <@U123> <https://x|y>"}])
    text = json.dumps(render([evil]))
    assert "<!channel>" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in text


def test_escape_replaces_only_ampersand_and_angle_brackets() -> None:
    assert escape("a&b<c>d*e_f`g") == "a&amp;b&lt;c&gt;d*e_f`g"


def test_empty_result_says_so_and_offers_no_page_turns() -> None:
    payload = render([])
    assert "No OTA jobs for this device and firmware." in json.dumps(payload)
    assert "page 1 of 1" in payload["blocks"][2]["text"]["text"]
    assert set(buttons(payload)) == {ids.ACTION_REFRESH, ids.ACTION_SHARE}


def test_status_filter_with_no_match_says_which_status() -> None:
    payload = render([job("J1", "COMPLETED")], status=JobStatus.CANCELED)
    assert "No canceled jobs among the 1 found." in json.dumps(payload)


def test_status_filter_pages_over_the_matching_jobs_only() -> None:
    payload = render(many_jobs(12), status=JobStatus.IN_PROGRESS)
    assert "page 1 of 1" in payload["blocks"][2]["text"]["text"]
    assert "4 jobs in progress" in payload["text"]


def test_truncated_result_is_flagged() -> None:
    payload = render(many_jobs(10), total=1500)
    assert (
        "showing 10 of 1500 jobs: the first 10 the API listed"
        in payload["blocks"][2]["text"]["text"]
    )


def test_cached_result_says_how_old_it_is() -> None:
    result = result_of(
        LOOKUP, many_jobs(3), from_cache=True, fetched_at=NOW - timedelta(seconds=12)
    )
    message = jobs_message(result, QUERY)
    assert "cached, fetched 12 s ago" in message.as_payload()["blocks"][2]["text"]["text"]


def test_fresh_result_says_when_it_was_fetched() -> None:
    summary = render(many_jobs(3))["blocks"][2]["text"]["text"]
    assert f"fetched <!date^{int(NOW.timestamp())}^{{time_secs}}|" in summary


def test_long_tag_list_is_cut_and_counted_within_limits() -> None:
    tags = [{"Key": f"key{i}", "Value": "v" * 40} for i in range(200)]
    text = render([job("J1", Tags=tags)])["blocks"][4]["text"]["text"]
    assert len(text) <= 3000
    assert "more" in text.splitlines()[-1]


def test_first_page_has_next_but_no_prev() -> None:
    assert set(buttons(render(many_jobs(12)))) == {
        ids.ACTION_NEXT,
        ids.ACTION_REFRESH,
        ids.ACTION_SHARE,
    }


def test_middle_page_has_both_directions_carrying_the_whole_query() -> None:
    values = buttons(render(many_jobs(12), page=2, status=None))
    assert parse_value(values[ids.ACTION_PREV], SETTINGS) == QUERY
    assert parse_value(values[ids.ACTION_NEXT], SETTINGS) == at_page(QUERY, 3)
    assert parse_value(values[ids.ACTION_REFRESH], SETTINGS) == at_page(QUERY, 2)


def test_page_past_the_end_shows_the_last_page() -> None:
    payload = render(many_jobs(12), page=9)
    assert "page 3 of 3" in payload["blocks"][2]["text"]["text"]
    assert ids.ACTION_NEXT not in buttons(payload)


@pytest.mark.parametrize("page_size", [1, 5, 20])
def test_biggest_pages_stay_within_fifty_blocks(page_size: int) -> None:
    tags = [{"Key": f"k{i}", "Value": "<!here>" * 10} for i in range(50)]
    jobs = [job(f"J{i}", Tags=tags) for i in range(60)]
    payload = render(jobs, page=2, page_size=page_size, total=2000)
    assert len(payload["blocks"]) <= MAX_BLOCKS
    assert len(json.dumps(payload)) < 60_000


def test_shared_copy_names_the_sharer_and_has_no_buttons() -> None:
    result = result_of(LOOKUP, many_jobs(12))
    payload = jobs_message(result, at_page(QUERY, 2), shared_by="U0042").as_payload()
    assert "Shared by <@U0042>" in json.dumps(payload)
    assert buttons(payload) == {}


def test_fallback_text_summarises_the_page_with_counts_by_status() -> None:
    assert render(many_jobs(12))["text"] == (
        "OTA jobs · light1: 12 jobs (4 in progress, 4 completed, 4 canceled), page 1 of 3"
    )


def test_summary_lists_statuses_in_a_fixed_order_whatever_the_counts() -> None:
    jobs = [job(f"C{i}", "COMPLETED") for i in range(5)] + [job("R1"), job("X1", "PAUSED")]
    summary = render(jobs)["blocks"][2]["text"]["text"]
    assert summary.index("in progress") < summary.index("completed") < summary.index("paused")


def test_summary_says_the_jobs_are_newest_first() -> None:
    assert "page 1 of 3, newest first" in render(many_jobs(12))["blocks"][2]["text"]["text"]


def test_a_single_job_is_not_said_to_be_in_any_order() -> None:
    assert "newest first" not in render([job("J1")])["blocks"][2]["text"]["text"]


def test_page_past_the_end_says_it_shows_the_last_page_instead() -> None:
    summary = render(many_jobs(12), page=99)["blocks"][2]["text"]["text"]
    assert "page 3 of 3 (there is no page 99; this is the last page)" in summary


def test_a_page_in_range_has_no_past_the_end_note() -> None:
    assert "no page" not in render(many_jobs(12), page=3)["blocks"][2]["text"]["text"]


def test_ended_job_says_how_long_it_ran() -> None:
    ended = job(
        "J1",
        "COMPLETED",
        UtcStartTime="2024-04-01T10:00:00.000Z",
        UtcEndTime="2024-04-02T12:00:00.000Z",
    )
    assert "· ran for 26 h" in render([ended])["blocks"][4]["text"]["text"]


def test_job_in_progress_says_how_long_it_has_been_running() -> None:
    running = job("J1", UtcStartTime=(NOW - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    assert "· running for 30 d" in render([running])["blocks"][4]["text"]["text"]


def test_job_never_started_shows_no_span() -> None:
    text = render([job("J1", UtcStartTime=None)])["blocks"][4]["text"]["text"]
    assert "running for" not in text and "ran for" not in text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (90, "90 s"), (150, "2 min"), (7000, "117 min"), (7200, "2 h"), (200_000, "2 d")],
)
def test_duration_words_round_to_one_readable_unit(seconds: float, words: str) -> None:
    assert duration_words(seconds) == words


def test_shared_copy_says_when_it_was_shared_and_how_to_rerun_it() -> None:
    query = dataclasses.replace(QUERY, page=2, status=JobStatus.COMPLETED)
    payload = jobs_message(result_of(LOOKUP, many_jobs(30)), query, shared_by="U0042").as_payload()
    shared = payload["blocks"][-1]["elements"][0]["text"]
    moment = int(NOW.timestamp())
    assert shared.startswith(f"Shared by <@U0042> on <!date^{moment}^{{date_short}} at {{time}}|")
    assert (
        f"`/ota jobs {LIGHT_PRODUCT_KEY}/light1 {SHOWCASE_FIRMWARE_ID} status=completed page=2`"
        in shared
    )


def test_shared_copy_gives_the_fetch_time_as_a_date_not_a_relative_age() -> None:
    result = result_of(
        LOOKUP, many_jobs(3), from_cache=True, fetched_at=NOW - timedelta(seconds=12)
    )
    payload = jobs_message(result, QUERY, shared_by="U0042").as_payload()
    summary = payload["blocks"][2]["text"]["text"]
    assert "s ago" not in summary
    assert f"fetched <!date^{int(NOW.timestamp()) - 12}^{{date_short}} {{time_secs}}|" in summary


def explanation(words: str, **changes: object) -> Explanation:
    fields: dict[str, object] = {"retryable": False, "code": None, "request_id": None}
    return Explanation((words,), **(fields | changes))  # type: ignore[arg-type]


def test_error_message_names_the_api_error_code_for_the_admin() -> None:
    said = explanation("Device not found.", code="iot.device.NotExistedDevice")
    payload = error_message(said, QUERY).as_payload()
    assert "code `iot.device.NotExistedDevice`" in payload["blocks"][1]["elements"][0]["text"]


def test_error_message_has_request_id_and_retry_carrying_the_query() -> None:
    said = explanation("IoT API busy — try again in 2 s.", request_id="REQ-9", retryable=True)
    payload = error_message(said, at_page(QUERY, 2)).as_payload()
    assert "RequestId `REQ-9`" in json.dumps(payload)
    assert parse_value(buttons(payload)[ids.ACTION_RETRY], SETTINGS) == at_page(QUERY, 2)


def test_error_message_without_retry_has_no_buttons() -> None:
    payload = error_message(explanation("Device not found."), QUERY).as_payload()
    assert buttons(payload) == {}


def test_usage_message_names_the_token_escaped_and_shows_usage() -> None:
    payload = usage_message(UsageProblem("a DeviceName is 4 to 32", "<!here>")).as_payload()
    text = payload["blocks"][0]["text"]["text"]
    assert "`&lt;!here&gt;`" in text and "/ota [jobs] DEVICE FIRMWARE" in text


def test_help_and_refusal_messages_build() -> None:
    assert "/ota help" in json.dumps(help_message().as_payload())
    assert "not enabled" in refusal_message("otabot is not enabled for you.").as_payload()["text"]


def test_too_many_blocks_is_refused_when_building_the_payload() -> None:
    message = jobs_message(result_of(LOOKUP, many_jobs(3)), QUERY)
    bloated = dataclasses.replace(message, blocks=message.blocks * 10)
    with pytest.raises(ValueError, match="50"):
        bloated.as_payload()


@pytest.mark.parametrize(
    ("aliases", "default", "device", "product"),
    [
        (["lamp", "meter"], None, "lamp/light1", "lamp"),
        ([], "a1B2c3D4e5F", "light1", "a1B2c3D4e5F"),
        ([], None, "PRODUCTKEY/light1", "PRODUCTKEY"),
    ],
)
def test_the_help_writes_the_product_as_this_workspace_types_it(
    aliases: list[str], default: str | None, device: str, product: str
) -> None:
    text = json.dumps(help_message(aliases, default).as_payload(), ensure_ascii=False)
    assert f"`/ota {device}`" in text and f"`/ota firmware {product}`" in text
    assert "light/" not in text  # never an alias this workspace does not have
