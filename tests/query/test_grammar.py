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
from tests.helpers import EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, METER_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID

SETTINGS = dataclasses.replace(
    Settings(),
    product_aliases={"light": LIGHT_PRODUCT_KEY, "meter": METER_PRODUCT_KEY},
    default_product_key=None,
)
WITH_DEFAULT = dataclasses.replace(
    SETTINGS, default_product_key=LIGHT_PRODUCT_KEY, iot_instance_id="iot-default"
)


def jobs(
    device: str = "light1",
    page: int = 1,
    status: JobStatus | None = None,
    instance: str | None = None,
    product: str = LIGHT_PRODUCT_KEY,
    version: str | None = None,
) -> JobsQuery:
    return JobsQuery(
        product, device, None if version else SHOWCASE_FIRMWARE_ID, version, status, page, instance
    )


GOOD: list[tuple[str, Query]] = [
    # the device card
    ("light/light1", DeviceQuery(LIGHT_PRODUCT_KEY, "light1")),
    (f"{LIGHT_PRODUCT_KEY}/light1", DeviceQuery(LIGHT_PRODUCT_KEY, "light1")),
    ("light1 product=light", DeviceQuery(LIGHT_PRODUCT_KEY, "light1")),
    ("device=help product=light", DeviceQuery(LIGHT_PRODUCT_KEY, "help")),
    ("device=jobs product=light", DeviceQuery(LIGHT_PRODUCT_KEY, "jobs")),
    ("light/light1 instance=iot-1", DeviceQuery(LIGHT_PRODUCT_KEY, "light1", "iot-1")),
    (
        "<http://light1.lobby|light1.lobby> product=light",
        DeviceQuery(LIGHT_PRODUCT_KEY, "light1.lobby"),
    ),
    ("light/<http://light1.lobby|light1.lobby>", DeviceQuery(LIGHT_PRODUCT_KEY, "light1.lobby")),
    ("*light/light1*", DeviceQuery(LIGHT_PRODUCT_KEY, "light1")),
    # jobs of a device for a firmware
    (f"{LIGHT_PRODUCT_KEY}/light1 {SHOWCASE_FIRMWARE_ID}", jobs()),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID}", jobs()),
    (f"jobs light/light1 {SHOWCASE_FIRMWARE_ID}", jobs()),
    (f"JOBS light/light1 {SHOWCASE_FIRMWARE_ID}", jobs()),
    (f"light1 {SHOWCASE_FIRMWARE_ID} product={LIGHT_PRODUCT_KEY}", jobs()),
    (f"product=light device=light1 firmware={SHOWCASE_FIRMWARE_ID}", jobs()),
    (f"firmware={SHOWCASE_FIRMWARE_ID} device=light1 product=light", jobs()),
    (
        f"light/light1 {SHOWCASE_FIRMWARE_ID} page=3 status=in_progress",
        jobs(page=3, status=JobStatus.IN_PROGRESS),
    ),
    (f"status=COMPLETED light/light1 {SHOWCASE_FIRMWARE_ID}", jobs(status=JobStatus.COMPLETED)),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} status=done", jobs(status=JobStatus.COMPLETED)),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} status=running", jobs(status=JobStatus.IN_PROGRESS)),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} status=cancelled", jobs(status=JobStatus.CANCELED)),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} status=planned", jobs(status=JobStatus.PLANNED)),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} instance=iot-06z00abc", jobs(instance="iot-06z00abc")),
    (f"meter/meter-01 {SHOWCASE_FIRMWARE_ID}", jobs("meter-01", product=METER_PRODUCT_KEY)),
    (f"`light/light1` `{SHOWCASE_FIRMWARE_ID}`", jobs()),
    (f"```light/light1 {SHOWCASE_FIRMWARE_ID}```", jobs()),
    (f"*light/light1* *{SHOWCASE_FIRMWARE_ID}*", jobs()),
    (f"_light/light1_ {SHOWCASE_FIRMWARE_ID}", jobs()),
    (f"light/light1\u00a0{SHOWCASE_FIRMWARE_ID}", jobs()),
    (f"  light/light1 \t {SHOWCASE_FIRMWARE_ID}  ", jobs()),
    (f"PAGE=2 light/light1 {SHOWCASE_FIRMWARE_ID}", jobs(page=2)),
    (f"light/<mailto:a@b.c|a@b.c> {SHOWCASE_FIRMWARE_ID}", jobs("a@b.c")),
    (f"light/<http://dev.local|dev.local> {SHOWCASE_FIRMWARE_ID}", jobs("dev.local")),
    (f"light/light:01 {SHOWCASE_FIRMWARE_ID}", jobs("light:01")),
    (f"jobs device=jobs {SHOWCASE_FIRMWARE_ID} product=light", jobs("jobs")),
    # a firmware by version: a dot, or v and digits; anything with version=
    ("light/light1 1.2.0", jobs(version="1.2.0")),
    ("light/light1 v1.2.0", jobs(version="v1.2.0")),
    ("light/light1 v2", jobs(version="v2")),
    ("light/light1 V10", jobs(version="V10")),
    ("light/light1 version=beta-3", jobs(version="beta-3")),
    ("light/light1 firmware=1.2.0", jobs(version="1.2.0")),
    ("light/light1 version=2.0", jobs(version="2.0")),
    # jobs of a firmware package
    (
        f"jobs firmware={SHOWCASE_FIRMWARE_ID} product=light",
        JobsQuery(LIGHT_PRODUCT_KEY, None, SHOWCASE_FIRMWARE_ID),
    ),
    (
        f"firmware={SHOWCASE_FIRMWARE_ID} product=light status=done",
        JobsQuery(LIGHT_PRODUCT_KEY, None, SHOWCASE_FIRMWARE_ID, None, JobStatus.COMPLETED),
    ),
    (
        "jobs version=1.2.0 product=light page=2",
        JobsQuery(LIGHT_PRODUCT_KEY, None, None, "1.2.0", None, 2),
    ),
    # the job card, and its failed devices
    (f"job {EXAMPLE_JOB_ID}", JobQuery(EXAMPLE_JOB_ID)),
    (f"job={EXAMPLE_JOB_ID}", JobQuery(EXAMPLE_JOB_ID)),
    (f"job {EXAMPLE_JOB_ID} light1", JobQuery(EXAMPLE_JOB_ID, None, "light1")),
    (f"job {EXAMPLE_JOB_ID} light/light1", JobQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, "light1")),
    (
        f"job {EXAMPLE_JOB_ID} device=light1 product=light",
        JobQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, "light1"),
    ),
    (f"job {EXAMPLE_JOB_ID} status=failed", FailedQuery(EXAMPLE_JOB_ID)),
    (f"job {EXAMPLE_JOB_ID} status=fail page=3", FailedQuery(EXAMPLE_JOB_ID, page=3)),
    (f"job {EXAMPLE_JOB_ID} light1 status=failed", FailedQuery(EXAMPLE_JOB_ID, None, "light1")),
    # firmware packages
    ("firmware light", FirmwareQuery(LIGHT_PRODUCT_KEY)),
    (
        f"firmware {LIGHT_PRODUCT_KEY} version=1.2.0 page=2",
        FirmwareQuery(LIGHT_PRODUCT_KEY, "1.2.0", 2),
    ),
    ("firmware product=meter instance=iot-9", FirmwareQuery(METER_PRODUCT_KEY, None, 1, "iot-9")),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_parses_good_input(text: str, expected: Query) -> None:
    assert parse_text(text, SETTINGS) == expected


def test_a_bare_device_uses_the_default_product_and_instance() -> None:
    assert parse_text(f"light1 {SHOWCASE_FIRMWARE_ID}", WITH_DEFAULT) == jobs(
        instance="iot-default"
    )
    assert parse_text("light1", WITH_DEFAULT) == DeviceQuery(
        LIGHT_PRODUCT_KEY, "light1", "iot-default"
    )
    assert parse_text("firmware", WITH_DEFAULT) == FirmwareQuery(
        LIGHT_PRODUCT_KEY, instance="iot-default"
    )


def test_a_job_takes_no_default_product_the_job_names_its_own() -> None:
    assert parse_text(f"job {EXAMPLE_JOB_ID} light1", WITH_DEFAULT) == JobQuery(
        EXAMPLE_JOB_ID, None, "light1", "iot-default"
    )


@pytest.mark.parametrize(
    "text", ["", "help", "HELP", "  ", "--help", "?", "light1 help", "jobs help", "job help"]
)
def test_help_or_nothing_asks_for_help(text: str) -> None:
    assert parse_text(text, SETTINGS) == HelpQuery()


def test_a_cli_command_with_nothing_after_it_says_what_is_missing() -> None:
    assert parse_words([], SETTINGS, command="jobs") == UsageProblem("missing DEVICE and FIRMWARE")


BAD = [
    (f"light1 {SHOWCASE_FIRMWARE_ID}", "light1", "no product"),
    ("light1", "light1", "no product"),
    ("firmware", None, "no product: write firmware PRODUCT"),
    (f"jobs firmware={SHOWCASE_FIRMWARE_ID}", None, "add product=PK"),
    (f"light/li {SHOWCASE_FIRMWARE_ID}", "light/li", "DeviceName"),
    (f"light/light1! {SHOWCASE_FIRMWARE_ID}", "light/light1!", "DeviceName"),
    (f"light/{'x' * 33} {SHOWCASE_FIRMWARE_ID}", "light/", "DeviceName"),
    ("light/light1 FW+bad", "FW+bad", "neither a FirmwareId"),
    (f"light/light1 {'F' * 65}", "FFFF", "neither a FirmwareId"),
    (f"bad!key/light1 {SHOWCASE_FIRMWARE_ID}", "bad!key/light1", "neither a ProductKey"),
    (f"lamp/light1 {SHOWCASE_FIRMWARE_ID}", "lamp/light1", "nor an alias (aliases: light, meter)"),
    ("firmware lamp", "lamp", "neither a ProductKey"),
    (f"light1 {SHOWCASE_FIRMWARE_ID} product=lamp", "product=lamp", "neither a ProductKey"),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} page=0", "page=0", "page="),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} page=two", "page=two", "page="),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} page=99999", "page=99999", "page="),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} page=\u0663", "page=\u0663", "page="),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} status=paused", "status=paused", "status= takes"),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} status=failed", "status=failed", "status= takes"),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} instance=a/b", "instance=a/b", "IotInstanceId"),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} colour=red", "colour=red", "unknown key"),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} page=1 page=2", "page=2", "twice"),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} page=", "page=", "needs a value"),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} extra", "extra", "unexpected word"),
    (f"a/b/light1 {SHOWCASE_FIRMWARE_ID}", "a/b/light1", "ProductKey/DeviceName"),
    (f"/light1 {SHOWCASE_FIRMWARE_ID}", "/light1", "ProductKey/DeviceName"),
    (f"light/ {SHOWCASE_FIRMWARE_ID}", "light/", "ProductKey/DeviceName"),
    (f"meter/light1 {SHOWCASE_FIRMWARE_ID} product=light", "product=light", "different product"),
    (
        f"device=light/light1 {SHOWCASE_FIRMWARE_ID} {SHOWCASE_FIRMWARE_ID}",
        SHOWCASE_FIRMWARE_ID,
        "unexpected",
    ),
    (f"light/light1 firmware={SHOWCASE_FIRMWARE_ID} version=1.0", "version=1.0", "not both"),
    ("light/light1 version=" + "9" * 65, "version=", "at most 64 printable"),
    ("light/light1 version=a\x00b", "version=a", "printable"),
    ("jobs", None, "missing DEVICE and FIRMWARE"),
    ("jobs light/light1", None, "missing FIRMWARE"),
    ("light/light1 page=2", "page=2", "does not apply to the device card"),
    ("light/light1 job", "job", "'job' is a keyword"),
    (f"light/light1 {SHOWCASE_FIRMWARE_ID} firmware", "firmware", "'firmware' is a keyword"),
    ("job", None, "missing JOBID"),
    ("job bad!id", "bad!id", "JobId"),
    (f"job {EXAMPLE_JOB_ID} page=2", "page=2", "add status=failed"),
    (f"job {EXAMPLE_JOB_ID} status=done", "status=done", "status=failed only"),
    (f"job {EXAMPLE_JOB_ID} version=1.0", "version=1.0", "does not apply to the job card"),
    (f"job {EXAMPLE_JOB_ID} light1 extra", "extra", "unexpected word"),
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
    assert parse_words(["light/light1"], SETTINGS, command="device") == DeviceQuery(
        LIGHT_PRODUCT_KEY, "light1"
    )
    problem = parse_words(["light/light1", SHOWCASE_FIRMWARE_ID], SETTINGS, command="device")
    assert problem == UsageProblem(
        "unexpected word (the device card takes DEVICE)", SHOWCASE_FIRMWARE_ID
    )
    assert parse_words([], SETTINGS, command="firmware") == UsageProblem(
        "no product: write firmware PRODUCT (a ProductKey or an alias) or add product=PK"
    )


# --- watch ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"watch {EXAMPLE_JOB_ID}", WatchQuery(EXAMPLE_JOB_ID)),
        (
            f"watch job={EXAMPLE_JOB_ID} product=light",
            WatchQuery(EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY),
        ),
        (f"WATCH {EXAMPLE_JOB_ID} instance=iot-1", WatchQuery(EXAMPLE_JOB_ID, None, "iot-1")),
        (f"watch `{EXAMPLE_JOB_ID}`", WatchQuery(EXAMPLE_JOB_ID)),
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
            f"watch {EXAMPLE_JOB_ID} light1",
            UsageProblem(
                "unexpected word (watching a job (the whole job: no device) takes JOB)", "light1"
            ),
        ),
        (
            f"watch {EXAMPLE_JOB_ID} device=light1",
            UsageProblem(
                "device= does not apply to watching a job (the whole job: no device)",
                "device=light1",
            ),
        ),
        (
            f"job {EXAMPLE_JOB_ID} watch",
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
    assert parse_text("device=watch product=light", SETTINGS) == DeviceQuery(
        LIGHT_PRODUCT_KEY, "watch"
    )


# --- the canonical text ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_a_query_reads_back_from_its_own_text(text: str, expected: Query) -> None:
    assert parse_value(query_text(expected), SETTINGS) == expected


def test_the_text_names_product_keys_not_aliases_and_every_option() -> None:
    query = parse_text(
        f"light/light1 {SHOWCASE_FIRMWARE_ID} status=done page=2 instance=iot-1", SETTINGS
    )
    assert isinstance(query, JobsQuery)
    assert (
        query_text(query) == f"jobs {LIGHT_PRODUCT_KEY}/light1 {SHOWCASE_FIRMWARE_ID}"
        " status=completed page=2 instance=iot-1"
    )
    assert command_line(query) == (
        "otabot", "jobs", f"{LIGHT_PRODUCT_KEY}/light1", SHOWCASE_FIRMWARE_ID, "status=completed",
        "page=2", "instance=iot-1"
    )  # fmt: skip


def test_the_device_card_text_needs_no_keyword() -> None:
    assert query_text(DeviceQuery(LIGHT_PRODUCT_KEY, "help")) == f"{LIGHT_PRODUCT_KEY}/help"
    assert parse_value(f"{LIGHT_PRODUCT_KEY}/help", SETTINGS) == DeviceQuery(
        LIGHT_PRODUCT_KEY, "help"
    )


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        7,
        "x" * 2001,
        f"jobs {LIGHT_PRODUCT_KEY}/<!channel> {SHOWCASE_FIRMWARE_ID}",
        f"jobs a\u00a0b/light1 {SHOWCASE_FIRMWARE_ID}",
        f"jobs {LIGHT_PRODUCT_KEY}/light1\n {SHOWCASE_FIRMWARE_ID}",
        f"jobs {LIGHT_PRODUCT_KEY}/light1 {SHOWCASE_FIRMWARE_ID}\n",
        f"jobs {LIGHT_PRODUCT_KEY}/light1 {SHOWCASE_FIRMWARE_ID} page=0",
        f"jobs {LIGHT_PRODUCT_KEY}/light1 {SHOWCASE_FIRMWARE_ID} status=PAUSED",
        f"jobs {LIGHT_PRODUCT_KEY}/light1 {SHOWCASE_FIRMWARE_ID} instance=iot-1\n",
        f"job {EXAMPLE_JOB_ID}\n",
    ],
)
def test_a_tampered_button_value_is_refused(value: object) -> None:
    assert isinstance(parse_value(value, SETTINGS), UsageProblem | HelpQuery)


def test_a_button_value_is_read_without_undoing_slack_formatting() -> None:
    """A version may hold characters Slack formatting would strip from typed text."""
    query = JobsQuery(LIGHT_PRODUCT_KEY, "light1", None, "2.0*rc`1")
    assert parse_value(query_text(query), SETTINGS) == query


# --- properties ------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_query_help_or_usage_problem(text: str) -> None:
    parsed = parse_text(text, WITH_DEFAULT)
    assert isinstance(parsed, Query | HelpQuery | UsageProblem)


TOKENS = [
    "light/light1", SHOWCASE_FIRMWARE_ID, EXAMPLE_JOB_ID, "1.2.0", "v2", "page=2",
    "status=completed", "status=failed", "instance=x-1", "jobs", "job", "firmware", "help",
    "`", "*", "_", "\u00a0",
    "<mailto:a@b.c|a@b.c>", "product=light", "device=zz", "version=beta", "=", "/",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=8))
def test_any_mix_of_grammar_tokens_reads_back_from_its_own_text(tokens: list[str]) -> None:
    parsed = parse_text(" ".join(tokens), SETTINGS)
    if not isinstance(parsed, UsageProblem | HelpQuery):
        assert parse_value(query_text(parsed), SETTINGS) == parsed
        assert len(query_text(parsed)) <= 2000
