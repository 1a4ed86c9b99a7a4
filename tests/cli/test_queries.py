"""``otabot device | jobs | job | firmware``: in-process over the recording service (tables,
JSON, errors, partial answers, exit codes), then end to end as subprocesses against the
emulator."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest

from otabot.cli import main
from otabot.iot.models import TaskStatus
from otabot.query.statuses import TASK_STATUS_ORDER
from tests.helpers import (
    EXAMPLE_JOB_ID,
    LIGHT_PRODUCT_KEY,
    ROLLOUT_JOB_ID,
    SHOWCASE_FIRMWARE_ID,
    ReadyProcess,
    sample_env,
)
from tests.world import ENV, RecordingService, fleet


@dataclasses.dataclass
class Ran:
    code: int
    out: str
    err: str
    service: RecordingService

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.out)
        return loaded


@pytest.fixture
def otabot(capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*argv: str, service: RecordingService | None = None) -> Ran:
        used = service or RecordingService()
        code = main(list(argv), environ=ENV, open_service=lambda settings: used)
        out, err = capsys.readouterr()
        return Ran(code, out, err, used)

    return run


# --- jobs -------------------------------------------------------------------------------


def test_jobs_lists_every_job_newest_first_with_counts_in_status_order(otabot: Any) -> None:
    ran = otabot("jobs", "light/light1", SHOWCASE_FIRMWARE_ID)
    assert (ran.code, ran.err) == (0, "")
    assert ran.lines[0] == (
        f"OTA jobs · light1 · product {LIGHT_PRODUCT_KEY} · firmware {SHOWCASE_FIRMWARE_ID}"
        " · default instance"
    )
    assert ran.lines[1].split()[:3] == ["STATUS", "JOB", "ID"]
    assert [line.split()[1] for line in ran.lines[2:-1]] == [f"J{i:04d}" for i in range(11, -1, -1)]
    assert ran.lines[-1] == (
        "12 jobs: 4 in progress, 4 completed, 4 canceled · fetched 00:16:40 UTC · times in UTC"
    )


def test_jobs_page_shows_one_page_and_says_which(otabot: Any) -> None:
    ran = otabot("jobs", "light/light1", SHOWCASE_FIRMWARE_ID, "--page", "3")
    assert [line.split()[1] for line in ran.lines[2:-1]] == ["J0001", "J0000"]
    assert "· page 3 of 3 ·" in ran.lines[-1]


def test_jobs_page_past_the_end_says_the_last_page_is_shown(otabot: Any) -> None:
    ran = otabot("jobs", "light/light1", SHOWCASE_FIRMWARE_ID, "page=99")
    assert "page 3 of 3 (there is no page 99; this is the last page)" in ran.lines[-1]


@pytest.mark.parametrize("status", ["done", "completed", "COMPLETE", "status=done"])
def test_jobs_status_takes_the_words_ota_takes(otabot: Any, status: str) -> None:
    argv = [status] if "=" in status else ["--status", status]
    ran = otabot("jobs", "light/light1", SHOWCASE_FIRMWARE_ID, *argv)
    rows = ran.lines[2:-1]
    assert {row.split()[0] for row in rows} == {"COMPLETED"} and len(rows) == 4
    assert "showing only completed (4)" in ran.lines[-1]


def test_jobs_of_a_version_say_which_firmware_it_was(otabot: Any) -> None:
    ran = otabot("jobs", "light/light1", "v1.2.0")
    assert ran.code == 0
    assert ran.lines[1] == f"version v1.2.0 (as 1.2.0) is firmware {SHOWCASE_FIRMWARE_ID}"


def test_jobs_json_keeps_the_documented_keys_and_says_how_the_list_was_cut(otabot: Any) -> None:
    document = otabot(
        "jobs", "light/light1", SHOWCASE_FIRMWARE_ID, "--json", "--status", "running"
    ).json()
    assert list(document)[:6] == [
        "product_key", "device_name", "firmware_id", "iot_instance_id", "total", "jobs"
    ]  # fmt: skip
    assert (document["product_key"], document["device_name"]) == (LIGHT_PRODUCT_KEY, "light1")
    assert document["total"] == 4 and document["total_unfiltered"] == 12
    assert {job["JobStatus"] for job in document["jobs"]} == {"IN_PROGRESS"}
    assert document["status"] == "in_progress"
    assert (document["fetched"], document["truncated"]) == (12, False)
    assert (document["page"], document["pages"], document["page_size"]) == (None, None, None)
    assert "firmware_version" not in document
    assert set(document["jobs"][0]) >= {"JobId", "JobStatus", "UtcCreate", "Tags"}


def test_jobs_json_carries_the_page_and_the_version(otabot: Any) -> None:
    document = otabot("jobs", "light/light1", "1.2.0", "--json", "--page", "2").json()
    assert (
        document["firmware_version"] == "1.2.0" and document["firmware_id"] == SHOWCASE_FIRMWARE_ID
    )
    assert (document["page"], document["pages"], document["page_size"]) == (2, 3, 5)
    assert [job["JobId"] for job in document["jobs"]] == [f"J{i:04d}" for i in range(6, 1, -1)]


def test_jobs_json_says_when_otabot_max_jobs_cut_the_list(otabot: Any) -> None:
    capped = RecordingService(max_items=5)
    ran = otabot(
        "jobs", "light/light1", SHOWCASE_FIRMWARE_ID, "--json", "--status", "done", service=capped
    )
    document = ran.json()
    assert (document["fetched"], document["truncated"], document["total_unfiltered"]) == (
        5,
        True,
        12,
    )
    assert document["total"] == len(document["jobs"]) == 2  # of the 5 fetched


def test_the_table_says_when_otabot_max_jobs_cut_the_list(otabot: Any) -> None:
    ran = otabot(
        "jobs", "light/light1", SHOWCASE_FIRMWARE_ID, service=RecordingService(max_items=5)
    )
    assert (
        "showing 5 of 12 jobs: the first 5 the API listed, newest first "
        "(OTABOT_MAX_JOBS cut the rest, which may hold newer ones)" in ran.lines[-1]
    )


def test_a_version_of_several_packages_exits_2_listing_the_candidates(otabot: Any) -> None:
    ran = otabot("jobs", "light/light1", "2.5.0")
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        f"otabot jobs: Version 2.5.0 of product {LIGHT_PRODUCT_KEY} names 2 packages — which one? "
        "Re-run with one FirmwareId: FWdelta (module default, delta 1.0.0 → 2.5.0), "
        "FWfull (module default, full)\n"
    )


def test_a_version_no_package_has_exits_1_with_the_newest_versions(otabot: Any) -> None:
    ran = otabot("jobs", "light/light1", "9.9.9")
    assert ran.code == 1
    assert ran.err == (
        f"otabot jobs: No firmware package of product {LIGHT_PRODUCT_KEY} has version 9.9.9. "
        "Newest versions: v3.0.0, 2.5.0, 1.2.0.\n"
    )


def test_jobs_of_a_firmware_package_without_a_device(otabot: Any) -> None:
    ran = otabot("jobs", f"firmware={SHOWCASE_FIRMWARE_ID}", "--product", "light", "--json")
    document = ran.json()
    assert document["device_name"] is None and document["total"] == 12
    assert ran.service.calls[0][0] == "firmware_jobs"


def test_flags_may_come_before_after_or_between_the_words(otabot: Any) -> None:
    for argv in (
        ["--status", "done", "light/light1", SHOWCASE_FIRMWARE_ID],
        ["light/light1", "--status", "done", SHOWCASE_FIRMWARE_ID],
        ["light/light1", SHOWCASE_FIRMWARE_ID, "--status", "done"],
    ):
        assert otabot("jobs", *argv).code == 0


def test_an_unknown_flag_is_one_line_naming_the_command(otabot: Any) -> None:
    ran = otabot("jobs", "light/light1", SHOWCASE_FIRMWARE_ID, "--bogus")
    assert (ran.code, ran.err) == (2, "otabot jobs: unrecognized arguments: --bogus\n")


@pytest.mark.parametrize("argv", [("watch", EXAMPLE_JOB_ID), ("watch",), ("watch", "--help")])
def test_watch_says_it_is_slack_only_and_calls_nothing(otabot: Any, argv: tuple[str, ...]) -> None:
    ran = otabot(*argv)
    assert ran.code == 2 and ran.out == ""
    assert ran.err.startswith("otabot watch: watching is for Slack: /ota watch JOBID")
    assert "otabot job JOBID" in ran.err and ran.err.count("\n") == 1
    assert ran.service.calls == []


def test_help_as_a_word_prints_the_commands_help(otabot: Any) -> None:
    ran = otabot("job", "help")
    assert ran.code == 0 and ran.out.startswith("usage: otabot job")
    assert ran.service.calls == []


def test_api_text_is_escaped_for_the_terminal(otabot: Any) -> None:
    source = fleet()
    evil = dataclasses.replace(
        source.firmware_jobs[SHOWCASE_FIRMWARE_ID][0], tags=(("note", "\x1b[31mred"),)
    )
    source.firmware_jobs[SHOWCASE_FIRMWARE_ID] = [evil]
    ran = otabot("jobs", "light/light1", SHOWCASE_FIRMWARE_ID, service=RecordingService(source))
    assert "\x1b" not in ran.out and "\\x1b[31mred" in ran.out


# --- the device card --------------------------------------------------------------------


def test_device_shows_its_status_and_the_update_running_on_it(otabot: Any) -> None:
    ran = otabot("device", "light/light1")
    assert (ran.code, ran.err) == (0, "")
    assert (
        ran.lines[0]
        == f"OTA · light1 · product Smart light ({LIGHT_PRODUCT_KEY}) · default instance"
    )
    assert ran.lines[1] == (
        "device  online · firmware 1.1.0 · last online 2024-01-01 05:00:00 · nickname lobby"
    )
    assert ran.lines[2].split() == ["STATUS", "MODULE", "VERSIONS", "JOB", "ID", "SINCE"]
    assert ran.lines[3].split()[:5] == ["IN_PROGRESS", "default", "1.1.0", "→", "1.2.0"]
    assert EXAMPLE_JOB_ID in ran.lines[3]


def test_device_without_an_update_says_so(otabot: Any) -> None:
    assert (
        "No OTA update is pending or running on this device."
        in otabot("device", "light2", "--product", "light").out
    )


def test_device_json_is_the_documented_object_without_the_device_secret(otabot: Any) -> None:
    document = otabot("device", "light/light1", "--json").json()
    assert list(document) == [
        "product_key", "device_name", "iot_instance_id", "device", "tasks", "missing"
    ]  # fmt: skip
    assert document["device"]["Status"] == "ONLINE" and "DeviceSecret" not in document["device"]
    assert [task["TaskStatus"] for task in document["tasks"]] == ["IN_PROGRESS"]
    assert document["missing"] == []


def test_a_device_card_without_query_device_detail_is_partial_and_exits_1(otabot: Any) -> None:
    source = fleet()
    source.forbidden.add("QueryDeviceDetail")
    ran = otabot("device", "light/light1", service=RecordingService(source))
    assert ran.code == 1
    assert "device  (not readable)" in ran.lines
    assert ran.lines[3].startswith("IN_PROGRESS")
    assert ran.err == (
        "otabot device: partial answer: otabot may not read this device's details: ask your "
        "otabot admin to allow iot:QueryDeviceDetail in otabot's RAM policy.\n"
    )


def test_a_partial_device_card_in_json_says_what_is_missing(otabot: Any) -> None:
    source = fleet()
    source.forbidden.add("QueryDeviceDetail")
    ran = otabot("device", "light/light1", "--json", service=RecordingService(source))
    document = ran.json()
    assert ran.code == 1 and document["device"] is None and len(document["tasks"]) == 1
    [missing] = document["missing"]
    assert (missing["part"], missing["action"]) == ("device", "QueryDeviceDetail")
    assert missing["code"] == "iot.common.RamActionPermissionDeny"


def test_an_unknown_device_is_one_line_in_words_with_the_request_id(otabot: Any) -> None:
    ran = otabot("device", "light/nosuch")
    assert (ran.code, ran.out) == (1, "")
    assert ran.err == (
        f"otabot device: Device nosuch not found in product {LIGHT_PRODUCT_KEY}. DeviceNames are "
        "case-sensitive: check the name and the product. [iot.device.NotExistedDevice]\n"
    )


# --- the job card -----------------------------------------------------------------------


def test_job_shows_the_rollout_and_the_devices_task(otabot: Any) -> None:
    ran = otabot("job", EXAMPLE_JOB_ID, "--device", "light1")
    assert ran.code == 0
    assert (
        ran.lines[0]
        == f"OTA job · {EXAMPLE_JOB_ID} · product {LIGHT_PRODUCT_KEY} · default instance"
    )
    fields = dict(line.split(None, 1) for line in ran.lines[1:-1])
    assert fields["status"].startswith("IN_PROGRESS · running for")
    assert fields["package"] == f"light-fw · 1.0.0 → 1.2.0 · firmware {SHOWCASE_FIRMWARE_ID}"
    assert fields["tasks"] == "33 succeeded · 3 failed · 4 in progress … of 40"
    assert fields["device"] == "light1: IN_PROGRESS · 40 % · 1.1.0 → 1.2.0"
    assert fields["retries"] == "1 retry every 60 min · timeout 1440 min"


def test_job_json_has_all_seven_task_statuses_in_the_one_order(otabot: Any) -> None:
    document = otabot("job", EXAMPLE_JOB_ID, "--device", "light1", "--json").json()
    assert list(document)[:4] == ["iot_instance_id", "job", "task_counts", "device_task"]
    assert list(document["task_counts"]) == list(TASK_STATUS_ORDER)
    assert len(TASK_STATUS_ORDER) == len(TaskStatus) == 7
    assert document["task_counts"]["FAILED"] == 3
    assert document["device_task"]["DeviceName"] == "light1"
    assert document["job"]["SrcVersions"] == ["1.0.0"] and isinstance(document["job"]["Tags"], list)
    assert "failed" not in document


def test_job_failed_lists_the_failed_devices_with_their_reasons(otabot: Any) -> None:
    ran = otabot("job", EXAMPLE_JOB_ID, "--failed")
    assert ran.code == 0
    start = ran.lines.index("failed devices: 3")
    assert ran.lines[start + 1].split() == ["DEVICE", "PROGRESS", "VERSIONS", "FAILED", "REASON"]
    rows = ran.lines[start + 2 :]
    assert [row.split()[0] for row in rows] == ["lamp0006", "lamp0005", "lamp0004"]
    assert rows[0].endswith("download timed out") and rows[1].endswith("insufficient storage")


def test_job_failed_json_lists_them_all_with_the_total(otabot: Any) -> None:
    document = otabot("job", EXAMPLE_JOB_ID, "--failed", "--json").json()
    assert document["total_failed"] == 3 and len(document["failed"]) == 3
    assert {task["TaskDesc"] for task in document["failed"]} == {
        "download timed out", "signature verification failed", "insufficient storage"
    }  # fmt: skip
    assert document["page"] is None


def test_a_job_card_without_list_ota_task_by_job_is_partial_and_exits_1(otabot: Any) -> None:
    source = fleet()
    source.forbidden.add("ListOTATaskByJob")
    ran = otabot("job", EXAMPLE_JOB_ID, "--json", service=RecordingService(source))
    assert ran.code == 1 and ran.json()["task_counts"] is None
    assert "allow iot:ListOTATaskByJob" in ran.err and ran.err.count("\n") == 1


def test_an_unknown_job_is_said_with_what_to_try(otabot: Any) -> None:
    ran = otabot("job", "NOSUCHJOB")
    assert ran.code == 1
    assert ran.err.startswith("otabot job: Job NOSUCHJOB not found. Check the JobId")


# --- firmware ---------------------------------------------------------------------------


def test_firmware_lists_the_products_packages_newest_first(otabot: Any) -> None:
    ran = otabot("firmware", "--product", "light")
    assert ran.code == 0
    assert (
        ran.lines[0]
        == f"Firmware · {LIGHT_PRODUCT_KEY} · product {LIGHT_PRODUCT_KEY} · default instance"
    )
    assert [line.split()[-1] for line in ran.lines[2:-1]] == [
        "FWv3",
        "FWdelta",
        "FWfull",
        SHOWCASE_FIRMWARE_ID,
    ]
    assert "1.0.0 → 2.5.0" in ran.lines[3] and "delta" in ran.lines[3]
    assert ran.lines[-1].startswith("4 packages · fetched")


def test_firmware_json_is_the_documented_object(otabot: Any) -> None:
    document = otabot("firmware", "light", "--json", "--version", "2.5.0").json()
    assert list(document)[:4] == ["product_key", "iot_instance_id", "total", "firmwares"]
    assert document["total"] == 2 and document["version"] == "2.5.0"
    assert {f["FirmwareId"] for f in document["firmwares"]} == {"FWfull", "FWdelta"}
    assert {f["Type"] for f in document["firmwares"]} == {0, 1}


# --- end to end: the real command in a subprocess, against the emulator ----------------


def otabot_process(emulator_url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otabot", *argv],
        env=sample_env(emulator_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_jobs_prints_a_table_of_the_devices_jobs(emulator: Any) -> None:
    done = otabot_process(emulator.url, "jobs", "light/light1", SHOWCASE_FIRMWARE_ID)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("OTA jobs · light1")
    assert len(lines) == 2 + 14 + 1
    assert lines[-1].startswith("14 jobs: 3 in progress, 7 completed, 4 canceled · fetched ")
    created = [line.split()[5] for line in lines[2:-1]]
    assert created == sorted(created, reverse=True)


@pytest.mark.slow
def test_jobs_json_is_one_object_with_every_job(emulator: Any) -> None:
    done = otabot_process(
        emulator.url,
        "jobs",
        "light1",
        SHOWCASE_FIRMWARE_ID,
        "--product",
        LIGHT_PRODUCT_KEY,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["product_key"], document["device_name"]) == (LIGHT_PRODUCT_KEY, "light1")
    assert document["total"] == 14 and len(document["jobs"]) == 14


@pytest.mark.slow
def test_jobs_for_an_unknown_device_fails_in_one_line_with_the_request_id(emulator: Any) -> None:
    done = otabot_process(emulator.url, "jobs", "light/nosuchdevice", SHOWCASE_FIRMWARE_ID)
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(
        f"otabot jobs: Device nosuchdevice not found in product {LIGHT_PRODUCT_KEY}."
    )
    assert "RequestId" in line and "RequestId none" not in line


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ("jobs", "light/x", SHOWCASE_FIRMWARE_ID),
            "otabot jobs: light/x: a DeviceName is 4 to 32",
        ),
        (
            ("jobs", "lamp/light1", SHOWCASE_FIRMWARE_ID),
            "otabot jobs: lamp/light1: 'lamp' is neither",
        ),
        (("device", "light/light 1"), "otabot device: light/light 1: a DeviceName is"),
        (("device", "lamp/light1"), "otabot device: lamp/light1: 'lamp' is neither"),
        (("job", "bad!id"), "otabot job: bad!id: a JobId is"),
        (("job", EXAMPLE_JOB_ID, "--page", "2"), "otabot job: --page 2: page= pages"),
        (("firmware", "lamp"), "otabot firmware: lamp: 'lamp' is neither"),
        (("jobs", "light/light1", "v" + "9" * 70), "otabot jobs: v999"),
    ],
)
def test_bad_input_is_a_usage_error_without_a_call(
    emulator: Any, argv: tuple[str, ...], said: str
) -> None:
    done = otabot_process(emulator.url, *argv)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(said)
    assert emulator.stats()["calls"] == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ("device", "light/light1", "--json"),
        ("job", ROLLOUT_JOB_ID, "--failed", "--json"),
        ("firmware", "light", "--json"),
    ],
)
def test_the_device_first_commands_answer_against_the_emulator(
    emulator: Any, argv: tuple[str, ...]
) -> None:
    done = otabot_process(emulator.url, *argv)
    if "InvalidAction.NotFound" in done.stderr:
        pytest.skip(f"this emulator does not answer the action behind otabot {argv[0]} yet")
    assert done.returncode in (0, 1), done.stderr
    document = json.loads(done.stdout)
    assert "iot_instance_id" in document
    if done.returncode == 1:
        assert done.stderr.startswith(f"otabot {argv[0]}: ")


@pytest.mark.slow
def test_jobs_against_a_running_otabot_emulator_command() -> None:
    """Both real commands, each its own process: `otabot emulator`, then `otabot jobs`."""
    with ReadyProcess.otabot("emulator", "--port", "0") as emulator:
        url = emulator.wait_for("").split()[3]  # its first line names its URL
        assert url.startswith("http://127.0.0.1:")
        table = otabot_process(url, "jobs", "light/light1", SHOWCASE_FIRMWARE_ID, "--page", "1")
        assert table.returncode == 0, table.stderr
        assert "page 1 of 3" in table.stdout
        done = otabot_process(
            url, "jobs", "light/light1", SHOWCASE_FIRMWARE_ID, "--json", "--status", "done"
        )
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        assert document["device_name"] == "light1" and document["status"] == "completed"
        assert {job["JobStatus"] for job in document["jobs"]} == {"COMPLETED"}
        missing = otabot_process(url, "jobs", "light/nosuchdevice", SHOWCASE_FIRMWARE_ID)
        assert missing.returncode == 1
        assert "iot.device.NotExistedDevice" in missing.stderr
        assert emulator.stop(grace=10) == 0


def test_a_misspelled_setting_is_named_on_stderr_and_the_lookup_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = {**ENV, "OTABOT_DEFAULT_PRODUCTKEY": "a1B2c3D4e5F"}
    code = main(
        ["firmware", "light"], environ=environ, open_service=lambda settings: RecordingService()
    )
    out, err = capsys.readouterr()
    assert code == 0 and out
    assert err == (
        "otabot firmware: warning: OTABOT_DEFAULT_PRODUCTKEY is set but is not a setting "
        "otabot reads — did you mean OTABOT_DEFAULT_PRODUCT_KEY?\n"
    )
