"""One table of inputs that ``/ota`` and ``otabot`` must read the same way.

Each row is an input, written once as ``/ota`` text and once as an ``otabot`` command
line (often with flags where the text has ``key=value`` words), and its verdict:

- ``Refused``: a usage error naming the token and why, with no service call; the CLI
  exits 2. Both front ends must say ``f"{token}: {why}"`` (the CLI may show the token
  as the flag it was written as).
- ``Names``: the service use cases the query makes, in order (the CLI exits 0).
- ``Says``: the words both print after asking the service (an unknown device, a
  version no package has …), and the CLI's exit code.

``tests/slack/test_parity.py`` sends each row as a signed ``/ota``;
``tests/cli/test_parity.py`` runs ``otabot.cli.main([...])`` in-process. Both run over
``tests.world.RecordingService``.
"""

from __future__ import annotations

from dataclasses import dataclass

from otabot import service
from otabot.query.grammar import DEVICE_FORMAT, shown_token
from tests.helpers import EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID

NEITHER = (
    "'lamp' is neither a ProductKey (11 letters and digits) nor an alias (aliases: light, meter)"
)
STATUS_WORDS = "status= takes planned, in_progress (or running), completed (or done) or canceled"


@dataclass(frozen=True)
class Refused:
    token: str | None
    why: str
    cli_token: str | None = None  # the token as the CLI shows it, when written as a flag

    def said(self, cli: bool) -> str:
        token = self.cli_token if cli and self.cli_token is not None else self.token
        return self.why if token is None else f"{token}: {self.why}"


@dataclass(frozen=True)
class Names:
    calls: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Says:
    words: str
    exit_code: int


Verdict = Refused | Names | Says


@dataclass(frozen=True)
class Row:
    slack: str
    cli: tuple[str, ...]
    verdict: Verdict

    @property
    def id(self) -> str:
        return self.slack or "(empty)"


def row(slack: str, cli: str, verdict: Verdict) -> Row:
    return Row(slack, tuple(cli.split()), verdict)


LIGHT1 = service.DeviceLookup(LIGHT_PRODUCT_KEY, "light1")
JOBS = service.JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)

ROWS: tuple[Row, ...] = (
    # --- queries: the same use cases, whichever way they are written ---------------------
    row("light/light1", "device light/light1", Names((("device", LIGHT1),))),
    row("light1 product=light", "device light1 --product light", Names((("device", LIGHT1),))),
    row(
        f"{LIGHT_PRODUCT_KEY}/light1 instance=iot-06z00abc",
        f"device {LIGHT_PRODUCT_KEY}/light1 --instance iot-06z00abc",
        Names((("device", service.DeviceLookup(LIGHT_PRODUCT_KEY, "light1", "iot-06z00abc")),)),
    ),
    row(
        f"jobs {LIGHT_PRODUCT_KEY}/light1 {SHOWCASE_FIRMWARE_ID} status=in_progress",
        f"jobs {LIGHT_PRODUCT_KEY}/light1 {SHOWCASE_FIRMWARE_ID} status=in_progress",
        Names((("jobs", JOBS),)),
    ),
    row(
        f"light/light1 {SHOWCASE_FIRMWARE_ID} page=2 status=done",
        f"jobs light/light1 {SHOWCASE_FIRMWARE_ID} --page 2 --status done",
        Names((("jobs", JOBS),)),
    ),
    row(
        f"product=light device=light1 firmware={SHOWCASE_FIRMWARE_ID} page=2",
        f"jobs product=light device=light1 firmware={SHOWCASE_FIRMWARE_ID} page=2",
        Names((("jobs", JOBS),)),
    ),
    row(
        f"status=cancelled light/light1 {SHOWCASE_FIRMWARE_ID}",
        f"jobs light/light1 {SHOWCASE_FIRMWARE_ID} --status cancelled",
        Names((("jobs", JOBS),)),
    ),
    row(
        "light/light1 1.2.0",
        "jobs light/light1 1.2.0",
        Names(
            (("resolve_version", service.VersionLookup(LIGHT_PRODUCT_KEY, "1.2.0")), ("jobs", JOBS))
        ),
    ),
    row(
        "jobs light/light1 version=v1.2.0 status=running",
        "jobs light/light1 --status running version=v1.2.0",
        Names(
            (
                ("resolve_version", service.VersionLookup(LIGHT_PRODUCT_KEY, "v1.2.0")),
                ("jobs", JOBS),
            )
        ),
    ),
    row(
        f"job {EXAMPLE_JOB_ID}",
        f"job {EXAMPLE_JOB_ID}",
        Names((("job", service.JobLookup(EXAMPLE_JOB_ID)),)),
    ),
    row(
        f"job {EXAMPLE_JOB_ID} light1",
        f"job {EXAMPLE_JOB_ID} --device light1",
        Names((("job", service.JobLookup(EXAMPLE_JOB_ID, None, "light1")),)),
    ),
    row(
        f"job {EXAMPLE_JOB_ID} status=failed page=2",
        f"job {EXAMPLE_JOB_ID} --failed --page 2",
        Names(
            (
                ("job", service.JobLookup(EXAMPLE_JOB_ID)),
                ("failed", service.FailedLookup(EXAMPLE_JOB_ID)),
            )
        ),
    ),
    row(
        "firmware light",
        "firmware --product light",
        Names((("firmwares", service.FirmwareLookup(LIGHT_PRODUCT_KEY)),)),
    ),
    row(
        "firmware light version=2.5.0",
        "firmware light --version 2.5.0",
        Names((("resolve_version", service.VersionLookup(LIGHT_PRODUCT_KEY, "2.5.0")),)),
    ),
    row(
        f"jobs firmware={SHOWCASE_FIRMWARE_ID} product=light status=done",
        f"jobs firmware={SHOWCASE_FIRMWARE_ID} --product light --status done",
        Names((("firmware_jobs", service.FirmwareJobsLookup(SHOWCASE_FIRMWARE_ID)),)),
    ),
    # --- refused before any call ----------------------------------------------------------
    row("light/li", "device light/li", Refused("light/li", DEVICE_FORMAT)),
    row(
        f"light/light1! {SHOWCASE_FIRMWARE_ID}",
        f"jobs light/light1! {SHOWCASE_FIRMWARE_ID}",
        Refused("light/light1!", DEVICE_FORMAT),
    ),
    row("lamp/light1", "device lamp/light1", Refused("lamp/light1", NEITHER)),
    row(
        f"lamp/light1 {SHOWCASE_FIRMWARE_ID}",
        f"jobs lamp/light1 {SHOWCASE_FIRMWARE_ID}",
        Refused("lamp/light1", NEITHER),
    ),
    row("firmware lamp", "firmware --product lamp", Refused("lamp", NEITHER, "--product lamp")),
    row(
        "light1",
        "device light1",
        Refused(
            "light1", "no product: write ProductKey/DeviceName, alias/DeviceName or add product=PK"
        ),
    ),
    row(
        "light/light1 FW+bad",
        "jobs light/light1 FW+bad",
        Refused(
            "FW+bad",
            "neither a FirmwareId (up to 64 letters, digits, '-' and '_') nor a version "
            "(it has a dot, or is v and digits; or write version=V)",
        ),
    ),
    row(
        f"light/light1 {SHOWCASE_FIRMWARE_ID} page=0",
        f"jobs light/light1 {SHOWCASE_FIRMWARE_ID} --page 0",
        Refused("page=0", "page= takes a whole number from 1 to 10000", "--page 0"),
    ),
    row(
        f"light/light1 {SHOWCASE_FIRMWARE_ID} status=paused",
        f"jobs light/light1 {SHOWCASE_FIRMWARE_ID} --status paused",
        Refused("status=paused", STATUS_WORDS, "--status paused"),
    ),
    row(
        f"light/light1 {SHOWCASE_FIRMWARE_ID} status=failed",
        f"jobs light/light1 {SHOWCASE_FIRMWARE_ID} status=failed",
        Refused("status=failed", STATUS_WORDS),
    ),
    row(
        f"light/light1 {SHOWCASE_FIRMWARE_ID} status=done status=running",
        f"jobs light/light1 {SHOWCASE_FIRMWARE_ID} --status done --status running",
        Refused("status=running", "status= is given twice", "--status running"),
    ),
    row(
        f"light/light1 {SHOWCASE_FIRMWARE_ID} page=2 page=3",
        f"jobs light/light1 {SHOWCASE_FIRMWARE_ID} page=2 --page 3",
        Refused("page=3", "page= is given twice", "--page 3"),
    ),
    row(
        f"light/light1 {SHOWCASE_FIRMWARE_ID} instance=a/b",
        f"jobs light/light1 {SHOWCASE_FIRMWARE_ID} --instance a/b",
        Refused(
            "instance=a/b",
            "an IotInstanceId is up to 64 letters, digits, '-' and '_'",
            "--instance a/b",
        ),
    ),
    row(
        f"light/light1 version={'9' * 65}",
        f"jobs light/light1 version={'9' * 65}",
        Refused(
            shown_token(f"version={'9' * 65}"),
            "a version is at most 64 printable characters, no spaces",
        ),
    ),
    row(
        f"light/light1 {SHOWCASE_FIRMWARE_ID} colour=red",
        f"jobs light/light1 {SHOWCASE_FIRMWARE_ID} colour=red",
        Refused(
            "colour=red",
            "unknown key; use one of product=, device=, firmware=, version=, job=, page=, "
            "status=, instance=",
        ),
    ),
    row(
        f"light/light1 {SHOWCASE_FIRMWARE_ID} extra",
        f"jobs light/light1 {SHOWCASE_FIRMWARE_ID} extra",
        Refused("extra", "unexpected word (a jobs list takes DEVICE and FIRMWARE)"),
    ),
    row(
        f"meter/light1 {SHOWCASE_FIRMWARE_ID} product=light",
        f"jobs meter/light1 {SHOWCASE_FIRMWARE_ID} --product light",
        Refused(
            "product=light", "names a different product than the device does", "--product light"
        ),
    ),
    row("jobs", "jobs", Refused(None, "missing DEVICE and FIRMWARE")),
    row(
        "jobs light/light1",
        "jobs light/light1",
        Refused(None, "missing FIRMWARE (a FirmwareId or a version)"),
    ),
    row("job", "job", Refused(None, "missing JOBID")),
    row(
        "job bad!id",
        "job bad!id",
        Refused("bad!id", "a JobId is up to 64 letters, digits, '-' and '_'"),
    ),
    row(
        f"job {EXAMPLE_JOB_ID} page=2",
        f"job {EXAMPLE_JOB_ID} --page 2",
        Refused("page=2", "page= pages a job's failed devices: add status=failed", "--page 2"),
    ),
    row(
        f"job {EXAMPLE_JOB_ID} status=done",
        f"job {EXAMPLE_JOB_ID} status=done",
        Refused("status=done", "a job lists its devices by status=failed only"),
    ),
    row(
        "light/light1 job",
        "device light/light1 job",
        Refused(
            "job", "'job' is a keyword and goes first (write device=job for a device of that name)"
        ),
    ),
    row(
        "light/light1 page=2",
        "device light/light1 page=2",
        Refused("page=2", "page= does not apply to the device card"),
    ),
    row(
        "firmware light device=light1",
        "firmware light device=light1",
        Refused("device=light1", "device= does not apply to the firmware list"),
    ),
    # --- said in words after asking ---------------------------------------------------------
    row(
        "light/nosuch",
        "device light/nosuch",
        Says(
            f"Device nosuch not found in product {LIGHT_PRODUCT_KEY}."
            " DeviceNames are case-sensitive",
            1,
        ),
    ),
    row(
        f"light/nosuch {SHOWCASE_FIRMWARE_ID}",
        f"jobs light/nosuch {SHOWCASE_FIRMWARE_ID}",
        Says(f"Device nosuch not found in product {LIGHT_PRODUCT_KEY}.", 1),
    ),
    row("job NOSUCHJOB", "job NOSUCHJOB", Says("Job NOSUCHJOB not found.", 1)),
    row(
        "light/light1 9.9.9",
        "jobs light/light1 9.9.9",
        Says(
            f"No firmware package of product {LIGHT_PRODUCT_KEY} has version 9.9.9. "
            "Newest versions: v3.0.0, 2.5.0, 1.2.0.",
            1,
        ),
    ),
    row(
        "light/light1 2.5.0",
        "jobs light/light1 2.5.0",
        Says(f"Version 2.5.0 of product {LIGHT_PRODUCT_KEY} names 2 packages — which one?", 2),
    ),
    row(
        "firmware light version=7",
        "firmware light --version 7",
        Says(f"No firmware package of product {LIGHT_PRODUCT_KEY} has version 7.", 1),
    ),
)
