"""Each kind of answer as a Block Kit card: pure functions of the answer and the time.

``card_message`` picks the card for an answer: the device card, a jobs list, the job
card, a job's failed devices, a product's firmware packages, the question a version
with several packages asks, and the answer to a version no package has. The words
come from ``otabot.query`` (the same the CLI prints); this module lays them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from otabot.iot.models import (
    DeviceDetail,
    Firmware,
    JobDetail,
    JobStatus,
    OtaJob,
    OtaTask,
    TaskStatus,
)
from otabot.query import words
from otabot.query.answers import (
    Answer,
    DeviceAnswer,
    FailedAnswer,
    FirmwareAnswer,
    JobAnswer,
    JobsAnswer,
    Shown,
    VersionChoice,
    VersionMissing,
)
from otabot.query.explain import (
    device_details_refused,
    device_tasks_refused,
    forbidden_part,
    job_tasks_refused,
)
from otabot.query.phrases import Moment, Phrase, dotted, plural
from otabot.query.queries import (
    DeviceQuery,
    FirmwareQuery,
    JobQuery,
    JobsQuery,
    PagedQuery,
    WatchQuery,
    with_firmware,
)
from otabot.query.statuses import TASK_STATUS_ORDER, ordered_counts, status_words
from otabot.service import JobResult
from otabot.service.results import Part
from otabot.slack import ids
from otabot.slack.blocks import Card, Message, Paging, button, lines, section
from otabot.slack.mrkdwn import code, escape, fit, render, slack_date

JOB_EMOJI = {
    JobStatus.PLANNED.value: ":white_circle:",
    JobStatus.IN_PROGRESS.value: ":hourglass_flowing_sand:",
    JobStatus.COMPLETED.value: ":white_check_mark:",
    JobStatus.CANCELED.value: ":no_entry_sign:",
}
TASK_EMOJI = {
    TaskStatus.CONFIRM.value: ":large_yellow_circle:",
    TaskStatus.QUEUED.value: ":white_circle:",
    TaskStatus.NOTIFIED.value: ":large_blue_circle:",
    TaskStatus.IN_PROGRESS.value: ":hourglass_flowing_sand:",
    TaskStatus.SUCCEEDED.value: ":white_check_mark:",
    TaskStatus.FAILED.value: ":x:",
    TaskStatus.CANCELED.value: ":no_entry_sign:",
}
DEVICE_EMOJI = {
    "ONLINE": ":large_green_circle:",
    "OFFLINE": ":red_circle:",
    "UNACTIVE": ":white_circle:",
    "DISABLE": ":no_entry:",
}
UNKNOWN_EMOJI = ":grey_question:"
# Jobs whose card can still change, so watching them makes sense.
WATCHABLE = frozenset({JobStatus.PLANNED, JobStatus.IN_PROGRESS})
T = TypeVar("T")
# Caps on what one value from the API may take of a section (only absurd values reach them).
NAME_LIMIT = 200
TAGS_TEXT_LIMIT = 1200
REASON_LIMIT = 600
MAX_TASK_ROWS = 20


def card_message(
    answer: Answer, *, now: datetime, page_size: int, shared_by: str | None = None
) -> Message:
    """The message for an answer; ``shared_by`` makes the copy for the channel."""
    return card(answer, now=now, page_size=page_size, shared=shared_by is not None).message(
        now=now, shared_by=shared_by
    )


def card(answer: Answer, *, now: datetime, page_size: int, shared: bool = False) -> Card:
    if isinstance(answer, DeviceAnswer):
        return device_card(answer, now, shared)
    if isinstance(answer, JobsAnswer):
        return jobs_card(answer, now, page_size, shared)
    if isinstance(answer, JobAnswer):
        return job_card(answer, now, shared)
    if isinstance(answer, FailedAnswer):
        return failed_card(answer, now, page_size, shared)
    if isinstance(answer, FirmwareAnswer):
        return firmware_card(answer, now, page_size, shared)
    if isinstance(answer, VersionChoice):
        return version_question(answer, now)
    return version_missing_card(answer, now, shared)


# --- shared pieces ----------------------------------------------------------------------


def when(moment: datetime | None) -> str | None:
    return None if moment is None else slack_date(Moment(moment))


def api_text(text: str, limit: int = NAME_LIMIT) -> str:
    """A value from the API, escaped and kept short."""
    return escape(fit(text, limit))


def label(emoji: Mapping[str, str], status: str) -> str:
    """``:x: *FAILED*``: the status as the API spells it, with its emoji."""
    return f"{emoji.get(status, UNKNOWN_EMOJI)} *{api_text(status)}*"


def counted(emoji: Mapping[str, str], counts: list[tuple[str, int]]) -> list[str]:
    """``:x: 3 failed`` for each status counted."""
    return [
        f"{emoji.get(status, UNKNOWN_EMOJI)} {count} {api_text(status_words(status))}"
        for status, count in counts
    ]


def tags_text(tags: tuple[tuple[str, str], ...]) -> str | None:
    if not tags:
        return None
    shown: list[str] = []
    length = 0
    for index, (key, value) in enumerate(tags):
        item = code(fit(f"{key}={value}", NAME_LIMIT))
        if length + len(item) > TAGS_TEXT_LIMIT:
            shown.append(f"… and {len(tags) - index} more")
            break
        shown.append(item)
        length += len(item) + 1
    return "tags: " + " ".join(shown)


def _warning(why: Phrase) -> str:
    """A part of the card that could not be shown, and why."""
    return ":warning: " + render(why)


def fetched_note(answer: Answer, now: datetime, shared: bool) -> str:
    return render(words.fetched(answer.provenance, now, shared=shared))


def listing(
    items: tuple[T, ...], query: PagedQuery, page_size: int
) -> tuple[tuple[T, ...], Paging]:
    """The items of the page shown, and its paging."""
    shown = Shown.of(items, query.page, page_size)
    return shown.items, Paging(query, shown.page, shown.pages)


def list_summary(
    parts: list[str],
    paging: Paging,
    order: str | None,
    fetched: str,
    cut: str | None,
) -> str:
    """``*12 jobs* · … · page 1 of 3, newest first · fetched …`` and a note when cut."""
    page_words = words.page_of(paging.page, paging.pages, paging.query.page)
    line = dotted([*parts, page_words + (f", {order}" if order else ""), fetched])
    return line if cut is None else f"{line}\n:warning: {cut}"


def context_line(
    product: str | None, instance: str | None, *middle: str | None, fetched: str | None = None
) -> str:
    """``product `PK` · … · default instance · fetched …`` (the parts that are set)."""
    shown = f"product {code(product)}" if product else None
    return dotted([shown, *middle, render(words.instance(instance)), fetched])


# --- the device card --------------------------------------------------------------------


def device_card(answer: DeviceAnswer, now: datetime, shared: bool) -> Card:
    query, result = answer.query, answer.result
    device = result.device.value
    body: list[Block] = [section(_device_text(query, result.device))]
    tasks = result.tasks.value
    if result.tasks.error is not None:
        body.append(section(_warning(device_tasks_refused(result.tasks.error))))
    elif not tasks:
        body.append(section(words.NO_UPDATE))
    else:
        for index, task in enumerate(tasks[:MAX_TASK_ROWS]):
            body.extend(_task_blocks(query, task, index))
        if len(tasks) > MAX_TASK_ROWS:
            body.append(section(f"… and {len(tasks) - MAX_TASK_ROWS} more tasks not shown"))
    count = len(tasks or ())
    state = (
        f"{plural(count, 'update')} pending or running"
        if tasks is not None
        else "tasks not readable"
    )
    status = words.device_status(device.status.value) if device is not None else None
    return Card(
        header=f"OTA · {query.device_name}",
        context=context_line(None, query.instance, fetched=fetched_note(answer, now, shared)),
        summary=None,
        body=body,
        query=query,
        text=f"OTA · {escape(query.device_name)}: " + ", ".join(filter(None, [status, state])),
    )


def _device_text(query: DeviceQuery, part: Part[DeviceDetail]) -> str:
    product = code(query.product_key)
    device = part.value
    if device is None:
        assert part.error is not None
        return lines(f"product {product}", _warning(device_details_refused(part.error)))
    name = f"*{api_text(device.product_name)}* {product}" if device.product_name else product
    nickname = f" · nickname {api_text(device.nickname)}" if device.nickname else ""
    version = code(device.firmware_version) if device.firmware_version else "not reported"
    online = when(device.utc_online)
    status = device.status.value
    return lines(
        f"product {name}{nickname}",
        dotted(
            [
                f"{DEVICE_EMOJI.get(status, UNKNOWN_EMOJI)} {escape(words.device_status(status))}",
                f"firmware {version}",
                f"last online {online}" if online else "last online unknown",
            ]
        ),
    )


def _task_blocks(query: DeviceQuery, task: OtaTask, index: int) -> list[Block]:
    since = when(task.utc_modified or task.utc_create)
    text = dotted(
        [
            f"{TASK_EMOJI.get(task.status.value, UNKNOWN_EMOJI)} "
            f"*{api_text(status_words(task.status.value))}*",
            f"module {code(task.module_name)}" if task.module_name else None,
            code(words.task_versions(task)),
            f"job {code(task.job_id)}",
            f"since {since}" if since else None,
        ]
    )
    job = JobQuery(task.job_id, query.product_key, query.device_name, query.instance)
    jobs = JobsQuery(
        query.product_key, query.device_name, task.firmware_id, instance=query.instance
    )
    buttons = [button("Job", ids.ACTION_JOB, job)]
    if task.firmware_id:
        buttons.append(button("Jobs for this firmware", ids.ACTION_JOBS, jobs))
    return [
        section(text),
        ActionsBlock(block_id=f"{ids.BLOCK_TASK}_{index}", elements=buttons),
    ]


# --- jobs lists -------------------------------------------------------------------------


def jobs_card(answer: JobsAnswer, now: datetime, page_size: int, shared: bool) -> Card:
    query, result = answer.query, answer.result
    jobs = result.filtered(query.status)
    shown, paging = listing(jobs, query, page_size)
    counts = words.job_counts(result.counts)
    parts = [f"*{plural(len(result.jobs), 'job')}*", *counted(JOB_EMOJI, counts)]
    if query.status is not None:
        parts.append(f"showing only {status_words(query.status.value)}")
    summary = list_summary(
        parts,
        paging,
        "newest first" if len(jobs) > 1 else None,
        fetched_note(answer, now, shared),
        words.cut(len(result.jobs), result.total, "jobs"),
    )
    body: list[Block] = [section(*_job_row(job, query, now)) for job in shown]
    if not shown:
        body.append(section(_no_jobs(answer)))
    resolved = render(words.version_resolved(answer))
    if query.device_name is not None:
        header = f"OTA jobs · {query.device_name}"
        subject = escape(query.device_name)
    else:
        header = f"OTA jobs · firmware {query.firmware_id}"
        subject = f"firmware {escape(answer.firmware_id)}"
    filtered = f" {status_words(query.status.value)}" if query.status is not None else ""
    counts_text = (
        f" ({', '.join(f'{n} {status_words(s)}' for s, n in counts)})"
        if counts and query.status is None
        else ""
    )
    return Card(
        header=header,
        context=context_line(
            query.product_key,
            query.instance,
            resolved or f"firmware {code(answer.firmware_id)}",
        ),
        summary=summary,
        body=body,
        paging=paging,
        text=(
            f"OTA jobs · {subject}: {plural(len(jobs), 'job')}{filtered}{counts_text}, "
            f"page {paging.page} of {paging.pages}"
        ),
    )


def _no_jobs(answer: JobsAnswer) -> str:
    query = answer.query
    if query.status is not None and answer.result.jobs:
        return (
            f"No {status_words(query.status.value)} jobs among the {len(answer.result.jobs)} found."
        )
    if query.device_name is not None:
        return "No OTA jobs for this device and firmware."
    return "No OTA jobs for this firmware."


def _times(job: OtaJob | JobDetail) -> str:
    return dotted([f"{name} {when(moment)}" for name, moment in words.job_moments(job)])


def _job_row(job: OtaJob, query: JobsQuery, now: datetime) -> tuple[str, ButtonElement]:
    """One job of a list and its ``Details`` button (the job card, with the device)."""
    kinds = [
        api_text(part or "?")
        for part in (job.job_type.value, job.selection_type, job.target_selection)
    ]
    text = lines(
        f"{label(JOB_EMOJI, job.status.value)} · {code(job.job_id)}",
        dotted([*kinds, words.job_span(job, now)]),
        _times(job),
        tags_text(job.tags),
    )
    device = query.device_name
    details = JobQuery(job.job_id, job.product_key or query.product_key, device, query.instance)
    return text, button("Details", ids.ACTION_JOB, details)


# --- the job card and its failed devices ------------------------------------------------


def job_card(answer: JobAnswer, now: datetime, shared: bool) -> Card:
    query, result = answer.query, answer.result
    job = result.job
    product = query.product_key or job.product_key or None
    body: list[Block] = [section(_job_text(job, now)), section(_counts_text(answer))]
    if query.device_name is not None:
        body.append(section(_device_task_text(result, query.device_name)))
    buttons = []
    counts = result.counts.value
    if counts is not None and counts.by_status.get(TaskStatus.FAILED.value):
        failed = query.failed(product)
        buttons.append(button("Failed devices", ids.ACTION_FAILED, failed))
    if job.status in WATCHABLE:
        watch = WatchQuery(query.job_id, product, query.instance)
        buttons.append(button("Watch in channel", ids.ACTION_WATCH, watch))
    own = JobQuery(query.job_id, product, query.device_name, query.instance)
    return Card(
        header=f"OTA job · {job.job_id or query.job_id}",
        context=context_line(
            job.product_key or "?", query.instance, fetched=fetched_note(answer, now, shared)
        ),
        summary=None,
        body=body,
        query=own,
        buttons=buttons,
        text=f"OTA job · {escape(query.job_id)}: {escape(status_words(job.status.value))}",
    )


def _job_text(job: JobDetail, now: datetime) -> str:
    selection = [f"selection {api_text(job.selection_type or '?')}"]
    target = f"target {api_text(job.target_selection or '?')}"
    if job.gray_percent:
        target += f" ({api_text(job.gray_percent)} %)"
    selection.append(target)
    schedule = None
    if job.utc_schedule_time is not None:
        schedule = f"scheduled {when(job.utc_schedule_time)}"
        if job.utc_schedule_finish_time is not None:
            schedule += f" to {when(job.utc_schedule_finish_time)}"
    description = f"> {api_text(job.description, REASON_LIMIT)}" if job.description else None
    return lines(
        dotted(
            [
                label(JOB_EMOJI, job.status.value),
                code(job.job_id),
                api_text(job.job_type.value or "?"),
                words.job_span(job, now),
            ]
        ),
        dotted(
            [
                f"package *{api_text(job.name)}*" if job.name else None,
                code(words.job_versions(job)),
                f"firmware {code(job.firmware_id)}" if job.firmware_id else None,
            ]
        ),
        dotted([*selection, schedule, escape(words.retries(job)) or None]),
        _times(job),
        tags_text(job.tags),
        description,
    )


def _counts_text(answer: JobAnswer) -> str:
    part = answer.result.counts
    if part.value is None:
        assert part.error is not None
        return _warning(job_tasks_refused(part.error))
    counts = ordered_counts(part.value.by_status, TASK_STATUS_ORDER)
    if not counts:
        return "No device has a task in this job."
    return " · ".join(counted(TASK_EMOJI, counts)) + f" … of {part.value.total}"


def _device_task_text(result: JobResult, device_name: str) -> str:
    part = result.device_task
    device = code(device_name)
    if part.error is not None:
        return _warning(
            forbidden_part(part.error, f"the task of {device_name}", "ListOTATaskByJob")
        )
    task = part.value
    if task is None:
        return f"Device {device} has no task in this job."
    progress = f"{task.progress} %" if task.progress is not None else None
    changed = when(task.utc_modified)
    reason = f"> {api_text(task.description, REASON_LIMIT)}" if task.description else None
    return lines(
        dotted(
            [
                f"Device {device}: {label(TASK_EMOJI, task.status.value)}",
                progress,
                code(words.task_versions(task)),
                f"updated {changed}" if changed else None,
            ]
        ),
        reason,
    )


def failed_card(answer: FailedAnswer, now: datetime, page_size: int, shared: bool) -> Card:
    result, job = answer.result, answer.job.job
    query = replace(answer.query, product_key=answer.query.product_key or job.product_key or None)
    shown, paging = listing(result.tasks, query, page_size)
    counts = answer.job.counts.value
    of = f" of {plural(counts.total, 'device')}" if counts is not None else ""
    summary = list_summary(
        [f"*{plural(result.total, 'failed device')}*{of}"],
        paging,
        "most recently failed first" if len(result.tasks) > 1 else None,
        fetched_note(answer, now, shared),
        words.cut(len(result.tasks), result.total, "failed devices"),
    )
    body: list[Block] = [section(failed_row(task)) for task in shown]
    if not shown:
        body.append(section("No device has failed in this job."))
    if query.device_name is not None:
        body.append(section(_device_task_text(answer.job, query.device_name)))
    return Card(
        header=f"Failed devices · {query.job_id}",
        context=context_line(
            query.product_key,
            query.instance,
            f"{label(JOB_EMOJI, job.status.value)} job {code(query.job_id)}",
            f"package *{api_text(job.name)}*" if job.name else None,
            code(words.job_versions(job)),
        ),
        summary=summary,
        body=body,
        paging=paging,
        buttons=[button("Job", ids.ACTION_JOB, query.job())],
        text=(
            f"Failed devices · {escape(query.job_id)}: "
            f"{plural(result.total, 'failed device')}, page {paging.page} of {paging.pages}"
        ),
    )


def failed_row(task: OtaTask) -> str:
    changed = when(task.utc_modified)
    reason = api_text(task.description, REASON_LIMIT) if task.description else "no reason given"
    return lines(
        dotted(
            [
                f"{TASK_EMOJI[TaskStatus.FAILED.value]} {code(task.device_name)}",
                f"{task.progress} %" if task.progress is not None else None,
                code(words.task_versions(task)),
                f"failed {changed}" if changed else None,
            ]
        ),
        f"> {reason}",
    )


# --- firmware ---------------------------------------------------------------------------


def firmware_card(answer: FirmwareAnswer, now: datetime, page_size: int, shared: bool) -> Card:
    query = answer.query
    shown, paging = listing(answer.firmwares, query, page_size)
    summary = list_summary(
        [f"*{plural(len(answer.firmwares), 'package')}*"],
        paging,
        "newest first" if len(answer.firmwares) > 1 else None,
        fetched_note(answer, now, shared),
        words.cut(len(answer.firmwares), answer.total, "packages"),
    )
    body: list[Block] = [section(*_firmware_row(firmware, query)) for firmware in shown]
    if not shown:
        body.append(section("This product has no firmware packages."))
    return Card(
        header=f"Firmware · {fit(answer.product_name, NAME_LIMIT) or query.product_key}",
        context=context_line(
            query.product_key, query.instance, render(words.version_resolved(answer)) or None
        ),
        summary=summary,
        body=body,
        paging=paging,
        text=(
            f"Firmware · {escape(query.product_key)}: "
            f"{plural(len(answer.firmwares), 'package')}, page {paging.page} of {paging.pages}"
        ),
    )


def _firmware_row(firmware: Firmware, query: FirmwareQuery) -> tuple[str, ButtonElement]:
    """One package and its ``Jobs`` button (the jobs of that package)."""
    created = when(firmware.utc_create)
    text = lines(
        dotted(
            [
                f"*{api_text(firmware.name)}*" if firmware.name else None,
                code(words.versions(firmware)),
                f"module {code(firmware.module_name)}",
                words.firmware_kind(firmware),
                words.verification_words(firmware),
                words.size_words(firmware.size),
                f"created {created}" if created else None,
            ]
        ),
        code(firmware.firmware_id),
    )
    jobs = JobsQuery(
        firmware.product_key or query.product_key,
        None,
        firmware.firmware_id,
        instance=query.instance,
    )
    return text, button("Jobs", ids.ACTION_FW_JOBS, jobs)


def version_question(choice: VersionChoice, now: datetime) -> Card:
    """A version with several packages: one ``ota_pick`` button per package."""
    query = choice.query
    body: list[Block] = []
    for firmware in choice.version.matches:
        text, _ = _firmware_row(firmware, FirmwareQuery(query.product_key, instance=query.instance))
        pick = button("Pick", ids.ACTION_PICK, with_firmware(query, firmware.firmware_id))
        body.append(section(text, pick))
    question = render(words.version_choice(choice))
    return Card(
        header="Which firmware package?",
        context=context_line(
            query.product_key, query.instance, fetched=fetched_note(choice, now, False)
        ),
        summary=question,
        body=body,
        query=query,
        shareable=False,
        text=f"/ota: {question}",
    )


def version_missing_card(answer: VersionMissing, now: datetime, shared: bool) -> Card:
    """No package has the version: say so, and offer the product's newest packages."""
    query = answer.query
    said = render(words.version_missing(answer.version))
    body: list[Block] = []
    for firmware in answer.version.newest:
        text, jobs = _firmware_row(
            firmware, FirmwareQuery(query.product_key, instance=query.instance)
        )
        if not isinstance(query, FirmwareQuery):
            jobs = button("Pick", ids.ACTION_PICK, with_firmware(query, firmware.firmware_id))
        body.append(section(text, jobs))
    return Card(
        header="No such firmware version",
        context=context_line(
            query.product_key, query.instance, fetched=fetched_note(answer, now, shared)
        ),
        summary=":warning: " + said,
        body=body,
        query=query,
        text=f"/ota: {said}",
    )
