"""Block Kit messages as pure functions of their data (built with ``slack_sdk.models.blocks``).

Every value from a user or from the API goes through ``escape`` before it lands in
mrkdwn, so a tag of ``<!channel>`` pings nobody. ``Message.as_payload()`` runs the
SDK's ``to_dict()``, which checks Slack's per-element limits; the 50-block limit
is kept here by construction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from otabot.iot.models import JobStatus, OtaJob
from otabot.iot.paging import page_slice, pages_to_show
from otabot.service import JobsResult
from otabot.slack import ids
from otabot.slack.grammar import STATUS_VALUES, USAGE, OtaCommand, UsageError, encode_state

MAX_BLOCKS = 50
SECTION_TEXT_LIMIT = 3000
TAGS_TEXT_LIMIT = 1200

STATUS_EMOJI: dict[str, str] = {
    JobStatus.IN_PROGRESS.value: ":hourglass_flowing_sand:",
    JobStatus.COMPLETED.value: ":white_check_mark:",
    JobStatus.CANCELED.value: ":no_entry_sign:",
}
UNKNOWN_STATUS_EMOJI = ":grey_question:"
# Counts come in this order (unknown statuses last): the line reads alike for every device.
STATUS_ORDER = (JobStatus.IN_PROGRESS.value, JobStatus.COMPLETED.value, JobStatus.CANCELED.value)
SHARED_AT_TOKEN = "{date_short_pretty} at {time}"


@dataclass(frozen=True)
class Message:
    """A message for Slack: fallback ``text`` and its blocks."""

    text: str
    blocks: tuple[Block, ...] = ()

    def as_payload(self) -> dict[str, Any]:
        """The JSON body (checks element limits via ``to_dict()``)."""
        if len(self.blocks) > MAX_BLOCKS:
            raise ValueError(f"{len(self.blocks)} blocks is more than Slack's {MAX_BLOCKS}")
        payload: dict[str, Any] = {"text": self.text}
        if self.blocks:
            payload["blocks"] = [block.to_dict() for block in self.blocks]
        return payload


def escape(text: str) -> str:
    """mrkdwn-escape: only ``&``, ``<`` and ``>``, as Slack documents."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """An escaped value in an inline code span (backticks in it would end the span)."""
    return "`" + escape(text).replace("`", "'") + "`"


def slack_date(moment: datetime, token: str = "{date_short_pretty} {time}") -> str:
    """``<!date^…>``: each reader sees the time in their own zone; UTC as the fallback."""
    shape = "%Y-%m-%d %H:%M:%S UTC" if "{time_secs}" in token else "%Y-%m-%d %H:%M UTC"
    return f"<!date^{math.floor(moment.timestamp())}^{token}|{moment.strftime(shape)}>"


def duration_words(seconds: float) -> str:
    """A short, rounded span for a glance: ``45 s``, ``12 min``, ``26 h``, ``437 d``."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{round(seconds)} s"
    if seconds < 120 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} d"


def status_label(status: JobStatus) -> str:
    return f"{STATUS_EMOJI.get(status.value, UNKNOWN_STATUS_EMOJI)} *{escape(status.value)}*"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def job_span(job: OtaJob, now: datetime | None) -> str | None:
    """How long a job ran (``ran for 26 h``) or has been running (``running for 437 d``).

    An on-call reader spots a stuck rollout from this without subtracting dates.
    """
    if job.utc_start_time is None:
        return None
    if job.utc_end_time is not None:
        return "ran for " + duration_words((job.utc_end_time - job.utc_start_time).total_seconds())
    if job.status == JobStatus.IN_PROGRESS and now is not None:
        return "running for " + duration_words((now - job.utc_start_time).total_seconds())
    return None


def job_section(job: OtaJob, now: datetime | None = None) -> SectionBlock:
    """One job: status, JobId, type, selection, target, how long it ran, times and tags."""
    kinds = [
        escape(part or "?")
        for part in (job.job_type.value, job.selection_type, job.target_selection)
    ]
    span = job_span(job, now)
    if span is not None:
        kinds.append(span)
    lines = [f"{status_label(job.status)} · {code(job.job_id)}", " · ".join(kinds)]
    times = [
        f"{label} {slack_date(moment)}"
        for label, moment in (
            ("created", job.utc_create),
            ("started", job.utc_start_time),
            ("ended", job.utc_end_time),
            ("modified", job.utc_modified),
        )
        if moment is not None
    ]
    if times:
        lines.append(" · ".join(times))
    if job.tags:
        lines.append("tags: " + _tags_text(job.tags))
    text = "\n".join(lines)
    if len(text) > SECTION_TEXT_LIMIT:  # only reachable with absurd JobIds; keep the message valid
        text = text[: SECTION_TEXT_LIMIT - 1] + "…"
    return SectionBlock(text=MarkdownTextObject(text=text))


def _tags_text(tags: Sequence[tuple[str, str]]) -> str:
    shown: list[str] = []
    length = 0
    for index, (key, value) in enumerate(tags):
        item = code(f"{key}={value}")
        if length + len(item) > TAGS_TEXT_LIMIT:
            shown.append(f"… and {len(tags) - index} more")
            break
        shown.append(item)
        length += len(item) + 1
    return " ".join(shown)


def _button(text: str, action_id: str, command: OtaCommand, primary: bool = False) -> ButtonElement:
    return ButtonElement(
        text=text,
        action_id=action_id,
        value=encode_state(command),
        style="primary" if primary else None,
    )


def jobs_message(
    result: JobsResult,
    command: OtaCommand,
    *,
    page_size: int,
    now: datetime,
    shared_by: str | None = None,
) -> Message:
    """One page of a lookup: header, context, summary, a section per job, buttons.

    ``shared_by`` (a user ID) makes the in-channel copy: it names who shared it, when,
    and the command that shows it again, gives the fetch time as a date (a relative
    age would go stale in the channel), and carries no buttons, so nobody else's click
    changes what the channel sees.
    """
    lookup = result.lookup
    jobs = result.filtered(command.status)
    pages = pages_to_show(len(jobs), page_size)
    page = min(max(command.page, 1), pages)
    shown = page_slice(jobs, page, page_size)
    context = [
        f"product {code(lookup.product_key)}",
        f"firmware {code(lookup.firmware_id)}",
        f"instance {code(lookup.iot_instance_id)}"
        if lookup.iot_instance_id
        else "default instance",
    ]
    blocks: list[Block] = [
        HeaderBlock(text=f"OTA jobs · {lookup.device_name}"),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]),
        SectionBlock(
            text=MarkdownTextObject(
                text=_summary(result, command, page, pages, now, shared=shared_by is not None)
            )
        ),
        DividerBlock(),
    ]
    if not shown:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_empty_text(result, command))))
    budget = MAX_BLOCKS - len(blocks) - 2
    blocks.extend(job_section(job, now) for job in shown[:budget])
    current = command.at_page(page)
    if shared_by is not None:
        shared = (
            f"Shared by <@{escape(shared_by)}> {slack_date(now, SHARED_AT_TOKEN)}"
            f" · rerun with {code('/ota ' + current.describe())}"
        )
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=shared)]))
    else:
        buttons: list[ButtonElement] = []
        if page > 1:
            buttons.append(_button("◀ Prev", ids.ACTION_PREV, current.at_page(page - 1)))
        if page < pages:
            buttons.append(_button("Next ▶", ids.ACTION_NEXT, current.at_page(page + 1)))
        buttons.append(_button("↻ Refresh", ids.ACTION_REFRESH, current))
        buttons.append(_button("Share in channel", ids.ACTION_SHARE, current))
        blocks.append(ActionsBlock(block_id=ids.BLOCK_NAVIGATION, elements=buttons))
    counts = "" if command.status is not None or not jobs else f" ({_counts_words(result)})"
    text = (
        f"OTA jobs · {escape(lookup.device_name)}: {_plural(len(jobs), 'job')}"
        f"{_filter_words(command)}{counts}, page {page} of {pages}"
    )
    return Message(text=text, blocks=tuple(blocks))


def _ordered_counts(result: JobsResult) -> list[tuple[str, int]]:
    known = [(status, result.counts[status]) for status in STATUS_ORDER if status in result.counts]
    others = sorted((s, n) for s, n in result.counts.items() if s not in STATUS_ORDER)
    return known + others


def _status_words(status: str) -> str:
    return escape(status.lower().replace("_", " "))


def _counts_words(result: JobsResult) -> str:
    return ", ".join(
        f"{count} {_status_words(status)}" for status, count in _ordered_counts(result)
    )


def _filter_words(command: OtaCommand) -> str:
    if command.status is None:
        return ""
    return f" {STATUS_VALUES.get(command.status, command.status.value).replace('_', ' ')}"


def _summary(
    result: JobsResult,
    command: OtaCommand,
    page: int,
    pages: int,
    now: datetime,
    *,
    shared: bool = False,
) -> str:
    parts = [f"*{_plural(len(result.jobs), 'job')}*"]
    for status, count in _ordered_counts(result):
        emoji = STATUS_EMOJI.get(status, UNKNOWN_STATUS_EMOJI)
        parts.append(f"{emoji} {count} {_status_words(status)}")
    if command.status is not None:
        parts.append(f"showing only{escape(_filter_words(command))}")
    order = ", newest first" if len(result.filtered(command.status)) > 1 else ""
    parts.append(f"page {page} of {pages}{order}")
    if shared:
        token = "{date_short_pretty} {time_secs}"
        parts.append(f"fetched {slack_date(result.provenance.fetched_at, token)}")
    elif result.provenance.from_cache:
        parts.append(f"updated {round(result.provenance.age_seconds(now))} s ago")
    else:
        parts.append(f"fetched {slack_date(result.provenance.fetched_at, '{time_secs}')}")
    text = " · ".join(parts)
    if command.page > pages:
        text += f"\n:information_source: there is no page {command.page}; this is the last page."
    if result.truncated:
        text += (
            f"\n:warning: showing the newest {len(result.jobs)} of {result.total} jobs"
            " (the rest are past OTABOT_MAX_JOBS)"
        )
    return text


def _empty_text(result: JobsResult, command: OtaCommand) -> str:
    if command.status is not None and result.jobs:
        return f"No{escape(_filter_words(command))} jobs among the {len(result.jobs)} found."
    return "No OTA jobs for this device and firmware."


def help_message() -> Message:
    """``/ota help``: what to type, with the usage."""
    text = (
        "*/ota* shows which OTA update batches (jobs) a device has been in for a firmware, "
        "newest first.\n```" + escape(USAGE) + "```\n"
        "Example: `/ota light/light1 FJFx8JzpnhpIsKftRjjm030100 status=in_progress`"
    )
    return Message(text="/ota usage: " + USAGE, blocks=(SectionBlock(text=text),))


def usage_message(error: UsageError) -> Message:
    """A format or grammar error: names the offending token, then the usage."""
    text = f":warning: {escape(error.describe())}\n```{escape(USAGE)}```"
    return Message(
        text=f"/ota: {escape(error.describe())}",
        blocks=(SectionBlock(text=MarkdownTextObject(text=text)),),
    )


def error_message(
    problem: str,
    *,
    command: OtaCommand | None,
    request_id: str | None = None,
    error_code: str | None = None,
    retryable: bool = False,
) -> Message:
    """A failed lookup in words, its error code and RequestId (for the admin), Retry where it helps.

    ``problem`` is mrkdwn the caller built from escaped parts.
    """
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f":warning: {problem}"))]
    notes = []
    if command is not None:
        notes.append(f"query {code(command.describe())}")
    if error_code:
        notes.append(f"code {code(error_code)}")
    if request_id:
        notes.append(f"RequestId {code(request_id)}")
    if notes:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(notes))]))
    if retryable and command is not None:
        blocks.append(
            ActionsBlock(
                block_id=ids.BLOCK_ERROR_ACTIONS,
                elements=[_button("Retry", ids.ACTION_RETRY, command, primary=True)],
            )
        )
    return Message(text=f"/ota: {problem}", blocks=tuple(blocks))


def refusal_message(reason: str) -> Message:
    """Access control said no; ``reason`` is plain words (escaped here)."""
    return Message(
        text=f"/ota: {reason}",
        blocks=(SectionBlock(text=MarkdownTextObject(text=f":no_entry: {escape(reason)}")),),
    )


def notice_message(words: str) -> Message:
    """A short note in plain words (escaped here), e.g. a button otabot no longer serves."""
    return Message(
        text=f"/ota: {escape(words)}",
        blocks=(
            SectionBlock(text=MarkdownTextObject(text=f":information_source: {escape(words)}")),
        ),
    )
