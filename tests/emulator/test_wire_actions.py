"""Every OTA read action over real HTTP with hand-signed calls: the API's shapes (wrappers,
strings vs numbers, absent fields), parameter checks with the real codes, quotas per action."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from otabot.emulator.server import EmulatorServer
from tests.emulator.signed import FULL_210, call_action, list_jobs
from tests.helpers import (
    LIGHT_PRODUCT_KEY,
    ROLLOUT_FIRMWARE_ID,
    ROLLOUT_JOB_ID,
    SHOWCASE_FIRMWARE_ID,
)
from tests.helpers import frozen_emulator as frozen


def ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["Success"] is True, body
    return body


def code_of(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["Code"]


LIGHT1 = {"ProductKey": LIGHT_PRODUCT_KEY, "DeviceName": "light1"}
UNFINISHED = {**LIGHT1, "TaskStatusList.1": "QUEUED", "TaskStatusList.2": "IN_PROGRESS"}


# ListOTAUnfinishedTaskByDevice.


def test_unfinished_tasks_come_wrapped_without_paging_fields(emulator: EmulatorServer) -> None:
    body = ok(call_action(emulator.url, "ListOTAUnfinishedTaskByDevice", UNFINISHED))
    assert set(body) == {"RequestId", "Success", "Data"}
    (task,) = body["Data"]["SimpleOTATaskInfo"]
    assert task["TaskId"] == "y3tOmCDNgpR8F9jnVEzC01200"
    assert (task["TaskStatus"], task["JobId"], task["ModuleName"]) == (
        "IN_PROGRESS",
        ROLLOUT_JOB_ID,
        "default",
    )
    assert (task["SrcVersion"], task["DestVersion"], task["ProductName"]) == (
        "2.0.0",
        "2.1.0",
        "Smart light",
    )
    assert {"IotId", "FirmwareId", "UtcCreate", "UtcModified"} <= set(task)


def test_unfinished_tasks_take_a_single_task_status(emulator: EmulatorServer) -> None:
    body = ok(
        call_action(
            emulator.url,
            "ListOTAUnfinishedTaskByDevice",
            {"ProductKey": LIGHT_PRODUCT_KEY, "DeviceName": "light2", "TaskStatus": "NOTIFIED"},
        )
    )
    (task,) = body["Data"]["SimpleOTATaskInfo"]
    assert task["JobId"] == "xtpYlSXpfKtHF4vUCsMe020100"


def test_unfinished_tasks_by_iot_id(emulator: EmulatorServer) -> None:
    detail = ok(call_action(emulator.url, "QueryDeviceDetail", LIGHT1))["Data"]
    body = ok(
        call_action(
            emulator.url,
            "ListOTAUnfinishedTaskByDevice",
            {"IotId": detail["IotId"], "TaskStatus": "IN_PROGRESS"},
        )
    )
    assert [task["DeviceName"] for task in body["Data"]["SimpleOTATaskInfo"]] == ["light1"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (LIGHT1, "iot.ota.InvalidTaskStatus"),
        ({**LIGHT1, "TaskStatus": "FAILED"}, "iot.ota.InvalidTaskStatus"),
        ({"DeviceName": "light1", "TaskStatus": "QUEUED"}, "iot.prod.InvalidFormattedProductkey"),
        (
            {"ProductKey": LIGHT_PRODUCT_KEY, "TaskStatus": "QUEUED"},
            "iot.device.InvalidFormattedDeviceName",
        ),
        ({"IotId": "nosuchdevice", "TaskStatus": "QUEUED"}, "iot.device.NotExistedDevice"),
        ({**UNFINISHED, "IotInstanceId": "iot-cn-nosuch"}, "iot.system.InstanceNotFound"),
    ],
)
def test_unfinished_tasks_refusals(
    emulator: EmulatorServer, params: dict[str, str], code: str
) -> None:
    response = call_action(emulator.url, "ListOTAUnfinishedTaskByDevice", params)
    assert code_of(response) == (200, code)
    assert response.json()["Success"] is False


# QueryDeviceDetail.


def test_device_detail_sends_the_device_secret_as_the_real_api(emulator: EmulatorServer) -> None:
    data = ok(call_action(emulator.url, "QueryDeviceDetail", LIGHT1))["Data"]
    assert (data["Status"], data["FirmwareVersion"], data["Nickname"]) == (
        "ONLINE",
        "2.0.0",
        "Lobby light",
    )
    assert (data["ProductName"], data["NodeType"], data["UtcOnline"]) == (
        "Smart light",
        0,
        "2026-11-03T08:15:00.000Z",
    )
    assert data["GmtOnline"] == "2026-11-03 16:15:00"
    assert len(data["DeviceSecret"]) == 32


def test_device_detail_of_an_offline_device(emulator: EmulatorServer) -> None:
    params = {"ProductKey": LIGHT_PRODUCT_KEY, "DeviceName": "light2"}
    assert ok(call_action(emulator.url, "QueryDeviceDetail", params))["Data"]["Status"] == "OFFLINE"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (
            {"ProductKey": LIGHT_PRODUCT_KEY, "DeviceName": "light404"},
            "iot.device.NotExistedDevice",
        ),
        ({"ProductKey": "a1NoSuchPrd", "DeviceName": "light1"}, "iot.prod.NotExistedProduct"),
        ({}, "iot.prod.InvalidFormattedProductkey"),
    ],
)
def test_device_detail_refusals(
    emulator: EmulatorServer, params: dict[str, str], code: str
) -> None:
    assert code_of(call_action(emulator.url, "QueryDeviceDetail", params)) == (200, code)


# ListOTAFirmware.


def test_firmware_list_is_wrapped_in_firmware_info_with_numbers(emulator: EmulatorServer) -> None:
    params = {
        "ProductKey": LIGHT_PRODUCT_KEY,
        "DestVersion": "2.1.0",
        "CurrentPage": "1",
        "PageSize": "10",
    }
    body = ok(call_action(emulator.url, "ListOTAFirmware", params))
    assert "Data" not in body
    assert (body["Total"], body["PageCount"], body["PageSize"], body["CurrentPage"]) == (
        2,
        1,
        10,
        1,
    )
    full, delta = body["FirmwareInfo"]["SimpleFirmwareInfo"]
    assert (full["FirmwareId"], full["Type"], full["Status"]) == (FULL_210, 0, 1)
    assert "SrcVersion" not in full
    assert (delta["FirmwareId"], delta["Type"], delta["SrcVersion"]) == (
        ROLLOUT_FIRMWARE_ID,
        1,
        "2.0.0",
    )
    assert isinstance(delta["FirmwareSize"], int) and delta["ModuleName"] == "default"


@pytest.mark.parametrize(
    ("action", "params", "missing"),
    [
        ("ListOTAFirmware", {"ProductKey": LIGHT_PRODUCT_KEY}, "CurrentPage"),
        ("ListOTAFirmware", {"ProductKey": LIGHT_PRODUCT_KEY}, "PageSize"),
        ("ListOTAJobByFirmware", {"FirmwareId": SHOWCASE_FIRMWARE_ID}, "FirmwareId"),
        ("ListOTAJobByFirmware", {"FirmwareId": SHOWCASE_FIRMWARE_ID}, "CurrentPage"),
        ("ListOTAJobByFirmware", {"FirmwareId": SHOWCASE_FIRMWARE_ID}, "PageSize"),
    ],
)
def test_firmware_lists_need_their_parameters(
    emulator: EmulatorServer, action: str, params: dict[str, str], missing: str
) -> None:
    """ListOTAFirmware needs its page; ListOTAJobByFirmware its FirmwareId and its page."""
    sent = {**params, "CurrentPage": "1", "PageSize": "10"}
    del sent[missing]
    response = call_action(emulator.url, action, sent)
    assert code_of(response) == (400, f"Missing{missing}")


def test_firmware_list_page_size_above_100_is_invalid(emulator: EmulatorServer) -> None:
    params = {"ProductKey": LIGHT_PRODUCT_KEY, "CurrentPage": "1", "PageSize": "101"}
    response = call_action(emulator.url, "ListOTAFirmware", params)
    assert code_of(response) == (200, "iot.common.InvalidPageParams")


# QueryOTAJob.


def test_query_job_spells_its_lists_and_says_completed(emulator: EmulatorServer) -> None:
    data = ok(call_action(emulator.url, "QueryOTAJob", {"JobId": ROLLOUT_JOB_ID}))["Data"]
    assert data["SrcVersions"] == {"SrcVersion": ["2.0.0"]}
    assert data["Tags"]["OtaTagDTO"][0] == {"Key": "ticket", "Value": "OPS-5230"}
    assert (data["Name"], data["DestVersion"], data["RetryCount"], data["TimeoutInMinutes"]) == (
        "light-fw 2.1.0 delta",
        "2.1.0",
        2,
        1440,
    )
    assert "UtcEndTime" not in data and "GrayPercent" not in data
    complete = ok(call_action(emulator.url, "QueryOTAJob", {"JobId": "LuqIA1id6Vw5DQL05HA0020100"}))
    assert complete["Data"]["JobStatus"] == "COMPLETED"


def test_query_job_of_a_gray_job_carries_its_percentage_as_text(emulator: EmulatorServer) -> None:
    data = ok(call_action(emulator.url, "QueryOTAJob", {"JobId": "Pl4nN3dJ0bR7sT9uVw2x020100"}))
    assert (data["Data"]["JobStatus"], data["Data"]["GrayPercent"]) == ("PLANNED", "10")
    assert data["Data"]["UtcScheduleTime"] == "2026-11-20T18:00:00.000Z"


def test_query_job_refusals(emulator: EmulatorServer) -> None:
    assert code_of(call_action(emulator.url, "QueryOTAJob", {})) == (400, "MissingJobId")
    unknown = call_action(emulator.url, "QueryOTAJob", {"JobId": "NoSuchJob"})
    assert code_of(unknown) == (200, "iot.ota.JobNotFound")


# ListOTATaskByJob.


def test_tasks_of_a_job_carry_progress_and_timeout_as_strings(emulator: EmulatorServer) -> None:
    params = {"JobId": ROLLOUT_JOB_ID, "TaskStatus": "FAILED", "CurrentPage": "1", "PageSize": "3"}
    body = ok(call_action(emulator.url, "ListOTATaskByJob", params))
    assert (body["Total"], body["PageCount"], body["PageSize"]) == (6, 2, 3)
    first = body["Data"]["SimpleOTATaskInfo"][0]
    assert (first["TaskStatus"], first["TaskDesc"], first["Progress"], first["Timeout"]) == (
        "FAILED",
        "download timed out",
        "0",
        "1440",
    )
    assert "ModuleName" not in first


def test_tasks_of_a_job_for_named_devices(emulator: EmulatorServer) -> None:
    params = {"JobId": ROLLOUT_JOB_ID, "DeviceNames.1": "lamp-13", "DeviceNames.2": "light1"}
    body = ok(call_action(emulator.url, "ListOTATaskByJob", params))
    tasks = body["Data"]["SimpleOTATaskInfo"]
    assert [(task["DeviceName"], task["Progress"]) for task in tasks] == [
        ("light1", "40"),
        ("lamp-13", "55"),
    ]
    assert (body["CurrentPage"], body["PageSize"]) == (1, 10)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "MissingJobId"),
        ({"JobId": ROLLOUT_JOB_ID, "TaskStatus": "DONE"}, 200, "iot.ota.InvalidTaskStatus"),
        ({"JobId": ROLLOUT_JOB_ID, "PageSize": "101"}, 200, "iot.common.InvalidPageParams"),
        (
            {"JobId": ROLLOUT_JOB_ID, "CurrentPage": "1001", "PageSize": "100"},
            200,
            "iot.common.InvalidPageParams",
        ),
        ({"JobId": ROLLOUT_JOB_ID, "CurrentPage": "1.5"}, 200, "iot.common.InvalidPageParams"),
    ],
)
def test_tasks_of_a_job_refusals(
    emulator: EmulatorServer, params: dict[str, str], status: int, code: str
) -> None:
    assert code_of(call_action(emulator.url, "ListOTATaskByJob", params)) == (status, code)


# ListOTAJobByFirmware.


def test_jobs_of_a_firmware_page_up_to_200(emulator: EmulatorServer) -> None:
    params = {"FirmwareId": SHOWCASE_FIRMWARE_ID, "CurrentPage": "1", "PageSize": "200"}
    body = ok(call_action(emulator.url, "ListOTAJobByFirmware", params))
    assert (body["Total"], len(body["Data"]["SimpleOTAJobInfo"])) == (14, 14)
    params["PageSize"] = "201"
    refused = call_action(emulator.url, "ListOTAJobByFirmware", params)
    assert code_of(refused) == (200, "iot.common.InvalidPageParams")


def test_jobs_of_a_firmware_include_planned_ones(emulator: EmulatorServer) -> None:
    params = {"FirmwareId": FULL_210, "CurrentPage": "1", "PageSize": "10"}
    (job,) = ok(call_action(emulator.url, "ListOTAJobByFirmware", params))["Data"][
        "SimpleOTAJobInfo"
    ]
    assert (job["JobStatus"], job["TargetSelection"]) == ("PLANNED", "GRAY")
    assert "UtcStartTime" not in job and "UtcEndTime" not in job


# XML: list wrappers hold repeated elements.


def test_xml_wraps_task_lists_and_source_versions(emulator: EmulatorServer) -> None:
    tasks = call_action(emulator.url, "ListOTATaskByJob", {"JobId": ROLLOUT_JOB_ID}, fmt="XML")
    root = ElementTree.fromstring(tasks.content)
    assert root.tag == "ListOTATaskByJobResponse"
    assert len(root.findall("Data/SimpleOTATaskInfo")) == 10
    job = call_action(emulator.url, "QueryOTAJob", {"JobId": ROLLOUT_JOB_ID}, fmt="XML")
    data = ElementTree.fromstring(job.content).find("Data")
    assert data is not None
    assert [v.text for v in data.findall("SrcVersions/SrcVersion")] == ["2.0.0"]


def test_xml_firmware_info_and_device_detail(emulator: EmulatorServer) -> None:
    firmware = call_action(
        emulator.url,
        "ListOTAFirmware",
        {"ProductKey": LIGHT_PRODUCT_KEY, "CurrentPage": "1", "PageSize": "100"},
        fmt="XML",
    )
    root = ElementTree.fromstring(firmware.content)
    assert len(root.findall("FirmwareInfo/SimpleFirmwareInfo")) == 6
    detail = call_action(emulator.url, "QueryDeviceDetail", LIGHT1, fmt=None)
    assert ElementTree.fromstring(detail.content).findtext("Data/Status") == "ONLINE"


# Quotas: each action its own, per AccessKeyId.


@pytest.fixture
def frozen_server() -> Iterator[EmulatorServer]:
    """Documented quotas and a clock that stands still: every call falls in one second."""
    with frozen() as server:
        yield server


def test_each_action_has_its_own_quota(frozen_server: EmulatorServer) -> None:
    url = frozen_server.url
    listed = [call_action(url, "ListOTAJobByDevice", list_jobs()).status_code for _ in range(11)]
    assert listed == [200] * 10 + [400]
    queried = [call_action(url, "QueryOTAJob", {"JobId": ROLLOUT_JOB_ID}) for _ in range(10)]
    assert all(response.json()["Success"] for response in queried)
    details = [call_action(url, "QueryDeviceDetail", LIGHT1) for _ in range(51)]
    assert [response.status_code for response in details].count(400) == 1
    assert details[-1].json()["Code"] == "Throttling.User"
    stats = frozen_server.stats()
    assert stats["max_in_any_second_by_action"] == {
        "ListOTAJobByDevice": 11,
        "QueryOTAJob": 10,
        "QueryDeviceDetail": 51,
    }
    assert (stats["throttled"], stats["max_calls_in_any_second"]) == (2, 72)


def test_quota_given_by_action() -> None:
    with frozen(qps={"QueryOTAJob": 1}) as server:
        first, second = (
            call_action(server.url, "QueryOTAJob", {"JobId": ROLLOUT_JOB_ID}) for _ in range(2)
        )
        assert (first.status_code, code_of(second)) == (200, (400, "Throttling.User"))
        assert server.platform.qps["ListOTAJobByDevice"] == 10
