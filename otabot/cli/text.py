"""Phrases and tables for a terminal: the words ``otabot.query`` decides, as plain text.

Everything from a user or the API goes through ``printable``: a control character is
shown escaped (``\\x1b``), never obeyed by the terminal. Times are UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from otabot.query.phrases import Moment, Phrase, Typed, spelled
from otabot.query.queries import command_line


def printable(text: str) -> str:
    """API or user text made safe for a terminal: control characters shown, not obeyed."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def utc(moment: datetime | None, *, date: bool = True, seconds: bool = True) -> str:
    """``2024-05-01 06:49:31`` (``-`` for none); the caller says the times are UTC."""
    if moment is None:
        return "-"
    shape = "%H:%M:%S" if seconds else "%H:%M"
    return moment.strftime(f"%Y-%m-%d {shape}" if date else shape)


def plain(words: Phrase) -> str:
    """A phrase as one line of text."""
    return spelled(words, text=printable, code=printable, moment=_moment, typed=_command)


def _moment(moment: Moment) -> str:
    return utc(moment.at, date=moment.date, seconds=moment.seconds) + " UTC"


def _command(typed: Typed) -> str:
    return printable(" ".join(command_line(typed.query)))


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns, the header first; cells made printable."""
    cells = [list(columns), *([printable(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]


def fields(pairs: Sequence[tuple[str, str | None]]) -> list[str]:
    """``name       value`` lines for the pairs that have a value."""
    shown = [(name, value) for name, value in pairs if value]
    width = max((len(name) for name, _ in shown), default=0)
    return [f"{name.ljust(width)}  {printable(value)}" for name, value in shown if value]
