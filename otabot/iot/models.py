"""Typed, frozen results of ``ListOTAJobByDevice``.

The API's values are not always what its documentation says (``COMPLETE`` and
``COMPLETED``, ``VERFIY_FIRMWARE``); these types accept every spelling seen and keep
an unknown value as it is, so a new status upstream shows up instead of breaking us.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from otabot.iot.paging import page_count
from otabot.iot.times import format_utc, parse_optional_utc


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


@lru_cache(maxsize=64)
def _job_status(value: str) -> JobStatus:
    """``JobStatus(value)``, remembered: a page repeats a handful of spellings many times."""
    return JobStatus(value)


@lru_cache(maxsize=64)
def _job_type(value: str) -> JobType:
    return JobType(value)


@dataclass(frozen=True)
class OtaJob:
    """One update batch (``SimpleOTAJobInfo``)."""

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
        raw_tags: Any = item.get("Tags") or []
        if isinstance(raw_tags, dict):
            raw_tags = raw_tags.get("OtaTagDTO") or []
        if isinstance(raw_tags, dict):  # XML with a single tag
            raw_tags = [raw_tags]
        tags = tuple(
            (str(tag.get("Key", "")), str(tag.get("Value", "")))
            for tag in raw_tags
            if isinstance(tag, dict)
        )
        return cls(
            job_id=str(item.get("JobId", "")),
            firmware_id=str(item.get("FirmwareId", "")),
            product_key=str(item.get("ProductKey", "")),
            status=_job_status(str(item.get("JobStatus", ""))),
            job_type=_job_type(str(item.get("JobType", ""))),
            selection_type=str(item.get("SelectionType", "")),
            target_selection=str(item.get("TargetSelection", "")),
            utc_create=parse_optional_utc(item.get("UtcCreate")),
            utc_modified=parse_optional_utc(item.get("UtcModified")),
            utc_start_time=parse_optional_utc(item.get("UtcStartTime")),
            utc_end_time=parse_optional_utc(item.get("UtcEndTime")),
            tags=tags,
        )

    def to_api(self) -> dict[str, Any]:
        """The job with the API's field names, tags as a list of ``{"Key","Value"}``."""
        data: dict[str, Any] = {
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
            "Tags": [{"Key": key, "Value": value} for key, value in self.tags],
        }
        return data


@dataclass(frozen=True)
class JobPage:
    """One page of ``ListOTAJobByDevice``, as the API returned it."""

    jobs: tuple[OtaJob, ...]
    total: int
    page_count: int
    current_page: int
    page_size: int
    request_id: str

    @classmethod
    def from_api(cls, body: dict[str, Any], *, current_page: int, page_size: int) -> JobPage:
        """Build from a successful answer; raises ``ValueError`` when it is not shaped like one.

        ``Data`` may be missing or empty (no jobs), wrap ``SimpleOTAJobInfo`` as a list or as a
        single object (XML turned JSON), or be the list itself. Missing page fields fall back
        to what was asked for.
        """
        data: Any = body.get("Data")
        if isinstance(data, dict):
            data = data.get("SimpleOTAJobInfo")
        if data is None or data == "" or data == {}:
            items: list[Any] = []
        elif isinstance(data, dict):
            items = [data]
        elif isinstance(data, list):
            items = data
        else:
            raise ValueError(f"Data is a {type(data).__name__}, not a list of jobs")
        if not all(isinstance(item, dict) for item in items):
            raise ValueError("Data holds something that is not a job object")
        jobs = tuple(OtaJob.from_api(item) for item in items)
        size = _as_int(body.get("PageSize"), page_size)
        total = _as_int(body.get("Total"), len(jobs))
        default_count = page_count(total, size)
        return cls(
            jobs=jobs,
            total=total,
            page_count=_as_int(body.get("PageCount"), default_count),
            current_page=_as_int(body.get("CurrentPage"), current_page),
            page_size=size,
            request_id=str(body.get("RequestId") or ""),
        )


def _as_int(value: Any, default: int) -> int:
    """An integer field that may come as a number, a numeric string, or not at all."""
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)
