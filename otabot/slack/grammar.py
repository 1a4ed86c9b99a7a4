"""The ``/ota`` grammar of SPEC.md as a pure parser, and the button state codec.

Both check identifiers with the same format rules before anything reaches the API:
text typed by a user and a button value coming back from Slack are treated alike,
as untrusted input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from otabot.config import DEVICE_NAME_RE, IDENTIFIER_RE, Settings
from otabot.iot.models import JobStatus
from otabot.service import JobsLookup

USAGE = (
    "/ota help\n"
    "/ota [jobs] DEVICE FIRMWARE [page=N] [status=in_progress|completed|canceled] [instance=ID]\n"
    "DEVICE is ProductKey/DeviceName, alias/DeviceName, or DeviceName (with product=PK "
    "or the default product); keys may come in any order: product= device= firmware= "
    "page= status= instance="
)

MAX_PAGE = 10_000
KEYS = ("product", "device", "firmware", "page", "status", "instance")
HELP_WORDS = frozenset({"help", "-h", "--help", "?"})
STATUS_WORDS: dict[str, JobStatus] = {
    "in_progress": JobStatus.IN_PROGRESS,
    "in-progress": JobStatus.IN_PROGRESS,
    "inprogress": JobStatus.IN_PROGRESS,
    "running": JobStatus.IN_PROGRESS,
    "completed": JobStatus.COMPLETED,
    "complete": JobStatus.COMPLETED,
    "done": JobStatus.COMPLETED,
    "canceled": JobStatus.CANCELED,
    "cancelled": JobStatus.CANCELED,
}
STATUS_VALUES: dict[JobStatus, str] = {
    JobStatus.IN_PROGRESS: "in_progress",
    JobStatus.COMPLETED: "completed",
    JobStatus.CANCELED: "canceled",
}

# Slack wraps what it recognises as links: <http://x|label>, <mailto:a@b|label>, <#C1|name>.
_LINK_RE = re.compile(r"<([^<>|]*)\|([^<>]*)>|<((?:https?|mailto):[^<>|]*)>")
# Characters Slack's formatting adds and no identifier can contain.
_FORMATTING = str.maketrans({"`": " ", "*": " ", "~": " ", "\u200b": None, "\ufeff": None})
_TOKEN_SHOWN = 40


@dataclass(frozen=True)
class OtaCommand:
    """A well-formed request for one page of one lookup, optionally filtered by status."""

    lookup: JobsLookup
    page: int = 1
    status: JobStatus | None = None

    def describe(self) -> str:
        """The query as a user would type it (used in audit lines and messages)."""
        parts = [
            f"{self.lookup.product_key}/{self.lookup.device_name}",
            self.lookup.firmware_id,
        ]
        if self.page != 1:
            parts.append(f"page={self.page}")
        if self.status is not None:
            parts.append(f"status={STATUS_VALUES.get(self.status, self.status.value.lower())}")
        if self.lookup.iot_instance_id:
            parts.append(f"instance={self.lookup.iot_instance_id}")
        return " ".join(parts)

    def at_page(self, page: int) -> OtaCommand:
        return OtaCommand(self.lookup, max(1, min(page, MAX_PAGE)), self.status)


@dataclass(frozen=True)
class HelpRequest:
    """The user asked for help (``/ota help`` or nothing at all)."""


@dataclass(frozen=True)
class UsageError:
    """Input that fails the grammar or the format checks; ``token`` is the culprit if any."""

    problem: str
    token: str | None = None

    def describe(self) -> str:
        if self.token is None:
            return self.problem
        shown = self.token if len(self.token) <= _TOKEN_SHOWN else self.token[:_TOKEN_SHOWN] + "…"
        return f"`{shown}`: {self.problem}"


ParseResult = OtaCommand | HelpRequest | UsageError


def normalize(text: str) -> str:
    """Undo what Slack does to pasted text: link wrappers, entities, backticks, bold, odd spaces."""
    text = _LINK_RE.sub(lambda m: m.group(2) if m.group(2) is not None else m.group(3), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = text.translate(_FORMATTING)
    tokens = [_unwrap(token) for token in text.split()]
    return " ".join(token for token in tokens if token)


def _unwrap(token: str) -> str:
    """Strip ``_italic_`` wrappers and ``mailto:``/scheme prefixes Slack adds to a token."""
    while len(token) >= 2 and token[0] == token[-1] == "_":
        token = token[1:-1]
    for prefix in ("mailto:", "http://", "https://"):
        if token.lower().startswith(prefix):
            token = token[len(prefix) :]
    return token


def parse_command(text: str, settings: Settings) -> ParseResult:
    """Parse the text after ``/ota``; never raises, whatever the text."""
    tokens = normalize(text).split()
    if not tokens or any(token.lower() in HELP_WORDS for token in tokens):
        return HelpRequest()
    named: dict[str, tuple[str, str]] = {}
    positional: list[str] = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            positional.append(token)
            continue
        key = key.lower()
        if key not in KEYS:
            return UsageError(f"unknown key; use one of {', '.join(k + '=' for k in KEYS)}", token)
        if key in named:
            return UsageError(f"{key}= is given twice", token)
        if not value:
            return UsageError(f"{key}= needs a value", token)
        named[key] = (value, token)
    needed = 2 - ("device" in named) - ("firmware" in named)
    if len(positional) > needed and positional[0].lower() == "jobs":
        positional = positional[1:]
    if len(positional) > needed:
        return UsageError(
            "unexpected word (DEVICE and FIRMWARE are already given)", positional[needed]
        )
    slots = [name for name in ("device", "firmware") if name not in named]
    for name, token in zip(slots, positional, strict=False):
        named[name] = (token, token)
    if "device" not in named:
        return UsageError("missing DEVICE and FIRMWARE")
    if "firmware" not in named:
        return UsageError("missing FIRMWARE (a FirmwareId)")
    return _build(named, settings)


def _build(named: dict[str, tuple[str, str]], settings: Settings) -> ParseResult:
    device_value, device_token = named["device"]
    product: str | None = None
    product_token: str | None = None
    if "/" in device_value:
        product, _, device_value = device_value.partition("/")
        product_token = device_token
        if not product or "/" in device_value:
            return UsageError(
                "write DEVICE as ProductKey/DeviceName or alias/DeviceName", device_token
            )
    if "product" in named:
        typed, token = named["product"]
        if product is not None and settings.resolve_product(product) != settings.resolve_product(
            typed
        ):
            return UsageError("names a different product than the device does", token)
        product, product_token = typed, token
    if product is None:
        if settings.default_product_key is None:
            return UsageError(
                "no product: write ProductKey/DeviceName, alias/DeviceName or add product=PK",
                device_token,
            )
        product = settings.default_product_key
    product_key = settings.resolve_product(product)
    firmware, firmware_token = named["firmware"]
    instance = named["instance"][0] if "instance" in named else settings.iot_instance_id
    page = 1
    if "page" in named:
        text, token = named["page"]
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
            return UsageError(f"page= takes a whole number from 1 to {MAX_PAGE}", token)
        page = int(text)
    status: JobStatus | None = None
    if "status" in named:
        text, token = named["status"]
        status = STATUS_WORDS.get(text.lower())
        if status is None:
            return UsageError("status= takes in_progress, completed or canceled", token)
    problem = check_lookup(product_key, device_value, firmware, instance)
    if problem is not None:
        field_name, why = problem
        token_of = {
            "product": product_token or device_token,
            "device": device_token,
            "firmware": firmware_token,
            "instance": named.get("instance", ("", None))[1],
        }
        return UsageError(why, token_of[field_name])
    return OtaCommand(JobsLookup(product_key, device_value, firmware, instance), page, status)


def check_lookup(
    product_key: str, device_name: str, firmware_id: str, instance: str | None
) -> tuple[str, str] | None:
    """The first format problem of a lookup as ``(field, why)``, or None when all is well."""
    if not IDENTIFIER_RE.fullmatch(product_key):
        return "product", "a ProductKey is up to 64 letters, digits, '-' and '_'"
    if not DEVICE_NAME_RE.fullmatch(device_name):
        return "device", "a DeviceName is 4 to 32 letters, digits and -_@.:"
    if not IDENTIFIER_RE.fullmatch(firmware_id):
        return "firmware", "a FirmwareId is up to 64 letters, digits, '-' and '_'"
    if instance is not None and not IDENTIFIER_RE.fullmatch(instance):
        return "instance", "an IotInstanceId is up to 64 letters, digits, '-' and '_'"
    return None


def encode_state(command: OtaCommand) -> str:
    """The whole query as compact JSON for a button's ``value`` (any replica can serve it)."""
    state: dict[str, object] = {
        "p": command.lookup.product_key,
        "d": command.lookup.device_name,
        "f": command.lookup.firmware_id,
        "n": command.page,
    }
    if command.lookup.iot_instance_id:
        state["i"] = command.lookup.iot_instance_id
    if command.status is not None:
        state["s"] = command.status.value
    return json.dumps(state, separators=(",", ":"))


def decode_state(value: object) -> OtaCommand | UsageError:
    """A button value back into a command, with the same checks as typed text; never raises."""
    if not isinstance(value, str) or len(value) > 2000:
        return UsageError("this button carries no query")
    try:
        state = json.loads(value)
    except ValueError:
        return UsageError("this button's query is not readable")
    if not isinstance(state, dict):
        return UsageError("this button's query is not readable")
    product, device, firmware = state.get("p"), state.get("d"), state.get("f")
    instance, page, status_value = state.get("i"), state.get("n", 1), state.get("s")
    if (
        not isinstance(product, str)
        or not isinstance(device, str)
        or not isinstance(firmware, str)
        or not (instance is None or isinstance(instance, str))
    ):
        return UsageError("this button's query is incomplete")
    problem = check_lookup(product, device, firmware, instance)
    if problem is not None:
        return UsageError(problem[1], problem[0])
    if type(page) is not int or not 1 <= page <= MAX_PAGE:
        return UsageError("this button's page is out of range")
    status: JobStatus | None = None
    if status_value is not None:
        if not isinstance(status_value, str) or status_value.lower() not in STATUS_WORDS:
            return UsageError("this button's status filter is unknown")
        status = STATUS_WORDS[status_value.lower()]
    return OtaCommand(JobsLookup(product, device, firmware, instance), page, status)
