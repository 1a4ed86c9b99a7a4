"""From a query to the message that answers it: the lookup, the card, or the error in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from otabot.clocks import WallClock, utc_datetime
from otabot.config import Settings
from otabot.iot.errors import IotError
from otabot.query.answers import (
    Answer,
    OtaLookups,
    VersionChoice,
    VersionMissing,
    look_up,
    products_of,
)
from otabot.query.explain import explain
from otabot.query.queries import Query
from otabot.slack.access import product_refusal
from otabot.slack.blocks import Message, error_message, refusal_message
from otabot.slack.cards import card


class LookupService(OtaLookups, Protocol):
    """What the Slack layer needs of ``otabot.service.OtaService``: the use cases, the same
    answering from the caches only, and how long a lookup would wait for its quota turns."""

    def cached(self, *, counted: bool = True) -> LookupService: ...

    def estimate(self, actions: Sequence[str], user: str) -> float: ...


APOLOGY = (
    "Sorry — something went wrong inside otabot while answering this. "
    "It is logged for the admins; try again in a moment."
)


@dataclass(frozen=True)
class Reply:
    """The message to send and what the audit line says about how it was made.

    ``shareable``: the message is a card that may go to the channel as it is.
    """

    message: Message
    outcome: str
    upstream_calls: int = 0
    cache_hit: bool = False
    shareable: bool = False


@dataclass(frozen=True)
class WatchReply:
    """What a watch command or click tells the one who asked (None: the card posted in the
    channel says it all), and the audit line's outcome."""

    message: Message | None
    outcome: str
    upstream_calls: int = 0
    cache_hit: bool = False


def answer(
    service: OtaLookups,
    query: Query,
    *,
    settings: Settings,
    refresh: bool,
    wall_clock: WallClock,
    shared_by: str | None = None,
) -> Reply:
    """Look the query up and render its card, or explain the IoT error; other errors raise.

    An answer that shows a product ``OTABOT_ALLOWED_PRODUCTS`` leaves out (a job is only
    known to be that product's once fetched) is refused instead of shown.
    """
    try:
        found = look_up(service, query, refresh=refresh)
    except IotError as error:
        message = error_message(explain(error, query), query)
        return Reply(message, outcome=f"error:{error.code or type(error).__name__}")
    calls, cached = found.provenance.upstream_calls, found.provenance.from_cache
    for product in sorted(products_of(found)):
        reason = product_refusal(settings, product)
        if reason is not None:
            return Reply(refusal_message(reason), "refused", calls, cached)
    now = utc_datetime(wall_clock())
    built = card(found, now=now, page_size=settings.page_size, shared=shared_by is not None)
    message = built.message(now=now, shared_by=shared_by if built.shareable else None)
    return Reply(message, outcome_of(found), calls, cached, built.shareable)


def outcome_of(found: Answer) -> str:
    """The audit line's word for an answer."""
    if isinstance(found, VersionChoice):
        return "version_choice"
    if isinstance(found, VersionMissing):
        return "version_missing"
    return "partial" if found.partial else "ok"
