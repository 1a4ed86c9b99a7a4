"""``otabot device | jobs | job | firmware``: the ``/ota`` queries from a terminal.

Each sub-command's words and flags are one query in ``/ota``'s language: the
sub-command is the keyword, positional words are read as ``/ota`` reads them (so
``otabot jobs light/light1 1.2.0 status=done page=2`` works), and a flag is another way
to write a ``key=value`` word (``--status done`` is ``status=done``). One parser
(``otabot.query.grammar``) reads both, so both refuse the same input in the same words,
before any call.

Exit codes: 0 the answer; 2 a usage error (nothing was called) or a version that names
several packages (the candidates are listed: re-run with one); 1 anything else,
including a *partial* answer — a card printed without a part otabot's RAM policy does
not allow, with a line on stderr naming the action to allow.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

from otabot.cli.documents import document
from otabot.cli.process import EXIT_OK, CommandError, UsageError
from otabot.cli.text import plain
from otabot.cli.views import missing_parts, view
from otabot.clocks import utc_datetime, wall_clock
from otabot.config import Settings
from otabot.iot.errors import IotError
from otabot.logs import configure_logging
from otabot.query import words
from otabot.query.answers import OtaLookups, VersionChoice, VersionMissing, look_up
from otabot.query.explain import Explanation, explain
from otabot.query.grammar import Token, UsageProblem, parse_words
from otabot.query.phrases import joined
from otabot.query.queries import HelpQuery, WatchQuery

# What the CLI says to ``otabot watch`` (and to a watch that reaches a query command).
WATCH_IN_SLACK = (
    "watching is for Slack: /ota watch JOBID posts the job card in a channel and keeps it "
    "current until the job ends; here, otabot job JOBID shows the job as it is now"
)


class ClosableLookups(OtaLookups, Protocol):
    def close(self) -> None: ...


ServiceOpener = Callable[[Settings], ClosableLookups]


@dataclass(frozen=True)
class Flag:
    """A flag that writes one ``key=value`` word: ``--page 2`` is ``page=2``; a switch
    (``value`` set) writes that value: ``--failed`` is ``status=failed``."""

    name: str
    key: str
    help: str
    metavar: str | None = None
    value: str | None = None


FLAGS = {
    "product": Flag("--product", "product", "ProductKey (or alias) of a bare DEVICE", "PK"),
    "device": Flag("--device", "device", "also show this device's task in the job", "DEVICE"),
    "instance": Flag("--instance", "instance", "IotInstanceId (OTABOT_IOT_INSTANCE_ID)", "ID"),
    "status": Flag("--status", "status", "only jobs with this status (done, running, …)", "S"),
    "version": Flag("--version", "version", "only packages of this version", "V"),
    "page": Flag("--page", "page", "page N of OTABOT_PAGE_SIZE items (default: all)", "N"),
    "failed": Flag(
        "--failed", "status", "list the failed devices with their reasons", None, "failed"
    ),
}


@dataclass(frozen=True)
class Command:
    name: str
    words: str
    help: str
    description: str
    flags: tuple[str, ...]
    # A flag whose meaning differs for this command, in its own words.
    helps: tuple[tuple[str, str], ...] = ()


COMMANDS = (
    Command(
        "device",
        "DEVICE",
        "the device card: its status and the OTA updates pending or running on it",
        "What OTA update is DEVICE in, and is it online? DEVICE is ProductKey/DeviceName, "
        "alias/DeviceName (OTABOT_PRODUCT_ALIASES) or a bare DeviceName with --product or "
        "OTABOT_DEFAULT_PRODUCT_KEY.",
        ("product", "instance"),
    ),
    Command(
        "jobs",
        "DEVICE FIRMWARE",
        "the OTA jobs of a device for a firmware (a FirmwareId or a version)",
        "Which OTA update batches has DEVICE been in for FIRMWARE, newest first? FIRMWARE "
        "is a FirmwareId or a version (1.2.0, v2, or version=V). Without DEVICE, "
        "firmware=FIRMWARE lists every job of that package.",
        ("product", "instance", "status", "page"),
    ),
    Command(
        "job",
        "JOBID",
        "the job card: how far the rollout has got; --failed: which devices failed",
        "How far has job JOBID got? Task counts by status, and with --device that "
        "device's task; --failed lists the failed devices with their reasons.",
        ("device", "product", "failed", "page", "instance"),
        (("product", "the job's ProductKey (or alias), checked before any call"),),
    ),
    Command(
        "firmware",
        "[PRODUCT]",
        "the firmware packages of a product, newest first",
        "The firmware packages of PRODUCT (a ProductKey or alias; default "
        "OTABOT_DEFAULT_PRODUCT_KEY), newest first.",
        ("product", "version", "page", "instance"),
        (("product", "the product whose packages to list (a ProductKey or alias)"),),
    ),
)


def add_parsers(
    subparsers: Any,
    *,
    environ: Mapping[str, str] | None = None,
    open_service: ServiceOpener | None = None,
) -> None:
    """The four query sub-commands; ``environ`` and ``open_service`` are for tests."""
    for command in COMMANDS:
        parser = subparsers.add_parser(
            command.name, help=command.help, description=command.description
        )
        parser.add_argument(
            "words",
            nargs="*",
            metavar=command.words,
            help="as /ota takes them; key=value words (page=2) are welcome too",
        )
        helps = dict(command.helps)
        for key in command.flags:
            flag = replace(FLAGS[key], help=helps.get(key, FLAGS[key].help))
            if flag.value is None:
                # Every value is kept: the query's reader refuses a key given twice, as /ota does.
                parser.add_argument(
                    flag.name, dest=key, metavar=flag.metavar, help=flag.help, action="append"
                )
            else:
                parser.add_argument(flag.name, dest=key, action="store_true", help=flag.help)
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.set_defaults(
            run=partial(
                run, command=command, parser=parser, environ=environ, open_service=open_service
            )
        )


def add_watch_parser(subparsers: Any) -> None:
    """``otabot watch``: no such thing in a terminal; it says where watching lives."""
    parser = subparsers.add_parser(
        "watch", help="(Slack only) keep a job card current in a channel", add_help=False
    )
    parser.set_defaults(run=refuse_watch, any_words=True)


def refuse_watch(args: argparse.Namespace) -> int:
    raise UsageError(WATCH_IN_SLACK)


def tokens(args: argparse.Namespace, command: Command) -> list[Token]:
    """The command line as query words: positional words, then each flag as ``key=value``."""
    found = [Token(word, word) for word in args.words]
    for key in command.flags:
        flag, given = FLAGS[key], getattr(args, key)
        if flag.value is not None and given:
            found.append(Token(f"{flag.key}={flag.value}", flag.name))
        elif flag.value is None and given is not None:
            found.extend(Token(f"{flag.key}={value}", f"{flag.name} {value}") for value in given)
    return found


def run(
    args: argparse.Namespace,
    *,
    command: Command,
    parser: argparse.ArgumentParser,
    environ: Mapping[str, str] | None,
    open_service: ServiceOpener | None,
) -> int:
    settings = Settings.from_env(environ)
    configure_logging(settings)
    for note in settings.unread_notes():
        print(f"otabot {command.name}: warning: {note}", file=sys.stderr)
    given = tokens(args, command)
    query = parse_words(given, settings, command=command.name)
    if isinstance(query, HelpQuery):
        parser.print_help()
        return EXIT_OK
    if isinstance(query, UsageProblem):
        raise UsageError(query.describe())
    if isinstance(query, WatchQuery):
        raise UsageError(WATCH_IN_SLACK)
    service = (open_service or _open_service)(settings)
    try:
        found = look_up(service, query)
    except IotError as error:
        raise CommandError(described(explain(error, query))) from None
    finally:
        service.close()
    if isinstance(found, VersionChoice):
        candidates = joined(words.candidate(firmware) for firmware in found.version.matches)
        raise UsageError(
            plain(words.version_choice(found)) + " Re-run with one FirmwareId: " + plain(candidates)
        )
    if isinstance(found, VersionMissing):
        raise CommandError(plain(words.version_missing(found.version)))
    paged = any(token.text.lower().startswith("page=") for token in given)
    if args.json:
        body = document(found, page_size=settings.page_size, paged=paged)
        print(json.dumps(body, ensure_ascii=False), file=sys.stdout)
    else:
        now = utc_datetime(wall_clock())
        for line in view(found, now=now, page_size=settings.page_size, paged=paged):
            print(line, file=sys.stdout)
    missing = missing_parts(found)
    if missing:
        raise CommandError("partial answer: " + "; ".join(plain(part) for part in missing))
    return EXIT_OK


def described(explanation: Explanation) -> str:
    """One line in words, with the API's code and RequestId."""
    line = plain(explanation.words)
    if explanation.code:
        line += f" [{explanation.code}]"
    if explanation.request_id:  # an answer from the API carries one; a local failure none
        line += f" (RequestId {explanation.request_id})"
    return line


def _open_service(settings: Settings) -> ClosableLookups:
    from otabot.service import OtaService

    return OtaService.from_settings(settings)
