"""Typed, frozen results of the OTA read actions otabot calls.

The API's values are not always what its documentation says (``COMPLETE`` and
``COMPLETED``, ``VERFIY_FIRMWARE``, numbers sent as strings); these types accept every
spelling seen and keep an unknown value as it is, so a new status upstream shows up
instead of breaking us. Each ``from_api`` reads only the fields it names: whatever else
an answer carries, a device's ``DeviceSecret`` above all, is never kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from functools import lru_cache
from typing import Any, Generic, TypeVar

from otabot.iot.paging import page_count
from otabot.iot.times import format_utc, parse_optional_utc

T = TypeVar("T")


class _OpenEnum(StrEnum):
    """A string enum that keeps values it does not know instead of raising."""

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {}

    @classmethod
    def _missing_(cls, value: object) -> _OpenEnum | None:
        if not isinstance(value, str):
            return None
        canonical = cls._aliases().get(value.upper())
        if canonical is not None:
            return cls(canonical)
        for member in cls:
            if member.value == value.upper():
                return member
        pseudo = str.__new__(cls, value)
        pseudo._name_ = value
        pseudo._value_ = value
        return pseudo

    @property
    def is_known(self) -> bool:
        return self._name_ in type(self).__members__


class JobStatus(_OpenEnum):
    PLANNED = "PLANNED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"COMPLETE": "COMPLETED", "CANCELLED": "CANCELED"}


class JobType(_OpenEnum):
    VERIFY_FIRMWARE = "VERIFY_FIRMWARE"
    UPGRADE_FIRMWARE = "UPGRADE_FIRMWARE"

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"VERFIY_FIRMWARE": "VERIFY_FIRMWARE"}


class TaskStatus(_OpenEnum):
    """A device's task in a job; the first four are "unfinished"."""

    CONFIRM = "CONFIRM"
    QUEUED = "QUEUED"
    NOTIFIED = "NOTIFIED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"CANCELLED": "CANCELED", "SUCCESS": "SUCCEEDED", "FAIL": "FAILED"}


UNFINISHED_TASK_STATUSES = (
    TaskStatus.CONFIRM,
    TaskStatus.QUEUED,
    TaskStatus.NOTIFIED,
    TaskStatus.IN_PROGRESS,
)


class DeviceStatus(_OpenEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    UNACTIVE = "UNACTIVE"
    DISABLE = "DISABLE"


class FirmwareVerification(IntEnum):
    """``Status`` of a firmware package (an int in the API)."""

    UNVERIFIED = 0
    VERIFIED = 1
    VERIFYING = 2
    VERIFICATION_FAILED = 3


class FirmwareType(IntEnum):
    """``Type`` of a firmware package (an int in the API)."""

    FULL = 0
    DELTA = 1


@lru_cache(maxsize=64)
def _job_status(value: str) -> JobStatus:
    """``JobStatus(value)``, remembered: a page repeats a handful of spellings many times."""
    return JobStatus(value)


@lru_cache(maxsize=64)
def _job_type(value: str) -> JobType:
    return JobType(value)


@lru_cache(maxsize=64)
def _task_status(value: str) -> TaskStatus:
    return TaskStatus(value)


def _text(item: dict[str, Any], key: str) -> str:
    """A string field ('' when absent or null); numbers are taken as their text."""
    value = item.get(key)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise ValueError(f"{key} is not text")
    return str(value)


def _optional_text(item: dict[str, Any], key: str) -> str | None:
    return _text(item, key) or None


def _optional_int(item: dict[str, Any], key: str) -> int | None:
    """An integer field that may be a number, a numeric string (Progress "40"), or absent."""
    return _whole(item.get(key), key)


def _whole(value: Any, what: str) -> int | None:
    """``value`` as a whole number (None when absent or empty); ``ValueError`` when it is
    anything else: text that is no integer, a fraction, NaN, a boolean, an object."""
    if value is None or value == "":
        return None
    fraction = isinstance(value, float) and not value.is_integer()  # also NaN and ±inf
    if fraction or isinstance(value, bool) or not isinstance(value, int | str | float):
        raise ValueError(f"{what} is not a whole number: {value!r}")
    return int(value)


def _optional_bool(item: dict[str, Any], key: str) -> bool | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"{key} is not true or false: {value!r}")


def _times(item: dict[str, Any], *keys: str) -> dict[str, datetime | None]:
    return {key: parse_optional_utc(_optional_text(item, key)) for key in keys}


def _wrapped(value: Any, wrapper: str, what: str) -> list[dict[str, Any]]:
    """The items of a list the API wraps in an object named after the item type.

    ``{"SimpleOTAJobInfo": [...]}``; a single item as an object (XML turned JSON); the
    bare list; or nothing (no items).
    """
    if isinstance(value, dict):
        value = value.get(wrapper)
    if value is None or value == "" or value == {}:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"{what} is a {type(value).__name__}, not a list")
    if not all(isinstance(item, dict) for item in value):
        raise ValueError(f"{what} holds something that is not an object")
    return value


def _strings(value: Any, wrapper: str) -> tuple[str, ...]:
    """A wrapped list of strings (``{"SrcVersion": ["1.0"]}``), a bare list, or one string."""
    if isinstance(value, dict):
        value = value.get(wrapper)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise ValueError(f"{wrapper} is not a list")
    return tuple(str(item) for item in value if item is not None)


def _tags(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple(
        (str(tag.get("Key", "")), str(tag.get("Value", "")))
        for tag in _wrapped(value, "OtaTagDTO", "Tags")
    )


def _api_tags(tags: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags]


@dataclass(frozen=True)
class OtaJob:
    """One update batch as a list shows it (``SimpleOTAJobInfo``)."""

    job_id: str
    firmware_id: str
    product_key: str
    status: JobStatus
    job_type: JobType
    selection_type: str
    target_selection: str
    utc_create: datetime | None
    utc_modified: datetime | None
    utc_start_time: datetime | None
    utc_end_time: datetime | None
    tags: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> OtaJob:
        """Build from one ``SimpleOTAJobInfo`` object; tags may be wrapped or a list."""
        times = _times(item, "UtcCreate", "UtcModified", "UtcStartTime", "UtcEndTime")
        return cls(
            job_id=_text(item, "JobId"),
            firmware_id=_text(item, "FirmwareId"),
            product_key=_text(item, "ProductKey"),
            status=_job_status(_text(item, "JobStatus")),
            job_type=_job_type(_text(item, "JobType")),
            selection_type=_text(item, "SelectionType"),
            target_selection=_text(item, "TargetSelection"),
            utc_create=times["UtcCreate"],
            utc_modified=times["UtcModified"],
            utc_start_time=times["UtcStartTime"],
            utc_end_time=times["UtcEndTime"],
            tags=_tags(item.get("Tags")),
        )

    def to_api(self) -> dict[str, Any]:
        """The job with the API's field names, tags as a list of ``{"Key","Value"}``."""
        return {
            "JobId": self.job_id,
            "FirmwareId": self.firmware_id,
            "ProductKey": self.product_key,
            "JobStatus": self.status.value,
            "JobType": self.job_type.value,
            "SelectionType": self.selection_type,
            "TargetSelection": self.target_selection,
            "UtcCreate": format_utc(self.utc_create),
            "UtcModified": format_utc(self.utc_modified),
            "UtcStartTime": format_utc(self.utc_start_time),
            "UtcEndTime": format_utc(self.utc_end_time),
            "Tags": _api_tags(self.tags),
        }


@dataclass(frozen=True)
class JobDetail:
    """One update batch in full (``QueryOTAJob``'s ``Data``)."""

    job_id: str
    firmware_id: str
    product_key: str
    status: JobStatus
    job_type: JobType
    name: str
    description: str
    dest_version: str
    src_versions: tuple[str, ...]
    selection_type: str
    target_selection: str
    gray_percent: str | None
    dynamic_mode: int | None
    overwrite_mode: int | None
    maximum_per_minute: int | None
    retry_count: int | None
    retry_interval: int | None  # minutes
    timeout_in_minutes: int | None
    need_push: bool | None
    need_confirm: bool | None
    multi_module_mode: bool | None
    utc_create: datetime | None
    utc_modified: datetime | None
    utc_start_time: datetime | None
    utc_end_time: datetime | None
    utc_schedule_time: datetime | None
    utc_schedule_finish_time: datetime | None
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.COMPLETED, JobStatus.CANCELED)

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> JobDetail:
        times = _times(
            item,
            "UtcCreate",
            "UtcModified",
            "UtcStartTime",
            "UtcEndTime",
            "UtcScheduleTime",
            "UtcScheduleFinishTime",
        )
        return cls(
            job_id=_text(item, "JobId"),
            firmware_id=_text(item, "FirmwareId"),
            product_key=_text(item, "ProductKey"),
            status=_job_status(_text(item, "JobStatus")),
            job_type=_job_type(_text(item, "JobType")),
            name=_text(item, "Name"),
            description=_text(item, "JobDesc"),
            dest_version=_text(item, "DestVersion"),
            src_versions=_strings(item.get("SrcVersions"), "SrcVersion"),
            selection_type=_text(item, "SelectionType"),
            target_selection=_text(item, "TargetSelection"),
            gray_percent=_optional_text(item, "GrayPercent"),
            dynamic_mode=_optional_int(item, "DynamicMode"),
            overwrite_mode=_optional_int(item, "OverwriteMode"),
            maximum_per_minute=_optional_int(item, "MaximumPerMinute"),
            retry_count=_optional_int(item, "RetryCount"),
            retry_interval=_optional_int(item, "RetryInterval"),
            timeout_in_minutes=_optional_int(item, "TimeoutInMinutes"),
            need_push=_optional_bool(item, "NeedPush"),
            need_confirm=_optional_bool(item, "NeedConfirm"),
            multi_module_mode=_optional_bool(item, "MultiModuleMode"),
            utc_create=times["UtcCreate"],
            utc_modified=times["UtcModified"],
            utc_start_time=times["UtcStartTime"],
            utc_end_time=times["UtcEndTime"],
            utc_schedule_time=times["UtcScheduleTime"],
            utc_schedule_finish_time=times["UtcScheduleFinishTime"],
            tags=_tags(item.get("Tags")),
        )

    def to_api(self) -> dict[str, Any]:
        """``QueryOTAJob``'s ``Data`` with ``SrcVersions`` and ``Tags`` as plain lists."""
        return {
            "JobId": self.job_id,
            "FirmwareId": self.firmware_id,
            "ProductKey": self.product_key,
            "JobStatus": self.status.value,
            "JobType": self.job_type.value,
            "Name": self.name,
            "JobDesc": self.description,
            "DestVersion": self.dest_version,
            "SrcVersions": list(self.src_versions),
            "SelectionType": self.selection_type,
            "TargetSelection": self.target_selection,
            "GrayPercent": self.gray_percent,
            "DynamicMode": self.dynamic_mode,
            "OverwriteMode": self.overwrite_mode,
            "MaximumPerMinute": self.maximum_per_minute,
            "RetryCount": self.retry_count,
            "RetryInterval": self.retry_interval,
            "TimeoutInMinutes": self.timeout_in_minutes,
            "NeedPush": self.need_push,
            "NeedConfirm": self.need_confirm,
            "MultiModuleMode": self.multi_module_mode,
            "UtcCreate": format_utc(self.utc_create),
            "UtcModified": format_utc(self.utc_modified),
            "UtcStartTime": format_utc(self.utc_start_time),
            "UtcEndTime": format_utc(self.utc_end_time),
            "UtcScheduleTime": format_utc(self.utc_schedule_time),
            "UtcScheduleFinishTime": format_utc(self.utc_schedule_finish_time),
            "Tags": _api_tags(self.tags),
        }


@dataclass(frozen=True)
class OtaTask:
    """One device's task in a job (``SimpleOTATaskInfo``).

    ``ListOTATaskByJob`` fills ``description`` (``TaskDesc``: why a task failed or was
    canceled), ``progress`` and ``timeout``; ``ListOTAUnfinishedTaskByDevice`` fills
    ``module_name`` instead. Fields an action does not send are None or ''.
    """

    task_id: str
    status: TaskStatus
    job_id: str
    firmware_id: str
    product_key: str
    device_name: str
    iot_id: str
    src_version: str
    dest_version: str
    product_name: str = ""
    module_name: str | None = None
    description: str | None = None
    progress: int | None = None  # percent, 0-100
    timeout: int | None = None  # minutes
    utc_create: datetime | None = None
    utc_modified: datetime | None = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> OtaTask:
        times = _times(item, "UtcCreate", "UtcModified")
        return cls(
            task_id=_text(item, "TaskId"),
            status=_task_status(_text(item, "TaskStatus")),
            job_id=_text(item, "JobId"),
            firmware_id=_text(item, "FirmwareId"),
            product_key=_text(item, "ProductKey"),
            device_name=_text(item, "DeviceName"),
            iot_id=_text(item, "IotId"),
            src_version=_text(item, "SrcVersion"),
            dest_version=_text(item, "DestVersion"),
            product_name=_text(item, "ProductName"),
            module_name=_optional_text(item, "ModuleName"),
            description=_optional_text(item, "TaskDesc"),
            progress=_optional_int(item, "Progress"),
            timeout=_optional_int(item, "Timeout"),
            utc_create=times["UtcCreate"],
            utc_modified=times["UtcModified"],
        )

    def to_api(self) -> dict[str, Any]:
        """The task with the API's field names (numbers as numbers)."""
        return {
            "TaskId": self.task_id,
            "TaskStatus": self.status.value,
            "JobId": self.job_id,
            "FirmwareId": self.firmware_id,
            "ProductKey": self.product_key,
            "ProductName": self.product_name,
            "DeviceName": self.device_name,
            "IotId": self.iot_id,
            "SrcVersion": self.src_version,
            "DestVersion": self.dest_version,
            "ModuleName": self.module_name,
            "TaskDesc": self.description,
            "Progress": self.progress,
            "Timeout": self.timeout,
            "UtcCreate": format_utc(self.utc_create),
            "UtcModified": format_utc(self.utc_modified),
        }


@dataclass(frozen=True)
class DeviceDetail:
    """A device as ``QueryDeviceDetail`` describes it, without its ``DeviceSecret``.

    ``firmware_version`` is the default OTA module's version as the device last
    reported it: it may lag a task that has just succeeded.
    """

    product_key: str
    device_name: str
    iot_id: str
    status: DeviceStatus
    product_name: str = ""
    nickname: str | None = None
    firmware_version: str | None = None
    node_type: int | None = None
    ip_address: str | None = None
    region: str | None = None
    utc_create: datetime | None = None
    utc_active: datetime | None = None
    utc_online: datetime | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> DeviceDetail:
        """Read the fields otabot shows; ``DeviceSecret`` (a credential) is never read."""
        times = _times(data, "UtcCreate", "UtcActive", "UtcOnline")
        return cls(
            product_key=_text(data, "ProductKey"),
            device_name=_text(data, "DeviceName"),
            iot_id=_text(data, "IotId"),
            status=DeviceStatus(_text(data, "Status")),
            product_name=_text(data, "ProductName"),
            nickname=_optional_text(data, "Nickname"),
            firmware_version=_optional_text(data, "FirmwareVersion"),
            node_type=_optional_int(data, "NodeType"),
            ip_address=_optional_text(data, "IpAddress"),
            region=_optional_text(data, "Region"),
            utc_create=times["UtcCreate"],
            utc_active=times["UtcActive"],
            utc_online=times["UtcOnline"],
        )

    def to_api(self) -> dict[str, Any]:
        """``QueryDeviceDetail``'s ``Data`` as otabot keeps it: no ``DeviceSecret``."""
        return {
            "ProductKey": self.product_key,
            "ProductName": self.product_name,
            "DeviceName": self.device_name,
            "Nickname": self.nickname,
            "IotId": self.iot_id,
            "Status": self.status.value,
            "FirmwareVersion": self.firmware_version,
            "NodeType": self.node_type,
            "IpAddress": self.ip_address,
            "Region": self.region,
            "UtcCreate": format_utc(self.utc_create),
            "UtcActive": format_utc(self.utc_active),
            "UtcOnline": format_utc(self.utc_online),
        }


@dataclass(frozen=True)
class Firmware:
    """One firmware package (``SimpleFirmwareInfo``); download URLs are never read."""

    firmware_id: str
    product_key: str
    name: str
    dest_version: str
    src_version: str | None  # delta packages only
    module_name: str
    firmware_type: FirmwareType | int
    verification: FirmwareVerification | int
    size: int | None = None
    product_name: str = ""
    description: str | None = None
    sign_method: str | None = None
    utc_create: datetime | None = None
    utc_modified: datetime | None = None

    @property
    def is_delta(self) -> bool:
        return self.firmware_type == FirmwareType.DELTA

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Firmware:
        times = _times(item, "UtcCreate", "UtcModified")
        return cls(
            firmware_id=_text(item, "FirmwareId"),
            product_key=_text(item, "ProductKey"),
            name=_text(item, "FirmwareName"),
            dest_version=_text(item, "DestVersion"),
            src_version=_optional_text(item, "SrcVersion"),
            module_name=_text(item, "ModuleName") or "default",
            firmware_type=_known(FirmwareType, _optional_int(item, "Type"), FirmwareType.FULL),
            verification=_known(
                FirmwareVerification,
                _optional_int(item, "Status"),
                FirmwareVerification.UNVERIFIED,
            ),
            size=_optional_int(item, "FirmwareSize"),
            product_name=_text(item, "ProductName"),
            description=_optional_text(item, "FirmwareDesc"),
            sign_method=_optional_text(item, "SignMethod"),
            utc_create=times["UtcCreate"],
            utc_modified=times["UtcModified"],
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "FirmwareId": self.firmware_id,
            "ProductKey": self.product_key,
            "ProductName": self.product_name,
            "FirmwareName": self.name,
            "FirmwareDesc": self.description,
            "DestVersion": self.dest_version,
            "SrcVersion": self.src_version,
            "ModuleName": self.module_name,
            "Type": int(self.firmware_type),
            "Status": int(self.verification),
            "FirmwareSize": self.size,
            "SignMethod": self.sign_method,
            "UtcCreate": format_utc(self.utc_create),
            "UtcModified": format_utc(self.utc_modified),
        }


E = TypeVar("E", bound=IntEnum)


def _known(enum: type[E], value: int | None, default: E) -> E | int:
    """The enum member for ``value``; an unknown number stays a plain int (shown as it is)."""
    if value is None:
        return default
    try:
        return enum(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a paged list action, as the API returned it."""

    items: tuple[T, ...]
    total: int
    page_count: int
    current_page: int
    page_size: int
    request_id: str

    @classmethod
    def from_api(
        cls,
        body: dict[str, Any],
        item: Callable[[dict[str, Any]], T],
        *,
        container: str,
        wrapper: str,
        current_page: int,
        page_size: int,
    ) -> Page[T]:
        """Build from a successful answer; ``ValueError`` when it is not shaped like one.

        The items sit in ``body[container][wrapper]`` (``Data.SimpleOTAJobInfo``,
        ``FirmwareInfo.SimpleFirmwareInfo``). Missing page fields fall back to what was
        asked for; negative counts are refused.
        """
        items = tuple(item(entry) for entry in _wrapped(body.get(container), wrapper, container))
        size = _as_int(body.get("PageSize"), page_size, "PageSize")
        total = _as_int(body.get("Total"), len(items), "Total")
        page = cls(
            items=items,
            total=total,
            page_count=_as_int(body.get("PageCount"), page_count(total, size), "PageCount"),
            current_page=_as_int(body.get("CurrentPage"), current_page, "CurrentPage"),
            page_size=size,
            request_id=_text(body, "RequestId"),
        )
        if min(page.total, page.page_count, page.page_size, page.current_page) < 0:
            raise ValueError("a page count or size is negative")
        return page


def _as_int(value: Any, default: int, what: str) -> int:
    """An integer field that may come as a number, a numeric string, or not at all."""
    whole = _whole(value, what)
    return default if whole is None else whole


def tasks_from_api(body: dict[str, Any]) -> tuple[OtaTask, ...]:
    """The tasks of an unpaged answer (``ListOTAUnfinishedTaskByDevice``: ``Data`` only)."""
    return tuple(
        OtaTask.from_api(item) for item in _wrapped(body.get("Data"), "SimpleOTATaskInfo", "Data")
    )


def data_object(body: dict[str, Any], container: str = "Data") -> dict[str, Any]:
    """The object an answer carries in ``container``; ``ValueError`` when there is none."""
    data = body.get(container)
    if not isinstance(data, dict):
        raise ValueError(f"{container} is missing or not an object")
    return data
