"""A device's ``DeviceSecret`` goes nowhere: not into a Slack post, a log line at DEBUG, the
CLI's JSON or a Redis value, though the API (here the emulator) sends it with every
``QueryDeviceDetail``.

One device card travels every way out: through the real Slack app (signed ``/ota``, its
Refresh and Share buttons) with Redis as the shared cache and every log record kept at
DEBUG, then through ``otabot device --json`` in its own process with
``OTABOT_LOG_LEVEL=DEBUG``; the secret is looked for in all of it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from otabot.config import Settings
from otabot.demo.slack_side import SlackSide
from otabot.emulator.fleet import LIGHT_PRODUCT_KEY, Fleet, sample_fleet
from otabot.emulator.server import EmulatorServer
from otabot.service import OtaService
from otabot.slack import ids
from tests.emulator.signed import call_action
from tests.helpers import BOT_TOKEN, SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET, SIGNING_SECRET
from tests.slack.conftest import harness_for
from tests.slack.test_with_emulator import buttons

DEVICE = "light1"
SECRET = "dEvIcE-sEcReT-0f4b7c2e9a1d6e3b8c5f"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def emulator_with_secret(emulator: EmulatorServer) -> EmulatorServer:
    """The sample fleet, with light1's DeviceSecret set to ``SECRET``."""
    fleet = sample_fleet().to_dict()
    for product in fleet["Products"]:
        for device in product["Devices"]:
            if device["DeviceName"] == DEVICE:
                device["DeviceSecret"] = SECRET
    emulator.set_fleet(Fleet.from_dict(fleet))
    return emulator


def environment(emulator: EmulatorServer, redis_url: str) -> dict[str, str]:
    return {
        "OTABOT_IOT_ENDPOINT": emulator.url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": SAMPLE_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SAMPLE_ACCESS_KEY_SECRET,
        "OTABOT_PRODUCT_ALIASES": f"light={LIGHT_PRODUCT_KEY}",
        "OTABOT_REDIS_URL": redis_url,
        "OTABOT_LOG_LEVEL": "DEBUG",
    }


def redis_values(url: str) -> list[str]:
    """Every key of the database and everything each one holds, whatever its type."""
    client = redis.Redis.from_url(url, decode_responses=True)
    readers = {
        "string": client.get,
        "hash": client.hgetall,
        "list": lambda key: client.lrange(key, 0, -1),
        "set": client.smembers,
        "zset": lambda key: client.zrange(key, 0, -1, withscores=True),
        "stream": client.xrange,
    }
    try:
        return [
            f"{key} = {readers[client.type(key)](key)!r}" for key in client.scan_iter(count=1000)
        ]
    finally:
        client.close()


def through_slack(settings: Settings, recorder: SlackSide) -> list[dict[str, Any]]:
    """``/ota light/light1`` as Slack sends it, then its Refresh and Share buttons."""
    service = OtaService.from_settings(settings)
    harness = harness_for(settings, service, recorder)
    try:
        harness.command(f"light/{DEVICE}")
        (card,) = recorder.wait_for_responses(1)
        harness.click(ids.ACTION_REFRESH, buttons(card)[ids.ACTION_REFRESH])
        harness.click(ids.ACTION_SHARE, buttons(card)[ids.ACTION_SHARE])
        recorder.wait_for_responses(3)
        harness.drain()
    finally:
        service.close()
    return [{"path": post.path, "body": post.body} for post in recorder.posts]


def through_the_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``otabot device light/light1 --json`` in its own process (its own logging)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OTABOT_", "ALIBABA_"))}
    return subprocess.run(
        [sys.executable, "-m", "otabot", "device", f"light/{DEVICE}", "--json"],
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_the_device_secret_reaches_no_post_log_line_json_or_redis_value(
    emulator_with_secret: EmulatorServer,
    redis_url: str,
    recorder: SlackSide,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator = emulator_with_secret
    answer = call_action(
        emulator.url, "QueryDeviceDetail", {"ProductKey": LIGHT_PRODUCT_KEY, "DeviceName": DEVICE}
    )
    assert SECRET in answer.text  # the API does send it
    env = environment(emulator, redis_url)
    slack = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": recorder.api_url,
    }
    settings = Settings.from_env({**env, **slack})
    caplog.set_level(settings.log_level)
    emulator.reset()

    posts = through_slack(settings, recorder)
    stored_by_the_app = redis_values(redis_url)
    redis.Redis.from_url(redis_url).flushdb()  # so the CLI asks the API too
    cli = through_the_cli(env)
    stored_by_the_cli = redis_values(redis_url)

    # Each way out really carried the device card, fetched from the API twice.
    assert emulator.stats()["by_action"]["QueryDeviceDetail"] == 3  # card, refresh, CLI
    shown = sorted(post["body"].get("response_type") for post in posts[-3:])
    assert shown == ["ephemeral", "ephemeral", "in_channel"]  # the card, refreshed, shared
    assert all(f"OTA · {DEVICE}" in json.dumps(post, ensure_ascii=False) for post in posts[-3:])
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["device"]["DeviceName"] == DEVICE
    for stored in (stored_by_the_app, stored_by_the_cli):
        assert any(f":result:device:{LIGHT_PRODUCT_KEY}|{DEVICE}" in value for value in stored)
    app_log = [repr(vars(record)) + record.getMessage() for record in caplog.records]
    assert any(record.levelno == logging.DEBUG for record in caplog.records)
    assert "QueryDeviceDetail" in caplog.text and " DEBUG " in cli.stderr

    assert [post for post in posts if SECRET in json.dumps(post)] == []
    assert [line for line in app_log if SECRET in line] == []
    assert SECRET not in caplog.text
    assert SECRET not in cli.stdout and SECRET not in cli.stderr
    assert [value for value in stored_by_the_app + stored_by_the_cli if SECRET in value] == []
