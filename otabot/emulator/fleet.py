"""The emulator's fleet: access keys, products, devices, firmwares, OTA jobs and their tasks.

A fleet comes from a JSON file (``load_fleet``; the format is in docs/iot-api.md), from
the control endpoint ``POST /__emulator/fleet`` (``Fleet.from_json``), or built in
(``sample_fleet``, read from ``sample_fleet.json`` beside this module by the same
loader). Every field beyond the first version of the format is optional, so older
files load unchanged; what a file leaves out gets a default (below). A malformed fleet
is refused whole, with the place and the reason:
``fleet.json line 4 column 7: Expecting ','`` or
``fleet.json: Jobs[3].FirmwareId: unknown firmware 'FWnope'``.

Defaults: a device given by name is ONLINE, reports no FirmwareVersion, and gets an
IotId and DeviceSecret generated from its ProductKey and DeviceName (stable for the same
file). A firmware's DestVersion is its FirmwareId's last six characters, ModuleName
``default``, Type 0 (full), Status 1 (verified). A job's Name and DestVersion are its
firmware's. A task given by name has the status its job implies (IN_PROGRESS → IN_PROGRESS
at "0", COMPLETE/COMPLETED → SUCCEEDED at "100", CANCELED → CANCELED, PLANNED or anything
else → QUEUED) and a generated TaskId; its SrcVersion is its own, else the job's first
SrcVersions entry, else the device's FirmwareVersion.

The sample fleet (AccessKey ``testid`` / ``testsecret``, no ``IotInstanceId``)::

    product a19mzPZabcd "Smart light" (alias "light" in the docs)
      light1     ONLINE, reports 2.0.0, nickname "Lobby light"
      light2     OFFLINE since 2026-10-28, reports 1.3.0
      light3     ONLINE, reports 1.1.0, in no job at all
      lamp-01 … lamp-40   street lamps, in the 2.1.0 rollout (below)
      firmwares FJFx8JzpnhpIsKftRjjm010100  1.1.0           light2: 1 job
                FJFx8JzpnhpIsKftRjjm020100  1.2.0           light1: 5 jobs
                FJFx8JzpnhpIsKftRjjm030100  1.3.0           light1: 14 jobs, light2: 3 of them
                FJFx8JzpnhpIsKftRjjm040100  2.0.0           light1: 4 jobs
                FJFx8JzpnhpIsKftRjjm050100  2.1.0 full      PLANNED job for light2
                FJFx8JzpnhpIsKftRjjm060100  2.1.0 delta from 2.0.0   the rollout
    product a1B2c3D4e5F "Smart meter" (alias "meter")
      meter-01, meter-02, meter-03 (reporting 3.0.1, 3.0.1, 3.0.0)
      firmwares FWmeter0000000000000000001  3.0.1   meter-01: 3 jobs, meter-02: 1 job
                FWmeter0000000000000000002  3.1.0   no jobs

The on-call story, walked by the demo: an alert names **light1**. Its device card
shows one unfinished task, IN_PROGRESS at 40 % (TaskId ``y3tOmCDNgpR8F9jnVEzC01200``),
in job **Wq3nT8vXbL2cRk5YhP0d020100**: the 2.1.0 rollout (delta package
``FJFx8JzpnhpIsKftRjjm060100``, SrcVersions 2.0.0) over light1 and lamp-01…lamp-40.
Of its 41 tasks 18 SUCCEEDED, 6 FAILED with the reasons an engineer reads in
``TaskDesc`` ("download timed out" twice, "signature verification failed", "device went
offline during install" (lamp-13, OFFLINE), "insufficient storage", a source-version
mismatch (lamp-27 reports 1.3.0)), 4 are IN_PROGRESS (light1 at 40 %, others at 15, 70
and 90 %), 7 QUEUED, 4 NOTIFIED and 2 CANCELED. lamp-02 SUCCEEDED but still reports
2.0.0 (a reported version lags). ``/ota light1 2.1.0`` finds two packages of that
version (full ``…050100`` and delta ``…060100``), so it asks which. The full package's
job ``Pl4nN3dJ0bR7sT9uVw2x020100`` is PLANNED (scheduled, GRAY 10 %) for light2, whose
task in the 1.3.0 job ``xtpYlSXpfKtHF4vUCsMe020100`` waits NOTIFIED while it is offline.

light1 with FJFx8JzpnhpIsKftRjjm030100 is the jobs-list showcase: 14 jobs (three Slack
pages of 5) with every documented status (``IN_PROGRESS``, ``COMPLETE``,
``COMPLETED``, ``CANCELED``), both types (``UPGRADE_FIRMWARE`` and the documented
misspelling ``VERFIY_FIRMWARE``), STATIC and DYNAMIC, ALL/SPECIFIC/GRAY, jobs without
tags, a job with eight tags, and a tag value ``<!channel> …`` that must ping nobody.
Dates run from 2025 to late 2026, and the jobs are listed out of date order, as the
API does not promise one (otabot sorts). light1's own tasks in those old jobs have
finished, so its device card shows only the rollout.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from otabot.config import DEVICE_NAME_RE, IDENTIFIER_RE
from otabot.iot.models import TaskStatus
from otabot.iot.times import parse_utc

SAMPLE_ACCESS_KEY_ID = "testid"
SAMPLE_ACCESS_KEY_SECRET = "testsecret"
LIGHT_PRODUCT_KEY = "a19mzPZabcd"
METER_PRODUCT_KEY = "a1B2c3D4e5F"
SHOWCASE_FIRMWARE_ID = "FJFx8JzpnhpIsKftRjjm030100"
METER_FIRMWARE_ID = "FWmeter0000000000000000001"
ROLLOUT_JOB_ID = "Wq3nT8vXbL2cRk5YhP0d020100"
ROLLOUT_FIRMWARE_ID = "FJFx8JzpnhpIsKftRjjm060100"
SAMPLE_FLEET_FILE = "sample_fleet.json"

DEVICE_STATUSES = ("ONLINE", "OFFLINE", "UNACTIVE", "DISABLE")
TASK_STATUSES = tuple(status.value for status in TaskStatus)
FIRMWARE_TYPES = (0, 1)  # full, delta
FIRMWARE_STATUSES = (0, 1, 2, 3)  # unverified, verified, verifying, verification failed
# The task status a job implies for a device given by name; anything else: QUEUED.
IMPLIED_TASK_STATUS = {
    "IN_PROGRESS": "IN_PROGRESS",
    "COMPLETE": "SUCCEEDED",
    "COMPLETED": "SUCCEEDED",
    "CANCELED": "CANCELED",
    "PLANNED": "QUEUED",
}
UNFINISHED_JOB_STATUSES = ("IN_PROGRESS", "PLANNED")

# A version as the API spells one: printable, no spaces, at most 64 characters.
VERSION_RE = re.compile(r"[!-~]{1,64}")
# IotIds in documentation examples are masked with "*"; a fleet may copy one.
IOT_ID_RE = re.compile(r"[A-Za-z0-9_*-]{1,64}")
# JSON integers longer than this are refused before Python converts them.
MAX_INTEGER_DIGITS = 20
MAX_COUNT = 1_000_000
MAX_FIRMWARE_BYTES = 2**40


class FleetError(ValueError):
    """A fleet is malformed; ``location`` says where (line or entry path), ``reason`` what."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


@dataclass(frozen=True)
class FleetDevice:
    """One device as QueryDeviceDetail describes it."""

    product_key: str
    product_name: str | None
    device_name: str
    iot_id: str
    device_secret: str = field(repr=False)
    status: str
    firmware_version: str | None
    nickname: str | None
    utc_online: str | None

    def to_fleet(self) -> dict[str, Any]:
        return present(
            {
                "DeviceName": self.device_name,
                "Status": self.status,
                "FirmwareVersion": self.firmware_version,
                "IotId": self.iot_id,
                "DeviceSecret": self.device_secret,
                "Nickname": self.nickname,
                "UtcOnline": self.utc_online,
            }
        )


@dataclass(frozen=True)
class FleetProduct:
    """A product and its devices (by DeviceName, in file order)."""

    product_key: str
    product_name: str | None
    devices: Mapping[str, FleetDevice]

    def to_fleet(self) -> dict[str, Any]:
        return present(
            {
                "ProductKey": self.product_key,
                "ProductName": self.product_name,
                "Devices": [device.to_fleet() for device in self.devices.values()],
            }
        )


@dataclass(frozen=True)
class FleetFirmware:
    """One firmware package (``SimpleFirmwareInfo``)."""

    firmware_id: str
    product_key: str
    product_name: str | None
    firmware_name: str
    dest_version: str
    src_version: str | None
    module_name: str
    firmware_type: int
    status: int
    firmware_size: int | None
    firmware_desc: str | None
    utc_create: str | None

    def to_fleet(self) -> dict[str, Any]:
        return present(
            {
                "FirmwareId": self.firmware_id,
                "ProductKey": self.product_key,
                "FirmwareName": self.firmware_name,
                "DestVersion": self.dest_version,
                "SrcVersion": self.src_version,
                "ModuleName": self.module_name,
                "Type": self.firmware_type,
                "Status": self.status,
                "FirmwareSize": self.firmware_size,
                "FirmwareDesc": self.firmware_desc,
                "UtcCreate": self.utc_create,
            }
        )


@dataclass(frozen=True)
class FleetTask:
    """One device's task in a job, with what it takes from its job, firmware and device."""

    task_id: str
    device_name: str
    task_status: str
    progress: str
    task_desc: str | None
    src_version: str | None
    utc_create: str
    utc_modified: str
    job_id: str
    firmware_id: str
    product_key: str
    product_name: str | None
    iot_id: str
    dest_version: str
    module_name: str
    timeout: str | None  # the job's TimeoutInMinutes, as the API spells it

    def to_fleet(self) -> dict[str, Any]:
        return present(
            {
                "DeviceName": self.device_name,
                "TaskId": self.task_id,
                "TaskStatus": self.task_status,
                "Progress": self.progress,
                "TaskDesc": self.task_desc,
                "SrcVersion": self.src_version,
                "UtcModified": self.utc_modified,
            }
        )


@dataclass(frozen=True)
class FleetJob:
    """One OTA job (update batch) and its tasks, one per device."""

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
    job_desc: str | None
    src_versions: tuple[str, ...]
    gray_percent: str | None
    retry_count: int | None
    retry_interval: int | None
    timeout_in_minutes: int | None
    utc_schedule_time: str | None
    name: str  # the firmware's FirmwareName
    dest_version: str  # the firmware's DestVersion
    tasks: tuple[FleetTask, ...]

    @property
    def devices(self) -> tuple[str, ...]:
        """The DeviceNames this job targets, in file order."""
        return tuple(task.device_name for task in self.tasks)

    def to_fleet(self) -> dict[str, Any]:
        """The job in the fleet file format."""
        return present(
            {
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
                "Tags": [{"Key": key, "Value": value} for key, value in self.tags],
                "JobDesc": self.job_desc,
                "SrcVersions": list(self.src_versions),
                "GrayPercent": self.gray_percent,
                "RetryCount": self.retry_count,
                "RetryInterval": self.retry_interval,
                "TimeoutInMinutes": self.timeout_in_minutes,
                "UtcScheduleTime": self.utc_schedule_time,
                "Devices": [task.to_fleet() for task in self.tasks],
            }
        )


@dataclass(frozen=True)
class Fleet:
    """An account's IoT Platform as the emulator serves it. Immutable; replaced whole."""

    access_keys: Mapping[str, str] = field(repr=False)
    iot_instance_id: str | None
    products: Mapping[str, FleetProduct]
    firmwares: Mapping[str, FleetFirmware]
    jobs: tuple[FleetJob, ...]
    _jobs_by_id: dict[str, FleetJob] = field(init=False, repr=False, compare=False)
    _devices_by_iot_id: dict[str, FleetDevice] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_jobs_by_id", {job.job_id: job for job in self.jobs})
        devices = {
            device.iot_id: device
            for product in self.products.values()
            for device in product.devices.values()
        }
        object.__setattr__(self, "_devices_by_iot_id", devices)

    @property
    def access_key_ids(self) -> tuple[str, ...]:
        return tuple(self.access_keys)

    def device(self, product_key: str, device_name: str) -> FleetDevice | None:
        product = self.products.get(product_key)
        return None if product is None else product.devices.get(device_name)

    def device_by_iot_id(self, iot_id: str) -> FleetDevice | None:
        return self._devices_by_iot_id.get(iot_id)

    def job(self, job_id: str) -> FleetJob | None:
        return self._jobs_by_id.get(job_id)

    def jobs_for(self, product_key: str, device_name: str, firmware_id: str) -> list[FleetJob]:
        """The device's jobs for that firmware, in fleet order."""
        return [
            job
            for job in self.jobs
            if job.firmware_id == firmware_id
            and job.product_key == product_key
            and device_name in job.devices
        ]

    def tasks_of(self, product_key: str, device_name: str) -> list[FleetTask]:
        """Every task of the device, in fleet order."""
        return [
            task
            for job in self.jobs
            if job.product_key == product_key
            for task in job.tasks
            if task.device_name == device_name
        ]

    def to_dict(self) -> dict[str, Any]:
        """The fleet in the file format, every default spelt out (``from_dict`` gives it back)."""
        return {
            "AccessKeys": dict(self.access_keys),
            "IotInstanceId": self.iot_instance_id,
            "Products": [product.to_fleet() for product in self.products.values()],
            "Firmwares": [firmware.to_fleet() for firmware in self.firmwares.values()],
            "Jobs": [job.to_fleet() for job in self.jobs],
        }

    @classmethod
    def from_dict(cls, data: object) -> Fleet:
        """Validate a decoded fleet document; ``FleetError`` names the bad entry."""
        return _FleetReader().read(data)

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "fleet") -> Fleet:
        """Parse and validate fleet JSON; every error is prefixed with ``source``."""
        try:
            data = strict_json(text)
        except json.JSONDecodeError as error:
            raise FleetError(
                f"{source} line {error.lineno} column {error.colno}", error.msg
            ) from error
        except UnicodeDecodeError as error:
            raise FleetError(source, f"not UTF-8 text ({error.reason})") from error
        except ValueError as error:
            raise FleetError(source, str(error)) from error
        try:
            return cls.from_dict(data)
        except FleetError as error:
            raise FleetError(f"{source}: {error.location}", error.reason) from error


def strict_json(text: str | bytes) -> Any:
    """JSON as the emulator takes it from files and control requests.

    ``ValueError`` (``JSONDecodeError`` for syntax) refuses what ``json.loads`` would let
    through or crash on: a key given twice in one object (named), an integer of more than
    ``MAX_INTEGER_DIGITS`` digits, nesting too deep for the parser.
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_int=_short_int)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {key[:64]!r}")
        document[key] = value
    return document


def _short_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def load_fleet(path: str | Path) -> Fleet:
    """Read a fleet file; ``FleetError`` names the file, the line or entry, and the reason."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise FleetError(str(path), f"cannot read: {error.strerror or error}") from error
    return Fleet.from_json(text, source=str(path))


def sample_fleet() -> Fleet:
    """The built-in fleet (see the module docstring); a fresh object each call."""
    sample = resources.files("otabot.emulator").joinpath(SAMPLE_FLEET_FILE)
    with resources.as_file(sample) as path:
        return load_fleet(path)


def generated_id(kind: str, *parts: str, length: int = 26) -> str:
    """An identifier made from ``parts``: the same parts always give the same one."""
    digest = int.from_bytes(hashlib.sha256("\0".join((kind, *parts)).encode()).digest())
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    characters = []
    for _ in range(length):
        digest, index = divmod(digest, len(alphabet))
        characters.append(alphabet[index])
    return "".join(characters)


class _FleetReader:
    """Walks a decoded fleet document, checking every entry and filling in defaults."""

    def read(self, data: object) -> Fleet:
        root = self._object(
            data,
            "fleet",
            required=("AccessKeys",),
            optional=("IotInstanceId", "Products", "Firmwares", "Jobs"),
        )
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

    # Shapes and values.

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
                raise FleetError(_at(where, name), "unknown field")
        return value

    def _list(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise FleetError(where, f"must be a list, not {_kind(value)}")
        return value

    def _text(self, value: object, where: str, pattern: re.Pattern[str] | None = None) -> str:
        if value == "":
            raise FleetError(where, "must not be empty")
        if not isinstance(value, str):
            raise FleetError(where, f"must be a non-empty string, not {_kind(value)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise FleetError(where, f"malformed value {value[:80]!r}")
        return value

    def _optional_text(
        self, item: Mapping[str, Any], name: str, where: str, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        value = item.get(name)
        return None if value is None else self._text(value, _at(where, name), pattern)

    def _choice(self, value: object, where: str, choices: Sequence[Any]) -> Any:
        if isinstance(value, bool) or value not in choices:
            listed = ", ".join(str(choice) for choice in choices)
            raise FleetError(where, f"must be one of {listed}, not {_short(value)}")
        return value

    def _integer(
        self, item: Mapping[str, Any], name: str, where: str, maximum: int = MAX_COUNT
    ) -> int | None:
        value = item.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            raise FleetError(_at(where, name), f"must be a whole number from 0 to {maximum}")
        return value

    def _time(self, value: object, where: str) -> str:
        text = self._text(value, where)
        try:
            parse_utc(text, strict=True)
        except ValueError:
            raise FleetError(
                where, f"not a UTC time like 2019-12-28T02:43:10.000Z: {text[:40]!r}"
            ) from None
        return text

    def _optional_time(self, item: Mapping[str, Any], name: str, where: str) -> str | None:
        value = item.get(name)
        return None if value is None else self._time(value, _at(where, name))

    def _entries(
        self, value: object, where: str, required: str, optional: Sequence[str]
    ) -> Iterable[tuple[str, dict[str, Any]]]:
        """Each entry of a list of names or objects, as an object, with its path."""
        for index, entry in enumerate(self._list(value, where)):
            path = f"{where}[{index}]"
            if isinstance(entry, str):
                entry = {required: entry}
            yield path, self._object(entry, path, required=(required,), optional=optional)

    # Sections.

    def _access_keys(self, value: object) -> dict[str, str]:
        if not isinstance(value, dict) or not value:
            raise FleetError("AccessKeys", "must be a non-empty object of AccessKeyId: secret")
        for key_id, secret in value.items():
            self._text(key_id, "AccessKeys", IDENTIFIER_RE)
            if not isinstance(secret, str) or not secret:
                raise FleetError(f"AccessKeys.{key_id}", "the secret must be a non-empty string")
        return dict(value)

    def _products(self, value: object) -> dict[str, FleetProduct]:
        products: dict[str, FleetProduct] = {}
        iot_ids: set[str] = set()
        for index, entry in enumerate(self._list(value, "Products")):
            where = f"Products[{index}]"
            item = self._object(
                entry, where, required=("ProductKey",), optional=("ProductName", "Devices")
            )
            key = self._text(item["ProductKey"], f"{where}.ProductKey", IDENTIFIER_RE)
            if key in products:
                raise FleetError(f"{where}.ProductKey", f"duplicate product {key!r}")
            name = self._optional_text(item, "ProductName", where)
            devices: dict[str, FleetDevice] = {}
            for path, device in self._entries(
                item.get("Devices", []), f"{where}.Devices", "DeviceName", DEVICE_FIELDS
            ):
                read = self._device(device, path, key, name)
                if read.device_name in devices:
                    raise FleetError(path, f"duplicate {read.device_name!r}")
                if read.iot_id in iot_ids:
                    raise FleetError(f"{path}.IotId", f"duplicate IotId {read.iot_id!r}")
                devices[read.device_name] = read
                iot_ids.add(read.iot_id)
            products[key] = FleetProduct(key, name, devices)
        return products

    def _device(
        self, item: dict[str, Any], where: str, product_key: str, product_name: str | None
    ) -> FleetDevice:
        name = self._text(item["DeviceName"], _named(where, item), DEVICE_NAME_RE)
        status = item.get("Status", "ONLINE")
        return FleetDevice(
            product_key=product_key,
            product_name=product_name,
            device_name=name,
            iot_id=self._optional_text(item, "IotId", where, IOT_ID_RE)
            or generated_id("IotId", product_key, name),
            device_secret=self._optional_text(item, "DeviceSecret", where)
            or generated_id("DeviceSecret", product_key, name, length=32),
            status=self._choice(status, f"{where}.Status", DEVICE_STATUSES),
            firmware_version=self._optional_text(item, "FirmwareVersion", where, VERSION_RE),
            nickname=self._optional_text(item, "Nickname", where),
            utc_online=self._optional_time(item, "UtcOnline", where),
        )

    def _firmwares(
        self, value: object, products: Mapping[str, FleetProduct]
    ) -> dict[str, FleetFirmware]:
        firmwares: dict[str, FleetFirmware] = {}
        for index, entry in enumerate(self._list(value, "Firmwares")):
            where = f"Firmwares[{index}]"
            item = self._object(
                entry, where, required=("FirmwareId", "ProductKey"), optional=FIRMWARE_FIELDS
            )
            firmware_id = self._text(item["FirmwareId"], f"{where}.FirmwareId", IDENTIFIER_RE)
            if firmware_id in firmwares:
                raise FleetError(f"{where}.FirmwareId", f"duplicate firmware {firmware_id!r}")
            product_key = self._text(item["ProductKey"], f"{where}.ProductKey")
            if product_key not in products:
                raise FleetError(f"{where}.ProductKey", f"unknown product {product_key!r}")
            firmware_type = self._choice(item.get("Type", 0), f"{where}.Type", FIRMWARE_TYPES)
            src_version = self._optional_text(item, "SrcVersion", where, VERSION_RE)
            if (src_version is None) != (firmware_type == 0):
                raise FleetError(
                    f"{where}.SrcVersion", "a delta package (Type 1) has one, a full package none"
                )
            firmwares[firmware_id] = FleetFirmware(
                firmware_id=firmware_id,
                product_key=product_key,
                product_name=products[product_key].product_name,
                firmware_name=self._optional_text(item, "FirmwareName", where) or firmware_id,
                dest_version=self._optional_text(item, "DestVersion", where, VERSION_RE)
                or firmware_id[-6:],
                src_version=src_version,
                module_name=self._optional_text(item, "ModuleName", where, IDENTIFIER_RE)
                or "default",
                firmware_type=firmware_type,
                status=self._choice(item.get("Status", 1), f"{where}.Status", FIRMWARE_STATUSES),
                firmware_size=self._integer(item, "FirmwareSize", where, MAX_FIRMWARE_BYTES),
                firmware_desc=self._optional_text(item, "FirmwareDesc", where),
                utc_create=self._optional_time(item, "UtcCreate", where),
            )
        return firmwares

    def _jobs(
        self,
        value: object,
        products: Mapping[str, FleetProduct],
        firmwares: Mapping[str, FleetFirmware],
    ) -> tuple[FleetJob, ...]:
        jobs: list[FleetJob] = []
        seen: set[str] = set()
        for index, entry in enumerate(self._list(value, "Jobs")):
            where = f"Jobs[{index}]"
            item = self._object(entry, where, required=JOB_REQUIRED_FIELDS, optional=JOB_FIELDS)
            job_id = self._text(item["JobId"], f"{where}.JobId", IDENTIFIER_RE)
            if job_id in seen:
                raise FleetError(f"{where}.JobId", f"duplicate job {job_id!r}")
            seen.add(job_id)
            jobs.append(self._job(item, where, products, firmwares))
        return tuple(jobs)

    def _job(
        self,
        item: dict[str, Any],
        where: str,
        products: Mapping[str, FleetProduct],
        firmwares: Mapping[str, FleetFirmware],
    ) -> FleetJob:
        firmware_id = self._text(item["FirmwareId"], f"{where}.FirmwareId")
        firmware = firmwares.get(firmware_id)
        if firmware is None:
            raise FleetError(f"{where}.FirmwareId", f"unknown firmware {firmware_id!r}")
        product_key = firmware.product_key
        if "ProductKey" in item and item["ProductKey"] != product_key:
            raise FleetError(
                f"{where}.ProductKey",
                f"firmware {firmware_id!r} belongs to product {product_key!r}",
            )
        status = self._text(item["JobStatus"], f"{where}.JobStatus")
        created = self._time(item["UtcCreate"], f"{where}.UtcCreate")
        ended = self._optional_time(item, "UtcEndTime", where)
        if ended is not None and status in UNFINISHED_JOB_STATUSES:
            raise FleetError(f"{where}.UtcEndTime", f"a job that is {status} has no end time")
        src_versions = tuple(
            self._text(version, f"{where}.SrcVersions[{position}]", VERSION_RE)
            for position, version in enumerate(self._list(item.get("SrcVersions", []), where))
        )
        job = FleetJob(
            job_id=item["JobId"],
            firmware_id=firmware_id,
            product_key=product_key,
            job_status=status,
            job_type=self._text(item["JobType"], f"{where}.JobType"),
            selection_type=self._text(
                item.get("SelectionType", "STATIC"), f"{where}.SelectionType"
            ),
            target_selection=self._text(
                item.get("TargetSelection", "SPECIFIC"), f"{where}.TargetSelection"
            ),
            utc_create=created,
            utc_modified=self._optional_time(item, "UtcModified", where) or created,
            utc_start_time=self._optional_time(item, "UtcStartTime", where),
            utc_end_time=ended,
            tags=self._tags(item.get("Tags", []), f"{where}.Tags"),
            job_desc=self._optional_text(item, "JobDesc", where),
            src_versions=src_versions,
            gray_percent=self._gray_percent(item.get("GrayPercent"), f"{where}.GrayPercent"),
            retry_count=self._integer(item, "RetryCount", where),
            retry_interval=self._integer(item, "RetryInterval", where),
            timeout_in_minutes=self._integer(item, "TimeoutInMinutes", where),
            utc_schedule_time=self._optional_time(item, "UtcScheduleTime", where),
            name=firmware.firmware_name,
            dest_version=firmware.dest_version,
            tasks=(),
        )
        tasks: list[FleetTask] = []
        for path, task in self._entries(
            item["Devices"], f"{where}.Devices", "DeviceName", TASK_FIELDS
        ):
            read = self._task(task, path, job, firmware, products[product_key])
            if read.device_name in (earlier.device_name for earlier in tasks):
                raise FleetError(path, f"duplicate {read.device_name!r}")
            tasks.append(read)
        return replace(job, tasks=tuple(tasks))

    def _task(
        self,
        item: dict[str, Any],
        where: str,
        job: FleetJob,
        firmware: FleetFirmware,
        product: FleetProduct,
    ) -> FleetTask:
        name = self._text(item["DeviceName"], _named(where, item), DEVICE_NAME_RE)
        device = product.devices.get(name)
        if device is None:
            raise FleetError(where, f"unknown device {name!r} of product {product.product_key!r}")
        implied = IMPLIED_TASK_STATUS.get(job.job_status, "QUEUED")
        status = self._choice(item.get("TaskStatus", implied), f"{where}.TaskStatus", TASK_STATUSES)
        return FleetTask(
            task_id=self._optional_text(item, "TaskId", where, IDENTIFIER_RE)
            or generated_id("TaskId", job.job_id, name),
            device_name=name,
            task_status=status,
            progress=self._progress(item.get("Progress"), f"{where}.Progress", status),
            task_desc=self._optional_text(item, "TaskDesc", where),
            src_version=self._optional_text(item, "SrcVersion", where, VERSION_RE)
            or next(iter(job.src_versions), device.firmware_version),
            utc_create=job.utc_start_time or job.utc_create,
            utc_modified=self._optional_time(item, "UtcModified", where) or job.utc_modified,
            job_id=job.job_id,
            firmware_id=firmware.firmware_id,
            product_key=product.product_key,
            product_name=product.product_name,
            iot_id=device.iot_id,
            dest_version=firmware.dest_version,
            module_name=firmware.module_name,
            timeout=None if job.timeout_in_minutes is None else str(job.timeout_in_minutes),
        )

    def _progress(self, value: object, where: str, status: str) -> str:
        if value is None:
            return "100" if status == "SUCCEEDED" else "0"
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise FleetError(where, f'must be a percentage like "40", not {_short(value)}')
        return str(value)

    def _gray_percent(self, value: object, where: str) -> str | None:
        if value is None:
            return None
        return self._progress(value, where, "")

    def _tags(self, value: object, where: str) -> tuple[tuple[str, str], ...]:
        tags: list[tuple[str, str]] = []
        for index, entry in enumerate(self._list(value, where)):
            item = self._object(entry, f"{where}[{index}]", required=("Key", "Value"))
            key = self._text(item["Key"], f"{where}[{index}].Key")
            if not isinstance(item["Value"], str):
                raise FleetError(f"{where}[{index}].Value", "must be a string")
            tags.append((key, item["Value"]))
        return tuple(tags)


DEVICE_FIELDS = ("Status", "FirmwareVersion", "IotId", "DeviceSecret", "Nickname", "UtcOnline")
FIRMWARE_FIELDS = (
    "FirmwareName",
    "DestVersion",
    "SrcVersion",
    "ModuleName",
    "Type",
    "Status",
    "FirmwareSize",
    "FirmwareDesc",
    "UtcCreate",
)
JOB_REQUIRED_FIELDS = ("JobId", "FirmwareId", "JobStatus", "JobType", "UtcCreate", "Devices")
JOB_FIELDS = (
    "ProductKey",
    "SelectionType",
    "TargetSelection",
    "UtcModified",
    "UtcStartTime",
    "UtcEndTime",
    "Tags",
    "JobDesc",
    "SrcVersions",
    "GrayPercent",
    "RetryCount",
    "RetryInterval",
    "TimeoutInMinutes",
    "UtcScheduleTime",
)
TASK_FIELDS = ("TaskId", "TaskStatus", "Progress", "TaskDesc", "SrcVersion", "UtcModified")


def present(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without its empty fields (None, empty lists)."""
    return {key: value for key, value in document.items() if value is not None and value != []}


def _at(where: str, name: str) -> str:
    return name if where == "fleet" else f"{where}.{name}"


def _named(where: str, item: Mapping[str, Any]) -> str:
    """Where a name is reported: the entry itself when it was given as a bare name."""
    return where if len(item) == 1 else f"{where}.DeviceName"


def _short(value: object) -> str:
    return repr(value)[:40] if isinstance(value, str | int | float) else _kind(value)


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )
