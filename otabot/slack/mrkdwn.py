"""Phrases as Slack mrkdwn: escaped text, code spans, ``<!date^…>`` and ``/ota`` commands.

Every value from a user or from the API goes through ``escape`` (only ``&``, ``<`` and
``>``, as Slack documents), so a tag of ``<!channel>`` pings nobody.
"""

from __future__ import annotations

import math

from otabot.query.phrases import Moment, Phrase, spelled
from otabot.query.queries import SlashQuery, query_text

COMMAND = "/ota"


def escape(text: str) -> str:
    """mrkdwn-escape: only ``&``, ``<`` and ``>``, as Slack documents."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """An escaped value in an inline code span (a backtick in it would end the span)."""
    return "`" + escape(text).replace("`", "'") + "`"


def command(query: SlashQuery) -> str:
    """The ``/ota …`` that shows ``query``, as a code span."""
    return code(f"{COMMAND} {query_text(query)}")


def slack_date(moment: Moment, joiner: str = " ") -> str:
    """``<!date^…>``: each reader sees the time in their own zone; UTC as the fallback.

    Never ``{date_pretty}``: its "Today" would read with a capital T mid-sentence.
    ``joiner`` goes between the date and the time (`` at `` reads well in a sentence).
    """
    time_token, time_shape = ("{time_secs}", "%H:%M:%S") if moment.seconds else ("{time}", "%H:%M")
    token = f"{{date_short}}{joiner}{time_token}" if moment.date else time_token
    shape = f"%Y-%m-%d {time_shape} UTC" if moment.date else f"{time_shape} UTC"
    return f"<!date^{math.floor(moment.at.timestamp())}^{token}|{moment.at.strftime(shape)}>"


def render(words: Phrase) -> str:
    """A phrase as mrkdwn."""
    return spelled(
        words, text=escape, code=code, moment=slack_date, typed=lambda typed: command(typed.query)
    )


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (only absurd input reaches it)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
