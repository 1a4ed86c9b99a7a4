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
from typing import Any, ClassVar, Generic, Self, TypeVar

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
class _Kind:
    """How one kind of field is read from an answer's object, and written back as the API
    spells it."""

    read: Callable[[dict[str, Any], str], Any]
    write: Callable[[Any], Any] = lambda value: value


def _spelled(member: StrEnum) -> str:
    return member.value


TEXT = _Kind(_text)
OPTIONAL_TEXT = _Kind(_optional_text)
WHOLE = _Kind(_optional_int)  # numbers as numbers
FLAG = _Kind(_optional_bool)
TIME = _Kind(lambda item, key: parse_optional_utc(_optional_text(item, key)), format_utc)
# Wrapped (``{"OtaTagDTO": [...]}``) or a list; written as a list of ``{"Key","Value"}``.
TAGS = _Kind(lambda item, key: _tags(item.get(key)), _api_tags)
SRC_VERSIONS = _Kind(lambda item, key: _strings(item.get(key), "SrcVersion"), list)
JOB_STATUS = _Kind(lambda item, key: _job_status(_text(item, key)), _spelled)
JOB_TYPE = _Kind(lambda item, key: _job_type(_text(item, key)), _spelled)
TASK_STATUS = _Kind(lambda item, key: _task_status(_text(item, key)), _spelled)
DEVICE_STATUS = _Kind(lambda item, key: DeviceStatus(_text(item, key)), _spelled)
MODULE = _Kind(lambda item, key: _text(item, key) or "default")
FIRMWARE_TYPE = _Kind(
    lambda item, key: _known(FirmwareType, _optional_int(item, key), FirmwareType.FULL), int
)
VERIFICATION = _Kind(
    lambda item, key: _known(
        FirmwareVerification, _optional_int(item, key), FirmwareVerification.UNVERIFIED
    ),
    int,
)

# Each record's fields: its attribute, the API's name, the kind; in the order ``to_api``
# writes them.
Fields = tuple[tuple[str, str, _Kind], ...]
_JOB_IDS: Fields = (
    ("job_id", "JobId", TEXT),
    ("firmware_id", "FirmwareId", TEXT),
    ("product_key", "ProductKey", TEXT),
    ("status", "JobStatus", JOB_STATUS),
    ("job_type", "JobType", JOB_TYPE),
)
_SELECTION: Fields = (
    ("selection_type", "SelectionType", TEXT),
    ("target_selection", "TargetSelection", TEXT),
)
_JOB_TIMES: Fields = (
    ("utc_create", "UtcCreate", TIME),
    ("utc_modified", "UtcModified", TIME),
    ("utc_start_time", "UtcStartTime", TIME),
    ("utc_end_time", "UtcEndTime", TIME),
)


class _Record:
    """A record read from one object of an answer by its ``_fields``: ``from_api`` reads
    only the fields named there (whatever else the object carries is never kept), and
    ``to_api`` writes them back with the API's names."""

    _fields: ClassVar[Fields]

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Self:
        """Build from one object of an answer; ``ValueError`` when a field is malformed."""
        return cls(**{attribute: kind.read(item, key) for attribute, key, kind in cls._fields})

    def to_api(self) -> dict[str, Any]:
        """The record with the API's field names, as the API spells each value."""
        return {key: kind.write(getattr(self, attribute)) for attribute, key, kind in self._fields}


@dataclass(frozen=True)
class OtaJob(_Record):
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

    _fields = (*_JOB_IDS, *_SELECTION, *_JOB_TIMES, ("tags", "Tags", TAGS))


@dataclass(frozen=True)
class JobDetail(_Record):
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

    # ``SrcVersions`` is read wrapped or bare, and written as a plain list.
    _fields = (
        *_JOB_IDS,
        ("name", "Name", TEXT),
        ("description", "JobDesc", TEXT),
        ("dest_version", "DestVersion", TEXT),
        ("src_versions", "SrcVersions", SRC_VERSIONS),
        *_SELECTION,
        ("gray_percent", "GrayPercent", OPTIONAL_TEXT),
        ("dynamic_mode", "DynamicMode", WHOLE),
        ("overwrite_mode", "OverwriteMode", WHOLE),
        ("maximum_per_minute", "MaximumPerMinute", WHOLE),
        ("retry_count", "RetryCount", WHOLE),
        ("retry_interval", "RetryInterval", WHOLE),
        ("timeout_in_minutes", "TimeoutInMinutes", WHOLE),
        ("need_push", "NeedPush", FLAG),
        ("need_confirm", "NeedConfirm", FLAG),
        ("multi_module_mode", "MultiModuleMode", FLAG),
        *_JOB_TIMES,
        ("utc_schedule_time", "UtcScheduleTime", TIME),
        ("utc_schedule_finish_time", "UtcScheduleFinishTime", TIME),
        ("tags", "Tags", TAGS),
    )

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.COMPLETED, JobStatus.CANCELED)


@dataclass(frozen=True)
class OtaTask(_Record):
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

    _fields = (
        ("task_id", "TaskId", TEXT),
        ("status", "TaskStatus", TASK_STATUS),
        ("job_id", "JobId", TEXT),
        ("firmware_id", "FirmwareId", TEXT),
        ("product_key", "ProductKey", TEXT),
        ("product_name", "ProductName", TEXT),
        ("device_name", "DeviceName", TEXT),
        ("iot_id", "IotId", TEXT),
        ("src_version", "SrcVersion", TEXT),
        ("dest_version", "DestVersion", TEXT),
        ("module_name", "ModuleName", OPTIONAL_TEXT),
        ("description", "TaskDesc", OPTIONAL_TEXT),
        ("progress", "Progress", WHOLE),  # "40" in ListOTATaskByJob
        ("timeout", "Timeout", WHOLE),
        ("utc_create", "UtcCreate", TIME),
        ("utc_modified", "UtcModified", TIME),
    )


@dataclass(frozen=True)
class DeviceDetail(_Record):
    """A device as ``QueryDeviceDetail`` describes it, without its ``DeviceSecret``: the
    credential is not among the fields read, so it is never kept nor written.

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

    _fields = (
        ("product_key", "ProductKey", TEXT),
        ("product_name", "ProductName", TEXT),
        ("device_name", "DeviceName", TEXT),
        ("nickname", "Nickname", OPTIONAL_TEXT),
        ("iot_id", "IotId", TEXT),
        ("status", "Status", DEVICE_STATUS),
        ("firmware_version", "FirmwareVersion", OPTIONAL_TEXT),
        ("node_type", "NodeType", WHOLE),
        ("ip_address", "IpAddress", OPTIONAL_TEXT),
        ("region", "Region", OPTIONAL_TEXT),
        ("utc_create", "UtcCreate", TIME),
        ("utc_active", "UtcActive", TIME),
        ("utc_online", "UtcOnline", TIME),
    )


@dataclass(frozen=True)
class Firmware(_Record):
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

    _fields = (
        ("firmware_id", "FirmwareId", TEXT),
        ("product_key", "ProductKey", TEXT),
        ("product_name", "ProductName", TEXT),
        ("name", "FirmwareName", TEXT),
        ("description", "FirmwareDesc", OPTIONAL_TEXT),
        ("dest_version", "DestVersion", TEXT),
        ("src_version", "SrcVersion", OPTIONAL_TEXT),
        ("module_name", "ModuleName", MODULE),
        ("firmware_type", "Type", FIRMWARE_TYPE),
        ("verification", "Status", VERIFICATION),
        ("size", "FirmwareSize", WHOLE),
        ("sign_method", "SignMethod", OPTIONAL_TEXT),
        ("utc_create", "UtcCreate", TIME),
        ("utc_modified", "UtcModified", TIME),
    )

    @property
    def is_delta(self) -> bool:
        return self.firmware_type == FirmwareType.DELTA


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
