"""The query language: a table of good and bad inputs, properties, and the canonical text."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otabot.config import Settings
from otabot.iot.models import JobStatus
from otabot.query.grammar import Token, UsageProblem, parse_text, parse_value, parse_words
from otabot.query.queries import (
    DeviceQuery,
    FailedQuery,
    FirmwareQuery,
    HelpQuery,
    JobQuery,
    JobsQuery,
    Query,
    WatchQuery,
    command_line,
    query_text,
)

PK = "a19mzPZabcd"
METER = "a1B2c3D4e5F"
FW = "FJFx8JzpnhpIsKftRjjm030100"
JOB = "HvKuBpuk3rdk6E92CPQN020100"
SETTINGS = dataclasses.replace(
    Settings(), product_aliases={"light": PK, "meter": METER}, default_product_key=None
)
WITH_DEFAULT = dataclasses.replace(SETTINGS, default_product_key=PK, iot_instance_id="iot-default")


def jobs(
    device: str = "light1",
    page: int = 1,
    status: JobStatus | None = None,
    instance: str | None = None,
    product: str = PK,
    version: str | None = None,
) -> JobsQuery:
    return JobsQuery(product, device, None if version else FW, version, status, page, instance)


GOOD: list[tuple[str, Query]] = [
    # the device card
    ("light/light1", DeviceQuery(PK, "light1")),
    (f"{PK}/light1", DeviceQuery(PK, "light1")),
    ("light1 product=light", DeviceQuery(PK, "light1")),
    ("device=help product=light", DeviceQuery(PK, "help")),
    ("device=jobs product=light", DeviceQuery(PK, "jobs")),
    ("light/light1 instance=iot-1", DeviceQuery(PK, "light1", "iot-1")),
    ("<http://light1.lobby|light1.lobby> product=light", DeviceQuery(PK, "light1.lobby")),
    ("light/<http://light1.lobby|light1.lobby>", DeviceQuery(PK, "light1.lobby")),
    ("*light/light1*", DeviceQuery(PK, "light1")),
    # jobs of a device for a firmware
    (f"{PK}/light1 {FW}", jobs()),
    (f"light/light1 {FW}", jobs()),
    (f"jobs light/light1 {FW}", jobs()),
    (f"JOBS light/light1 {FW}", jobs()),
    (f"light1 {FW} product={PK}", jobs()),
    (f"product=light device=light1 firmware={FW}", jobs()),
    (f"firmware={FW} device=light1 product=light", jobs()),
    (f"light/light1 {FW} page=3 status=in_progress", jobs(page=3, status=JobStatus.IN_PROGRESS)),
    (f"status=COMPLETED light/light1 {FW}", jobs(status=JobStatus.COMPLETED)),
    (f"light/light1 {FW} status=done", jobs(status=JobStatus.COMPLETED)),
    (f"light/light1 {FW} status=running", jobs(status=JobStatus.IN_PROGRESS)),
    (f"light/light1 {FW} status=cancelled", jobs(status=JobStatus.CANCELED)),
    (f"light/light1 {FW} status=planned", jobs(status=JobStatus.PLANNED)),
    (f"light/light1 {FW} instance=iot-06z00abc", jobs(instance="iot-06z00abc")),
    (f"meter/meter-01 {FW}", jobs("meter-01", product=METER)),
    (f"`light/light1` `{FW}`", jobs()),
    (f"```light/light1 {FW}```", jobs()),
    (f"*light/light1* *{FW}*", jobs()),
    (f"_light/light1_ {FW}", jobs()),
    (f"light/light1\u00a0{FW}", jobs()),
    (f"  light/light1 \t {FW}  ", jobs()),
    (f"PAGE=2 light/light1 {FW}", jobs(page=2)),
    (f"light/<mailto:a@b.c|a@b.c> {FW}", jobs("a@b.c")),
    (f"light/<http://dev.local|dev.local> {FW}", jobs("dev.local")),
    (f"light/light:01 {FW}", jobs("light:01")),
    (f"jobs device=jobs {FW} product=light", jobs("jobs")),
    # a firmware by version: a dot, or v and digits; anything with version=
    ("light/light1 1.2.0", jobs(version="1.2.0")),
    ("light/light1 v1.2.0", jobs(version="v1.2.0")),
    ("light/light1 v2", jobs(version="v2")),
    ("light/light1 V10", jobs(version="V10")),
    ("light/light1 version=beta-3", jobs(version="beta-3")),
    ("light/light1 firmware=1.2.0", jobs(version="1.2.0")),
    ("light/light1 version=2.0", jobs(version="2.0")),
    # jobs of a firmware package
    (f"jobs firmware={FW} product=light", JobsQuery(PK, None, FW)),
    (
        f"firmware={FW} product=light status=done",
        JobsQuery(PK, None, FW, None, JobStatus.COMPLETED),
    ),
    ("jobs version=1.2.0 product=light page=2", JobsQuery(PK, None, None, "1.2.0", None, 2)),
    # the job card, and its failed devices
    (f"job {JOB}", JobQuery(JOB)),
    (f"job={JOB}", JobQuery(JOB)),
    (f"job {JOB} light1", JobQuery(JOB, None, "light1")),
    (f"job {JOB} light/light1", JobQuery(JOB, PK, "light1")),
    (f"job {JOB} device=light1 product=light", JobQuery(JOB, PK, "light1")),
    (f"job {JOB} status=failed", FailedQuery(JOB)),
    (f"job {JOB} status=fail page=3", FailedQuery(JOB, page=3)),
    (f"job {JOB} light1 status=failed", FailedQuery(JOB, None, "light1")),
    # firmware packages
    ("firmware light", FirmwareQuery(PK)),
    (f"firmware {PK} version=1.2.0 page=2", FirmwareQuery(PK, "1.2.0", 2)),
    ("firmware product=meter instance=iot-9", FirmwareQuery(METER, None, 1, "iot-9")),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_parses_good_input(text: str, expected: Query) -> None:
    assert parse_text(text, SETTINGS) == expected


def test_a_bare_device_uses_the_default_product_and_instance() -> None:
    assert parse_text(f"light1 {FW}", WITH_DEFAULT) == jobs(instance="iot-default")
    assert parse_text("light1", WITH_DEFAULT) == DeviceQuery(PK, "light1", "iot-default")
    assert parse_text("firmware", WITH_DEFAULT) == FirmwareQuery(PK, instance="iot-default")


def test_a_job_takes_no_default_product_the_job_names_its_own() -> None:
    assert parse_text(f"job {JOB} light1", WITH_DEFAULT) == JobQuery(
        JOB, None, "light1", "iot-default"
    )


@pytest.mark.parametrize(
    "text", ["", "help", "HELP", "  ", "--help", "?", "light1 help", "jobs help", "job help"]
)
def test_help_or_nothing_asks_for_help(text: str) -> None:
    assert parse_text(text, SETTINGS) == HelpQuery()


def test_a_cli_command_with_nothing_after_it_says_what_is_missing() -> None:
    assert parse_words([], SETTINGS, command="jobs") == UsageProblem("missing DEVICE and FIRMWARE")


BAD = [
    (f"light1 {FW}", "light1", "no product"),
    ("light1", "light1", "no product"),
    ("firmware", None, "no product: write firmware PRODUCT"),
    (f"jobs firmware={FW}", None, "add product=PK"),
    (f"light/li {FW}", "light/li", "DeviceName"),
    (f"light/light1! {FW}", "light/light1!", "DeviceName"),
    (f"light/{'x' * 33} {FW}", "light/", "DeviceName"),
    ("light/light1 FW+bad", "FW+bad", "neither a FirmwareId"),
    (f"light/light1 {'F' * 65}", "FFFF", "neither a FirmwareId"),
    (f"bad!key/light1 {FW}", "bad!key/light1", "neither a ProductKey"),
    (f"lamp/light1 {FW}", "lamp/light1", "nor an alias (aliases: light, meter)"),
    ("firmware lamp", "lamp", "neither a ProductKey"),
    (f"light1 {FW} product=lamp", "product=lamp", "neither a ProductKey"),
    (f"light/light1 {FW} page=0", "page=0", "page="),
    (f"light/light1 {FW} page=two", "page=two", "page="),
    (f"light/light1 {FW} page=99999", "page=99999", "page="),
    (f"light/light1 {FW} page=\u0663", "page=\u0663", "page="),
    (f"light/light1 {FW} status=paused", "status=paused", "status= takes"),
    (f"light/light1 {FW} status=failed", "status=failed", "status= takes"),
    (f"light/light1 {FW} instance=a/b", "instance=a/b", "IotInstanceId"),
    (f"light/light1 {FW} colour=red", "colour=red", "unknown key"),
    (f"light/light1 {FW} page=1 page=2", "page=2", "twice"),
    (f"light/light1 {FW} page=", "page=", "needs a value"),
    (f"light/light1 {FW} extra", "extra", "unexpected word"),
    (f"a/b/light1 {FW}", "a/b/light1", "ProductKey/DeviceName"),
    (f"/light1 {FW}", "/light1", "ProductKey/DeviceName"),
    (f"light/ {FW}", "light/", "ProductKey/DeviceName"),
    (f"meter/light1 {FW} product=light", "product=light", "different product"),
    (f"device=light/light1 {FW} {FW}", FW, "unexpected"),
    (f"light/light1 firmware={FW} version=1.0", "version=1.0", "not both"),
    ("light/light1 version=" + "9" * 65, "version=", "at most 64 printable"),
    ("light/light1 version=a\x00b", "version=a", "printable"),
    ("jobs", None, "missing DEVICE and FIRMWARE"),
    ("jobs light/light1", None, "missing FIRMWARE"),
    ("light/light1 page=2", "page=2", "does not apply to the device card"),
    ("light/light1 job", "job", "'job' is a keyword"),
    (f"light/light1 {FW} firmware", "firmware", "'firmware' is a keyword"),
    ("job", None, "missing JOBID"),
    ("job bad!id", "bad!id", "JobId"),
    (f"job {JOB} page=2", "page=2", "add status=failed"),
    (f"job {JOB} status=done", "status=done", "status=failed only"),
    (f"job {JOB} version=1.0", "version=1.0", "does not apply to the job card"),
    (f"job {JOB} light1 extra", "extra", "unexpected word"),
    ("firmware light device=light1", "device=light1", "does not apply to the firmware list"),
    ("firmware light status=done", "status=done", "does not apply to the firmware list"),
    ("firmware light extra", "extra", "unexpected word"),
]


@pytest.mark.parametrize(("text", "token", "words"), BAD)
def test_rejects_bad_input_naming_the_token(text: str, token: str | None, words: str) -> None:
    parsed = parse_text(text, SETTINGS)
    assert isinstance(parsed, UsageProblem), parsed
    assert words in parsed.why
    if token is None:
        assert parsed.token is None
    else:
        assert parsed.token is not None and parsed.token.startswith(token)
        assert parsed.describe().startswith(token[:40])


def test_a_long_offending_token_is_shortened_in_the_words() -> None:
    parsed = parse_text(f"light/light1 {'F' * 65}", SETTINGS)
    assert isinstance(parsed, UsageProblem)
    assert parsed.describe().startswith("F" * 40 + "…: ")


def test_a_product_key_of_another_shape_is_known_when_the_settings_name_it() -> None:
    named = dataclasses.replace(SETTINGS, allowed_products=frozenset({"pk-1"}))
    assert parse_text("pk-1/light1", named) == DeviceQuery("pk-1", "light1")
    assert isinstance(parse_text("pk-1/light1", SETTINGS), UsageProblem)


def test_a_flag_token_is_shown_as_it_was_written() -> None:
    parsed = parse_words(
        [Token("light/light1", "light/light1"), Token("page=0", "--page 0")],
        SETTINGS,
        command="device",
    )
    assert parsed == UsageProblem("page= does not apply to the device card", "--page 0")


def test_the_command_given_by_the_cli_is_the_keyword() -> None:
    assert parse_words(["light/light1"], SETTINGS, command="device") == DeviceQuery(PK, "light1")
    problem = parse_words(["light/light1", FW], SETTINGS, command="device")
    assert problem == UsageProblem("unexpected word (the device card takes DEVICE)", FW)
    assert parse_words([], SETTINGS, command="firmware") == UsageProblem(
        "no product: write firmware PRODUCT (a ProductKey or an alias) or add product=PK"
    )


# --- watch ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"watch {JOB}", WatchQuery(JOB)),
        (f"watch job={JOB} product=light", WatchQuery(JOB, PK)),
        (f"WATCH {JOB} instance=iot-1", WatchQuery(JOB, None, "iot-1")),
        (f"watch `{JOB}`", WatchQuery(JOB)),
    ],
)
def test_watch_names_a_job_and_reads_back_from_its_text(text: str, expected: WatchQuery) -> None:
    assert parse_text(text, SETTINGS) == expected
    assert parse_value(query_text(expected), SETTINGS) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("watch", UsageProblem("missing JOBID (for a device named watch, write device=watch)")),
        (
            f"watch {JOB} light1",
            UsageProblem(
                "unexpected word (watching a job (the whole job: no device) takes JOB)", "light1"
            ),
        ),
        (
            f"watch {JOB} device=light1",
            UsageProblem(
                "device= does not apply to watching a job (the whole job: no device)",
                "device=light1",
            ),
        ),
        (
            f"job {JOB} watch",
            UsageProblem(
                "'watch' is a keyword and goes first "
                "(write device=watch for a device of that name)",
                "watch",
            ),
        ),
        ("watch job!", UsageProblem("a JobId is up to 64 letters, digits, '-' and '_'", "job!")),
    ],
)
def test_watch_refusals_name_the_token(text: str, problem: UsageProblem) -> None:
    assert parse_text(text, SETTINGS) == problem


def test_a_device_named_watch_is_reached_with_device_equals() -> None:
    assert parse_text("device=watch product=light", SETTINGS) == DeviceQuery(PK, "watch")


# --- the canonical text ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_a_query_reads_back_from_its_own_text(text: str, expected: Query) -> None:
    assert parse_value(query_text(expected), SETTINGS) == expected


def test_the_text_names_product_keys_not_aliases_and_every_option() -> None:
    query = parse_text(f"light/light1 {FW} status=done page=2 instance=iot-1", SETTINGS)
    assert isinstance(query, JobsQuery)
    assert query_text(query) == f"jobs {PK}/light1 {FW} status=completed page=2 instance=iot-1"
    assert command_line(query) == (
        "otabot", "jobs", f"{PK}/light1", FW, "status=completed", "page=2", "instance=iot-1"
    )  # fmt: skip


def test_the_device_card_text_needs_no_keyword() -> None:
    assert query_text(DeviceQuery(PK, "help")) == f"{PK}/help"
    assert parse_value(f"{PK}/help", SETTINGS) == DeviceQuery(PK, "help")


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        7,
        "x" * 2001,
        f"jobs {PK}/<!channel> {FW}",
        f"jobs a\u00a0b/light1 {FW}",
        f"jobs {PK}/light1\n {FW}",
        f"jobs {PK}/light1 {FW}\n",
        f"jobs {PK}/light1 {FW} page=0",
        f"jobs {PK}/light1 {FW} status=PAUSED",
        f"jobs {PK}/light1 {FW} instance=iot-1\n",
        f"job {JOB}\n",
    ],
)
def test_a_tampered_button_value_is_refused(value: object) -> None:
    assert isinstance(parse_value(value, SETTINGS), UsageProblem | HelpQuery)


def test_a_button_value_is_read_without_undoing_slack_formatting() -> None:
    """A version may hold characters Slack formatting would strip from typed text."""
    query = JobsQuery(PK, "light1", None, "2.0*rc`1")
    assert parse_value(query_text(query), SETTINGS) == query


# --- properties ------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_query_help_or_usage_problem(text: str) -> None:
    parsed = parse_text(text, WITH_DEFAULT)
    assert isinstance(parsed, Query | HelpQuery | UsageProblem)


TOKENS = [
    "light/light1", FW, JOB, "1.2.0", "v2", "page=2", "status=completed", "status=failed",
    "instance=x-1", "jobs", "job", "firmware", "help", "`", "*", "_", "\u00a0",
    "<mailto:a@b.c|a@b.c>", "product=light", "device=zz", "version=beta", "=", "/",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=8))
def test_any_mix_of_grammar_tokens_reads_back_from_its_own_text(tokens: list[str]) -> None:
    parsed = parse_text(" ".join(tokens), SETTINGS)
    if not isinstance(parsed, UsageProblem | HelpQuery):
        assert parse_value(query_text(parsed), SETTINGS) == parsed
        assert len(query_text(parsed)) <= 2000
