"""The watched card and what otabot says about watching, as Block Kit: pure functions.

A watched card is the job card as the channel sees it (``otabot.slack.cards``, the
shared copy: no Refresh or Share, a date in "fetched"), then a footer saying it is
watched — or why it no longer is — and its buttons: ``Failed devices`` (an ephemeral
list for whoever clicks) and ``Stop watching``. The card's blocks are kept with the
watch, so the last edit (stopped, expired) needs no upstream call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from otabot.clocks import utc_datetime
from otabot.iot.models import OtaTask, TaskStatus
from otabot.query.answers import JobAnswer
from otabot.query.phrases import Moment, plural
from otabot.query.queries import query_text
from otabot.query.words import duration_words
from otabot.slack import ids
from otabot.slack.blocks import Message, button, context, section
from otabot.slack.cards import failed_row, job_card
from otabot.slack.mrkdwn import code, command, escape, slack_date
from otabot.watch.records import Ending, Watch

# Newly failed devices named in one thread reply; the card's Failed devices lists the rest.
MAX_REPLY_ROWS = 20


def fingerprint(answer: JobAnswer) -> str:
    """What a change of the card is judged by: the job's status and its task counts."""
    counts = answer.result.counts
    shown: list[Any] = [answer.result.job.status.value]
    if counts.value is not None:
        shown += [counts.value.total, sorted(counts.value.by_status.items())]
    else:
        shown.append(counts.error.code if counts.error is not None else "?")
    return hashlib.sha256(json.dumps(shown).encode()).hexdigest()[:16]


def card_blocks(answer: JobAnswer, now: datetime) -> tuple[tuple[dict[str, Any], ...], str]:
    """The job card as the channel sees it, without buttons, and its fallback text."""
    shown = job_card(answer, now, shared=True).framed([], with_buttons=False)
    return tuple(block.to_dict() for block in shown.blocks), shown.text


def live_message(watch: Watch, *, interval: float) -> Message:
    """The card while it is watched: the footer says how, and Stop watching ends it."""
    until = slack_date(Moment(utc_datetime(watch.expires_at)), joiner=" at ")
    footer = (
        f":arrows_counterclockwise: *Watched* — this card changes when the job does (checked every "
        f"{duration_words(interval)}) · started by {_user(watch.user)} · until {until} "
        "unless the job ends first"
    )
    stop = button("Stop watching", ids.ACTION_UNWATCH, watch.query)
    return _assembled(watch, footer, [*_failed_button(watch), stop], "watched")


def ended_message(watch: Watch, *, now: datetime) -> Message:
    """The card's last edit: why it is no longer kept current, and how to watch again."""
    assert watch.ending is not None
    return _assembled(watch, _ending_words(watch, now), _failed_button(watch), "no longer watched")


def _assembled(watch: Watch, footer: str, buttons: list[ButtonElement], state: str) -> Message:
    blocks: list[Block] = [block for block in map(Block.parse, watch.card) if block is not None]
    blocks.append(context(footer))
    if buttons:
        blocks.append(ActionsBlock(block_id=ids.BLOCK_WATCH, elements=buttons))
    return Message(text=f"{watch.text} ({state})", blocks=tuple(blocks))


def _failed_button(watch: Watch) -> list[ButtonElement]:
    if not watch.failed:
        return []
    return [button("Failed devices", ids.ACTION_FAILED, watch.job_query.failed())]


def _ending_words(watch: Watch, now: datetime) -> str:
    again = f" {command(watch.query)} watches it again."
    stopped_at = slack_date(Moment(now), joiner=" at ")
    if watch.ending is Ending.COMPLETED:
        return f":white_check_mark: *The job completed* — no longer watched ({stopped_at})."
    if watch.ending is Ending.CANCELED:
        return f":no_entry_sign: *The job was canceled* — no longer watched ({stopped_at})."
    if watch.ending is Ending.STOPPED:
        return f":no_entry: {_user(watch.ended_by)} stopped watching on {stopped_at}.{again}"
    if watch.ending is Ending.EXPIRED:
        span = duration_words(watch.expires_at - watch.started_at)
        return f":hourglass: *No longer watched*: a watch lasts {span} (`OTABOT_WATCH_TTL`).{again}"
    if watch.ending is Ending.SHUTDOWN:
        return (
            ":information_source: *No longer watched*: otabot stopped, and this watch lived "
            f"in its memory (no Redis).{again}"
        )
    if watch.ending is Ending.GONE:
        return ":grey_question: *The job is no longer found* — this card is no longer updated."
    return ":no_entry: otabot may no longer look up this job's product — no longer watched."


def _user(user_id: str | None) -> str:
    return f"<@{escape(user_id)}>" if user_id else "someone"


def failed_reply(new: Sequence[OtaTask], failed_in_all: int) -> Message:
    """The thread reply naming devices that failed since the last update (an edit notifies
    nobody; a reply in the thread reaches those who follow it)."""
    head = f":x: *{plural(len(new), 'more device')} failed* ({failed_in_all} failed in all)"
    rows = [section(failed_row(task)) for task in new[:MAX_REPLY_ROWS]]
    blocks: list[Block] = [section(head), *rows]
    if len(new) > MAX_REPLY_ROWS:
        rest = len(new) - MAX_REPLY_ROWS
        blocks.append(context(f"… and {rest} more: the card's *Failed devices* lists them all."))
    names = ", ".join(task.device_name for task in new[:MAX_REPLY_ROWS])
    return Message(
        text=f"{plural(len(new), 'more device')} failed: {escape(names)}", blocks=tuple(blocks)
    )


def newly_failed(watch: Watch, failed: Sequence[OtaTask]) -> list[OtaTask]:
    """The failed tasks the card has not named yet, most recently failed first."""
    named = set(watch.failed)
    return [
        task
        for task in failed
        if task.device_name not in named and task.status == TaskStatus.FAILED
    ]


# --- what the one who asked is told (ephemeral) -----------------------------------------


def words_message(text: str) -> Message:
    """A short ephemeral answer whose mrkdwn is otabot's own (values already escaped)."""
    return Message(text=f"/ota: {text}", blocks=(section(text),))


def already_watched(watch: Watch, link: str | None) -> Message:
    card = f"<{link}|its card>" if link and link.startswith(("https://", "http://")) else "its card"
    return words_message(
        f":arrows_counterclockwise: Job {code(watch.job_id)} is already watched in this "
        f"channel: see {card} (started by {_user(watch.user)})."
    )


def not_posted(error: str | None, retry_after: float | None) -> Message:
    """Why the card could not be posted in this channel, and what to do."""
    if error in ("not_in_channel", "channel_not_found"):
        return words_message(
            ":warning: otabot cannot post in this channel: invite it first "
            "(`/invite @otabot`), then watch again. In a public channel an admin can instead "
            "give otabot the `chat:write.public` scope."
        )
    if error == "is_archived":
        return words_message(":warning: This channel is archived: otabot cannot post here.")
    if error == "ratelimited":
        wait = round(retry_after or 1)
        return words_message(
            f":hourglass: Slack asked otabot to slow down — try again in {wait} s."
        )
    return words_message(
        f":warning: Slack refused the card ({code(error or 'unknown')}) — try again, or tell "
        "your otabot admin."
    )


def full(live: int) -> Message:
    return words_message(
        f":warning: otabot already watches {plural(live, 'job')}, as many as "
        "`OTABOT_MAX_WATCHES` allows. Stop one with its *Stop watching* button, or ask your "
        "otabot admin for more."
    )


def job_finished(watch: Watch, status: str) -> Message:
    return words_message(
        f"Job {code(watch.job_id)} is {escape(status.lower())}: there is nothing to watch. "
        f"{command(watch.job_query)} shows it."
    )


PENDING = words_message(":hourglass_flowing_sand: This job's card is being posted here right now.")
UNAVAILABLE = words_message(
    ":warning: otabot cannot reach the store its watches live in (Redis) right now — try "
    "again in a moment."
)
NO_CHANNEL = words_message(":warning: Watching needs a channel: run `/ota watch` in one.")
NOT_WATCHED = words_message("This card is no longer watched.")


def watch_text(watch: Watch) -> str:
    """The watch as the audit line names it."""
    return query_text(watch.query)
