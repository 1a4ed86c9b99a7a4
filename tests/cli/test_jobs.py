"""``otabot jobs``: argument checks and rendering as functions, then end to end as a
subprocess against the in-process emulator."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest

from otabot.cli import jobs
from otabot.cli.process import UsageError
from otabot.clocks import utc_datetime
from otabot.config import Settings
from otabot.iot.errors import DeviceNotFoundError, FirmwareProductMismatchError, QuotaBusyError
from otabot.iot.models import JobStatus
from otabot.service import JobsLookup, JobsResult
from otabot.service.results import Provenance
from tests.service.fakes import FIRMWARE, PRODUCT, FakeClock, make_job

LIGHT = "a19mzPZabcd"
SHOWCASE = "FJFx8JzpnhpIsKftRjjm030100"
SETTINGS = replace(Settings(), product_aliases={"light": LIGHT}, default_product_key=None)


def args(device: str, firmware: str = FIRMWARE, **options: Any) -> argparse.Namespace:
    values = {"product": None, "instance": None, "status": None, "page": None, "json": False}
    values.update(options)
    return argparse.Namespace(device=device, firmware=firmware, **values)


def result_with(count: int, truncated: bool = False) -> JobsResult:
    statuses = ("IN_PROGRESS", "COMPLETED", "CANCELED")
    found = tuple(make_job(i, statuses[i % 3]) for i in reversed(range(count)))
    return JobsResult(
        found,
        count + (5 if truncated else 0),
        Provenance(utc_datetime(FakeClock().wall()), False, 1, ("REQ-1",)),
        lookup=JobsLookup(PRODUCT, "light1", FIRMWARE),
    )


def test_device_with_an_alias_resolves_to_its_product_key() -> None:
    assert jobs.build_lookup(args("light/light1"), SETTINGS) == JobsLookup(
        LIGHT, "light1", FIRMWARE
    )


def test_bare_device_takes_the_product_option_or_the_default_product() -> None:
    assert jobs.build_lookup(args("light1", product="light"), SETTINGS).product_key == LIGHT
    with_default = replace(SETTINGS, default_product_key="a1B2c3D4e5F")
    assert jobs.build_lookup(args("meter-01"), with_default).product_key == "a1B2c3D4e5F"


def test_bare_device_without_any_product_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no product"):
        jobs.build_lookup(args("light1"), SETTINGS)


def test_contradicting_products_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--product"):
        jobs.build_lookup(args("light/light1", product="a1B2c3D4e5F"), SETTINGS)


@pytest.mark.parametrize(
    ("device", "firmware", "instance", "complaint"),
    [
        ("light/li", FIRMWARE, None, "not a DeviceName"),
        ("light/light 1", FIRMWARE, None, "not a DeviceName"),
        ("bad key!/light1", FIRMWARE, None, "not a ProductKey"),
        ("light/light1", "FW;drop", None, "not a FirmwareId"),
        ("light/light1", FIRMWARE, "inst/1", "not an IotInstanceId"),
    ],
)
def test_malformed_names_are_usage_errors(
    device: str, firmware: str, instance: str | None, complaint: str
) -> None:
    with pytest.raises(UsageError, match=complaint):
        jobs.build_lookup(args(device, firmware, instance=instance), SETTINGS)


def test_instance_defaults_to_the_configured_one() -> None:
    settings = replace(SETTINGS, iot_instance_id="iot-cn-0pp1")
    assert jobs.build_lookup(args("light/light1"), settings).iot_instance_id == "iot-cn-0pp1"


def test_table_lists_every_job_newest_first_with_a_summary() -> None:
    out = io.StringIO()
    jobs.print_table(result_with(7), None, None, 5, out)
    lines = out.getvalue().splitlines()
    assert lines[1].split() == [
        "STATUS", "JOB", "ID", "TYPE", "SELECTION", "TARGET", "CREATED", "STARTED", "ENDED", "TAGS"
    ]  # fmt: skip
    assert [line.split()[1] for line in lines[2:9]] == [f"Job0000000{i}" for i in range(6, -1, -1)]
    assert lines[9].startswith("7 jobs: 2 CANCELED, 2 COMPLETED, 3 IN_PROGRESS")


def test_table_page_shows_one_page_and_says_which() -> None:
    out = io.StringIO()
    jobs.print_table(result_with(12), None, 3, 5, out)
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines[2:-1]] == ["Job00000001", "Job00000000"]
    assert "page 3 of 3" in lines[-1]


def test_table_page_past_the_end_says_the_last_page_is_shown() -> None:
    out = io.StringIO()
    jobs.print_table(result_with(12), None, 99, 5, out)
    last = out.getvalue().splitlines()[-1]
    assert "page 3 of 3 · there is no page 99, so the last one is shown" in last


def test_table_page_of_a_single_page_result_still_names_the_page() -> None:
    out = io.StringIO()
    jobs.print_table(result_with(3), None, 1, 5, out)
    assert "page 1 of 1" in out.getvalue().splitlines()[-1]


def test_status_filter_keeps_only_that_status() -> None:
    out = io.StringIO()
    jobs.print_table(result_with(9), JobStatus.CANCELED, None, 5, out)
    rows = out.getvalue().splitlines()[2:-1]
    assert {row.split()[0] for row in rows} == {"CANCELED"} and len(rows) == 3
    assert "3 CANCELED shown" in out.getvalue()


def test_summary_notes_truncation() -> None:
    assert "OTABOT_MAX_JOBS" in jobs.summary(result_with(3, truncated=True), None, 1, 1)


def test_table_escapes_terminal_control_characters_from_the_api() -> None:
    job = replace(make_job(1), tags=(("note", "\x1b[31mred\x1b[0m"),))
    result = replace(result_with(0), jobs=(job,), total=1)
    out = io.StringIO()
    jobs.print_table(result, None, None, 5, out)
    assert "\x1b" not in out.getvalue() and "\\x1b[31mred" in out.getvalue()


def test_json_keeps_the_apis_field_names() -> None:
    out = io.StringIO()
    jobs.print_json(result_with(2), None, None, 5, out)
    document = json.loads(out.getvalue())
    assert list(document) == [
        "product_key", "device_name", "firmware_id", "iot_instance_id", "total", "jobs"
    ]  # fmt: skip
    assert document["jobs"][0]["JobId"] == "Job00000001"
    assert document["jobs"][0]["Tags"] == [{"Key": "team", "Value": "ops"}]


def test_errors_are_described_in_words_with_the_request_id() -> None:
    query = JobsLookup(LIGHT, "light9", FIRMWARE)
    missing = DeviceNotFoundError("x", code="iot.device.NotExistedDevice", request_id="R1")
    assert jobs.describe_error(missing, query) == (
        f"device light9 not found in product {LIGHT} [iot.device.NotExistedDevice] (RequestId R1)"
    )
    mismatch = FirmwareProductMismatchError("x", code="c", request_id="R2")
    assert "does not belong to product" in jobs.describe_error(mismatch, query)
    busy = QuotaBusyError("no slot", retry_after=3.0)
    assert jobs.describe_error(busy, query).startswith("IoT API busy, try again in 3 s")


# End to end: the real command in a subprocess, against the in-process emulator.


def otabot_jobs(emulator_url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "OTABOT_IOT_ENDPOINT": emulator_url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "testid",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "testsecret",
        "OTABOT_PRODUCT_ALIASES": "light=a19mzPZabcd,meter=a1B2c3D4e5F",
    }
    return subprocess.run(
        [sys.executable, "-m", "otabot", "jobs", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_jobs_prints_a_table_of_the_devices_jobs(emulator: Any) -> None:
    done = otabot_jobs(emulator.url, "light/light1", SHOWCASE)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("OTA jobs · light1")
    assert len(lines) == 2 + 14 + 1
    assert lines[-1].startswith("14 jobs: ")
    created = [line.split()[5] for line in lines[2:-1]]
    assert created == sorted(created, reverse=True)


@pytest.mark.slow
def test_jobs_json_is_one_object_with_every_job(emulator: Any) -> None:
    done = otabot_jobs(emulator.url, "light1", SHOWCASE, "--product", LIGHT, "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["product_key"], document["device_name"]) == (LIGHT, "light1")
    assert document["total"] == 14 and len(document["jobs"]) == 14
    assert {"JobId", "JobStatus", "UtcCreate", "Tags"} <= set(document["jobs"][0])


@pytest.mark.slow
def test_jobs_for_an_unknown_device_fails_in_one_line_with_the_request_id(emulator: Any) -> None:
    done = otabot_jobs(emulator.url, "light/nosuchdevice", SHOWCASE)
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "device nosuchdevice not found in product a19mzPZabcd" in line
    assert "RequestId" in line and "RequestId none" not in line


@pytest.mark.slow
def test_jobs_with_a_malformed_device_is_a_usage_error_without_a_call(emulator: Any) -> None:
    done = otabot_jobs(emulator.url, "light/x", SHOWCASE)
    assert done.returncode == 2
    assert "not a DeviceName" in done.stderr
    assert emulator.stats()["calls"] == 0


@pytest.mark.slow
def test_jobs_against_a_running_otabot_emulator_command() -> None:
    """Both real commands, each its own process: `otabot emulator`, then `otabot jobs`."""
    emulator = subprocess.Popen(
        [sys.executable, "-m", "otabot", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().split()[3]
        assert url.startswith("http://127.0.0.1:")
        table = otabot_jobs(url, "light/light1", SHOWCASE, "--page", "1")
        assert table.returncode == 0, table.stderr
        assert "page 1 of 3" in table.stdout
        done = otabot_jobs(url, "light/light1", SHOWCASE, "--json", "--status", "in_progress")
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        assert document["device_name"] == "light1"
        assert document["jobs"]
        assert {job["JobStatus"] for job in document["jobs"]} == {"IN_PROGRESS"}
        missing = otabot_jobs(url, "light/nosuchdevice", SHOWCASE)
        assert missing.returncode == 1
        assert "iot.device.NotExistedDevice" in missing.stderr
        emulator.terminate()
        assert emulator.wait(timeout=10) == 0
    finally:
        if emulator.poll() is None:
            emulator.kill()
            emulator.wait(timeout=5)
        for stream in (emulator.stdout, emulator.stderr):
            if stream is not None:
                stream.close()
