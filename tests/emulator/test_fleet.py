"""Fleet files: the format, its defaults, refusals naming file and entry, the sample fleet."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from otabot.emulator.fleet import ROLLOUT_JOB_ID, Fleet, FleetError, load_fleet, sample_fleet
from tests.helpers import (
    EXAMPLE_JOB_ID,
    LIGHT_PRODUCT_KEY,
    METER_FIRMWARE_ID,
    METER_PRODUCT_KEY,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)


def spec_fleet() -> dict[str, Any]:
    """A fleet file of the format's first version (no field beyond it)."""
    return {
        "AccessKeys": {SAMPLE_ACCESS_KEY_ID: SAMPLE_ACCESS_KEY_SECRET},
        "IotInstanceId": None,
        "Products": [{"ProductKey": LIGHT_PRODUCT_KEY, "Devices": ["light1", "light2"]}],
        "Firmwares": [{"FirmwareId": SHOWCASE_FIRMWARE_ID, "ProductKey": LIGHT_PRODUCT_KEY}],
        "Jobs": [
            {
                "JobId": EXAMPLE_JOB_ID,
                "FirmwareId": SHOWCASE_FIRMWARE_ID,
                "ProductKey": LIGHT_PRODUCT_KEY,
                "JobStatus": "IN_PROGRESS",
                "JobType": "UPGRADE_FIRMWARE",
                "SelectionType": "STATIC",
                "TargetSelection": "SPECIFIC",
                "UtcCreate": "2019-12-28T02:43:10.000Z",
                "UtcModified": "2019-12-28T02:43:10.000Z",
                "UtcStartTime": "2019-12-28T02:43:10.000Z",
                "UtcEndTime": None,
                "Tags": [{"Key": "key1", "Value": "value1"}],
                "Devices": ["light1"],
            }
        ],
    }


def full_fleet() -> dict[str, Any]:
    """A fleet file with every field of the format: the first version's, filled in."""
    data = spec_fleet()
    product, firmware, job = data["Products"][0], data["Firmwares"][0], data["Jobs"][0]
    product["ProductName"] = "Smart light"
    product["Devices"][0] = {
        "DeviceName": "light1",
        "Status": "ONLINE",
        "FirmwareVersion": "1.1.0",
        "IotId": "Q7uOhVRdZRRlDnTLv****00100",
        "DeviceSecret": "not-a-real-secret",
        "Nickname": "lobby",
        "UtcOnline": "2019-12-28T02:40:00.000Z",
    }
    product["Devices"].reverse()  # light2 by name first, then light1 as an object
    firmware.update(
        FirmwareName="light-fw",
        DestVersion="1.2.0",
        SrcVersion=None,
        ModuleName="default",
        Type=0,
        Status=1,
        FirmwareSize=1048576,
        FirmwareDesc="dimming fix",
        UtcCreate="2019-12-20T02:43:10.000Z",
    )
    job.update(
        JobDesc="first wave",
        SrcVersions=["1.1.0"],
        GrayPercent=None,
        RetryCount=1,
        RetryInterval=60,
        TimeoutInMinutes=1440,
        UtcScheduleTime=None,
    )
    job["Devices"] = [
        "light2",
        {
            "DeviceName": "light1",
            "TaskId": "y3tOmCDNgpR8F9jnVEzC01200",
            "TaskStatus": "FAILED",
            "Progress": "40",
            "TaskDesc": "download timed out",
            "SrcVersion": "1.0.9",
            "UtcModified": "2019-12-28T03:00:00.000Z",
        },
    ]
    return data


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def test_the_spec_example_loads(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, spec_fleet()))
    assert (
        fleet.jobs_for(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)[0].job_id
        == EXAMPLE_JOB_ID
    )
    assert fleet.jobs_for(LIGHT_PRODUCT_KEY, "light2", SHOWCASE_FIRMWARE_ID) == []


def test_a_json_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text('{\n  "AccessKeys": {"testid": "testsecret"}\n  "Products": []\n}\n')
    with pytest.raises(FleetError) as raised:
        load_fleet(path)
    assert str(raised.value).startswith(f"{path} line 3 column 3: Expecting ','")


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match=r"nope\.json: cannot read"):
        load_fleet(tmp_path / "nope.json")


def mutate(path: str, value: object) -> dict[str, Any]:
    """The full example with one entry replaced (``path`` like ``Jobs.0.FirmwareId``)."""
    data = full_fleet()
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("Jobs.0.FirmwareId", "FWnope", "Jobs[0].FirmwareId: unknown firmware 'FWnope'"),
        ("Jobs.0.Devices", ["light7"], "Jobs[0].Devices[0]: unknown device 'light7'"),
        ("Jobs.0.Devices", ["light2", "light2"], "Jobs[0].Devices[1]: duplicate 'light2'"),
        ("Jobs.0.Devices.1.TaskStatus", "DONE", "Jobs[0].Devices[1].TaskStatus: must be one of"),
        ("Jobs.0.Devices.1.Progress", "140", "Jobs[0].Devices[1].Progress: must be a percentage"),
        ("Jobs.0.Devices.1.Progress", True, "Jobs[0].Devices[1].Progress: must be a percentage"),
        ("Jobs.0.Devices.1.TaskId", "a b", "Jobs[0].Devices[1].TaskId: malformed value"),
        ("Jobs.0.Devices.1.Colour", "red", "Jobs[0].Devices[1].Colour: unknown field"),
        ("Jobs.0.Devices.1.UtcModified", "now", "Jobs[0].Devices[1].UtcModified: not a UTC"),
        ("Jobs.0.RetryCount", -1, "Jobs[0].RetryCount: must be a whole number"),
        ("Jobs.0.TimeoutInMinutes", "1440", "Jobs[0].TimeoutInMinutes: must be a whole number"),
        ("Jobs.0.GrayPercent", "half", "Jobs[0].GrayPercent: must be a percentage"),
        ("Jobs.0.SrcVersions", ["1.1.0", "1 2"], "Jobs[0].SrcVersions[1]: malformed value"),
        ("Jobs.0.UtcScheduleTime", "soon", "Jobs[0].UtcScheduleTime: not a UTC time"),
        ("Jobs.0.ProductKey", METER_PRODUCT_KEY, "Jobs[0].ProductKey: firmware"),
        ("Jobs.0.UtcCreate", "yesterday", "Jobs[0].UtcCreate: not a UTC time"),
        (
            "Jobs.0.UtcEndTime",
            "2019-12-29T02:43:10.000Z",
            "Jobs[0].UtcEndTime: a job that is IN_PROGRESS has no end time",
        ),
        ("Jobs.0.Tags", [{"Key": "k"}], "Jobs[0].Tags[0]: missing field 'Value'"),
        ("Jobs.0.JobStatus", "", "Jobs[0].JobStatus: must not be empty"),
        ("Jobs.0.Colour", "red", "Jobs[0].Colour: unknown field"),
        ("Firmwares.0.ProductKey", "a1Nope", "Firmwares[0].ProductKey: unknown product"),
        ("Products.0.Devices", ["x"], "Products[0].Devices[0]: malformed value 'x'"),
        ("Products.0.Devices", ["dev1\n"], "Products[0].Devices[0]: malformed value 'dev1\\n'"),
        ("Products.0.Devices.1.Status", "ASLEEP", "Products[0].Devices[1].Status: must be one of"),
        ("Products.0.Devices.1.IotId", "a b", "Products[0].Devices[1].IotId: malformed value"),
        (
            "Products.0.Devices.1.FirmwareVersion",
            "1.1.0\n",
            "Products[0].Devices[1].FirmwareVersion: malformed value",
        ),
        ("Products.0.Devices.1.DeviceName", "l1", "Products[0].Devices[1].DeviceName: malformed"),
        ("Products.0.Devices.1.UtcOnline", 7, "Products[0].Devices[1].UtcOnline: must be a"),
        ("Products.0.ProductName", "", "Products[0].ProductName: must not be empty"),
        ("Firmwares.0.Type", 2, "Firmwares[0].Type: must be one of 0, 1, not 2"),
        ("Firmwares.0.Type", True, "Firmwares[0].Type: must be one of 0, 1"),
        ("Firmwares.0.Status", 9, "Firmwares[0].Status: must be one of 0, 1, 2, 3"),
        ("Firmwares.0.SrcVersion", "1.0.0", "Firmwares[0].SrcVersion: a delta package"),
        ("Firmwares.0.FirmwareSize", 1.5, "Firmwares[0].FirmwareSize: must be a whole number"),
        ("Firmwares.0.ModuleName", "my module", "Firmwares[0].ModuleName: malformed value"),
        ("Products.0.Devices", "light1", "Products[0].Devices: must be a list"),
        ("AccessKeys", {}, "AccessKeys: must be a non-empty object"),
        ("IotInstanceId", 7, "IotInstanceId: must be null or an identifier"),
        ("Jobs", {}, "Jobs: must be a list"),
    ],
)
def test_a_bad_entry_is_refused_with_its_path_and_reason(
    tmp_path: Path, path: str, value: object, message: str
) -> None:
    file = write(tmp_path, mutate(path, value))
    with pytest.raises(FleetError) as raised:
        load_fleet(file)
    assert str(raised.value).startswith(f"{file}: {message}")


def test_duplicate_job_ids_are_refused() -> None:
    data = spec_fleet()
    data["Jobs"].append(dict(data["Jobs"][0]))
    with pytest.raises(FleetError, match=r"^Jobs\[1\]\.JobId: duplicate job"):
        Fleet.from_dict(data)


def test_a_fleet_must_be_an_object() -> None:
    with pytest.raises(FleetError, match="fleet: must be an object, not a list"):
        Fleet.from_dict([])


def test_the_sample_fleet_survives_a_round_trip_through_the_file_format(tmp_path: Path) -> None:
    fleet = sample_fleet()
    assert load_fleet(write(tmp_path, fleet.to_dict())) == fleet


def test_the_sample_fleet_repr_holds_no_secret() -> None:
    assert SAMPLE_ACCESS_KEY_SECRET not in repr(sample_fleet())


def test_sample_light1_has_many_jobs_across_firmwares() -> None:
    fleet = sample_fleet()
    light1 = [job for job in fleet.jobs if "light1" in job.devices]
    assert len(light1) >= 20
    assert len({job.firmware_id for job in light1}) >= 3
    assert len(fleet.jobs_for(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)) >= 12


def test_sample_showcase_has_every_status_type_selection_and_target() -> None:
    jobs = sample_fleet().jobs_for(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
    assert {job.job_status for job in jobs} == {"IN_PROGRESS", "COMPLETE", "COMPLETED", "CANCELED"}
    assert {job.job_type for job in jobs} == {"UPGRADE_FIRMWARE", "VERFIY_FIRMWARE"}
    assert {job.selection_type for job in jobs} == {"STATIC", "DYNAMIC"}
    assert {job.target_selection for job in jobs} == {"ALL", "SPECIFIC", "GRAY"}


def test_sample_showcase_has_untagged_jobs_a_many_tag_job_and_a_channel_ping() -> None:
    jobs = sample_fleet().jobs_for(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
    assert any(not job.tags for job in jobs)
    assert max(len(job.tags) for job in jobs) >= 6
    assert any("<!channel>" in value for job in jobs for _, value in job.tags)


def test_sample_showcase_is_not_listed_in_date_order() -> None:
    created = [
        job.utc_create
        for job in sample_fleet().jobs_for(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
    ]
    assert created not in (sorted(created), sorted(created, reverse=True))


def test_sample_light2_has_a_few_jobs_and_light3_none() -> None:
    fleet = sample_fleet()
    per_device = Counter(device for job in fleet.jobs for device in job.devices)
    assert 1 <= per_device["light2"] <= 5
    assert per_device["light3"] == 0
    assert "light3" in fleet.products[LIGHT_PRODUCT_KEY].devices


def test_sample_meter_product_has_its_firmware_and_devices() -> None:
    fleet = sample_fleet()
    assert list(fleet.products[METER_PRODUCT_KEY].devices) == ["meter-01", "meter-02", "meter-03"]
    assert fleet.firmwares[METER_FIRMWARE_ID].product_key == METER_PRODUCT_KEY
    assert fleet.jobs_for(METER_PRODUCT_KEY, "meter-03", METER_FIRMWARE_ID) == []


def test_sample_dates_are_2025_to_2026() -> None:
    years = {job.utc_create[:4] for job in sample_fleet().jobs}
    assert years == {"2025", "2026"}


# The full format and its defaults.


def test_an_older_fleet_file_loads_unchanged_with_every_default(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, spec_fleet()))
    light1 = fleet.device(LIGHT_PRODUCT_KEY, "light1")
    assert light1 is not None
    assert (light1.status, light1.firmware_version, light1.nickname) == ("ONLINE", None, None)
    firmware = fleet.firmwares[SHOWCASE_FIRMWARE_ID]
    assert (firmware.dest_version, firmware.module_name, firmware.firmware_type) == (
        "030100",
        "default",
        0,
    )
    assert (firmware.status, firmware.firmware_name, firmware.src_version) == (
        1,
        SHOWCASE_FIRMWARE_ID,
        None,
    )
    (job,) = fleet.jobs
    assert (job.name, job.dest_version, job.src_versions) == (SHOWCASE_FIRMWARE_ID, "030100", ())
    (task,) = job.tasks
    assert (task.task_status, task.progress, task.src_version) == ("IN_PROGRESS", "0", None)
    assert (task.iot_id, task.utc_create) == (light1.iot_id, job.utc_start_time)


def test_every_field_of_the_full_format_is_read(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, full_fleet()))
    light1 = fleet.device(LIGHT_PRODUCT_KEY, "light1")
    assert light1 is not None
    assert (light1.iot_id, light1.device_secret, light1.nickname) == (
        "Q7uOhVRdZRRlDnTLv****00100",
        "not-a-real-secret",
        "lobby",
    )
    assert fleet.products[LIGHT_PRODUCT_KEY].product_name == "Smart light"
    (job,) = fleet.jobs
    assert (job.name, job.dest_version, job.job_desc, job.timeout_in_minutes) == (
        "light-fw",
        "1.2.0",
        "first wave",
        1440,
    )
    light2_task, light1_task = job.tasks
    assert (light1_task.task_id, light1_task.task_status, light1_task.progress) == (
        "y3tOmCDNgpR8F9jnVEzC01200",
        "FAILED",
        "40",
    )
    assert (light1_task.task_desc, light1_task.src_version, light1_task.timeout) == (
        "download timed out",
        "1.0.9",
        "1440",
    )
    assert (light2_task.task_status, light2_task.src_version) == ("IN_PROGRESS", "1.1.0")


@pytest.mark.parametrize(
    ("job_status", "task_status", "progress"),
    [
        ("IN_PROGRESS", "IN_PROGRESS", "0"),
        ("COMPLETE", "SUCCEEDED", "100"),
        ("COMPLETED", "SUCCEEDED", "100"),
        ("CANCELED", "CANCELED", "0"),
        ("PLANNED", "QUEUED", "0"),
    ],
)
def test_a_task_given_by_name_has_the_status_its_job_implies(
    job_status: str, task_status: str, progress: str
) -> None:
    data = full_fleet()
    data["Jobs"][0]["JobStatus"] = job_status
    (job,) = Fleet.from_dict(data).jobs
    assert (job.tasks[0].task_status, job.tasks[0].progress) == (task_status, progress)


def test_a_tasks_source_version_falls_back_to_the_devices_reported_one() -> None:
    data = full_fleet()
    data["Jobs"][0]["SrcVersions"] = []
    data["Jobs"][0]["Devices"] = ["light1"]
    (task,) = Fleet.from_dict(data).jobs[0].tasks
    assert task.src_version == "1.1.0"


def test_generated_identifiers_are_stable_for_the_same_file(tmp_path: Path) -> None:
    path = write(tmp_path, spec_fleet())
    first, second = load_fleet(path), load_fleet(path)
    assert first == second
    one, two = (first.device(LIGHT_PRODUCT_KEY, name) for name in ("light1", "light2"))
    assert one is not None and two is not None
    assert one.iot_id != two.iot_id and one.device_secret != two.device_secret
    assert len(one.device_secret) == 32 and one.iot_id.isalnum()
    assert first.jobs[0].tasks[0].task_id == second.jobs[0].tasks[0].task_id


def test_two_devices_cannot_share_an_iot_id() -> None:
    data = full_fleet()
    data["Products"][0]["Devices"][0] = {
        "DeviceName": "light2",
        "IotId": "Q7uOhVRdZRRlDnTLv****00100",
    }
    with pytest.raises(FleetError, match=r"^Products\[0\]\.Devices\[1\]\.IotId: duplicate IotId"):
        Fleet.from_dict(data)


def test_a_delta_package_needs_its_source_version() -> None:
    data = full_fleet()
    data["Firmwares"][0]["Type"] = 1
    with pytest.raises(FleetError, match=r"^Firmwares\[0\]\.SrcVersion: a delta package"):
        Fleet.from_dict(data)


def test_the_file_format_written_back_reads_the_same(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, full_fleet()))
    assert Fleet.from_dict(fleet.to_dict()) == fleet


# What the loader refuses in one line naming the file.


def test_a_key_given_twice_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text('{"AccessKeys": {"testid": "a", "testid": "b"}}')
    with pytest.raises(FleetError) as raised:
        load_fleet(path)
    assert str(raised.value) == f"{path}: duplicate key '{SAMPLE_ACCESS_KEY_ID}'"


def test_a_huge_integer_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text('{"AccessKeys": {"testid": "x"}, "IotInstanceId": ' + "9" * 5000 + "}")
    with pytest.raises(FleetError) as raised:
        load_fleet(path)
    assert str(raised.value) == f"{path}: an integer has more than 20 digits"


def test_a_deeply_nested_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text("[" * 100_000)
    with pytest.raises(FleetError) as raised:
        load_fleet(path)
    assert str(raised.value) == f"{path}: nested too deeply"


def test_a_file_that_is_not_utf8_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_bytes(b'{"AccessKeys": "\xff"}')
    with pytest.raises(FleetError, match=r"fleet\.json: not UTF-8 text"):
        load_fleet(path)


# The sample fleet's on-call story.


def test_sample_device_mid_rollout_has_one_unfinished_task_at_40_percent() -> None:
    fleet = sample_fleet()
    running = [
        task
        for task in fleet.tasks_of(LIGHT_PRODUCT_KEY, "light1")
        if task.task_status in ("CONFIRM", "QUEUED", "NOTIFIED", "IN_PROGRESS")
    ]
    assert [(task.job_id, task.task_status, task.progress) for task in running] == [
        (ROLLOUT_JOB_ID, "IN_PROGRESS", "40")
    ]


def test_sample_rollout_spans_40_lamps_with_failure_reasons() -> None:
    job = sample_fleet().job(ROLLOUT_JOB_ID)
    assert job is not None and job.job_status == "IN_PROGRESS" and len(job.tasks) == 41
    reasons = {task.task_desc for task in job.tasks if task.task_status == "FAILED"}
    assert {"download timed out", "signature verification failed"} <= reasons
    assert len(reasons) >= 4 and None not in reasons
    statuses = {task.task_status for task in job.tasks}
    assert {"SUCCEEDED", "QUEUED", "NOTIFIED", "IN_PROGRESS", "FAILED"} <= statuses


def test_sample_has_two_packages_of_one_version_an_offline_device_and_reported_versions() -> None:
    fleet = sample_fleet()
    packages = [f for f in fleet.firmwares.values() if f.dest_version == "2.1.0"]
    assert sorted(f.firmware_type for f in packages) == [0, 1]
    devices = list(fleet.products[LIGHT_PRODUCT_KEY].devices.values())
    assert {device.status for device in devices} == {"ONLINE", "OFFLINE"}
    assert all(device.firmware_version for device in devices)
