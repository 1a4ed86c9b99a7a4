"""Fleet files: the SPEC format, refusals with the line or entry, and the sample fleet."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from otabot.emulator.fleet import Fleet, FleetError, load_fleet, sample_fleet
from tests.emulator.signed import LIGHT, METER, METER_FIRMWARE, SHOWCASE


def spec_fleet() -> dict[str, Any]:
    """The example of SPEC.md."""
    return {
        "AccessKeys": {"testid": "testsecret"},
        "IotInstanceId": None,
        "Products": [{"ProductKey": "a19mzPZabcd", "Devices": ["light1", "light2"]}],
        "Firmwares": [{"FirmwareId": "FJFx8JzpnhpIsKftRjjm030100", "ProductKey": "a19mzPZabcd"}],
        "Jobs": [
            {
                "JobId": "HvKuBpuk3rdk6E92CPQN020100",
                "FirmwareId": "FJFx8JzpnhpIsKftRjjm030100",
                "ProductKey": "a19mzPZabcd",
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


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def test_the_spec_example_loads(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, spec_fleet()))
    assert fleet.jobs_for(LIGHT, "light1", SHOWCASE)[0].job_id == "HvKuBpuk3rdk6E92CPQN020100"
    assert fleet.jobs_for(LIGHT, "light2", SHOWCASE) == []


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
    """The SPEC example with one entry replaced (``path`` like ``Jobs.0.FirmwareId``)."""
    data = spec_fleet()
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
        ("Jobs.0.ProductKey", "a1B2c3D4e5F", "Jobs[0].ProductKey: firmware"),
        ("Jobs.0.UtcCreate", "yesterday", "Jobs[0].UtcCreate: not a UTC time"),
        ("Jobs.0.UtcEndTime", "2019-12-29T02:43:10.000Z", "Jobs[0].UtcEndTime: an IN_PROGRESS"),
        ("Jobs.0.Tags", [{"Key": "k"}], "Jobs[0].Tags[0]: missing field 'Value'"),
        ("Jobs.0.JobStatus", "", "Jobs[0].JobStatus: must be a non-empty string"),
        ("Jobs.0.Colour", "red", "Jobs[0].Colour: unknown field"),
        ("Firmwares.0.ProductKey", "a1Nope", "Firmwares[0].ProductKey: unknown product"),
        ("Products.0.Devices", ["x"], "Products[0].Devices[0]: malformed value 'x'"),
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
    assert "testsecret" not in repr(sample_fleet())


def test_sample_light1_has_many_jobs_across_firmwares() -> None:
    fleet = sample_fleet()
    light1 = [job for job in fleet.jobs if "light1" in job.devices]
    assert len(light1) >= 20
    assert len({job.firmware_id for job in light1}) >= 3
    assert len(fleet.jobs_for(LIGHT, "light1", SHOWCASE)) >= 12


def test_sample_showcase_has_every_status_type_selection_and_target() -> None:
    jobs = sample_fleet().jobs_for(LIGHT, "light1", SHOWCASE)
    assert {job.job_status for job in jobs} == {"IN_PROGRESS", "COMPLETE", "COMPLETED", "CANCELED"}
    assert {job.job_type for job in jobs} == {"UPGRADE_FIRMWARE", "VERFIY_FIRMWARE"}
    assert {job.selection_type for job in jobs} == {"STATIC", "DYNAMIC"}
    assert {job.target_selection for job in jobs} == {"ALL", "SPECIFIC", "GRAY"}


def test_sample_showcase_has_untagged_jobs_a_many_tag_job_and_a_channel_ping() -> None:
    jobs = sample_fleet().jobs_for(LIGHT, "light1", SHOWCASE)
    assert any(not job.tags for job in jobs)
    assert max(len(job.tags) for job in jobs) >= 6
    assert any("<!channel>" in value for job in jobs for _, value in job.tags)


def test_sample_showcase_is_not_listed_in_date_order() -> None:
    created = [job.utc_create for job in sample_fleet().jobs_for(LIGHT, "light1", SHOWCASE)]
    assert created not in (sorted(created), sorted(created, reverse=True))


def test_sample_light2_has_a_few_jobs_and_light3_none() -> None:
    fleet = sample_fleet()
    per_device = Counter(device for job in fleet.jobs for device in job.devices)
    assert 1 <= per_device["light2"] <= 5
    assert per_device["light3"] == 0
    assert "light3" in fleet.products[LIGHT]


def test_sample_meter_product_has_its_firmware_and_devices() -> None:
    fleet = sample_fleet()
    assert fleet.products[METER] == {"meter-01", "meter-02", "meter-03"}
    assert fleet.firmwares[METER_FIRMWARE] == METER
    assert fleet.jobs_for(METER, "meter-03", METER_FIRMWARE) == []


def test_sample_dates_are_2025_to_2026() -> None:
    years = {job.utc_create[:4] for job in sample_fleet().jobs}
    assert years == {"2025", "2026"}
