"""The one parser of otabot's query language, for ``/ota`` text, CLI words and button values.

::

    help
    DEVICE                                        the device card
    [jobs] DEVICE FIRMWARE [page=N] [status=S]    jobs of a device for a firmware
    jobs firmware=FIRMWARE [product=PK] …         jobs of a firmware package
    job JOBID [DEVICE] [status=failed [page=N]]   the job card, or its failed devices
    firmware [PRODUCT] [version=V] [page=N]       firmware packages of a product
    watch JOBID                                   (Slack) the job card in the channel, kept current
    DEVICE   := ProductKey/DeviceName | alias/DeviceName | DeviceName (product=PK or the default)
    FIRMWARE := FirmwareId | version=V | V, where a bare V is a version when it has a dot
                or is v and digits (1.2.0, v1.2.0, v2)
    every one also takes instance=ID

``key=value`` tokens come in any order; the keywords ``help jobs job firmware watch`` win
over a device of the same name anywhere (``device=help`` reaches such a device). The
CLI gives the keyword as its sub-command and its flags as ``key=value`` tokens, so a
command line and ``/ota`` text are read by the same rules and refused in the same words.

Nothing here calls anything: every refusal — a malformed name, a product that is
neither a ProductKey nor an alias — is decided from the text and the settings alone.
The parser never raises, whatever the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otabot.config import DEVICE_NAME_RE, IDENTIFIER_RE, Settings
from otabot.iot.models import JobStatus, TaskStatus
from otabot.query import queries
from otabot.query.statuses import JOB_STATUS_HELP, typed_status

KEYS = ("product", "device", "firmware", "version", "job", "page", "status", "instance")
KEYWORDS = ("help", "jobs", "job", "firmware", "watch")
HELP_WORDS = frozenset({"help", "-h", "--help", "?"})
# ProductKeys are issued by the platform as 11 letters and digits; a word of another
# shape that is not an alias cannot name a product, so it is refused without a call.
PRODUCT_KEY_SHAPE = re.compile(r"[A-Za-z0-9]{11}")
# A bare FIRMWARE word is a version when it has a dot or is v and digits (v2, V10).
_VERSION_SHAPE = re.compile(r"[vV][0-9]+")
MAX_VERSION = 64
SHOWN_TOKEN = 40

# Slack wraps what it recognises as links: <http://x|label>, <mailto:a@b|label>, <#C1|name>.
_LINK_RE = re.compile(r"<([^<>|]*)\|([^<>]*)>|<((?:https?|mailto):[^<>|]*)>")
# Characters Slack's formatting adds and no identifier can contain.
_FORMATTING = str.maketrans({"`": " ", "*": " ", "~": " ", "\u200b": None, "\ufeff": None})

DEVICE_PRODUCT = "write ProductKey/DeviceName, alias/DeviceName or add product=PK"
DEVICE_FORMAT = "a DeviceName is 4 to 32 letters, digits and -_@.:"
ID_FORMAT = "up to 64 letters, digits, '-' and '_'"


@dataclass(frozen=True)
class Token:
    """One word of a query: ``text`` as the grammar reads it, ``shown`` as the user wrote it
    (a CLI flag reads ``page=0`` but was written ``--page 0``)."""

    text: str
    shown: str


@dataclass(frozen=True)
class UsageProblem:
    """Input no call can answer: ``why``, in words, and the ``token`` at fault (if one is)."""

    why: str
    token: str | None = None

    def describe(self) -> str:
        """``light/li: a DeviceName is …`` (a long token shortened)."""
        if self.token is None:
            return self.why
        return f"{shown_token(self.token)}: {self.why}"


def shown_token(token: str) -> str:
    return token if len(token) <= SHOWN_TOKEN else token[:SHOWN_TOKEN] + "…"


ParseResult = queries.SlashQuery | queries.HelpQuery | UsageProblem


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


def parse_text(text: str, settings: Settings) -> ParseResult:
    """``/ota`` text (Slack's pasted formatting undone); never raises."""
    return parse_words(normalize(text).split(), settings)


def parse_value(value: object, settings: Settings) -> ParseResult:
    """A button's value: a query's own text, read by the same rules; never raises."""
    if not isinstance(value, str) or not value or len(value) > 2000:
        return UsageProblem("this button carries no query")
    return parse_words(value.split(" "), settings)


def parse_words(
    words: Sequence[str | Token], settings: Settings, command: str | None = None
) -> ParseResult:
    """Words of a query; ``command`` is the keyword when the CLI's sub-command gives it."""
    tokens = [word if isinstance(word, Token) else Token(word, word) for word in words if word]
    if any(token.text.lower() in HELP_WORDS for token in tokens) or not (tokens or command):
        return queries.HelpQuery()
    if command is None and tokens and tokens[0].text.lower() in KEYWORDS:
        command, tokens = tokens[0].text.lower(), tokens[1:]
    named: dict[str, Token] = {}
    positional: list[Token] = []
    for token in tokens:
        key, sep, value = token.text.partition("=")
        if not sep:
            if token.text.lower() in KEYWORDS:
                return UsageProblem(
                    f"'{token.text.lower()}' is a keyword and goes first "
                    f"(write device={token.text} for a device of that name)",
                    token.shown,
                )
            positional.append(token)
            continue
        key = key.lower()
        if key not in KEYS:
            return UsageProblem(
                f"unknown key; use one of {', '.join(k + '=' for k in KEYS)}", token.shown
            )
        if key in named:
            return UsageProblem(f"{key}= is given twice", token.shown)
        if not value:
            return UsageProblem(f"{key}= needs a value", token.shown)
        named[key] = Token(value, token.shown)
    if command is None:
        command = _inferred(named, positional)
    reader = _Reader(named, positional, settings)
    return reader.read(_COMMANDS[command])


def _inferred(named: dict[str, Token], positional: list[Token]) -> str:
    """The command of text without a keyword: a job, a jobs list or the device card."""
    if "job" in named:
        return "job"
    if "firmware" in named or "version" in named or len(positional) >= 2:
        return "jobs"
    return "device"


@dataclass(frozen=True)
class _Command:
    """What one command takes: the keys, the positional slots, and how it is built."""

    what: str  # in words, for "x= does not apply to …"
    keys: frozenset[str]
    slots: tuple[str, ...]
    build: Callable[[_Reader], queries.SlashQuery | UsageProblem]


class _Problem(Exception):
    """Carries a ``UsageProblem`` out of the reader's checks (caught in ``read``)."""

    def __init__(self, problem: UsageProblem) -> None:
        super().__init__(problem.why)
        self.problem = problem


class _Reader:
    """Reads the named and positional tokens of one command; each check names its token."""

    def __init__(
        self, named: dict[str, Token], positional: list[Token], settings: Settings
    ) -> None:
        self.named = named
        self.positional = positional
        self.settings = settings

    def read(self, command: _Command) -> queries.SlashQuery | UsageProblem:
        try:
            for key, token in self.named.items():
                if key not in command.keys:
                    raise _Problem(
                        UsageProblem(f"{key}= does not apply to {command.what}", token.shown)
                    )
            slots = [slot for slot in command.slots if slot not in self.named]
            if command.slots == ("device", "firmware") and self._firmware_named():
                slots = [slot for slot in slots if slot != "firmware"]
            if len(self.positional) > len(slots):
                extra = self.positional[len(slots)]
                given = " and ".join(s.upper() for s in command.slots) or "nothing more"
                raise _Problem(
                    UsageProblem(f"unexpected word ({command.what} takes {given})", extra.shown)
                )
            for slot, token in zip(slots, self.positional, strict=False):
                self.named[slot] = token
            return command.build(self)
        except _Problem as problem:
            return problem.problem

    def _firmware_named(self) -> bool:
        return "firmware" in self.named or "version" in self.named

    # --- one check per kind of value ------------------------------------------------

    def instance(self) -> str | None:
        token = self.named.get("instance")
        if token is None:
            return self.settings.iot_instance_id
        if not IDENTIFIER_RE.fullmatch(token.text):
            raise _Problem(UsageProblem(f"an IotInstanceId is {ID_FORMAT}", token.shown))
        return token.text

    def page(self) -> int:
        token = self.named.get("page")
        if token is None:
            return 1
        text = token.text
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= queries.MAX_PAGE:
            raise _Problem(
                UsageProblem(
                    f"page= takes a whole number from 1 to {queries.MAX_PAGE}", token.shown
                )
            )
        return int(text)

    def job_status(self) -> JobStatus | None:
        token = self.named.get("status")
        if token is None:
            return None
        word = typed_status(token.text)
        if word is None or word.job is None:
            raise _Problem(UsageProblem(f"status= takes {JOB_STATUS_HELP}", token.shown))
        return word.job

    def product(self, token: Token) -> str:
        """The ProductKey a typed product names: an alias's key, or a key itself."""
        return _product_key(token.text, token.shown, self.settings)

    def device(self, *, needs_product: bool = True) -> tuple[str | None, str]:
        """``(ProductKey, DeviceName)`` from DEVICE and ``product=``; formats checked."""
        token = self.named["device"]
        product: str | None = None
        name = token.text
        if "/" in name:
            prefix, _, name = name.partition("/")
            if not prefix or not name or "/" in name:
                raise _Problem(
                    UsageProblem(
                        "write DEVICE as ProductKey/DeviceName or alias/DeviceName", token.shown
                    )
                )
            product = self.product(Token(prefix, token.shown))
        given = self.named.get("product")
        if given is not None:
            typed = self.product(given)
            if product is not None and typed != product:
                raise _Problem(
                    UsageProblem("names a different product than the device does", given.shown)
                )
            product = typed
        if not DEVICE_NAME_RE.fullmatch(name):
            raise _Problem(UsageProblem(DEVICE_FORMAT, token.shown))
        if product is None and needs_product:
            product = self.default_product(token)
        return product, name

    def default_product(self, token: Token | None, how: str = DEVICE_PRODUCT) -> str:
        if self.settings.default_product_key is None:
            raise _Problem(
                UsageProblem(f"no product: {how}", None if token is None else token.shown)
            )
        return self.settings.default_product_key

    def firmware(self) -> tuple[str | None, str | None]:
        """``(FirmwareId, None)`` or ``(None, version)`` from FIRMWARE or ``version=``."""
        by_version = self.named.get("version")
        token = self.named.get("firmware")
        if by_version is not None and token is not None:
            raise _Problem(UsageProblem("give firmware= or version=, not both", by_version.shown))
        if by_version is not None:
            return None, _checked_version(by_version)
        assert token is not None
        if "." in token.text or _VERSION_SHAPE.fullmatch(token.text):
            return None, _checked_version(token)
        if not IDENTIFIER_RE.fullmatch(token.text):
            raise _Problem(
                UsageProblem(
                    f"neither a FirmwareId ({ID_FORMAT}) nor a version "
                    "(it has a dot, or is v and digits; or write version=V)",
                    token.shown,
                )
            )
        return token.text, None

    def job_id(self) -> str:
        token = self.named["job"]
        if not IDENTIFIER_RE.fullmatch(token.text):
            raise _Problem(UsageProblem(f"a JobId is {ID_FORMAT}", token.shown))
        return token.text


def _checked_version(token: Token) -> str:
    """A version as typed: at most 64 printable characters, no spaces."""
    text = token.text
    if len(text) > MAX_VERSION or not all(ch.isprintable() and not ch.isspace() for ch in text):
        raise _Problem(
            UsageProblem(
                f"a version is at most {MAX_VERSION} printable characters, no spaces", token.shown
            )
        )
    return text


def _product_key(text: str, shown: str, settings: Settings) -> str:
    """The ProductKey for a typed product (an alias or a key); ``_Problem`` when it is neither.

    A word that is no configured alias and not shaped like a ProductKey (11 letters and
    digits, or a key the settings name) is refused here, so it costs no call.
    """
    aliases = settings.product_aliases
    if text in aliases:
        return aliases[text]
    known = {*aliases.values(), *settings.allowed_products}
    if settings.default_product_key:
        known.add(settings.default_product_key)
    if text in known or PRODUCT_KEY_SHAPE.fullmatch(text):
        return text
    listed = ", ".join(sorted(aliases)) if aliases else "none are configured"
    raise _Problem(
        UsageProblem(
            f"'{text}' is neither a ProductKey (11 letters and digits) nor an alias "
            f"(aliases: {listed})",
            shown,
        )
    )


# --- the commands -------------------------------------------------------------------


def _device_card(reader: _Reader) -> queries.Query | UsageProblem:
    if "device" not in reader.named:
        raise _Problem(UsageProblem("missing DEVICE"))
    product, name = reader.device()
    assert product is not None
    return queries.DeviceQuery(product, name, reader.instance())


def _jobs(reader: _Reader) -> queries.Query | UsageProblem:
    if "device" not in reader.named:
        if not reader._firmware_named():
            raise _Problem(UsageProblem("missing DEVICE and FIRMWARE"))
        return _firmware_jobs(reader)
    if "firmware" not in reader.named and "version" not in reader.named:
        raise _Problem(UsageProblem("missing FIRMWARE (a FirmwareId or a version)"))
    product, name = reader.device()
    assert product is not None
    firmware_id, version = reader.firmware()
    return queries.JobsQuery(
        product,
        name,
        firmware_id,
        version,
        reader.job_status(),
        reader.page(),
        reader.instance(),
    )


def _firmware_jobs(reader: _Reader) -> queries.Query | UsageProblem:
    given = reader.named.get("product")
    how = "add product=PK (a firmware's jobs are listed within its product)"
    product = reader.product(given) if given is not None else reader.default_product(None, how)
    firmware_id, version = reader.firmware()
    return queries.JobsQuery(
        product, None, firmware_id, version, reader.job_status(), reader.page(), reader.instance()
    )


def _job(reader: _Reader) -> queries.Query | UsageProblem:
    if "job" not in reader.named:
        raise _Problem(UsageProblem("missing JOBID"))
    job_id = reader.job_id()
    given = reader.named.get("product")
    product: str | None = reader.product(given) if given is not None else None
    device: str | None = None
    if "device" in reader.named:
        product, device = reader.device(needs_product=False)
    status = reader.named.get("status")
    page = reader.named.get("page")
    if status is None:
        if page is not None:
            raise _Problem(
                UsageProblem("page= pages a job's failed devices: add status=failed", page.shown)
            )
        return queries.JobQuery(job_id, product, device, reader.instance())
    word = typed_status(status.text)
    if word is None or word.task != TaskStatus.FAILED:
        raise _Problem(UsageProblem("a job lists its devices by status=failed only", status.shown))
    return queries.FailedQuery(job_id, product, device, reader.page(), reader.instance())


def _watch(reader: _Reader) -> queries.SlashQuery | UsageProblem:
    if "job" not in reader.named:
        raise _Problem(UsageProblem("missing JOBID (for a device named watch, write device=watch)"))
    given = reader.named.get("product")
    product = reader.product(given) if given is not None else None
    return queries.WatchQuery(reader.job_id(), product, reader.instance())


def _firmware(reader: _Reader) -> queries.Query | UsageProblem:
    given = reader.named.get("product")
    how = "write firmware PRODUCT (a ProductKey or an alias) or add product=PK"
    product = reader.product(given) if given is not None else reader.default_product(None, how)
    version = reader.named.get("version")
    return queries.FirmwareQuery(
        product,
        None if version is None else _checked_version(version),
        reader.page(),
        reader.instance(),
    )


_COMMANDS: dict[str, _Command] = {
    "device": _Command(
        "the device card",
        frozenset({"product", "device", "instance"}),
        ("device",),
        _device_card,
    ),
    "jobs": _Command(
        "a jobs list",
        frozenset({"product", "device", "firmware", "version", "page", "status", "instance"}),
        ("device", "firmware"),
        _jobs,
    ),
    "job": _Command(
        "the job card",
        frozenset({"job", "device", "product", "page", "status", "instance"}),
        ("job", "device"),
        _job,
    ),
    "firmware": _Command(
        "the firmware list",
        frozenset({"product", "version", "page", "instance"}),
        ("product",),
        _firmware,
    ),
    "watch": _Command(
        "watching a job (the whole job: no device)",
        frozenset({"job", "product", "instance"}),
        ("job",),
        _watch,
    ),
}
