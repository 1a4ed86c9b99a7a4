"""The OTA read actions against canned answers: what goes on the wire for each, how their
answers' quirks are read, and one error taxonomy, one gate and one deadline for all seven."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from otabot.config import Credentials
from otabot.iot.client import IotClient, RetryPolicy
from otabot.iot.errors import (
    ForbiddenError,
    IotError,
    JobNotFoundError,
    ThrottledError,
    UpstreamUnavailableError,
)
from otabot.iot.models import (
    DeviceStatus,
    FirmwareType,
    FirmwareVerification,
    JobStatus,
    JobType,
    OtaTask,
    TaskStatus,
)
from tests.helpers import (
    EXAMPLE_JOB_ID,
    LIGHT_PRODUCT_KEY,
    SAMPLE_ACCESS_KEY_ID,
    SHOWCASE_FIRMWARE_ID,
    FakeClock,
)
from tests.iot.answers import (
    DEVICE,
    IOT_ID,
    REQUEST_ID,
    SECRET,
    STS_TOKEN,
    THROTTLED,
    UNAVAILABLE,
    device_detail,
    firmware,
    gateway_error,
    iot_error,
    job,
    job_detail,
    listing,
    success,
    task,
    v1_signature_is_valid,
    v3_signature_is_valid,
)
from tests.iot.canned import CannedApi, Reply
from tests.iot.fakes import MakeClient, RecordingGate

INSTANCE = "iot-cn-0pp1n8t0000"
# Parameters every request carries whatever the action (V1 puts them all in the query).
COMMON = {
    "Action",
    "Version",
    "Format",
    "RegionId",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "Signature",
    "SecurityToken",
}


@dataclass(frozen=True)
class ActionCase:
    """One action: a call of its client method, what that call must send, a good answer."""

    name: str
    call: Callable[..., Any]
    sent: dict[str, str]
    answer: dict[str, Any]


ACTIONS = [
    ActionCase(
        "ListOTAJobByDevice",
        lambda client, **kw: client.list_ota_jobs_by_device(
            LIGHT_PRODUCT_KEY, DEVICE, SHOWCASE_FIRMWARE_ID, current_page=2, page_size=50, **kw
        ),
        {
            "ProductKey": LIGHT_PRODUCT_KEY,
            "DeviceName": DEVICE,
            "FirmwareId": SHOWCASE_FIRMWARE_ID,
            "CurrentPage": "2",
            "PageSize": "50",
        },
        listing([job()]),
    ),
    ActionCase(
        "ListOTAUnfinishedTaskByDevice",
        lambda client, **kw: client.list_ota_unfinished_tasks_by_device(
            LIGHT_PRODUCT_KEY, DEVICE, module_name="wifi", **kw
        ),
        {
            "ProductKey": LIGHT_PRODUCT_KEY,
            "DeviceName": DEVICE,
            "TaskStatusList.1": "CONFIRM",
            "TaskStatusList.2": "QUEUED",
            "TaskStatusList.3": "NOTIFIED",
            "TaskStatusList.4": "IN_PROGRESS",
            "ModuleName": "wifi",
        },
        success(Data={"SimpleOTATaskInfo": [task(ModuleName="wifi")]}),
    ),
    ActionCase(
        "QueryDeviceDetail",
        lambda client, **kw: client.query_device_detail(LIGHT_PRODUCT_KEY, DEVICE, **kw),
        {"ProductKey": LIGHT_PRODUCT_KEY, "DeviceName": DEVICE},
        success(Data=device_detail()),
    ),
    ActionCase(
        "ListOTAFirmware",
        lambda client, **kw: client.list_ota_firmware(
            LIGHT_PRODUCT_KEY, dest_version="1.2.0", current_page=1, page_size=100, **kw
        ),
        {
            "ProductKey": LIGHT_PRODUCT_KEY,
            "DestVersion": "1.2.0",
            "CurrentPage": "1",
            "PageSize": "100",
        },
        listing([firmware()], container="FirmwareInfo", wrapper="SimpleFirmwareInfo"),
    ),
    ActionCase(
        "QueryOTAJob",
        lambda client, **kw: client.query_ota_job(EXAMPLE_JOB_ID, **kw),
        {"JobId": EXAMPLE_JOB_ID},
        success(Data=job_detail()),
    ),
    ActionCase(
        "ListOTATaskByJob",
        lambda client, **kw: client.list_ota_tasks_by_job(
            EXAMPLE_JOB_ID,
            status=TaskStatus.FAILED,
            device_names=["light1", "light2"],
            current_page=3,
            page_size=20,
            **kw,
        ),
        {
            "JobId": EXAMPLE_JOB_ID,
            "TaskStatus": "FAILED",
            "DeviceNames.1": "light1",
            "DeviceNames.2": "light2",
            "CurrentPage": "3",
            "PageSize": "20",
        },
        listing([task("FAILED", Progress="40")], wrapper="SimpleOTATaskInfo", size=20),
    ),
    ActionCase(
        "ListOTAJobByFirmware",
        lambda client, **kw: client.list_ota_jobs_by_firmware(
            SHOWCASE_FIRMWARE_ID, current_page=1, page_size=200, **kw
        ),
        {"FirmwareId": SHOWCASE_FIRMWARE_ID, "CurrentPage": "1", "PageSize": "200"},
        listing([job(status="PLANNED")], size=200),
    ),
]
EACH_ACTION = pytest.mark.parametrize("case", ACTIONS, ids=[case.name for case in ACTIONS])


def business(received_query: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in received_query.items() if name not in COMMON}


# --- what goes on the wire ----------------------------------------------------------------


@EACH_ACTION
@pytest.mark.parametrize("signature", ["v1", "v3"])
def test_each_action_sends_its_parameters_signed(
    api: CannedApi, make_client: MakeClient, case: ActionCase, signature: str
) -> None:
    api.queue(Reply(body=case.answer))
    client = make_client(
        signature=signature, credentials=Credentials(SAMPLE_ACCESS_KEY_ID, SECRET, STS_TOKEN)
    )
    case.call(client)
    [received] = api.received
    assert business(received.query) == case.sent
    if signature == "v1":
        assert received.query["Action"] == case.name
        assert v1_signature_is_valid(received)
    else:
        assert received.headers["x-acs-action"] == case.name
        assert v3_signature_is_valid(received)
    assert received.query["Format"] == "JSON"


@EACH_ACTION
def test_each_action_sends_the_instance_id_only_when_given(
    api: CannedApi, make_client: MakeClient, case: ActionCase
) -> None:
    api.queue(Reply(body=case.answer))
    client = make_client()
    case.call(client)
    case.call(client, iot_instance_id=INSTANCE)
    without, with_instance = api.received
    assert "IotInstanceId" not in without.query
    assert business(with_instance.query) == {**case.sent, "IotInstanceId": INSTANCE}


def test_unfinished_tasks_can_be_asked_for_chosen_statuses(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(Reply(body=success()))
    make_client().list_ota_unfinished_tasks_by_device(
        LIGHT_PRODUCT_KEY, DEVICE, statuses=[TaskStatus.IN_PROGRESS]
    )
    assert business(api.received[0].query) == {
        "ProductKey": LIGHT_PRODUCT_KEY,
        "DeviceName": DEVICE,
        "TaskStatusList.1": "IN_PROGRESS",
    }


def test_unfinished_tasks_need_at_least_one_status(make_client: MakeClient) -> None:
    with pytest.raises(ValueError, match="status"):
        make_client().list_ota_unfinished_tasks_by_device(LIGHT_PRODUCT_KEY, DEVICE, statuses=[])


def test_a_job_is_asked_for_all_its_tasks_without_filters(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(Reply(body=listing([], wrapper="SimpleOTATaskInfo")))
    make_client().list_ota_tasks_by_job(EXAMPLE_JOB_ID)
    assert business(api.received[0].query) == {
        "JobId": EXAMPLE_JOB_ID,
        "CurrentPage": "1",
        "PageSize": "100",
    }


def test_the_firmware_of_a_product_is_listed_without_a_version(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(Reply(body=listing([], container="FirmwareInfo", wrapper="SimpleFirmwareInfo")))
    make_client().list_ota_firmware(LIGHT_PRODUCT_KEY)
    assert "DestVersion" not in api.received[0].query


# --- ListOTAUnfinishedTaskByDevice ---------------------------------------------------------


def test_unfinished_tasks_come_in_one_answer_without_paging(
    api: CannedApi, make_client: MakeClient
) -> None:
    tasks = [task("QUEUED", ModuleName="default"), task("CONFIRM", TaskId="t2", ModuleName="wifi")]
    api.queue(Reply(body=success(Data={"SimpleOTATaskInfo": tasks})))
    result = make_client().list_ota_unfinished_tasks_by_device(LIGHT_PRODUCT_KEY, DEVICE)
    assert isinstance(result, tuple) and all(isinstance(item, OtaTask) for item in result)
    assert [(item.status, item.module_name) for item in result] == [
        (TaskStatus.QUEUED, "default"),
        (TaskStatus.CONFIRM, "wifi"),
    ]
    first = result[0]
    assert (first.job_id, first.firmware_id, first.iot_id) == (
        EXAMPLE_JOB_ID,
        SHOWCASE_FIRMWARE_ID,
        IOT_ID,
    )
    assert (first.src_version, first.dest_version, first.product_name) == (
        "1.1.0",
        "1.2.0",
        "Smart light",
    )
    assert first.utc_create == datetime(2019, 12, 28, 2, 43, 10, tzinfo=UTC)
    assert (first.progress, first.timeout, first.description) == (None, None, None)


@pytest.mark.parametrize(
    "data",
    [None, {}, "", {"SimpleOTATaskInfo": []}],
    ids=["absent", "empty-object", "empty-string", "empty-list"],
)
def test_no_unfinished_task_is_an_empty_tuple(
    api: CannedApi, make_client: MakeClient, data: Any
) -> None:
    body = success() if data is None else success(Data=data)
    api.queue(Reply(body=body))
    assert make_client().list_ota_unfinished_tasks_by_device(LIGHT_PRODUCT_KEY, DEVICE) == ()


def test_a_single_unfinished_task_as_an_object_is_one_task(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(Reply(body=success(Data={"SimpleOTATaskInfo": task("NOTIFIED")})))
    [only] = make_client().list_ota_unfinished_tasks_by_device(LIGHT_PRODUCT_KEY, DEVICE)
    assert only.status is TaskStatus.NOTIFIED


# --- QueryDeviceDetail ---------------------------------------------------------------------


def test_the_device_detail_is_read_into_a_typed_result(
    api: CannedApi, make_client: MakeClient
) -> None:
    api.queue(Reply(body=success(Data=device_detail())))
    detail = make_client().query_device_detail(LIGHT_PRODUCT_KEY, DEVICE)
    assert (detail.product_key, detail.device_name, detail.iot_id) == (
        LIGHT_PRODUCT_KEY,
        DEVICE,
        IOT_ID,
    )
    assert (detail.status, detail.firmware_version, detail.node_type) == (
        DeviceStatus.ONLINE,
        "1.1.0",
        0,
    )
    assert (detail.nickname, detail.ip_address, detail.region) == (
        "lobby",
        "10.0.0.7",
        "cn-shanghai",
    )
    assert detail.utc_online == datetime(2019, 12, 28, 2, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "expected"),
    [("OFFLINE", DeviceStatus.OFFLINE), ("UNACTIVE", DeviceStatus.UNACTIVE), ("FROZEN", "FROZEN")],
)
def test_device_statuses_are_read_and_an_unknown_one_kept(
    api: CannedApi, make_client: MakeClient, status: str, expected: str
) -> None:
    api.queue(Reply(body=success(Data=device_detail(Status=status))))
    assert make_client().query_device_detail(LIGHT_PRODUCT_KEY, DEVICE).status == expected


def test_a_device_that_never_reported_a_version_has_none(
    api: CannedApi, make_client: MakeClient
) -> None:
    data = device_detail(FirmwareVersion=None, NodeType="0")
    del data["UtcOnline"]
    api.queue(Reply(body=success(Data=data)))
    detail = make_client().query_device_detail(LIGHT_PRODUCT_KEY, DEVICE)
    assert (detail.firmware_version, detail.utc_online, detail.node_type) == (None, None, 0)


@pytest.mark.parametrize(
    "action",
    [
        lambda client: client.query_device_detail(LIGHT_PRODUCT_KEY, DEVICE),
        lambda client: client.query_ota_job(EXAMPLE_JOB_ID),
    ],
    ids=["QueryDeviceDetail", "QueryOTAJob"],
)
@pytest.mark.parametrize("data", [None, [], "", "x"], ids=["absent", "list", "empty", "text"])
def test_an_answer_without_its_data_object_is_malformed_and_not_retried(
    api: CannedApi, make_client: MakeClient, action: Callable[[IotClient], Any], data: Any
) -> None:
    body = success() if data is None else success(Data=data)
    api.queue(Reply(body=body))
    with pytest.raises(UpstreamUnavailableError) as caught:
        action(make_client())
    assert caught.value.code == "otabot.MalformedResponse"
    assert caught.value.request_id == REQUEST_ID
    assert not caught.value.retryable and len(api.received) == 1


# --- ListOTAFirmware -----------------------------------------------------------------------


def test_firmware_comes_wrapped_in_firmware_info_with_numbers_as_numbers(
    api: CannedApi, make_client: MakeClient
) -> None:
    packages = [
        firmware(),
        firmware(FirmwareId="FWdelta", Type=1, Status=3, SrcVersion="1.1.0", FirmwareSize=2048),
    ]
    body = listing(
        packages, container="FirmwareInfo", wrapper="SimpleFirmwareInfo", total=12, size=2
    )
    api.queue(Reply(body=body))
    result = make_client().list_ota_firmware(LIGHT_PRODUCT_KEY, page_size=2)
    full, delta = result.items
    assert (full.firmware_type, full.verification, full.size) == (
        FirmwareType.FULL,
        FirmwareVerification.VERIFIED,
        1048576,
    )
    assert (full.name, full.dest_version, full.src_version, full.module_name) == (
        "light-fw",
        "1.2.0",
        None,
        "default",
    )
    assert not full.is_delta and delta.is_delta
    assert (delta.src_version, delta.verification, delta.size) == (
        "1.1.0",
        FirmwareVerification.VERIFICATION_FAILED,
        2048,
    )
    assert (result.total, result.page_count, result.page_size) == (12, 6, 2)


def test_unknown_firmware_status_and_type_numbers_are_kept(
    api: CannedApi, make_client: MakeClient
) -> None:
    body = listing(
        [firmware(Status=7, Type=4)], container="FirmwareInfo", wrapper="SimpleFirmwareInfo"
    )
    api.queue(Reply(body=body))
    [package] = make_client().list_ota_firmware(LIGHT_PRODUCT_KEY).items
    assert (package.verification, package.firmware_type) == (7, 4)
    assert package.to_api()["Status"] == 7 and package.to_api()["Type"] == 4


def test_a_single_firmware_as_an_object_is_one_firmware(
    api: CannedApi, make_client: MakeClient
) -> None:
    body = listing(firmware(), container="FirmwareInfo", wrapper="SimpleFirmwareInfo")
    api.queue(Reply(body=body))
    assert [
        item.firmware_id for item in make_client().list_ota_firmware(LIGHT_PRODUCT_KEY).items
    ] == [SHOWCASE_FIRMWARE_ID]


def test_firmware_is_not_looked_for_under_data(api: CannedApi, make_client: MakeClient) -> None:
    api.queue(Reply(body=listing([firmware()], wrapper="SimpleFirmwareInfo", total=0)))
    assert make_client().list_ota_firmware(LIGHT_PRODUCT_KEY).items == ()


# --- QueryOTAJob ---------------------------------------------------------------------------


def test_a_job_in_full_is_read_into_a_typed_result(api: CannedApi, make_client: MakeClient) -> None:
    api.queue(Reply(body=success(Data=job_detail())))
    detail = make_client().query_ota_job(EXAMPLE_JOB_ID)
    assert (detail.job_id, detail.status, detail.job_type) == (
        EXAMPLE_JOB_ID,
        JobStatus.IN_PROGRESS,
        JobType.UPGRADE_FIRMWARE,
    )
    assert (detail.name, detail.description, detail.dest_version) == (
        "light-fw",
        "roll out 1.2.0",
        "1.2.0",
    )
    assert detail.src_versions == ("1.0.0", "1.1.0")
    assert (detail.retry_count, detail.retry_interval, detail.timeout_in_minutes) == (1, 60, 1440)
    assert (detail.need_push, detail.need_confirm, detail.overwrite_mode) == (True, False, 1)
    assert detail.tags == (("team", "lights"),)
    assert detail.utc_end_time is None and not detail.finished


@pytest.mark.parametrize(
    ("raw", "status", "finished"),
    [
        ("COMPLETE", JobStatus.COMPLETED, True),
        ("COMPLETED", JobStatus.COMPLETED, True),
        ("CANCELED", JobStatus.CANCELED, True),
        ("PLANNED", JobStatus.PLANNED, False),
        ("PAUSED", "PAUSED", False),
    ],
)
def test_job_statuses_are_read_in_every_spelling_and_an_unknown_one_kept(
    api: CannedApi, make_client: MakeClient, raw: str, status: str, finished: bool
) -> None:
    api.queue(Reply(body=success(Data=job_detail(JobStatus=raw))))
    detail = make_client().query_ota_job(EXAMPLE_JOB_ID)
    assert (detail.status, detail.finished) == (status, finished)
    assert detail.to_api()["JobStatus"] == str(status)


@pytest.mark.parametrize(
    ("src_versions", "expected"),
    [
        ({"SrcVersion": ["1.0.0", "1.1.0"]}, ("1.0.0", "1.1.0")),
        ({"SrcVersion": "1.1.0"}, ("1.1.0",)),
        ("1.1.0", ("1.1.0",)),
        (["1.0.0"], ("1.0.0",)),
        ({}, ()),
        (None, ()),
    ],
    ids=["wrapped-list", "wrapped-single", "single-string", "bare-list", "empty", "null"],
)
def test_src_versions_are_read_in_every_shape(
    api: CannedApi, make_client: MakeClient, src_versions: Any, expected: tuple[str, ...]
) -> None:
    api.queue(Reply(body=success(Data=job_detail(SrcVersions=src_versions))))
    detail = make_client().query_ota_job(EXAMPLE_JOB_ID)
    assert detail.src_versions == expected
    assert detail.to_api()["SrcVersions"] == list(expected)


def test_a_job_without_src_versions_has_none(api: CannedApi, make_client: MakeClient) -> None:
    data = job_detail()
    del data["SrcVersions"]
    api.queue(Reply(body=success(Data=data)))
    assert make_client().query_ota_job(EXAMPLE_JOB_ID).src_versions == ()


def test_job_numbers_sent_as_strings_are_read_as_numbers(
    api: CannedApi, make_client: MakeClient
) -> None:
    data = job_detail(TimeoutInMinutes="1440", RetryCount="3", NeedPush="true", GrayPercent="20")
    api.queue(Reply(body=success(Data=data)))
    detail = make_client().query_ota_job(EXAMPLE_JOB_ID)
    assert (detail.timeout_in_minutes, detail.retry_count, detail.need_push) == (1440, 3, True)
    assert detail.gray_percent == "20"


def test_a_finished_job_has_its_end_time(api: CannedApi, make_client: MakeClient) -> None:
    data = job_detail(JobStatus="COMPLETED", UtcEndTime="2019-12-29T02:43:10.000Z")
    api.queue(Reply(body=success(Data=data)))
    detail = make_client().query_ota_job(EXAMPLE_JOB_ID)
    assert detail.utc_end_time == datetime(2019, 12, 29, 2, 43, 10, tzinfo=UTC)
    assert detail.finished


# --- ListOTATaskByJob ----------------------------------------------------------------------


def test_tasks_of_a_job_read_progress_and_timeout_sent_as_strings(
    api: CannedApi, make_client: MakeClient
) -> None:
    tasks = [
        task("FAILED", Progress="40", Timeout="1440", TaskDesc="download timed out"),
        task("SUCCEEDED", TaskId="t2", DeviceName="light2", Progress="100", Timeout=None),
        task("IN_PROGRESS", TaskId="t3", DeviceName="light3", Progress=0, Timeout=""),
    ]
    api.queue(Reply(body=listing(tasks, wrapper="SimpleOTATaskInfo", total=133, size=3)))
    result = make_client().list_ota_tasks_by_job(EXAMPLE_JOB_ID, page_size=3)
    assert [(t.status, t.progress, t.timeout) for t in result.items] == [
        (TaskStatus.FAILED, 40, 1440),
        (TaskStatus.SUCCEEDED, 100, None),
        (TaskStatus.IN_PROGRESS, 0, None),
    ]
    assert result.items[0].description == "download timed out"
    assert result.items[0].to_api()["Progress"] == 40
    assert (result.total, result.page_count) == (133, 45)


def test_an_unknown_task_status_is_kept(api: CannedApi, make_client: MakeClient) -> None:
    api.queue(Reply(body=listing([task("ROLLED_BACK")], wrapper="SimpleOTATaskInfo")))
    [only] = make_client().list_ota_tasks_by_job(EXAMPLE_JOB_ID).items
    assert (only.status, only.status.is_known) == ("ROLLED_BACK", False)


def test_a_single_task_as_an_object_is_one_task(api: CannedApi, make_client: MakeClient) -> None:
    api.queue(Reply(body=listing(task("FAILED"), wrapper="SimpleOTATaskInfo")))
    [only] = make_client().list_ota_tasks_by_job(EXAMPLE_JOB_ID).items
    assert only.status is TaskStatus.FAILED


@pytest.mark.parametrize("progress", ["forty", "40.5", 40.5, float("nan"), {"n": 40}, True])
def test_a_progress_that_is_no_whole_number_is_malformed(
    api: CannedApi, make_client: MakeClient, progress: Any
) -> None:
    api.queue(Reply(body=listing([task(Progress=progress)], wrapper="SimpleOTATaskInfo")))
    with pytest.raises(UpstreamUnavailableError) as caught:
        make_client().list_ota_tasks_by_job(EXAMPLE_JOB_ID)
    assert caught.value.code == "otabot.MalformedResponse"


# --- ListOTAJobByFirmware ------------------------------------------------------------------


def test_the_jobs_of_a_firmware_read_planned_and_complete(
    api: CannedApi, make_client: MakeClient
) -> None:
    jobs = [job("J1", "PLANNED"), job("J2", "COMPLETE", "VERFIY_FIRMWARE"), job("J3", "ODD")]
    api.queue(Reply(body=listing(jobs, total=3, size=200)))
    result = make_client().list_ota_jobs_by_firmware(SHOWCASE_FIRMWARE_ID)
    assert [(j.status, j.job_type) for j in result.items] == [
        (JobStatus.PLANNED, JobType.UPGRADE_FIRMWARE),
        (JobStatus.COMPLETED, JobType.VERIFY_FIRMWARE),
        ("ODD", JobType.UPGRADE_FIRMWARE),
    ]
    assert (result.total, result.page_count, result.page_size) == (3, 1, 200)


# --- one taxonomy, one gate, one deadline for every action ---------------------------------


@EACH_ACTION
@pytest.mark.parametrize(
    "refusal",
    [
        iot_error("iot.common.RamActionPermissionDeny", "The RAM user has no permission."),
        gateway_error(
            "Forbidden.RAM", "User not authorized to operate on the specified resource.", 403
        ),
    ],
    ids=["business", "gateway"],
)
def test_a_ram_refusal_is_a_forbidden_error_naming_the_action(
    api: CannedApi, make_client: MakeClient, case: ActionCase, refusal: Reply
) -> None:
    api.queue(refusal)
    with pytest.raises(ForbiddenError) as caught:
        case.call(make_client())
    assert caught.value.action == case.name
    assert caught.value.ram_action == f"iot:{case.name}"
    assert len(api.received) == 1


@EACH_ACTION
@pytest.mark.parametrize("fault", [THROTTLED, UNAVAILABLE], ids=["throttled", "unavailable"])
def test_throttling_and_5xx_are_retried_for_every_action(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock, case: ActionCase, fault: Reply
) -> None:
    api.queue(fault, Reply(body=case.answer))
    gate = RecordingGate()
    case.call(make_client(gate=gate))
    assert len(api.received) == 2 and len(fake_time.sleeps) == 1
    throttled = fault is THROTTLED
    deadline = gate.calls[0][2]
    assert gate.calls == [
        ("before", case.name, deadline),
        ("after", case.name, throttled),
        ("before", case.name, deadline),
        ("after", case.name, False),
    ]


@EACH_ACTION
def test_every_action_stops_retrying_at_the_callers_deadline(
    api: CannedApi, make_client: MakeClient, fake_time: FakeClock, case: ActionCase
) -> None:
    api.queue(THROTTLED)
    deadline = fake_time.now + 1.2
    with pytest.raises(ThrottledError) as caught:
        case.call(make_client(), deadline=deadline)
    assert len(api.received) == 2 and fake_time.now <= deadline
    assert caught.value.action == case.name


@EACH_ACTION
def test_a_business_error_and_its_gateway_twin_are_the_same_error(
    api: CannedApi, make_client: MakeClient, case: ActionCase
) -> None:
    api.queue(
        iot_error("iot.system.SystemException", "try later"),
        gateway_error("InternalError", "unknown error", 500),
    )
    errors: list[IotError] = []
    for _ in range(2):
        with pytest.raises(UpstreamUnavailableError) as caught:
            case.call(make_client(retry=RetryPolicy(max_attempts=1)))
        errors.append(caught.value)
    assert [error.retryable for error in errors] == [True, True]
    assert [error.action for error in errors] == [case.name, case.name]


@pytest.mark.parametrize("code", ["iot.ota.JobNotFound", "iot.ota.InvalidJobId"])
def test_an_unknown_job_is_a_job_not_found_error(
    api: CannedApi, make_client: MakeClient, code: str
) -> None:
    api.queue(iot_error(code, "The job does not exist."))
    with pytest.raises(JobNotFoundError) as caught:
        make_client().query_ota_job(EXAMPLE_JOB_ID)
    assert caught.value.action == "QueryOTAJob"
