"""Block Kit messages as pure functions of their data (built with ``slack_sdk.models.blocks``).

The pieces every message shares: the ``Message`` itself, buttons whose value is the
query they run, the frame of a card (header, context, summary, body, buttons — or,
in a copy shared to the channel, who shared it and how to see it again), and the
messages that are not cards: help, usage, errors, refusals, notices.
``Message.as_payload()`` runs the SDK's ``to_dict()``, which checks Slack's
per-element limits; the 50-block limit and the text limits are kept here by
construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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

from otabot.query.explain import Explanation
from otabot.query.grammar import UsageProblem, shown_token
from otabot.query.phrases import Moment
from otabot.query.queries import PagedQuery, Query, SlashQuery, at_page, query_text
from otabot.slack import ids
from otabot.slack.mrkdwn import code, command, escape, fit, render, slack_date

MAX_BLOCKS = 50
SECTION_TEXT_LIMIT = 3000
HEADER_LIMIT = 150
BUTTON_VALUE_LIMIT = 2000
FALLBACK_LIMIT = 3000

USAGE = (
    "/ota help\n"
    "/ota DEVICE                                      the device card\n"
    "/ota [jobs] DEVICE FIRMWARE [page=N] [status=S]  jobs of this device for this firmware\n"
    "/ota job JOBID [DEVICE]                          the job card (and that device's task)\n"
    "/ota job JOBID status=failed [page=N]            the job's failed devices\n"
    "/ota firmware [PRODUCT] [version=V] [page=N]     firmware packages of a product\n"
    "/ota jobs firmware=FIRMWARE [product=PK]         the jobs of one firmware package\n"
    "/ota watch JOBID                                 the job card in the channel, kept current\n"
    "DEVICE   = ProductKey/DeviceName, alias/DeviceName, or DeviceName (product=PK or the\n"
    "           default product)\n"
    "FIRMWARE = a FirmwareId, version=V, or a bare V with a dot or v and digits (1.2.0, v2)\n"
    "S        = planned, in_progress (running), completed (done), canceled\n"
    "any of them also takes instance=ID; keys may come in any order: product= device=\n"
    "firmware= version= job= page= status= instance="
)


@dataclass(frozen=True)
class Message:
    """A message for Slack: fallback ``text`` and its blocks."""

    text: str
    blocks: tuple[Block, ...] = ()

    def as_payload(self) -> dict[str, Any]:
        """The JSON body (checks element limits via ``to_dict()``)."""
        if len(self.blocks) > MAX_BLOCKS:
            raise ValueError(f"{len(self.blocks)} blocks is more than Slack's {MAX_BLOCKS}")
        payload: dict[str, Any] = {"text": fit(self.text, FALLBACK_LIMIT)}
        if self.blocks:
            payload["blocks"] = [block.to_dict() for block in self.blocks]
        return payload


def section(
    text: str, accessory: ButtonElement | None = None, block_id: str | None = None
) -> SectionBlock:
    """A mrkdwn section, its text kept within Slack's limit."""
    return SectionBlock(
        text=MarkdownTextObject(text=fit(text, SECTION_TEXT_LIMIT)),
        accessory=accessory,
        block_id=block_id,
    )


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=fit(text, SECTION_TEXT_LIMIT))])


def button(text: str, action_id: str, query: SlashQuery, primary: bool = False) -> ButtonElement:
    """A button whose value is the query it runs, in the query's own text."""
    value = query_text(query)
    if len(value) > BUTTON_VALUE_LIMIT:  # identifiers are bounded, so this is a bug
        raise ValueError(f"a button value of {len(value)} characters")
    return ButtonElement(
        text=text, action_id=action_id, value=value, style="primary" if primary else None
    )


@dataclass(frozen=True)
class Paging:
    """Which page of how many a card shows, and the query as asked (its page may be past
    the end: the last page is shown then)."""

    query: PagedQuery
    page: int
    pages: int

    def to(self, page: int) -> PagedQuery:
        return at_page(self.query, page)


@dataclass
class Card:
    """What a card is made of; ``message()`` lays it out within Slack's limits.

    The card's own query (Refresh runs it again, Share copies it) is ``query``, or for a
    paged card the page shown; ``buttons`` are the card's own (``Failed devices``)
    beside the common ones.
    """

    header: str
    context: str
    summary: str | None
    body: list[Block]
    text: str
    query: Query | None = None
    paging: Paging | None = None
    buttons: list[ButtonElement] = field(default_factory=list)
    shareable: bool = True

    @property
    def own_query(self) -> Query:
        if self.paging is not None:
            return self.paging.to(self.paging.page)
        assert self.query is not None, "a card without paging names its query"
        return self.query

    def message(self, *, now: datetime, shared_by: str | None = None) -> Message:
        """The card; ``shared_by`` (a user ID) makes the copy for the channel.

        The channel's copy names who shared it, when, and the command that shows it
        again, and carries no buttons, so nobody else's click changes what the channel
        sees.
        """
        if shared_by is not None:
            shared = context(shared_line(shared_by, now, self.own_query))
            return self.framed([shared], with_buttons=False)
        actions = ActionsBlock(block_id=ids.BLOCK_NAVIGATION, elements=self._buttons())
        return self.framed([actions])

    def framed(self, ending: list[Block], *, with_buttons: bool = True) -> Message:
        """Header, context, summary and body, then ``ending``, within 50 blocks (the body
        cut with a note when it would not fit); ``with_buttons=False`` drops the body's."""
        blocks: list[Block] = [
            HeaderBlock(text=fit(self.header, HEADER_LIMIT)),
            context(self.context),
        ]
        if self.summary is not None:
            blocks.append(section(self.summary))
        blocks.append(DividerBlock())
        room = MAX_BLOCKS - len(blocks) - len(ending)
        body = self.body if with_buttons else without_buttons(self.body)
        if len(body) > room:
            body = [
                *body[: room - 1],
                section(f"… and {len(body) - room + 1} more blocks not shown"),
            ]
        blocks.extend(body)
        blocks.extend(ending)
        return Message(text=self.text, blocks=tuple(blocks))

    def _buttons(self) -> list[ButtonElement]:
        buttons: list[ButtonElement] = []
        paging = self.paging
        if paging is not None and paging.page > 1:
            buttons.append(button("◀ Prev", ids.ACTION_PREV, paging.to(paging.page - 1)))
        if paging is not None and paging.page < paging.pages:
            buttons.append(button("Next ▶", ids.ACTION_NEXT, paging.to(paging.page + 1)))
        buttons.extend(self.buttons)
        buttons.append(button("↻ Refresh", ids.ACTION_REFRESH, self.own_query))
        if self.shareable:
            buttons.append(button("Share in channel", ids.ACTION_SHARE, self.own_query))
        return buttons


def without_buttons(blocks: list[Block]) -> list[Block]:
    """The blocks with no button left: a section's accessory goes, an actions block too."""
    kept: list[Block] = []
    for block in blocks:
        if isinstance(block, ActionsBlock):
            continue
        if isinstance(block, SectionBlock) and block.accessory is not None:
            block = SectionBlock(text=block.text, block_id=block.block_id, fields=block.fields)
        kept.append(block)
    return kept


def shared_line(user_id: str, now: datetime, query: Query) -> str:
    """``Shared by @x on Feb 18, 2025 at 6:49 AM · rerun with /ota …``."""
    when = slack_date(Moment(now, date=True, seconds=False), joiner=" at ")
    return f"Shared by <@{escape(user_id)}> on {when} · rerun with {command(query)}"


# The help's examples name the demo's sample fleet (light1, its rollout job), so each one
# answers there; the product is written as this workspace configures it.
EXAMPLE_JOB = "Wq3nT8vXbL2cRk5YhP0d020100"


def help_message(
    aliases: Sequence[str] = ("light",), default_product: str | None = None
) -> Message:
    """``/ota help``: what to type, with the usage, and examples whose product is written
    as this workspace can type it (its first alias, a bare device name under
    ``OTABOT_DEFAULT_PRODUCT_KEY``, else ``PRODUCTKEY/``)."""
    if aliases:
        device, product = f"{aliases[0]}/light1", aliases[0]
    elif default_product:
        device, product = "light1", default_product
    else:
        device, product = "PRODUCTKEY/light1", "PRODUCTKEY"
    text = (
        "*/ota* answers on-call questions about OTA updates on Alibaba Cloud IoT Platform: "
        "what a device is updating to, the jobs it has been in, how a job is going and "
        "which devices failed, and a product's firmware packages.\n```"
        + escape(USAGE)
        + f"```\nExamples: `/ota {device}` · `/ota {device} 1.3.0 status=running` · "
        f"`/ota job {EXAMPLE_JOB} light1` · `/ota firmware {product}` · "
        f"`/ota watch {EXAMPLE_JOB}`"
    )
    return Message(text="/ota usage: " + USAGE, blocks=(section(text),))


def usage_message(problem: UsageProblem) -> Message:
    """Input no call can answer: names the offending token, then the usage."""
    said = escape(problem.why)
    if problem.token is not None:
        said = f"{code(shown_token(problem.token))}: {said}"
    text = f":warning: {said}\n```{escape(USAGE)}```"
    return Message(text=f"/ota: {escape(problem.describe())}", blocks=(section(text),))


def error_message(
    explanation: Explanation, query: SlashQuery, retry_action: str = ids.ACTION_RETRY
) -> Message:
    """A failed lookup in words, its error code and RequestId (for the admin), Retry where
    it helps (``retry_action``: what Retry does, when it is not the lookup again)."""
    words = render(explanation.words)
    blocks: list[Block] = [section(f":warning: {words}")]
    notes = [f"query {command(query)}"]
    if explanation.code:
        notes.append(f"code {code(explanation.code)}")
    if explanation.request_id:
        notes.append(f"RequestId {code(explanation.request_id)}")
    blocks.append(context(" · ".join(notes)))
    if explanation.retryable:
        blocks.append(
            ActionsBlock(
                block_id=ids.BLOCK_ERROR_ACTIONS,
                elements=[button("Retry", retry_action, query, primary=True)],
            )
        )
    return Message(text=f"/ota: {words}", blocks=tuple(blocks))


def refusal_message(reason: str) -> Message:
    """Access control said no; ``reason`` is plain words (escaped here)."""
    return Message(text=f"/ota: {reason}", blocks=(section(f":no_entry: {escape(reason)}"),))


def notice_message(words: str) -> Message:
    """A short note in plain words (escaped here), e.g. a button otabot no longer serves."""
    return Message(
        text=f"/ota: {escape(words)}", blocks=(section(f":information_source: {escape(words)}"),)
    )


def lines(*parts: str | None, separator: str = "\n") -> str:
    """The parts that are set, joined."""
    return separator.join(part for part in parts if part)
