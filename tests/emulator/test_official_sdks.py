"""The official Alibaba Cloud SDKs, unchanged, against the emulator, for every action.

* ``aliyun-python-sdk-core`` + ``aliyun-python-sdk-iot``: V1 (HMAC-SHA1), POST with
  every parameter in the query string, ``Format=JSON``/``XML``, ``RegionId``, an empty
  ``SignatureType=``.
* ``alibabacloud-iot20180120`` (tea OpenAPI): V3 by default (signs ``accept``,
  ``host``, ``user-agent`` and every ``x-acs-*`` header, business parameters in the
  query); with ``signature_algorithm="v2"`` it signs V1 with ``Format=json`` in lower
  case and no ``RegionId``.

Neither SDK raises on IoT's business errors (HTTP 200, ``Success: false``): they hand
back the body, so these tests read the code from it. Gateway errors (4xx/5xx) raise.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_iot20180120 import models as iot_models
from alibabacloud_iot20180120.client import Client as TeaIotClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkiot.request.v20180120.ListOTAFirmwareRequest import ListOTAFirmwareRequest
from aliyunsdkiot.request.v20180120.ListOTAJobByDeviceRequest import ListOTAJobByDeviceRequest
from aliyunsdkiot.request.v20180120.ListOTAJobByFirmwareRequest import (
    ListOTAJobByFirmwareRequest,
)
from aliyunsdkiot.request.v20180120.ListOTATaskByJobRequest import ListOTATaskByJobRequest
from aliyunsdkiot.request.v20180120.ListOTAUnfinishedTaskByDeviceRequest import (
    ListOTAUnfinishedTaskByDeviceRequest,
)
from aliyunsdkiot.request.v20180120.QueryDeviceDetailRequest import QueryDeviceDetailRequest
from aliyunsdkiot.request.v20180120.QueryOTAJobRequest import QueryOTAJobRequest

from otabot.emulator.server import EmulatorServer
from otabot.iot.actions import ACTIONS
from tests.emulator.signed import FULL_210
from tests.helpers import (
    LIGHT_PRODUCT_KEY,
    METER_FIRMWARE_ID,
    ROLLOUT_FIRMWARE_ID,
    ROLLOUT_JOB_ID,
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    SHOWCASE_FIRMWARE_ID,
)
from tests.helpers import frozen_emulator as frozen


def core_request(
    server: EmulatorServer,
    *,
    device: str = "light1",
    firmware: str = SHOWCASE_FIRMWARE_ID,
    page: int = 1,
    size: int = 10,
    accept: str = "JSON",
) -> ListOTAJobByDeviceRequest:
    request = ListOTAJobByDeviceRequest()
    request.set_endpoint(f"127.0.0.1:{server.port}")
    request.set_protocol_type("http")
    request.set_accept_format(accept)
    request.set_ProductKey(LIGHT_PRODUCT_KEY)
    request.set_DeviceName(device)
    request.set_FirmwareId(firmware)
    request.set_CurrentPage(page)
    request.set_PageSize(size)
    return request


def core_client(secret: str = SAMPLE_ACCESS_KEY_SECRET) -> AcsClient:
    return AcsClient(SAMPLE_ACCESS_KEY_ID, secret, "cn-shanghai")


def core_call(server: EmulatorServer, **kwargs: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        core_client().do_action_with_exception(core_request(server, **kwargs))
    )
    return body


def tea_client(
    server: EmulatorServer,
    *,
    v1: bool = False,
    secret: str = SAMPLE_ACCESS_KEY_SECRET,
    token: str | None = None,
) -> TeaIotClient:
    extra: dict[str, str] = {"signature_algorithm": "v2"} if v1 else {}
    if token is not None:
        extra["security_token"] = token
    return TeaIotClient(
        Config(
            access_key_id=SAMPLE_ACCESS_KEY_ID,
            access_key_secret=secret,
            endpoint=f"127.0.0.1:{server.port}",
            protocol="http",
            **extra,
        )
    )


def tea_request(
    device: str = "light1", firmware: str = SHOWCASE_FIRMWARE_ID, page: int = 1, size: int = 10
) -> iot_models.ListOTAJobByDeviceRequest:
    return iot_models.ListOTAJobByDeviceRequest(
        product_key=LIGHT_PRODUCT_KEY,
        device_name=device,
        firmware_id=firmware,
        current_page=page,
        page_size=size,
    )


# aliyun-python-sdk-core (V1).


def test_core_sdk_lists_jobs_as_json(emulator: EmulatorServer) -> None:
    body = core_call(emulator)
    assert (body["Success"], body["Total"], body["PageCount"]) == (True, 14, 2)
    assert len(body["Data"]["SimpleOTAJobInfo"]) == 10


def test_core_sdk_pages_through_every_job(emulator: EmulatorServer) -> None:
    pages = [core_call(emulator, page=page, size=5) for page in (1, 2, 3, 4)]
    ids = [job["JobId"] for page in pages for job in page["Data"]["SimpleOTAJobInfo"]]
    assert [len(page["Data"]["SimpleOTAJobInfo"]) for page in pages] == [5, 5, 4, 0]
    assert len(set(ids)) == 14


def test_core_sdk_lists_jobs_as_xml(emulator: EmulatorServer) -> None:
    # do_action_with_exception forces JSON; do_action sends the format asked for.
    with pytest.warns(DeprecationWarning):
        raw = core_client().do_action(core_request(emulator, accept="XML", size=100))
    root = ElementTree.fromstring(raw)
    assert root.tag == "ListOTAJobByDeviceResponse"
    assert root.findtext("Total") == "14"
    assert len(root.findall("Data/SimpleOTAJobInfo")) == 14


def test_core_sdk_signs_in_an_sts_token(emulator: EmulatorServer) -> None:
    client = AcsClient(
        region_id="cn-shanghai",
        credential=StsTokenCredential(
            SAMPLE_ACCESS_KEY_ID, SAMPLE_ACCESS_KEY_SECRET, "CAIS+tok/en=="
        ),
    )
    body = json.loads(client.do_action_with_exception(core_request(emulator)))
    assert body["Total"] == 14


def test_core_sdk_gets_the_business_error_body_for_an_unknown_device(
    emulator: EmulatorServer,
) -> None:
    body = core_call(emulator, device="light404")
    assert (body["Success"], body["Code"]) == (False, "iot.device.NotExistedDevice")


def test_core_sdk_gets_the_business_error_for_firmware_of_another_product(
    emulator: EmulatorServer,
) -> None:
    body = core_call(emulator, firmware=METER_FIRMWARE_ID)
    assert body["Code"] == "iot.ota.FirmwareAndProductKeyMismatch"


def test_core_sdk_recognises_our_string_to_sign_on_a_wrong_secret(
    emulator: EmulatorServer,
) -> None:
    """The SDK turns SignatureDoesNotMatch into InvalidAccessKeySecret only when the
    server's string to sign equals its own: proof that we canonicalise as it does."""
    with pytest.raises(ServerException) as raised:
        core_client("wrongsecret").do_action_with_exception(core_request(emulator))
    assert raised.value.get_http_status() == 400
    assert raised.value.get_error_code() == "InvalidAccessKeySecret"


def test_core_sdk_raises_on_an_unknown_access_key(emulator: EmulatorServer) -> None:
    client = AcsClient("nosuchkey", SAMPLE_ACCESS_KEY_SECRET, "cn-shanghai")
    with pytest.raises(ServerException) as raised:
        client.do_action_with_exception(core_request(emulator))
    assert raised.value.get_error_code() == "InvalidAccessKeyId.NotFound"
    assert raised.value.get_http_status() == 404


def test_core_sdk_gets_invalid_page_params_for_a_page_size_above_100(
    emulator: EmulatorServer,
) -> None:
    body = core_call(emulator, size=101)
    assert body["Code"] == "iot.common.InvalidPageParams"


@pytest.fixture
def frozen_emulator() -> Iterator[EmulatorServer]:
    with frozen(qps=2) as server:
        yield server


def test_core_sdk_raises_throttling_past_the_quota(frozen_emulator: EmulatorServer) -> None:
    core_call(frozen_emulator)
    core_call(frozen_emulator)
    with pytest.raises(ServerException) as raised:
        core_call(frozen_emulator)
    assert raised.value.get_error_code() == "Throttling.User"


def test_core_sdk_raises_on_an_injected_503(emulator: EmulatorServer) -> None:
    emulator.set_faults(error="ServiceUnavailable", count=1)
    with pytest.raises(ServerException) as raised:
        core_call(emulator)
    assert (raised.value.get_http_status(), raised.value.get_error_code()) == (
        503,
        "ServiceUnavailable",
    )


# alibabacloud-iot20180120 (tea OpenAPI), V3 and V1.


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_tea_sdk_lists_jobs(emulator: EmulatorServer, v1: bool) -> None:
    body = tea_client(emulator, v1=v1).list_otajob_by_device(tea_request(size=5, page=3)).body
    assert (body.success, body.total, body.page_count, body.current_page) == (True, 14, 3, 3)
    jobs = body.data.simple_otajob_info
    assert len(jobs) == 4
    assert {job.firmware_id for job in jobs} == {SHOWCASE_FIRMWARE_ID}


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_tea_sdk_signs_in_an_sts_token(emulator: EmulatorServer, v1: bool) -> None:
    client = tea_client(emulator, v1=v1, token="CAIS+tok/en==")
    assert client.list_otajob_by_device(tea_request()).body.total == 14


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_tea_sdk_pages_past_the_end(emulator: EmulatorServer, v1: bool) -> None:
    body = tea_client(emulator, v1=v1).list_otajob_by_device(tea_request(size=5, page=9)).body
    assert (body.total, body.data.simple_otajob_info) == (14, [])


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_tea_sdk_gets_the_business_error_for_an_unknown_device(
    emulator: EmulatorServer, v1: bool
) -> None:
    body = tea_client(emulator, v1=v1).list_otajob_by_device(tea_request("light404")).body
    assert (body.success, body.code) == (False, "iot.device.NotExistedDevice")
    assert body.error_message


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_tea_sdk_raises_signature_does_not_match_on_a_wrong_secret(
    emulator: EmulatorServer, v1: bool
) -> None:
    client = tea_client(emulator, v1=v1, secret="wrongsecret")
    with pytest.raises(AlibabaCloudException) as raised:
        client.list_otajob_by_device(tea_request())
    assert raised.value.code == "SignatureDoesNotMatch"
    assert raised.value.status_code == 400


@pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])
def test_tea_sdk_raises_on_a_missing_parameter(emulator: EmulatorServer, v1: bool) -> None:
    request = iot_models.ListOTAJobByDeviceRequest(
        product_key=LIGHT_PRODUCT_KEY, device_name="light1", current_page=1, page_size=10
    )
    with pytest.raises(AlibabaCloudException) as raised:
        tea_client(emulator, v1=v1).list_otajob_by_device(request)
    assert raised.value.code == "MissingFirmwareId"


def test_tea_sdk_raises_throttling_past_the_quota(frozen_emulator: EmulatorServer) -> None:
    client = tea_client(frozen_emulator)
    client.list_otajob_by_device(tea_request())
    client.list_otajob_by_device(tea_request())
    with pytest.raises(AlibabaCloudException) as raised:
        client.list_otajob_by_device(tea_request())
    assert raised.value.code == "Throttling.User"


def test_official_sdks_calls_are_counted(emulator: EmulatorServer) -> None:
    core_call(emulator)
    tea_client(emulator).list_otajob_by_device(tea_request())
    tea_client(emulator, v1=True).list_otajob_by_device(tea_request())
    stats = emulator.stats()
    assert stats["by_action"] == {"ListOTAJobByDevice": 3}
    assert stats["by_code"] == {"OK": 3}


# Every action, through each SDK's own request classes and setters.


def core_action(server: EmulatorServer, request: Any, accept: str, **setters: Any) -> Any:
    """``request`` for the emulator, each ``Name=value`` given through ``set_Name``."""
    request.set_endpoint(f"127.0.0.1:{server.port}")
    request.set_protocol_type("http")
    request.set_accept_format(accept)
    for name, value in setters.items():
        getattr(request, f"set_{name}")(value)
    return request


def core_unfinished(server: EmulatorServer, accept: str = "JSON") -> Any:
    return core_action(
        server,
        ListOTAUnfinishedTaskByDeviceRequest(),
        accept,
        ProductKey=LIGHT_PRODUCT_KEY,
        DeviceName="light1",
        TaskStatusLists=["QUEUED", "IN_PROGRESS"],  # sic: the SDK's own spelling
    )


def core_device(server: EmulatorServer, accept: str = "JSON") -> Any:
    request = QueryDeviceDetailRequest()
    return core_action(server, request, accept, ProductKey=LIGHT_PRODUCT_KEY, DeviceName="light1")


def core_firmware(server: EmulatorServer, accept: str = "JSON") -> Any:
    page = {"CurrentPage": 1, "PageSize": 10}
    request = ListOTAFirmwareRequest()
    return core_action(
        server, request, accept, ProductKey=LIGHT_PRODUCT_KEY, DestVersion="2.1.0", **page
    )


def core_job(server: EmulatorServer, accept: str = "JSON") -> Any:
    return core_action(server, QueryOTAJobRequest(), accept, JobId=ROLLOUT_JOB_ID)


def core_tasks(server: EmulatorServer, accept: str = "JSON") -> Any:
    return core_action(
        server,
        ListOTATaskByJobRequest(),
        accept,
        JobId=ROLLOUT_JOB_ID,
        TaskStatus="FAILED",
        DeviceNamess=["lamp-05", "lamp-09", "lamp-10"],  # sic: the SDK's own spelling
        CurrentPage=1,
        PageSize=10,
    )


def core_jobs_by_firmware(server: EmulatorServer, accept: str = "JSON") -> Any:
    request = ListOTAJobByFirmwareRequest()
    return core_action(server, request, accept, FirmwareId=FULL_210, CurrentPage=1, PageSize=200)


def test_core_sdk_lists_unfinished_tasks_with_its_task_status_list(
    emulator: EmulatorServer,
) -> None:
    body = json.loads(core_client().do_action_with_exception(core_unfinished(emulator)))
    (task,) = body["Data"]["SimpleOTATaskInfo"]
    assert (task["TaskId"], task["TaskStatus"]) == ("y3tOmCDNgpR8F9jnVEzC01200", "IN_PROGRESS")


def test_core_sdk_queries_a_device_and_gets_its_secret(emulator: EmulatorServer) -> None:
    data = json.loads(core_client().do_action_with_exception(core_device(emulator)))["Data"]
    assert (data["DeviceName"], data["Status"], data["FirmwareVersion"]) == (
        "light1",
        "ONLINE",
        "2.0.0",
    )
    assert data["DeviceSecret"]


def test_core_sdk_lists_both_packages_of_a_version(emulator: EmulatorServer) -> None:
    body = json.loads(core_client().do_action_with_exception(core_firmware(emulator)))
    packages = body["FirmwareInfo"]["SimpleFirmwareInfo"]
    assert [(p["FirmwareId"], p["Type"]) for p in packages] == [
        (FULL_210, 0),
        (ROLLOUT_FIRMWARE_ID, 1),
    ]


def test_core_sdk_queries_a_job(emulator: EmulatorServer) -> None:
    data = json.loads(core_client().do_action_with_exception(core_job(emulator)))["Data"]
    assert (data["JobId"], data["SrcVersions"]) == (ROLLOUT_JOB_ID, {"SrcVersion": ["2.0.0"]})


def test_core_sdk_lists_tasks_of_named_devices_with_its_device_names(
    emulator: EmulatorServer,
) -> None:
    body = json.loads(core_client().do_action_with_exception(core_tasks(emulator)))
    tasks = body["Data"]["SimpleOTATaskInfo"]
    assert [(t["DeviceName"], t["TaskDesc"]) for t in tasks] == [
        ("lamp-05", "download timed out"),
        ("lamp-09", "signature verification failed"),
    ]
    assert body["Total"] == 2


def test_core_sdk_lists_jobs_of_a_firmware(emulator: EmulatorServer) -> None:
    body = json.loads(core_client().do_action_with_exception(core_jobs_by_firmware(emulator)))
    (job,) = body["Data"]["SimpleOTAJobInfo"]
    assert (job["JobStatus"], body["PageSize"]) == ("PLANNED", 200)


@pytest.mark.parametrize(
    ("build", "root", "path", "count"),
    [
        (core_unfinished, "ListOTAUnfinishedTaskByDeviceResponse", "Data/SimpleOTATaskInfo", 1),
        (core_device, "QueryDeviceDetailResponse", "Data/DeviceSecret", 1),
        (core_firmware, "ListOTAFirmwareResponse", "FirmwareInfo/SimpleFirmwareInfo", 2),
        (core_job, "QueryOTAJobResponse", "Data/SrcVersions/SrcVersion", 1),
        (core_tasks, "ListOTATaskByJobResponse", "Data/SimpleOTATaskInfo", 2),
        (core_jobs_by_firmware, "ListOTAJobByFirmwareResponse", "Data/SimpleOTAJobInfo", 1),
    ],
    ids=["unfinished", "device", "firmware", "job", "tasks", "jobs-by-firmware"],
)
def test_core_sdk_gets_every_action_in_xml(
    emulator: EmulatorServer, build: Any, root: str, path: str, count: int
) -> None:
    with pytest.warns(DeprecationWarning):
        raw = core_client().do_action(build(emulator, accept="XML"))
    document = ElementTree.fromstring(raw)
    assert (document.tag, document.findtext("Success")) == (root, "true")
    assert len(document.findall(path)) == count


def test_core_sdk_gets_the_business_error_for_an_unknown_job(emulator: EmulatorServer) -> None:
    request = core_action(emulator, QueryOTAJobRequest(), "JSON", JobId="NoSuchJob000000000000")
    body = json.loads(core_client().do_action_with_exception(request))
    assert (body["Success"], body["Code"]) == (False, "iot.ota.JobNotFound")


V3_AND_V1 = pytest.mark.parametrize("v1", [False, True], ids=["v3", "v1"])


@V3_AND_V1
def test_tea_sdk_lists_unfinished_tasks(emulator: EmulatorServer, v1: bool) -> None:
    request = iot_models.ListOTAUnfinishedTaskByDeviceRequest(
        product_key=LIGHT_PRODUCT_KEY,
        device_name="light1",
        task_status_list=["QUEUED", "IN_PROGRESS"],
    )
    body = tea_client(emulator, v1=v1).list_otaunfinished_task_by_device(request).body
    (task,) = body.data.simple_otatask_info
    assert (task.job_id, task.task_status, task.module_name) == (
        ROLLOUT_JOB_ID,
        "IN_PROGRESS",
        "default",
    )


@V3_AND_V1
def test_tea_sdk_queries_a_device_by_iot_id(emulator: EmulatorServer, v1: bool) -> None:
    client = tea_client(emulator, v1=v1)
    by_name = client.query_device_detail(
        iot_models.QueryDeviceDetailRequest(product_key=LIGHT_PRODUCT_KEY, device_name="light2")
    ).body.data
    by_id = client.query_device_detail(
        iot_models.QueryDeviceDetailRequest(iot_id=by_name.iot_id)
    ).body.data
    assert (by_id.device_name, by_id.status, by_id.node_type) == ("light2", "OFFLINE", 0)
    assert by_id.device_secret == by_name.device_secret


@V3_AND_V1
def test_tea_sdk_lists_firmware(emulator: EmulatorServer, v1: bool) -> None:
    request = iot_models.ListOTAFirmwareRequest(
        product_key=LIGHT_PRODUCT_KEY, dest_version="2.1.0", current_page=1, page_size=10
    )
    body = tea_client(emulator, v1=v1).list_otafirmware(request).body
    assert (body.total, body.page_count) == (2, 1)
    delta = body.firmware_info.simple_firmware_info[1]
    assert (delta.firmware_id, delta.type, delta.src_version) == (ROLLOUT_FIRMWARE_ID, 1, "2.0.0")


@V3_AND_V1
def test_tea_sdk_queries_a_job(emulator: EmulatorServer, v1: bool) -> None:
    request = iot_models.QueryOTAJobRequest(job_id=ROLLOUT_JOB_ID)
    data = tea_client(emulator, v1=v1).query_otajob(request).body.data
    assert (data.name, data.src_versions.src_version) == ("light-fw 2.1.0 delta", ["2.0.0"])
    assert data.tags.ota_tag_dto[0].value == "OPS-5230"


@V3_AND_V1
def test_tea_sdk_lists_tasks_of_a_job(emulator: EmulatorServer, v1: bool) -> None:
    request = iot_models.ListOTATaskByJobRequest(
        job_id=ROLLOUT_JOB_ID, device_names=["light1", "lamp-13"], current_page=1, page_size=10
    )
    body = tea_client(emulator, v1=v1).list_otatask_by_job(request).body
    tasks = body.data.simple_otatask_info
    assert [(t.device_name, t.progress, t.timeout) for t in tasks] == [
        ("light1", "40", "1440"),
        ("lamp-13", "55", "1440"),
    ]


@V3_AND_V1
def test_tea_sdk_lists_jobs_of_a_firmware(emulator: EmulatorServer, v1: bool) -> None:
    request = iot_models.ListOTAJobByFirmwareRequest(
        firmware_id=SHOWCASE_FIRMWARE_ID, current_page=2, page_size=10
    )
    body = tea_client(emulator, v1=v1).list_otajob_by_firmware(request).body
    assert (body.total, body.current_page, len(body.data.simple_otajob_info)) == (14, 2, 4)


@V3_AND_V1
def test_tea_sdk_raises_on_a_missing_job_id(emulator: EmulatorServer, v1: bool) -> None:
    with pytest.raises(AlibabaCloudException) as raised:
        tea_client(emulator, v1=v1).query_otajob(iot_models.QueryOTAJobRequest())
    assert (raised.value.code, raised.value.status_code) == ("MissingJobId", 400)


def test_every_action_of_both_sdks_is_counted_by_action(emulator: EmulatorServer) -> None:
    client = core_client()
    for build in (core_unfinished, core_device, core_firmware, core_job, core_tasks):
        client.do_action_with_exception(build(emulator))
    client.do_action_with_exception(core_jobs_by_firmware(emulator))
    client.do_action_with_exception(core_request(emulator))
    assert emulator.stats()["by_action"] == dict.fromkeys(ACTIONS, 1)
    assert emulator.stats()["by_code"] == {"OK": 7}
