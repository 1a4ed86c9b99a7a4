"""The watcher on fake clocks: a card posted, edited on a change, replies for newly failed
devices, the last edits, the limits, and Slack's faults against the recording server."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from otabot.counters import Counters
from otabot.demo.slack_side import Fault, SlackSide
from otabot.iot.models import JobStatus
from otabot.query.queries import WatchQuery
from otabot.service.fairness import CALLER
from otabot.slack import ids
from otabot.slack.access import Requester
from otabot.watch.records import Ending
from tests.helpers import EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY
from tests.watch.conftest import (
    CHANNEL,
    DANA,
    INTERVAL,
    OTHER_CHANNEL,
    TTL,
    Rig,
    button_ids,
    rig_for,
    section_texts,
)


def text_of(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


# --- starting -----------------------------------------------------------------------------


def test_watch_posts_the_job_card_in_the_channel_with_stop_watching(rig: Rig) -> None:
    reply = rig.watch()
    assert (reply.message, reply.outcome) == (None, "watching")
    (card,) = rig.posts()
    assert card["channel"] == CHANNEL and "thread_ts" not in card
    assert card["blocks"][0]["text"]["text"] == f"OTA job · {EXAMPLE_JOB_ID}"
    footer = section_texts(card)[-1]
    assert footer.startswith(":arrows_counterclockwise: *Watched*")
    assert "checked every 30 s" in footer
    assert "started by <@U0DANA>" in footer
    assert button_ids(card) == [ids.ACTION_FAILED, ids.ACTION_UNWATCH]
    assert rig.watcher.live() == 1


def test_a_watch_asked_without_its_product_has_buttons_that_name_it(rig: Rig) -> None:
    assert rig.watcher.begin(DANA, WatchQuery(EXAMPLE_JOB_ID, None)).outcome == "watching"
    (card,) = rig.posts()
    values = [
        element["value"]
        for block in card["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    # A click is checked against OTABOT_ALLOWED_PRODUCTS before any upstream call.
    assert values and all(f"product={LIGHT_PRODUCT_KEY}" in value for value in values)


def test_watching_a_job_that_does_not_exist_says_so_of_the_watch(rig: Rig) -> None:
    reply = rig.watcher.begin(DANA, WatchQuery("nosuch", LIGHT_PRODUCT_KEY))
    assert reply.outcome.startswith("error:") and reply.message is not None
    shown = json.dumps(reply.message.as_payload())
    assert f"query `/ota watch nosuch product={LIGHT_PRODUCT_KEY}`" in shown
    assert rig.posts() == [] and rig.watcher.live() == 0


def test_an_unchanged_job_costs_a_poll_per_interval_and_no_edit(rig: Rig) -> None:
    rig.watch()
    asked = len(rig.service.calls)
    rig.later(INTERVAL / 2)
    assert len(rig.service.calls) == asked  # not due yet
    rig.later(INTERVAL / 2)
    assert [name for name, _ in rig.service.calls[asked:]][:1] == ["job"]
    assert rig.updates() == []


def test_a_change_in_the_counts_edits_the_card_at_the_next_poll(rig: Rig) -> None:
    rig.watch()
    rig.fail_tasks("lamp0010")
    rig.later(INTERVAL - 1)
    assert rig.updates() == []
    rig.later(1)
    (edit,) = rig.updates()
    assert edit["channel"] == CHANNEL and edit["ts"] == rig.card_ts()
    assert ":x: 4 failed" in text_of(edit)


def test_several_changes_within_an_interval_make_one_edit(rig: Rig) -> None:
    rig.watch()
    rig.later(INTERVAL)
    rig.fail_tasks("lamp0010")
    rig.later(1)
    rig.fail_tasks("lamp0011")
    rig.later(1)
    assert rig.updates() == []
    rig.later(INTERVAL)
    assert len(rig.updates()) == 1 and ":x: 5 failed" in text_of(rig.updates()[0])


def test_newly_failed_devices_are_named_in_the_cards_thread(rig: Rig) -> None:
    rig.watch()
    rig.fail_tasks("lamp0010", "lamp0011", reason="flash write failed")
    rig.later()
    (reply,) = rig.replies()
    assert reply["thread_ts"] == rig.card_ts() and reply["channel"] == CHANNEL
    said = text_of(reply)
    assert "2 more devices failed* (5 failed in all)" in said
    assert "`lamp0010`" in said and "`lamp0011`" in said and "flash write failed" in said
    rig.later()
    assert len(rig.replies()) == 1  # named once


def test_one_job_watched_in_two_channels_is_polled_once_per_interval(rig: Rig) -> None:
    rig.watch()
    rig.watch(Requester("T0001", OTHER_CHANNEL, "U0LEE"))
    rig.fail_tasks("lamp0010")
    before = rig.service.upstream
    rig.later()
    assert rig.service.upstream - before == 2  # QueryOTAJob and ListOTATaskByJob, once
    assert sorted(edit["channel"] for edit in rig.updates()) == [CHANNEL, OTHER_CHANNEL]


def test_polls_run_as_background_work(rig: Rig) -> None:
    seen = []
    original = rig.service.job

    def job(lookup: Any, refresh: bool = False) -> Any:
        seen.append(CALLER.get())
        return original(lookup, refresh=refresh)

    rig.service.job = job  # type: ignore[method-assign]
    before = CALLER.get()
    rig.watch()
    rig.later()
    assert seen[0] is None or not seen[0].background  # the person's own lookup
    assert seen[-1] is not None and seen[-1].background
    assert CALLER.get() is before  # set around the poll only


# --- the end of a watch -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (JobStatus.COMPLETED, "The job completed"),
        (JobStatus.CANCELED, "The job was canceled"),
    ],
)
def test_a_finished_job_gets_a_last_edit_then_no_call_at_all(
    rig: Rig, status: JobStatus, words: str
) -> None:
    rig.watch()
    rig.finish_job(status)
    rig.later()
    (last,) = rig.updates()
    assert words in section_texts(last)[-1]
    assert ids.ACTION_UNWATCH not in button_ids(last)
    assert rig.watches() == []
    upstream, slack = rig.service.upstream, len(rig.recorder.posts)
    for _ in range(5):
        rig.later()
    assert (rig.service.upstream, len(rig.recorder.posts)) == (upstream, slack)


def test_stop_watching_edits_the_card_once_with_who_stopped_it(rig: Rig) -> None:
    rig.watch()
    upstream = rig.service.upstream
    reply = rig.stop(Requester("T0001", CHANNEL, "U0LEE"))
    assert (reply.message, reply.outcome) == (None, "stopped")
    (last,) = rig.updates()
    assert "<@U0LEE> stopped watching" in section_texts(last)[-1]
    assert f"`/ota watch {EXAMPLE_JOB_ID} product=" in section_texts(last)[-1]
    rig.later()
    assert rig.service.upstream == upstream and len(rig.updates()) == 1
    assert rig.watcher.live() == 0


def test_stop_watching_a_card_no_longer_watched_says_so(rig: Rig) -> None:
    reply = rig.stop()
    assert reply.outcome == "not_watched" and reply.message is not None
    assert rig.updates() == []


def test_a_watch_expires_after_its_ttl_with_a_last_edit(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.watch()
    with caplog.at_level(logging.INFO, logger="otabot.audit"):
        for _ in range(int(TTL / INTERVAL)):
            rig.later()
    last = rig.updates()[-1]
    assert "a watch lasts 60 min (`OTABOT_WATCH_TTL`)" in section_texts(last)[-1]
    assert rig.watches() == []
    (line,) = [r for r in caplog.records if getattr(r, "action", "") == "watch_ended"]
    assert (line.outcome, line.channel, line.user) == ("expired", CHANNEL, "U0DANA")  # type: ignore[attr-defined]


def test_stop_with_watches_in_memory_tells_each_card(rig: Rig) -> None:
    rig.watch()
    rig.watcher.stop(deadline=rig.clock() + 30)
    (last,) = rig.updates()
    assert "otabot stopped, and this watch lived in its memory" in section_texts(last)[-1]


# --- the limits ---------------------------------------------------------------------------


def test_the_same_job_in_the_same_channel_points_at_the_existing_card(rig: Rig) -> None:
    rig.watch()
    again = rig.watch(Requester("T0001", CHANNEL, "U0LEE"))
    assert again.outcome == "already_watched" and again.message is not None
    said = text_of(again.message.as_payload())
    (link,) = rig.recorder.answers("chat.getPermalink")
    assert link["permalink"].endswith(rig.card_ts())  # Slack's link to the card
    assert f"<{link['permalink']}|its card>" in said
    assert "started by <@U0DANA>" in said
    assert len(rig.posts()) == 1


def test_no_more_than_otabot_max_watches(rig: Rig) -> None:
    for channel in ("C1", "C2", "C3"):
        assert rig.watch(Requester("T0001", channel, "U1")).outcome == "watching"
    refused = rig.watch(Requester("T0001", "C4", "U1"))
    assert refused.outcome == "full" and refused.message is not None
    assert "already watches 3 jobs" in text_of(refused.message.as_payload())
    assert len(rig.posts()) == 3


def test_a_finished_job_is_not_watched(rig: Rig) -> None:
    rig.finish_job()
    reply = rig.watch()
    assert reply.outcome == "job_finished" and rig.posts() == []
    assert rig.watcher.live() == 0


def test_polls_wait_for_a_quiet_tick_after_peoples_lookups(recorder: SlackSide) -> None:
    quiet = BusyLimiter()
    quiet.waiting = 0
    rig = rig_for(recorder)
    rig.watcher._limiter = quiet  # type: ignore[assignment]
    rig.watch()
    rig.fail_tasks("lamp0010")
    rig.later()  # the first look sets the baseline
    quiet.attempts.add("attempts", action="QueryOTAJob")  # someone looked a job up
    rig.later(0.25)
    assert rig.updates() == []
    rig.later(0.25)  # a tick with no lookup: quiet
    assert len(rig.updates()) == 1


def test_polls_give_way_while_people_wait_for_the_quota(recorder: SlackSide) -> None:
    busy = BusyLimiter()
    rig = rig_for(recorder)
    rig.watcher._limiter = busy  # type: ignore[assignment]
    rig.watch()
    rig.fail_tasks("lamp0010")
    before = rig.service.upstream
    rig.later()
    rig.later(1)
    assert rig.service.upstream == before and rig.updates() == []
    busy.waiting = 0
    rig.later(1)
    assert len(rig.updates()) == 1


class BusyLimiter:
    """A quota with ``ahead`` attempts waiting for every action."""

    def __init__(self) -> None:
        self.waiting = 3
        self.attempts = Counters("attempts")

    def scheduler(self, action: str) -> Any:
        return self

    @property
    def quota(self) -> Any:
        return self

    def ahead(self, user: str, priority: int) -> tuple[int, float]:
        return self.waiting, 0.0

    @property
    def counters(self) -> Counters:
        return self.attempts


# --- Slack's faults -----------------------------------------------------------------------


def test_a_rate_limited_edit_waits_for_retry_after(rig: Rig) -> None:
    rig.watch()
    rig.recorder.fail("chat.update", Fault("ratelimited", status=429, retry_after="45"))
    rig.fail_tasks("lamp0010")
    rig.later()
    assert len(rig.updates()) == 1  # refused with 429
    rig.later()  # 30 s later: Retry-After has not passed, so no call
    rig.later(10)
    assert len(rig.updates()) == 1
    rig.later(10)
    assert len(rig.updates()) == 2 and ":x: 4 failed" in text_of(rig.updates()[-1])


@pytest.mark.parametrize("error", ["message_not_found", "channel_not_found", "not_in_channel"])
def test_a_deleted_card_or_a_lost_channel_ends_the_watch_with_a_log_line(
    rig: Rig, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    rig.watch()
    rig.recorder.fail("chat.update", Fault(error))
    rig.fail_tasks("lamp0010")
    with caplog.at_level(logging.INFO):
        rig.later()
    assert rig.watches() == []
    assert any(f"Slack says {error}" in record.getMessage() for record in caplog.records)
    upstream, calls = rig.service.upstream, len(rig.recorder.posts)
    rig.later()
    assert (rig.service.upstream, len(rig.recorder.posts)) == (upstream, calls)


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found"])
def test_a_channel_otabot_cannot_post_in_says_invite_it(rig: Rig, error: str) -> None:
    rig.recorder.fail("chat.postMessage", Fault(error))
    reply = rig.watch()
    assert reply.outcome == f"slack:{error}" and reply.message is not None
    assert "`/invite @otabot`" in text_of(reply.message.as_payload())
    assert "chat:write.public" in text_of(reply.message.as_payload())
    assert rig.watcher.live() == 0
    assert rig.watch().outcome == "watching"  # the reservation was given back


def test_a_rate_limited_post_says_when_to_try_again(rig: Rig) -> None:
    rig.recorder.fail("chat.postMessage", Fault("ratelimited", status=429, retry_after="7"))
    reply = rig.watch()
    assert reply.message is not None and "try again in 7 s" in text_of(reply.message.as_payload())


def test_the_stored_watch_holds_no_secret(rig: Rig) -> None:
    rig.watch()
    (watch,) = rig.watches()
    stored = watch.to_json()
    assert "xoxb" not in stored and "response" not in stored
    assert watch.ending is None and Ending
