"""Words that both front ends say, with the parts each renders its own way.

A ``Phrase`` is a sequence of fragments: plain words (``str``), a name or value from a
user or the API (``Code``: a code span in Slack, as it is in a terminal), a moment
(``Moment``: ``<!date^…>`` in Slack so each reader sees their own zone, UTC in a
terminal) and a command the user can run (``Typed``: ``/ota …`` or ``otabot …``). The
words are decided once, here and in the modules beside it; Slack and the CLI only
render the fragments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otabot.query.queries import Query


@dataclass(frozen=True)
class Code:
    """A name or value from a user or the API, shown as it is (and escaped)."""

    text: str


@dataclass(frozen=True)
class Moment:
    """A point in time: with or without its date, with or without seconds."""

    at: datetime
    date: bool = True
    seconds: bool = False


@dataclass(frozen=True)
class Typed:
    """A command the user can run to see something: ``/ota …`` or ``otabot …``."""

    query: Query


Fragment = str | Code | Moment | Typed
Phrase = tuple[Fragment, ...]


def phrase(*fragments: Fragment | Phrase) -> Phrase:
    """Fragments and whole phrases joined into one phrase."""
    joined: list[Fragment] = []
    for fragment in fragments:
        if isinstance(fragment, tuple):
            joined.extend(fragment)
        else:
            joined.append(fragment)
    return tuple(joined)


def joined(parts: Iterable[Phrase], separator: str = ", ") -> Phrase:
    """Phrases with ``separator`` between them."""
    out: list[Fragment] = []
    for index, part in enumerate(parts):
        if index:
            out.append(separator)
        out.extend(part)
    return tuple(out)


def spelled(
    words: Phrase,
    *,
    text: Callable[[str], str],
    code: Callable[[str], str],
    moment: Callable[[Moment], str],
    typed: Callable[[Typed], str],
) -> str:
    """A phrase as one string: each fragment spelled as a front end spells its kind."""
    out = []
    for fragment in words:
        if isinstance(fragment, Code):
            out.append(code(fragment.text))
        elif isinstance(fragment, Moment):
            out.append(moment(fragment))
        elif isinstance(fragment, Typed):
            out.append(typed(fragment))
        else:
            out.append(text(fragment))
    return "".join(out)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 job``, ``3 jobs`` (``words`` for an irregular plural)."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def dotted(parts: Iterable[str | None]) -> str:
    """``a · b · c`` of the parts that are set: the separator both front ends use."""
    return " · ".join(part for part in parts if part)
