"""What the API answers, as canned replies, and checks of what the client sent it."""

from __future__ import annotations

from typing import Any

from otabot.iot.signing import v1_signature, v3_canonical_request, v3_signature
from tests.helpers import EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from tests.iot.canned import Received, Reply

SECRET = "s3cr3t-Access-Key-Secret"
STS_TOKEN = "CAIS+sts/T0ken=="
DEVICE = "light1"
REQUEST_ID = "5D58AC86-D5BF-4B39-834E-913E7F2C985D"


def job(
    job_id: str = EXAMPLE_JOB_ID,
    status: str = "COMPLETED",
    job_type: str = "UPGRADE_FIRMWARE",
    tags: Any = None,
) -> dict[str, Any]:
    """One ``SimpleOTAJobInfo`` as the documentation's example spells it."""
    item: dict[str, Any] = {
        "SelectionType": "STATIC",
        "TargetSelection": "SPECIFIC",
        "JobType": job_type,
        "FirmwareId": SHOWCASE_FIRMWARE_ID,
        "UtcStartTime": "2019-12-28T02:43:10.000Z",
        "ProductKey": LIGHT_PRODUCT_KEY,
        "JobId": job_id,
        "UtcModified": "2019-12-29T02:43:10.000Z",
        "JobStatus": status,
        "UtcCreate": "2019-12-28T02:43:10.000Z",
    }
    if status != "IN_PROGRESS":
        item["UtcEndTime"] = "2019-12-29T02:43:10.000Z"
    if tags is not None:
        item["Tags"] = tags
    return item


def listing(
    items: Any,
    *,
    container: str = "Data",
    wrapper: str = "SimpleOTAJobInfo",
    total: int | None = None,
    current: int = 1,
    size: int = 100,
) -> dict[str, Any]:
    """A successful answer of a paged list action, its items in ``container.wrapper``."""
    total = (len(items) if isinstance(items, list) else 1) if total is None else total
    return {
        "PageCount": -(-total // size),
        container: {wrapper: items},
        "PageSize": size,
        "RequestId": REQUEST_ID,
        "CurrentPage": current,
        "Success": True,
        "Total": total,
    }


def page(
    jobs: list[dict[str, Any]], *, total: int | None = None, current: int = 1, size: int = 100
) -> dict[str, Any]:
    """A successful ``ListOTAJobByDevice`` answer."""
    return listing(jobs, total=total, current=current, size=size)


def gateway_error(code: str, message: str, status: int = 400) -> Reply:
    """An error as the API gateway answers it: HTTP 4xx/5xx, ``Code`` and ``Message``."""
    return Reply(
        status=status,
        body={
            "RequestId": f"req-{code}",
            "HostId": "iot.cn-shanghai.aliyuncs.com",
            "Code": code,
            "Message": message,
            "Recommend": "https://api.aliyun.com/troubleshoot?q=" + code,
        },
    )


def iot_error(code: str, message: str) -> Reply:
    """An error as IoT Platform answers it: HTTP 200, ``Success: false``, ``ErrorMessage``."""
    return Reply(
        body={"RequestId": f"req-{code}", "Success": False, "Code": code, "ErrorMessage": message}
    )


THROTTLED = gateway_error("Throttling.User", "Request was denied due to user flow control.")
UNAVAILABLE = gateway_error(
    "ServiceUnavailable", "The request has failed due to a temporary failure of the server.", 503
)
OK = Reply(body=page([job()]))


def v1_signature_is_valid(received: Received, secret: str = SECRET) -> bool:
    params = {k: v for k, v in received.query.items() if k != "Signature"}
    return v1_signature(received.method, params, secret) == received.query["Signature"]


def v3_signature_is_valid(received: Received, secret: str = SECRET) -> bool:
    authorization = received.headers["authorization"]
    fields = dict(part.split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
    signed = fields["SignedHeaders"].split(";")
    canonical = v3_canonical_request(
        received.method, received.path, received.query, received.headers, signed, received.body
    )
    return v3_signature(canonical, secret) == fields["Signature"]


DEVICE_SECRET = "dS3cr3t-0f-l1ght1-XyZ"
IOT_ID = "Q7uOhVRdZRRlDnTLv****00100"


def task(status: str = "IN_PROGRESS", **fields: Any) -> dict[str, Any]:
    """One ``SimpleOTATaskInfo`` (numbers as strings, as ListOTATaskByJob sends them)."""
    return {
        "TaskId": "y3tOmCDNgpR8F9jnVEzC01200",
        "TaskStatus": status,
        "JobId": EXAMPLE_JOB_ID,
        "FirmwareId": SHOWCASE_FIRMWARE_ID,
        "SrcVersion": "1.1.0",
        "DestVersion": "1.2.0",
        "IotId": IOT_ID,
        "ProductKey": LIGHT_PRODUCT_KEY,
        "ProductName": "Smart light",
        "DeviceName": DEVICE,
        "UtcCreate": "2019-12-28T02:43:10.000Z",
        "UtcModified": "2019-12-28T03:00:00.000Z",
        **fields,
    }


def device_detail(**fields: Any) -> dict[str, Any]:
    """``QueryDeviceDetail``'s ``Data``, its ``DeviceSecret`` included as the API sends it."""
    return {
        "ProductKey": LIGHT_PRODUCT_KEY,
        "ProductName": "Smart light",
        "DeviceName": DEVICE,
        "Nickname": "lobby",
        "IotId": IOT_ID,
        "DeviceSecret": DEVICE_SECRET,
        "Status": "ONLINE",
        "FirmwareVersion": "1.1.0",
        "NodeType": 0,
        "IpAddress": "10.0.0.7",
        "Region": "cn-shanghai",
        "UtcCreate": "2019-12-20T02:43:10.000Z",
        "UtcActive": "2019-12-21T02:43:10.000Z",
        "UtcOnline": "2019-12-28T02:40:00.000Z",
        "GmtOnline": "2019-12-28 10:40:00",
        **fields,
    }


def firmware(**fields: Any) -> dict[str, Any]:
    """One ``SimpleFirmwareInfo``: Status, Type and FirmwareSize are numbers."""
    return {
        "FirmwareId": SHOWCASE_FIRMWARE_ID,
        "FirmwareName": "light-fw",
        "FirmwareDesc": "fixes the flicker",
        "DestVersion": "1.2.0",
        "ModuleName": "default",
        "ProductKey": LIGHT_PRODUCT_KEY,
        "ProductName": "Smart light",
        "FirmwareSize": 1048576,
        "FirmwareSign": "93230c3bde425a9d7984a594ac56****",
        "SignMethod": "MD5",
        "Status": 1,
        "Type": 0,
        "UtcCreate": "2019-12-20T02:43:10.000Z",
        "UtcModified": "2019-12-20T02:43:10.000Z",
        **fields,
    }


def job_detail(**fields: Any) -> dict[str, Any]:
    """``QueryOTAJob``'s ``Data``, wrapped lists and all."""
    return {
        **job(status="IN_PROGRESS"),
        "JobDesc": "roll out 1.2.0",
        "Name": "light-fw",
        "DestVersion": "1.2.0",
        "SrcVersions": {"SrcVersion": ["1.0.0", "1.1.0"]},
        "GrayPercent": None,
        "DynamicMode": 0,
        "OverwriteMode": 1,
        "MaximumPerMinute": 1000,
        "RetryCount": 1,
        "RetryInterval": 60,
        "TimeoutInMinutes": 1440,
        "NeedPush": True,
        "NeedConfirm": False,
        "MultiModuleMode": False,
        "UtcScheduleTime": None,
        "Tags": {"OtaTagDTO": [{"Key": "team", "Value": "lights"}]},
        **fields,
    }


def success(**fields: Any) -> dict[str, Any]:
    """A successful answer with these top-level fields."""
    return {"RequestId": REQUEST_ID, "Success": True, **fields}
