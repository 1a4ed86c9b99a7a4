"""Logging: both formats carry the extra fields, and configured secrets never get out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from otabot.config import Settings
from otabot.logs import configure_logging


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


SECRET_ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "the-access-key-secret",
    "SLACK_BOT_TOKEN": "xoxb-the-bot-token",
    "SLACK_SIGNING_SECRET": "the-signing-secret",
}


def test_json_format_is_one_object_a_line_with_extras(restore_root_logger: None) -> None:
    stream = io.StringIO()
    configure_logging(
        Settings.from_env({"OTABOT_LOG_FORMAT": "json"}), stream=stream, long_running=True
    )
    logging.getLogger("otabot.audit").info("lookup", extra={"user": "U1", "upstream_calls": 1})
    record = json.loads(stream.getvalue().strip())
    assert record["message"] == "lookup"
    assert record["logger"] == "otabot.audit"
    assert (record["user"], record["upstream_calls"]) == ("U1", 1)


def test_text_format_appends_extras(restore_root_logger: None) -> None:
    stream = io.StringIO()
    configure_logging(Settings.from_env({}), stream=stream, long_running=True)
    logging.getLogger("otabot").warning("redis gone", extra={"backend": "redis"})
    line = stream.getvalue()
    assert "WARNING otabot: redis gone" in line
    assert 'backend="redis"' in line


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_configured_secrets_are_masked_at_debug(restore_root_logger: None, log_format: str) -> None:
    stream = io.StringIO()
    configure_logging(
        Settings.from_env(
            {**SECRET_ENV, "OTABOT_LOG_LEVEL": "DEBUG", "OTABOT_LOG_FORMAT": log_format}
        ),
        stream=stream,
    )
    logging.getLogger("urllib3").debug(
        "sent %s with %s", "xoxb-the-bot-token", {"secret": "the-access-key-secret"}
    )
    logging.getLogger("otabot").debug("header", extra={"sig": "the-signing-secret"})
    output = stream.getvalue()
    assert "***" in output
    for secret in ("the-access-key-secret", "xoxb-the-bot-token", "the-signing-secret"):
        assert secret not in output


def test_a_server_warns_of_each_otabot_variable_it_does_not_read(
    restore_root_logger: None,
) -> None:
    stream = io.StringIO()
    environ = {"OTABOT_REDIS_URI": "redis://127.0.0.1/0", "OTABOT_TEST_REDIS_URL": "x"}
    configure_logging(Settings.from_env(environ), stream=stream, long_running=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1  # the suite's own OTABOT_TEST_* is not otabot's to read
    assert lines[0].endswith(
        "WARNING otabot.config: OTABOT_REDIS_URI is set but is not a setting otabot reads "
        "— did you mean OTABOT_REDIS_URL?"
    )
