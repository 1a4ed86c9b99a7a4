"""The /ota grammar: a table of good and bad inputs, a property, and the button state codec."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otabot.config import Settings
from otabot.iot.models import JobStatus
from otabot.service import JobsLookup
from otabot.slack.grammar import (
    HelpRequest,
    OtaCommand,
    UsageError,
    decode_state,
    encode_state,
    parse_command,
)

PK = "a19mzPZabcd"
FW = "FJFx8JzpnhpIsKftRjjm030100"
SETTINGS = dataclasses.replace(
    Settings(), product_aliases={"light": PK, "meter": "a1B2c3D4e5F"}, default_product_key=None
)
WITH_DEFAULT = dataclasses.replace(SETTINGS, default_product_key=PK, iot_instance_id="iot-default")


def command(
    device: str = "light1",
    page: int = 1,
    status: JobStatus | None = None,
    instance: str | None = None,
    product: str = PK,
) -> OtaCommand:
    return OtaCommand(JobsLookup(product, device, FW, instance), page, status)


GOOD = [
    (f"{PK}/light1 {FW}", command()),
    (f"light/light1 {FW}", command()),
    (f"jobs light/light1 {FW}", command()),
    (f"light1 {FW} product={PK}", command()),
    (f"product=light device=light1 firmware={FW}", command()),
    (f"firmware={FW} device=light1 product=light", command()),
    (f"light/light1 {FW} page=3 status=in_progress", command(page=3, status=JobStatus.IN_PROGRESS)),
    (f"status=COMPLETED light/light1 {FW}", command(status=JobStatus.COMPLETED)),
    (f"light/light1 {FW} status=cancelled", command(status=JobStatus.CANCELED)),
    (f"light/light1 {FW} instance=iot-06z00abc", command(instance="iot-06z00abc")),
    (f"meter/meter-01 {FW}", command("meter-01", product="a1B2c3D4e5F")),
    (f"`light/light1` `{FW}`", command()),
    (f"```light/light1 {FW}```", command()),
    (f"*light/light1* *{FW}*", command()),
    (f"_light/light1_ {FW}", command()),
    (f"light/light1\u00a0{FW}", command()),
    (f"  light/light1 \t {FW}  ", command()),
    (f"PAGE=2 light/light1 {FW}", command(page=2)),
    (f"light/<mailto:a@b.c|a@b.c> {FW}", command("a@b.c")),
    (f"light/<http://dev.local|dev.local> {FW}", command("dev.local")),
    (f"light/light:01 {FW}", command("light:01")),
    (f"jobs jobs {FW} product=light", command("jobs")),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_parses_good_input(text: str, expected: OtaCommand) -> None:
    assert parse_command(text, SETTINGS) == expected


def test_bare_device_uses_default_product_and_instance() -> None:
    assert parse_command(f"light1 {FW}", WITH_DEFAULT) == command(instance="iot-default")


@pytest.mark.parametrize("text", ["", "help", "HELP", "  ", "--help", "?", "light1 help"])
def test_help_or_nothing_asks_for_help(text: str) -> None:
    assert parse_command(text, SETTINGS) == HelpRequest()


BAD = [
    (f"light1 {FW}", "light1", "no product"),
    ("light/light1", None, "missing FIRMWARE"),
    (f"light/li {FW}", "light/li", "DeviceName"),
    (f"light/light1! {FW}", "light/light1!", "DeviceName"),
    (f"light/{'x' * 33} {FW}", "light/", "DeviceName"),
    ("light/light1 FW+bad", "FW+bad", "FirmwareId"),
    (f"light/light1 {'F' * 65}", "FFFF", "FirmwareId"),
    (f"bad!key/light1 {FW}", "bad!key/light1", "ProductKey"),
    (f"light/light1 {FW} page=0", "page=0", "page="),
    (f"light/light1 {FW} page=two", "page=two", "page="),
    (f"light/light1 {FW} page=99999", "page=99999", "page="),
    (f"light/light1 {FW} status=paused", "status=paused", "status="),
    (f"light/light1 {FW} instance=a/b", "instance=a/b", "IotInstanceId"),
    (f"light/light1 {FW} colour=red", "colour=red", "unknown key"),
    (f"light/light1 {FW} page=1 page=2", "page=2", "twice"),
    (f"light/light1 {FW} page=", "page=", "needs a value"),
    (f"light/light1 {FW} extra", "extra", "unexpected"),
    (f"a/b/light1 {FW}", "a/b/light1", "ProductKey/DeviceName"),
    (f"/light1 {FW}", "/light1", "ProductKey/DeviceName"),
    (f"meter/light1 {FW} product=light", "product=light", "different product"),
    (f"device=light/light1 {FW} {FW}", FW, "unexpected"),
]


@pytest.mark.parametrize(("text", "token", "words"), BAD)
def test_rejects_bad_input_naming_the_token(text: str, token: str | None, words: str) -> None:
    parsed = parse_command(text, SETTINGS)
    assert isinstance(parsed, UsageError), parsed
    assert words in parsed.problem
    if token is None:
        assert parsed.token is None
    else:
        assert parsed.token is not None and parsed.token.startswith(token)
        assert parsed.describe().startswith("`" + token[:40])


def test_long_offending_token_is_shortened_in_the_message() -> None:
    parsed = parse_command(f"light/light1 {'F' * 65}", SETTINGS)
    assert isinstance(parsed, UsageError)
    assert len(parsed.describe()) < 120


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_command_help_or_usage_error(text: str) -> None:
    parsed = parse_command(text, WITH_DEFAULT)
    assert isinstance(parsed, OtaCommand | HelpRequest | UsageError)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "light/light1",
                FW,
                "page=2",
                "status=completed",
                "instance=x-1",
                "jobs",
                "help",
                "`",
                "*",
                "_",
                "\u00a0",
                "<mailto:a@b.c|a@b.c>",
                "product=light",
                "device=zz",
                "=",
                "/",
            ]
        ),
        max_size=8,
    )
)
def test_any_mix_of_grammar_tokens_never_raises(tokens: list[str]) -> None:
    parsed = parse_command(" ".join(tokens), SETTINGS)
    if isinstance(parsed, OtaCommand):
        assert parsed.lookup.firmware_id and parsed.lookup.device_name


def test_describe_reads_like_what_a_user_types() -> None:
    described = command(page=2, status=JobStatus.IN_PROGRESS, instance="iot-1").describe()
    assert described == f"{PK}/light1 {FW} page=2 status=in_progress instance=iot-1"


def test_button_state_round_trips() -> None:
    original = command(page=4, status=JobStatus.CANCELED, instance="iot-1")
    assert decode_state(encode_state(original)) == original


def test_button_state_is_compact_json() -> None:
    value = encode_state(command())
    assert json.loads(value) == {"p": PK, "d": "light1", "f": FW, "n": 1}
    assert " " not in value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "not json",
        "[1, 2]",
        json.dumps({"p": PK, "d": "light1"}),
        json.dumps({"p": PK, "d": "<!channel>", "f": FW, "n": 1}),
        json.dumps({"p": "a b", "d": "light1", "f": FW, "n": 1}),
        json.dumps({"p": PK, "d": "light1", "f": FW, "n": 0}),
        json.dumps({"p": PK, "d": "light1", "f": FW, "n": True}),
        json.dumps({"p": PK, "d": "light1", "f": FW, "n": "2"}),
        json.dumps({"p": PK, "d": "light1", "f": FW, "n": 1, "s": "PAUSED"}),
        json.dumps({"p": PK, "d": "light1", "f": FW, "n": 1, "i": 7}),
        "x" * 3000,
    ],
)
def test_tampered_button_state_is_refused(value: object) -> None:
    assert isinstance(decode_state(value), UsageError)


@pytest.mark.parametrize(
    "state",
    [
        {"p": "a19mzPZabcd", "d": "meter-01\n", "f": "FJFx8JzpnhpIsKftRjjm030100"},
        {"p": "a19mzPZabcd\n", "d": "meter-01", "f": "FJFx8JzpnhpIsKftRjjm030100"},
        {"p": "a19mzPZabcd", "d": "meter-01", "f": "FJFx8JzpnhpIsKftRjjm030100\n"},
        {"p": "a19mzPZabcd", "d": "meter-01", "f": "FJFx8JzpnhpIsKftRjjm030100", "i": "iot-1\n"},
    ],
)
def test_a_button_value_with_a_trailing_newline_is_refused(state: dict[str, str]) -> None:
    assert isinstance(decode_state(json.dumps(state)), UsageError)
