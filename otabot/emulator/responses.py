"""The emulator's wire format (moto's responses.py): parse, verify signatures, serialise.

A request is an RPC call as ``iot.<region>.aliyuncs.com`` receives it: signed with
V1 (``Signature`` among the parameters, which may sit in the query string and/or a
form-encoded body) or V3 (``Authorization: ACS3-HMAC-SHA256 …``, verified over
exactly the headers it names as signed). Verification uses the same pure functions
as otabot's signers (``otabot.iot.signing``). Each action's parameters are checked
(``Missing<Param>`` for a required one, repeated ones as ``Name.1``, ``Name.2``…) and
parsed into the typed arguments of ``IotPlatform``; its result is serialised in the
API's own shapes: ``Data.SimpleOTAJobInfo``, ``FirmwareInfo.SimpleFirmwareInfo``,
``Tags.OtaTagDTO``, ``SrcVersions.SrcVersion``, absent fields left out. Answers are
JSON or XML by ``Format`` (case-insensitive; XML by default for V1 as the real API,
JSON for V3 unless the ``Accept`` header asks for XML), in the gateway's or IoT's
error shape.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from otabot.emulator.exceptions import (
    EmulatorError,
    GatewayError,
    IncompleteSignature,
    InternalError,
    InvalidActionNotFound,
    InvalidPageParams,
    InvalidVersion,
    MissingParameter,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    Throttling,
)
from otabot.emulator.fleet import FleetDevice, FleetFirmware, FleetJob, FleetTask, present
from otabot.emulator.models import DeviceRef, IotPlatform, Page
from otabot.iot.signing import (
    V3_ALGORITHM,
    v1_signature,
    v1_string_to_sign,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)
from otabot.iot.times import parse_utc

T = TypeVar("T")
Body = dict[str, Any]

API_VERSION = "2018-01-20"
JSON_TYPE = "application/json;charset=utf-8"
XML_TYPE = "text/xml;charset=utf-8"
FAULT_CLASSES: dict[str, type[GatewayError]] = {
    "ServiceUnavailable": ServiceUnavailable,
    "InternalError": InternalError,
    "Throttling": Throttling,
}
V1_COMMON_PARAMETERS = (
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
)
# Where the API leaves a page parameter optional, these are taken (inferred).
DEFAULT_CURRENT_PAGE = 1
DEFAULT_PAGE_SIZE = 10
# The most values a repeated parameter (Name.1 … Name.N) may carry.
MAX_REPEATED = 100
# Gmt* fields are the console's local time (China Standard Time), as human text.
GMT_OFFSET = timedelta(hours=8)


@dataclass(frozen=True)
class WireRequest:
    """An HTTP request as received: header names lower-cased, the raw body."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""
    arrived: float | None = None  # when it arrived, on the platform's monotonic clock

    @property
    def path(self) -> str:
        return urlsplit(self.target).path or "/"

    # Read once each: every step of a call (quota, handler, signature, format) asks again.
    @cached_property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    @cached_property
    def form(self) -> dict[str, str]:
        """Parameters of a form-encoded body (the official SDKs may send them there)."""
        content_type = self.headers.get("content-type", "")
        if not self.body or not content_type.startswith("application/x-www-form-urlencoded"):
            return {}
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    @cached_property
    def parameters(self) -> dict[str, str]:
        """Query and form parameters together (the body wins on a clash)."""
        return {**self.query, **self.form}

    @property
    def is_v3(self) -> bool:
        return "authorization" in self.headers

    @property
    def action(self) -> str:
        if self.is_v3:
            return self.headers.get("x-acs-action", "")
        return self.parameters.get("Action", "")

    @property
    def wants_xml(self) -> bool:
        requested = self.parameters.get("Format", "").strip().lower()
        if requested in ("json", "xml"):
            return requested == "xml"
        if self.is_v3:
            return "xml" in self.headers.get("accept", "").lower()
        return True

    @property
    def host_id(self) -> str:
        return self.headers.get("host", "").rsplit(":", 1)[0] or "127.0.0.1"


@dataclass(frozen=True)
class WireResponse:
    """An HTTP answer: status, content type and body (plus extra headers)."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    code: str = "OK"


def new_request_id() -> str:
    """A RequestId as the API spells them: an upper-case UUID."""
    return str(uuid.uuid4()).upper()


class Parameters:
    """One call's business parameters, read the way the API reads them."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def text(self, name: str) -> str | None:
        """The value, or None when absent or blank."""
        value = self._values.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise MissingParameter(name)
        return value

    def number(self, name: str, default: int) -> int:
        """A page parameter; ``iot.common.InvalidPageParams`` when it is not a whole number."""
        value = self.text(name)
        if value is None:
            return default
        if not re.fullmatch(r"-?[0-9]{1,9}", value):
            raise InvalidPageParams(f"{name} must be a whole number.")
        return int(value)

    def repeated(self, name: str) -> tuple[str, ...]:
        """``Name.1``, ``Name.2``, … in index order (blank ones left out)."""
        pattern = re.compile(re.escape(name) + r"\.([1-9][0-9]{0,2})")
        found = {}
        for key, value in self._values.items():
            match = pattern.fullmatch(key)
            if match and value.strip():
                found[int(match.group(1))] = value.strip()
        if len(found) > MAX_REPEATED:
            raise InvalidPageParams(f"{name} takes at most {MAX_REPEATED} values.")
        return tuple(found[index] for index in sorted(found))

    @property
    def page(self) -> tuple[int, int]:
        """``(CurrentPage, PageSize)``, defaults where the action leaves them optional."""
        return (
            self.number("CurrentPage", DEFAULT_CURRENT_PAGE),
            self.number("PageSize", DEFAULT_PAGE_SIZE),
        )

    @property
    def instance(self) -> str | None:
        return self.text("IotInstanceId")

    @property
    def device(self) -> DeviceRef:
        return DeviceRef(self.text("IotId"), self.text("ProductKey"), self.text("DeviceName"))


# Serialisers: fleet objects in the API's shapes (absent values left out).


def job_info(job: FleetJob) -> Body:
    """A job as ``SimpleOTAJobInfo`` (end time only when finished, tags only if any)."""
    info = present(
        {
            "SelectionType": job.selection_type,
            "TargetSelection": job.target_selection,
            "JobType": job.job_type,
            "FirmwareId": job.firmware_id,
            "UtcStartTime": job.utc_start_time,
            "ProductKey": job.product_key,
            "JobId": job.job_id,
            "UtcModified": job.utc_modified,
            "JobStatus": job.job_status,
            "UtcCreate": job.utc_create,
            "UtcEndTime": job.utc_end_time,
        }
    )
    if job.tags:
        info["Tags"] = _tags(job)
    return info


def job_detail(job: FleetJob) -> Body:
    """A job as ``QueryOTAJob``'s ``Data``, which says COMPLETED where lists may say COMPLETE."""
    detail = present(
        {
            "JobId": job.job_id,
            "JobDesc": job.job_desc,
            "JobStatus": "COMPLETED" if job.job_status == "COMPLETE" else job.job_status,
            "JobType": job.job_type,
            "FirmwareId": job.firmware_id,
            "Name": job.name,
            "ProductKey": job.product_key,
            "DestVersion": job.dest_version,
            "SelectionType": job.selection_type,
            "TargetSelection": job.target_selection,
            "GrayPercent": job.gray_percent if job.target_selection == "GRAY" else None,
            "DynamicMode": 1 if job.selection_type == "DYNAMIC" else None,
            "OverwriteMode": 1,
            "RetryCount": job.retry_count,
            "RetryInterval": job.retry_interval,
            "TimeoutInMinutes": job.timeout_in_minutes,
            "NeedPush": True,
            "NeedConfirm": any(task.task_status == "CONFIRM" for task in job.tasks),
            "MultiModuleMode": False,
            "UtcCreate": job.utc_create,
            "UtcModified": job.utc_modified,
            "UtcStartTime": job.utc_start_time,
            "UtcEndTime": job.utc_end_time,
            "UtcScheduleTime": job.utc_schedule_time,
        }
    )
    if job.src_versions:
        detail["SrcVersions"] = {"SrcVersion": list(job.src_versions)}
    if job.tags:
        detail["Tags"] = _tags(job)
    return detail


def _task_fields(task: FleetTask) -> Body:
    return {
        "TaskId": task.task_id,
        "TaskStatus": task.task_status,
        "JobId": task.job_id,
        "FirmwareId": task.firmware_id,
        "SrcVersion": task.src_version,
        "DestVersion": task.dest_version,
        "IotId": task.iot_id,
        "ProductKey": task.product_key,
        "ProductName": task.product_name,
        "DeviceName": task.device_name,
        "UtcCreate": task.utc_create,
        "UtcModified": task.utc_modified,
    }


def task_info(task: FleetTask) -> Body:
    """A task as ``ListOTATaskByJob`` lists it: with TaskDesc, Progress and Timeout (strings)."""
    fields = _task_fields(task)
    fields.update(TaskDesc=task.task_desc, Progress=task.progress, Timeout=task.timeout)
    return present(fields)


def unfinished_task_info(task: FleetTask) -> Body:
    """A task as ``ListOTAUnfinishedTaskByDevice`` lists it: with its ModuleName."""
    fields = _task_fields(task)
    fields["ModuleName"] = task.module_name
    return present(fields)


def device_detail(device: FleetDevice) -> Body:
    """A device as ``QueryDeviceDetail``'s ``Data``, its credential ``DeviceSecret`` included."""
    return present(
        {
            "IotId": device.iot_id,
            "ProductKey": device.product_key,
            "ProductName": device.product_name,
            "DeviceName": device.device_name,
            "DeviceSecret": device.device_secret,
            "Nickname": device.nickname,
            "Status": device.status,
            "FirmwareVersion": device.firmware_version,
            "NodeType": 0,
            "Owner": True,
            "UtcOnline": device.utc_online,
            "GmtOnline": _gmt(device.utc_online),
        }
    )


def firmware_info(firmware: FleetFirmware) -> Body:
    """A package as ``SimpleFirmwareInfo``: Status and Type as numbers."""
    return present(
        {
            "FirmwareId": firmware.firmware_id,
            "FirmwareName": firmware.firmware_name,
            "FirmwareDesc": firmware.firmware_desc,
            "DestVersion": firmware.dest_version,
            "SrcVersion": firmware.src_version,
            "ModuleName": firmware.module_name,
            "ProductKey": firmware.product_key,
            "ProductName": firmware.product_name,
            "FirmwareSize": firmware.firmware_size,
            "FirmwareSign": hashlib.md5(
                firmware.firmware_id.encode(), usedforsecurity=False
            ).hexdigest(),
            "SignMethod": "MD5",
            "Status": firmware.status,
            "Type": firmware.firmware_type,
            "UtcCreate": firmware.utc_create,
            "UtcModified": firmware.utc_create,
        }
    )


def paged(page: Page[T], container: str, wrapper: str, item: Callable[[T], Body]) -> Body:
    """A page with the API's paging fields and its items in ``container.wrapper``."""
    return {
        "Total": page.total,
        "PageSize": page.page_size,
        "PageCount": page.page_count,
        "CurrentPage": page.current_page,
        container: {wrapper: [item(entry) for entry in page.items]},
    }


def _tags(job: FleetJob) -> Body:
    return {"OtaTagDTO": [{"Key": key, "Value": value} for key, value in job.tags]}


def _gmt(utc: str | None) -> str | None:
    if utc is None:
        return None
    return (parse_utc(utc) + GMT_OFFSET).strftime("%Y-%m-%d %H:%M:%S")


# The actions: required parameters (checked first, as the gateway does), then the answer.


def _list_ota_job_by_device(platform: IotPlatform, params: Parameters) -> Body:
    page = platform.list_ota_jobs_by_device(
        params.required("ProductKey"),
        params.required("DeviceName"),
        params.required("FirmwareId"),
        *params.page,
        params.instance,
    )
    return paged(page, "Data", "SimpleOTAJobInfo", job_info)


def _list_ota_unfinished_task_by_device(platform: IotPlatform, params: Parameters) -> Body:
    single = params.text("TaskStatus")
    tasks = platform.list_ota_unfinished_tasks_by_device(
        params.device,
        (*((single,) if single else ()), *params.repeated("TaskStatusList")),
        params.text("ModuleName"),
        params.instance,
    )
    return {"Data": {"SimpleOTATaskInfo": [unfinished_task_info(task) for task in tasks]}}


def _query_device_detail(platform: IotPlatform, params: Parameters) -> Body:
    return {"Data": device_detail(platform.query_device_detail(params.device, params.instance))}


def _list_ota_firmware(platform: IotPlatform, params: Parameters) -> Body:
    page = platform.list_ota_firmware(
        params.text("ProductKey"), params.text("DestVersion"), *params.page, params.instance
    )
    return paged(page, "FirmwareInfo", "SimpleFirmwareInfo", firmware_info)


def _query_ota_job(platform: IotPlatform, params: Parameters) -> Body:
    return {"Data": job_detail(platform.query_ota_job(params.required("JobId"), params.instance))}


def _list_ota_task_by_job(platform: IotPlatform, params: Parameters) -> Body:
    page = platform.list_ota_tasks_by_job(
        params.required("JobId"),
        params.text("TaskStatus"),
        params.repeated("DeviceNames"),
        *params.page,
        params.instance,
    )
    return paged(page, "Data", "SimpleOTATaskInfo", task_info)


def _list_ota_job_by_firmware(platform: IotPlatform, params: Parameters) -> Body:
    page = platform.list_ota_jobs_by_firmware(
        params.required("FirmwareId"), *params.page, params.instance
    )
    return paged(page, "Data", "SimpleOTAJobInfo", job_info)


@dataclass(frozen=True)
class ActionHandler:
    """An action's gateway-required parameters and the function that answers it."""

    required: tuple[str, ...]
    answer: Callable[[IotPlatform, Parameters], Body]


ACTION_HANDLERS: dict[str, ActionHandler] = {
    "ListOTAJobByDevice": ActionHandler(
        ("ProductKey", "DeviceName", "FirmwareId", "CurrentPage", "PageSize"),
        _list_ota_job_by_device,
    ),
    "ListOTAUnfinishedTaskByDevice": ActionHandler((), _list_ota_unfinished_task_by_device),
    "QueryDeviceDetail": ActionHandler((), _query_device_detail),
    "ListOTAFirmware": ActionHandler(("CurrentPage", "PageSize"), _list_ota_firmware),
    "QueryOTAJob": ActionHandler(("JobId",), _query_ota_job),
    "ListOTATaskByJob": ActionHandler(("JobId",), _list_ota_task_by_job),
    "ListOTAJobByFirmware": ActionHandler(
        ("FirmwareId", "CurrentPage", "PageSize"), _list_ota_job_by_firmware
    ),
}


class IotResponses:
    """Answers API calls for one ``IotPlatform``: verify, admit, dispatch, serialise."""

    def __init__(self, platform: IotPlatform) -> None:
        self._platform = platform

    def respond(self, request: WireRequest, fault: str | None = None) -> WireResponse:
        """The answer to one call; ``fault`` is an injected error that replaces it."""
        request_id = new_request_id()
        try:
            if fault == "malformed":
                return self._malformed(request, request_id)
            if fault in FAULT_CLASSES:
                raise FAULT_CLASSES[fault]()
            result = self._handle(request)
        except EmulatorError as error:
            return self.error(request, error, request_id)
        body: Body = {"RequestId": request_id, "Success": True, **result}
        return self._serialise(request, body, 200, request_id)

    def error(self, request: WireRequest, error: EmulatorError, request_id: str) -> WireResponse:
        """``error`` in its shape (gateway or IoT) and the request's format."""
        body: Body
        if isinstance(error, GatewayError):
            body = {
                "RequestId": request_id,
                "HostId": request.host_id,
                "Code": error.code,
                "Message": error.message,
                "Recommend": (
                    f"https://api.aliyun.com/troubleshoot?q={error.code}"
                    f"&product=Iot&requestId={request_id}"
                ),
            }
        else:
            body = {
                "RequestId": request_id,
                "Success": False,
                "Code": error.code,
                "ErrorMessage": error.message,
            }
        root = "Error" if isinstance(error, GatewayError) else None
        return self._serialise(request, body, error.http_status, request_id, error.code, root)

    def _handle(self, request: WireRequest) -> Body:
        if request.is_v3:
            access_key_id, nonce = self._verify_v3(request)
        else:
            access_key_id, nonce = self._verify_v1(request)
        self._platform.use_nonce(access_key_id, nonce)
        self._platform.admit(access_key_id, request.action, at=request.arrived)
        handler = ACTION_HANDLERS[request.action]
        params = Parameters(request.parameters)
        for name in handler.required:
            params.required(name)
        return handler.answer(self._platform, params)

    def _check_action(self, action: str, version: str) -> None:
        if not action:
            raise MissingParameter("Action")
        if not version:
            raise MissingParameter("Version")
        if version != API_VERSION:
            raise InvalidVersion()
        if action not in ACTION_HANDLERS:
            raise InvalidActionNotFound()

    def _verify_v1(self, request: WireRequest) -> tuple[str, str]:
        """Check a V1 (HMAC-SHA1) call; return its AccessKeyId and nonce."""
        params = request.parameters
        self._check_action(params.get("Action", ""), params.get("Version", ""))
        for name in V1_COMMON_PARAMETERS:
            if not params.get(name):
                raise MissingParameter(name)
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            raise IncompleteSignature()
        secret = self._platform.secret_for(params["AccessKeyId"])
        self._platform.check_timestamp(params["Timestamp"])
        expected = v1_signature(request.method, params, secret)
        if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
            raise SignatureDoesNotMatch(v1_string_to_sign(request.method, params))
        return params["AccessKeyId"], params["SignatureNonce"]

    def _verify_v3(self, request: WireRequest) -> tuple[str, str]:
        """Check a V3 (ACS3-HMAC-SHA256) call; return its AccessKeyId and nonce."""
        headers = request.headers
        credential, signed_headers, signature = _parse_authorization(headers["authorization"])
        self._check_action(headers.get("x-acs-action", ""), headers.get("x-acs-version", ""))
        must_sign = {"host"} | {name for name in headers if name.startswith("x-acs-")}
        if not must_sign <= set(signed_headers):
            raise IncompleteSignature()
        for header, parameter in (
            ("x-acs-date", "Timestamp"),
            ("x-acs-signature-nonce", "SignatureNonce"),
        ):
            if not headers.get(header):
                raise MissingParameter(parameter)
        secret = self._platform.secret_for(credential)
        self._platform.check_timestamp(headers["x-acs-date"])
        canonical = v3_canonical_request(
            request.method, request.path, request.query, headers, signed_headers, request.body
        )
        body_hash = headers.get("x-acs-content-sha256")
        expected = v3_signature(canonical, secret)
        if not hmac.compare_digest(expected.encode(), signature.encode()) or (
            body_hash is not None and body_hash != hashlib.sha256(request.body).hexdigest()
        ):
            raise SignatureDoesNotMatch(v3_string_to_sign(canonical))
        return credential, headers["x-acs-signature-nonce"]

    def _malformed(self, request: WireRequest, request_id: str) -> WireResponse:
        """A 200 whose body is cut off mid-way, as a broken proxy might deliver it."""
        if request.wants_xml:
            body = f"<{_xml_root(request)}><RequestId>{request_id}</Req"
            return WireResponse(200, XML_TYPE, body.encode(), code="fault.malformed")
        body = f'{{"RequestId": "{request_id}", "Success": true, "Data": {{"SimpleOTAJ'
        return WireResponse(200, JSON_TYPE, body.encode(), code="fault.malformed")

    def _serialise(
        self,
        request: WireRequest,
        body: Mapping[str, Any],
        status: int,
        request_id: str,
        code: str = "OK",
        root: str | None = None,
    ) -> WireResponse:
        headers = {"x-acs-request-id": request_id}
        if request.wants_xml:
            xml = to_xml(root or _xml_root(request), body)
            return WireResponse(status, XML_TYPE, xml, headers, code)
        data = json.dumps(body, ensure_ascii=False).encode()
        return WireResponse(status, JSON_TYPE, data, headers, code)


def _xml_root(request: WireRequest) -> str:
    """``<Action>Response``; a name the emulator does not serve is not echoed into XML."""
    action = request.action
    return f"{action}Response" if action in ACTION_HANDLERS else "ApiResponse"


def _parse_authorization(value: str) -> tuple[str, list[str], str]:
    """``ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`` into its parts."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != V3_ALGORITHM:
        raise IncompleteSignature()
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, equals, text = item.strip().partition("=")
        if equals:
            parts[name] = text.strip()
    credential = parts.get("Credential", "")
    signed = [name.strip().lower() for name in parts.get("SignedHeaders", "").split(";")]
    signature = parts.get("Signature", "")
    if not credential or not signature or not any(signed):
        raise IncompleteSignature()
    return credential, [name for name in signed if name], signature


def to_xml(root: str, body: Mapping[str, Any]) -> bytes:
    """The API's XML: nested objects as elements, a list as its key repeated per item."""
    out = ["<?xml version='1.0' encoding='UTF-8'?>"]
    _xml_element(root, body, out)
    return "".join(out).encode()


def _xml_element(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _xml_element(name, item, out)
        return
    out.append(f"<{name}>")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _xml_element(key, item, out)
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    else:
        out.append(escape(str(value)))
    out.append(f"</{name}>")
