"""The emulator's fleet: access keys, products, devices, firmwares and OTA jobs.

A fleet comes from a JSON file in the SPEC.md format (``load_fleet``), from the
control endpoint ``POST /__emulator/fleet`` (``Fleet.from_dict``), or built in
(``sample_fleet``). A malformed fleet is refused whole, with the place and the
reason: ``fleet.json line 4 column 7: Expecting ','`` or
``fleet.json: Jobs[3].FirmwareId: unknown firmware 'FWnope'``.

The sample fleet (AccessKey ``testid`` / ``testsecret``, no ``IotInstanceId``)::

    product a19mzPZabcd (alias "light" in the docs)
      devices   light1, light2, light3
      firmwares FJFx8JzpnhpIsKftRjjm010100  v1.1.0   light2: 1 job
                FJFx8JzpnhpIsKftRjjm020100  v1.2.0   light1: 5 jobs
                FJFx8JzpnhpIsKftRjjm030100  v1.3.0   light1: 14 jobs, light2: 3 of them
                FJFx8JzpnhpIsKftRjjm040100  v2.0.0   light1: 4 jobs
      light1 has 23 jobs in all; light3 has none.
    product a1B2c3D4e5F (alias "meter")
      devices   meter-01, meter-02, meter-03
      firmwares FWmeter0000000000000000001  meter-01: 3 jobs, meter-02: 1 job
                FWmeter0000000000000000002  no jobs
      meter-03 has none.

light1 with FJFx8JzpnhpIsKftRjjm030100 is the showcase: 14 jobs (three Slack pages
of 5) with every documented status (``IN_PROGRESS``, ``COMPLETE``, ``COMPLETED``,
``CANCELED``), both types (``UPGRADE_FIRMWARE`` and the documented misspelling
``VERFIY_FIRMWARE``), STATIC and DYNAMIC, ALL/SPECIFIC/GRAY, jobs without tags, a
job with eight tags, and a tag value ``<!channel> …`` that must ping nobody.
Dates run from 2025 to late 2026, and the jobs are listed out of date order, as
the API does not promise one (otabot sorts).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otabot.config import DEVICE_NAME_RE, IDENTIFIER_RE
from otabot.iot.times import parse_utc

SAMPLE_ACCESS_KEY_ID = "testid"
SAMPLE_ACCESS_KEY_SECRET = "testsecret"
LIGHT_PRODUCT_KEY = "a19mzPZabcd"
METER_PRODUCT_KEY = "a1B2c3D4e5F"
SHOWCASE_FIRMWARE_ID = "FJFx8JzpnhpIsKftRjjm030100"
METER_FIRMWARE_ID = "FWmeter0000000000000000001"

TOP_LEVEL_FIELDS = ("AccessKeys", "IotInstanceId", "Products", "Firmwares", "Jobs")
JOB_TEXT_FIELDS = ("JobStatus", "JobType", "SelectionType", "TargetSelection")


class FleetError(ValueError):
    """A fleet is malformed; ``location`` says where (line or entry path), ``reason`` what."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


@dataclass(frozen=True)
class FleetJob:
    """One OTA job (update batch), with the devices it targets."""

    job_id: str
    firmware_id: str
    product_key: str
    job_status: str
    job_type: str
    selection_type: str
    target_selection: str
    utc_create: str
    utc_modified: str
    utc_start_time: str | None
    utc_end_time: str | None
    tags: tuple[tuple[str, str], ...]
    devices: tuple[str, ...]

    def to_api(self) -> dict[str, Any]:
        """The job as ``SimpleOTAJobInfo`` (sample field order; end time and tags only if any)."""
        info: dict[str, Any] = {
            "SelectionType": self.selection_type,
            "TargetSelection": self.target_selection,
            "JobType": self.job_type,
            "FirmwareId": self.firmware_id,
        }
        if self.utc_start_time is not None:
            info["UtcStartTime"] = self.utc_start_time
        info.update(
            {
                "ProductKey": self.product_key,
                "JobId": self.job_id,
                "UtcModified": self.utc_modified,
                "JobStatus": self.job_status,
                "UtcCreate": self.utc_create,
            }
        )
        if self.utc_end_time is not None:
            info["UtcEndTime"] = self.utc_end_time
        if self.tags:
            info["Tags"] = {"OtaTagDTO": [{"Key": k, "Value": v} for k, v in self.tags]}
        return info

    def to_fleet(self) -> dict[str, Any]:
        """The job in the fleet file format."""
        return {
            "JobId": self.job_id,
            "FirmwareId": self.firmware_id,
            "ProductKey": self.product_key,
            "JobStatus": self.job_status,
            "JobType": self.job_type,
            "SelectionType": self.selection_type,
            "TargetSelection": self.target_selection,
            "UtcCreate": self.utc_create,
            "UtcModified": self.utc_modified,
            "UtcStartTime": self.utc_start_time,
            "UtcEndTime": self.utc_end_time,
            "Tags": [{"Key": k, "Value": v} for k, v in self.tags],
            "Devices": list(self.devices),
        }


@dataclass(frozen=True)
class Fleet:
    """An account's IoT Platform as the emulator serves it. Immutable; replaced whole."""

    access_keys: Mapping[str, str] = field(repr=False)
    iot_instance_id: str | None
    products: Mapping[str, frozenset[str]]
    firmwares: Mapping[str, str]
    jobs: tuple[FleetJob, ...]

    @property
    def access_key_ids(self) -> tuple[str, ...]:
        return tuple(self.access_keys)

    def jobs_for(self, product_key: str, device_name: str, firmware_id: str) -> list[FleetJob]:
        """The device's jobs for that firmware, in fleet order."""
        return [
            job
            for job in self.jobs
            if job.firmware_id == firmware_id
            and job.product_key == product_key
            and device_name in job.devices
        ]

    def to_dict(self) -> dict[str, Any]:
        """The fleet in the SPEC.md file format (``from_dict(to_dict())`` gives it back)."""
        return {
            "AccessKeys": dict(self.access_keys),
            "IotInstanceId": self.iot_instance_id,
            "Products": [
                {"ProductKey": key, "Devices": sorted(devices)}
                for key, devices in self.products.items()
            ],
            "Firmwares": [
                {"FirmwareId": fid, "ProductKey": key} for fid, key in self.firmwares.items()
            ],
            "Jobs": [job.to_fleet() for job in self.jobs],
        }

    @classmethod
    def from_dict(cls, data: object) -> Fleet:
        """Validate a decoded fleet document; ``FleetError`` names the bad entry."""
        return _FleetReader().read(data)

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "fleet") -> Fleet:
        """Parse and validate fleet JSON; errors are prefixed with ``source``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise FleetError(
                f"{source} line {error.lineno} column {error.colno}", error.msg
            ) from error
        except UnicodeDecodeError as error:
            raise FleetError(source, f"not UTF-8 text ({error.reason})") from error
        try:
            return cls.from_dict(data)
        except FleetError as error:
            raise FleetError(f"{source}: {error.location}", error.reason) from error


def load_fleet(path: str | Path) -> Fleet:
    """Read a fleet file; ``FleetError`` names the file, the line or entry, and the reason."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise FleetError(str(path), f"cannot read: {error.strerror or error}") from error
    return Fleet.from_json(text, source=str(path))


class _FleetReader:
    """Walks a decoded fleet document, checking every entry against the SPEC format."""

    def read(self, data: object) -> Fleet:
        root = self._object(data, "fleet", required=("AccessKeys",), optional=TOP_LEVEL_FIELDS)
        access_keys = self._access_keys(root["AccessKeys"])
        instance = root.get("IotInstanceId")
        if instance is not None and not (
            isinstance(instance, str) and IDENTIFIER_RE.fullmatch(instance)
        ):
            raise FleetError("IotInstanceId", "must be null or an identifier (letters, digits, -_)")
        products = self._products(root.get("Products", []))
        firmwares = self._firmwares(root.get("Firmwares", []), products)
        jobs = self._jobs(root.get("Jobs", []), products, firmwares)
        return Fleet(access_keys, instance, products, firmwares, jobs)

    def _object(
        self, value: object, where: str, *, required: Sequence[str], optional: Sequence[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise FleetError(where, f"must be an object, not {_kind(value)}")
        for name in required:
            if name not in value:
                raise FleetError(where, f"missing field {name!r}")
        known = set(required) | set(optional)
        for name in value:
            if name not in known:
                raise FleetError(f"{where}.{name}" if where != "fleet" else name, "unknown field")
        return value

    def _list(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise FleetError(where, f"must be a list, not {_kind(value)}")
        return value

    def _text(self, value: object, where: str, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(value, str) or not value:
            raise FleetError(where, f"must be a non-empty string, not {_kind(value)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise FleetError(where, f"malformed value {value!r}")
        return value

    def _time(self, value: object, where: str) -> str:
        text = self._text(value, where)
        try:
            parse_utc(text, strict=True)
        except ValueError:
            raise FleetError(
                where, f"not a UTC time like 2019-12-28T02:43:10.000Z: {text!r}"
            ) from None
        return text

    def _access_keys(self, value: object) -> dict[str, str]:
        if not isinstance(value, dict) or not value:
            raise FleetError("AccessKeys", "must be a non-empty object of AccessKeyId: secret")
        for key_id, secret in value.items():
            self._text(key_id, "AccessKeys", IDENTIFIER_RE)
            if not isinstance(secret, str) or not secret:
                raise FleetError(f"AccessKeys.{key_id}", "the secret must be a non-empty string")
        return dict(value)

    def _products(self, value: object) -> dict[str, frozenset[str]]:
        products: dict[str, frozenset[str]] = {}
        for index, entry in enumerate(self._list(value, "Products")):
            where = f"Products[{index}]"
            item = self._object(entry, where, required=("ProductKey",), optional=("Devices",))
            key = self._text(item["ProductKey"], f"{where}.ProductKey", IDENTIFIER_RE)
            if key in products:
                raise FleetError(f"{where}.ProductKey", f"duplicate product {key!r}")
            devices = self._names(item.get("Devices", []), f"{where}.Devices", DEVICE_NAME_RE)
            products[key] = frozenset(devices)
        return products

    def _names(self, value: object, where: str, pattern: re.Pattern[str]) -> list[str]:
        names: list[str] = []
        for index, name in enumerate(self._list(value, where)):
            text = self._text(name, f"{where}[{index}]", pattern)
            if text in names:
                raise FleetError(f"{where}[{index}]", f"duplicate {text!r}")
            names.append(text)
        return names

    def _firmwares(self, value: object, products: Mapping[str, frozenset[str]]) -> dict[str, str]:
        firmwares: dict[str, str] = {}
        for index, entry in enumerate(self._list(value, "Firmwares")):
            where = f"Firmwares[{index}]"
            item = self._object(entry, where, required=("FirmwareId", "ProductKey"))
            firmware_id = self._text(item["FirmwareId"], f"{where}.FirmwareId", IDENTIFIER_RE)
            if firmware_id in firmwares:
                raise FleetError(f"{where}.FirmwareId", f"duplicate firmware {firmware_id!r}")
            product_key = self._text(item["ProductKey"], f"{where}.ProductKey")
            if product_key not in products:
                raise FleetError(f"{where}.ProductKey", f"unknown product {product_key!r}")
            firmwares[firmware_id] = product_key
        return firmwares

    def _jobs(
        self,
        value: object,
        products: Mapping[str, frozenset[str]],
        firmwares: Mapping[str, str],
    ) -> tuple[FleetJob, ...]:
        jobs: list[FleetJob] = []
        seen: set[str] = set()
        for index, entry in enumerate(self._list(value, "Jobs")):
            where = f"Jobs[{index}]"
            item = self._object(
                entry,
                where,
                required=("JobId", "FirmwareId", "JobStatus", "JobType", "UtcCreate", "Devices"),
                optional=(
                    "ProductKey",
                    "SelectionType",
                    "TargetSelection",
                    "UtcModified",
                    "UtcStartTime",
                    "UtcEndTime",
                    "Tags",
                ),
            )
            job_id = self._text(item["JobId"], f"{where}.JobId", IDENTIFIER_RE)
            if job_id in seen:
                raise FleetError(f"{where}.JobId", f"duplicate job {job_id!r}")
            seen.add(job_id)
            firmware_id = self._text(item["FirmwareId"], f"{where}.FirmwareId")
            if firmware_id not in firmwares:
                raise FleetError(f"{where}.FirmwareId", f"unknown firmware {firmware_id!r}")
            product_key = firmwares[firmware_id]
            if "ProductKey" in item and item["ProductKey"] != product_key:
                raise FleetError(
                    f"{where}.ProductKey",
                    f"firmware {firmware_id!r} belongs to product {product_key!r}",
                )
            texts = {
                name: self._text(item.get(name, default), f"{where}.{name}")
                for name, default in zip(
                    JOB_TEXT_FIELDS, (None, None, "STATIC", "SPECIFIC"), strict=True
                )
            }
            created = self._time(item["UtcCreate"], f"{where}.UtcCreate")
            modified = self._time(item.get("UtcModified", created), f"{where}.UtcModified")
            started = self._optional_time(item.get("UtcStartTime"), f"{where}.UtcStartTime")
            ended = self._optional_time(item.get("UtcEndTime"), f"{where}.UtcEndTime")
            if ended is not None and texts["JobStatus"] == "IN_PROGRESS":
                raise FleetError(f"{where}.UtcEndTime", "an IN_PROGRESS job has no end time")
            devices = self._names(item["Devices"], f"{where}.Devices", DEVICE_NAME_RE)
            for position, device in enumerate(devices):
                if device not in products[product_key]:
                    raise FleetError(
                        f"{where}.Devices[{position}]",
                        f"unknown device {device!r} of product {product_key!r}",
                    )
            jobs.append(
                FleetJob(
                    job_id=job_id,
                    firmware_id=firmware_id,
                    product_key=product_key,
                    job_status=texts["JobStatus"],
                    job_type=texts["JobType"],
                    selection_type=texts["SelectionType"],
                    target_selection=texts["TargetSelection"],
                    utc_create=created,
                    utc_modified=modified,
                    utc_start_time=started,
                    utc_end_time=ended,
                    tags=self._tags(item.get("Tags", []), f"{where}.Tags"),
                    devices=tuple(devices),
                )
            )
        return tuple(jobs)

    def _optional_time(self, value: object, where: str) -> str | None:
        return None if value is None else self._time(value, where)

    def _tags(self, value: object, where: str) -> tuple[tuple[str, str], ...]:
        tags: list[tuple[str, str]] = []
        for index, entry in enumerate(self._list(value, where)):
            item = self._object(entry, f"{where}[{index}]", required=("Key", "Value"))
            key = self._text(item["Key"], f"{where}[{index}].Key")
            if not isinstance(item["Value"], str):
                raise FleetError(f"{where}[{index}].Value", "must be a string")
            tags.append((key, item["Value"]))
        return tuple(tags)


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


# The sample fleet's jobs: (JobId, FirmwareId, JobStatus, JobType, SelectionType,
# TargetSelection, UtcCreate, UtcStartTime, UtcEndTime, tags, devices).
_SampleJob = tuple[
    str, str, str, str, str, str, str, str, str | None, tuple[tuple[str, str], ...], tuple[str, ...]
]
_FW1, _FW2, _FW3, _FW4 = (f"FJFx8JzpnhpIsKftRjjm0{n}0100" for n in range(1, 5))
_L1, _L12 = ("light1",), ("light1", "light2")
_MANY_TAGS = (
    ("team", "lighting"),
    ("owner", "ops-shanghai"),
    ("ticket", "OPS-4821"),
    ("region", "cn-shanghai"),
    ("ring", "all"),
    ("window", "02:00-05:00 CST"),
    ("approved-by", "li.wei"),
    ("change", "CHG-20250915-07"),
)


def _sample_jobs() -> Iterable[_SampleJob]:
    s, d = "STATIC", "DYNAMIC"
    up, verify = "UPGRADE_FIRMWARE", "VERFIY_FIRMWARE"
    return (
        ("LuqIA1id6Vw5DQL05HA0020100", _FW1, "COMPLETE", up, s, "SPECIFIC",
         "2025-01-15T02:10:00", "2025-01-15T02:10:00", "2025-01-16T06:42:18", (), ("light2",)),
        ("FDEEtfjgVvVqE1SkHbn8020100", _FW2, "COMPLETED", verify, s, "SPECIFIC",
         "2025-03-04T07:21:45", "2025-03-04T07:21:45", "2025-03-04T07:48:03",
         (("stage", "verify"),), _L1),
        ("u8jzPde0IgxLd6GncfBA020100", _FW3, "COMPLETED", verify, s, "SPECIFIC",
         "2025-09-02T03:14:07", "2025-09-02T03:14:07", "2025-09-02T03:41:52",
         (("stage", "verify"),), _L1),
        ("8HxjSI6bWHtP3fS2qHx6020100", _FW2, "COMPLETE", up, s, "GRAY",
         "2025-03-10T01:00:00", "2025-03-10T02:00:00", "2025-03-11T02:00:00",
         (("stage", "canary"), ("ring", "1")), _L1),
        ("epfJBd0Kh8oOOL8dKLzd020100", _FW3, "COMPLETE", up, s, "GRAY",
         "2025-09-05T08:00:00", "2025-09-05T09:00:00", "2025-09-06T09:00:00",
         (("stage", "canary"), ("ring", "1")), _L1),
        ("ocJ2isAjIhKtJ0RlgLKO020100", _FW3, "CANCELED", up, s, "GRAY",
         "2025-09-08T09:30:12", "2025-09-08T10:00:00", "2025-09-08T11:02:45",
         (("stage", "canary"), ("note", "<!channel> roll back if lamps flicker & *stop*")), _L1),
        ("kwXoIIXGvOoNZYW2mZp0020100", _FW2, "COMPLETE", up, s, "SPECIFIC",
         "2025-03-18T18:30:00", "2025-03-18T19:00:00", "2025-03-20T04:12:09", (), _L1),
        ("mxgJTeKdNnFRIBXuDL7D020100", _FW3, "COMPLETED", up, s, "SPECIFIC",
         "2025-09-12T02:00:00", "2025-09-12T02:00:00", "2025-09-13T05:33:21", (), _L1),
        ("hGAkWvj7FAc9QeWJKY40020100", _FW3, "CANCELED", up, s, "SPECIFIC",
         "2025-10-03T06:45:30", "2025-10-03T07:00:00", "2025-10-03T07:18:44",
         (("reason", "wrong batch"),), _L1),
        ("uvSwMFLZDe1f8rESQedU020100", _FW3, "COMPLETE", up, s, "SPECIFIC",
         "2025-10-20T16:05:00", "2025-10-20T18:00:00", "2025-10-21T01:27:36", (), _L1),
        ("zVZomHFwUbbYrEqmSM9w020100", _FW2, "CANCELED", up, d, "ALL",
         "2025-04-01T00:00:00", "2025-04-01T00:00:00", "2025-08-30T12:00:00",
         (("superseded-by", "v1.3.0"),), _L1),
        ("xtpYlSXpfKtHF4vUCsMe020100", _FW3, "IN_PROGRESS", up, d, "ALL",
         "2025-09-15T02:00:00", "2025-09-15T02:00:00", None, _MANY_TAGS, _L12),
        ("StPKR0CsTy4Qwb8DwkNh020100", _FW3, "COMPLETE", verify, s, "SPECIFIC",
         "2025-11-04T11:11:11", "2025-11-04T11:11:11", "2025-11-04T11:35:02",
         (("stage", "re-verify"),), _L1),
        ("FdnXsiVpzz63FfkCzJr4020100", _FW3, "COMPLETED", up, s, "GRAY",
         "2025-12-01T03:00:00", "2025-12-01T03:00:00", "2025-12-02T03:00:00",
         (("stage", "canary"), ("ring", "2")), _L12),
        ("CZ7Uw9xfogoEmvnEN5N1020100", _FW2, "CANCELED", up, s, "SPECIFIC",
         "2025-06-21T09:09:09", "2025-06-21T10:00:00", "2025-06-21T10:03:17", (), _L1),
        ("oaF1LlqsajAIxNKu8iS2020100", _FW3, "CANCELED", up, s, "SPECIFIC",
         "2026-02-09T05:20:00", "2026-02-09T06:00:00", "2026-02-09T06:02:41",
         (("reason", "holiday freeze"),), _L1),
        ("i0B3JrTAwR4y9ojfljoQ020100", _FW3, "IN_PROGRESS", up, s, "SPECIFIC",
         "2026-01-14T22:00:00", "2026-01-15T02:00:00", None, (("ticket", "OPS-5107"),), _L1),
        ("G8NPRVdD53X83RZJzzzz020100", _FW3, "COMPLETED", up, s, "SPECIFIC",
         "2026-03-23T01:45:00", "2026-03-23T02:00:00", "2026-03-23T09:58:12", (), _L12),
        ("aE6PwZPf1Qh6yYTWmE4l020100", _FW4, "COMPLETED", verify, s, "SPECIFIC",
         "2026-08-18T04:00:00", "2026-08-18T04:00:00", "2026-08-18T04:29:30",
         (("stage", "verify"),), _L1),
        ("8xNbe3nNyjOq9wMxEhh2020100", _FW3, "IN_PROGRESS", up, s, "SPECIFIC",
         "2026-07-30T13:37:00", "2026-07-30T14:00:00", None, (), _L1),
        ("gEOzdmenCkhvMdgaKjIg020100", _FW3, "CANCELED", up, d, "ALL",
         "2026-05-11T08:15:00", "2026-05-11T08:15:00", "2026-06-01T00:00:00",
         (("superseded-by", "v2.0.0"),), _L1),
        ("BYOvfZ8UzDzV8fUkkibj020100", _FW4, "COMPLETED", up, s, "GRAY",
         "2026-09-01T02:00:00", "2026-09-01T02:00:00", "2026-09-02T02:00:00",
         (("stage", "canary"),), _L1),
        ("UPgHV7iB3m03nbqnsGpW020100", _FW4, "IN_PROGRESS", up, d, "ALL",
         "2026-10-20T00:00:00", "2026-10-20T00:00:00", None, (("ring", "all"),), _L1),
        ("L5DZPjN0MEQ7wjJJibaZ020100", _FW4, "IN_PROGRESS", up, s, "SPECIFIC",
         "2026-10-06T03:30:00", "2026-10-06T04:00:00", None, (), _L1),
        ("64GiIjHGb3CXlMaXZjlj020100", METER_FIRMWARE_ID, "COMPLETED", verify, s, "SPECIFIC",
         "2025-11-10T05:00:00", "2025-11-10T05:00:00", "2025-11-10T05:12:40", (), ("meter-01",)),
        ("ENUhJduRHHJEYXg4Jdpm020100", METER_FIRMWARE_ID, "COMPLETED", up, s, "SPECIFIC",
         "2025-11-17T02:00:00", "2025-11-17T02:00:00", "2025-11-18T07:44:05",
         (("site", "plant-7"),), ("meter-01", "meter-02")),
        ("rcXgGCJbW56eCuNGMGmS020100", METER_FIRMWARE_ID, "IN_PROGRESS", up, s, "GRAY",
         "2026-06-02T01:00:00", "2026-06-02T02:00:00", None, (("site", "plant-7"),),
         ("meter-01",)),
    )  # fmt: skip


def sample_fleet() -> Fleet:
    """The built-in fleet (see the module docstring); a fresh object each call."""
    jobs = []
    for row in _sample_jobs():
        job_id, firmware, status, job_type, selection, target, created, started, ended = row[:9]
        tags, devices = row[9], row[10]
        last = ended or started
        product_key = METER_PRODUCT_KEY if firmware == METER_FIRMWARE_ID else LIGHT_PRODUCT_KEY
        jobs.append(
            FleetJob(
                job_id=job_id,
                firmware_id=firmware,
                product_key=product_key,
                job_status=status,
                job_type=job_type,
                selection_type=selection,
                target_selection=target,
                utc_create=f"{created}.000Z",
                utc_modified=f"{max(created, last)}.000Z",
                utc_start_time=f"{started}.000Z",
                utc_end_time=None if ended is None else f"{ended}.000Z",
                tags=tags,
                devices=devices,
            )
        )
    return Fleet(
        access_keys={SAMPLE_ACCESS_KEY_ID: SAMPLE_ACCESS_KEY_SECRET},
        iot_instance_id=None,
        products={
            LIGHT_PRODUCT_KEY: frozenset({"light1", "light2", "light3"}),
            METER_PRODUCT_KEY: frozenset({"meter-01", "meter-02", "meter-03"}),
        },
        firmwares={
            **{firmware: LIGHT_PRODUCT_KEY for firmware in (_FW1, _FW2, _FW3, _FW4)},
            METER_FIRMWARE_ID: METER_PRODUCT_KEY,
            "FWmeter0000000000000000002": METER_PRODUCT_KEY,
        },
        jobs=tuple(jobs),
    )
