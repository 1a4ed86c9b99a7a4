"""``otabot demo`` as a user meets it: a subprocess, its page in headless Chromium.

Needs Debian's ``chromium`` at /usr/bin/chromium (skips without it, unless
``OTABOT_REQUIRE_BROWSER=1``). ``OTABOT_UPDATE_SCREENSHOT=1`` rewrites docs/demo.png: the
on-call path, device card to failed devices.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from otabot.cli.demo import READY_PREFIX
from otabot.emulator.fleet import ROLLOUT_JOB_ID, FleetTask, sample_fleet
from otabot.emulator.responses import job_info
from otabot.iot.models import OtaJob
from otabot.service.results import newest_first
from tests.demo.chromium import chromium
from tests.helpers import LIGHT_PRODUCT_KEY, REPO, SHOWCASE_FIRMWARE_ID, ReadyProcess

PRODUCT, DEVICE, FIRMWARE = LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID
LOOKUP = f"/ota light/{DEVICE} {FIRMWARE}"
PAGE_SIZE = 5
READER_ZONE = "Asia/Shanghai"
SCREENSHOT_VIEWPORT = {"width": 1280, "height": 1420}
# What the demo must not pick up from the developer's shell: it would leave the emulator.
_FOREIGN_ENV = ("ALIBABA_CLOUD_", "OTABOT_", "SLACK_")

pytestmark = [pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DemoProcess(ReadyProcess):
    """``python -m otabot demo`` on a free port, its stderr in ``log_dir``."""

    def __init__(self, log_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV)}
        self.stderr_path = log_dir / f"demo-{self.port}.stderr"
        argv = [sys.executable, "-m", "otabot", "demo", "--port", str(self.port)]
        super().__init__(argv, env=env, stderr_path=self.stderr_path)

    def wait_ready(self, timeout: float = 30.0) -> str:
        """The page URL from the ready line; fails with the demo's stderr if it never comes."""
        return self.wait_for(READY_PREFIX, timeout).removeprefix(READY_PREFIX).strip()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoProcess]:
    with DemoProcess(tmp_path) as process:
        yield process


@pytest.fixture
def page() -> Iterator[Any]:
    """A Chromium page whose reader lives in ``READER_ZONE`` with an en-US locale."""
    with chromium() as browser:
        context = browser.new_context(
            viewport={"width": 1280, "height": 960}, locale="en-US", timezone_id=READER_ZONE
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        yield page
        context.close()


def expected_job_ids() -> list[str]:
    """light1's jobs for the showcase firmware, newest first, from the sample fleet."""
    fleet_jobs = sample_fleet().jobs_for(PRODUCT, DEVICE, FIRMWARE)
    return [job.job_id for job in newest_first([OtaJob.from_api(job_info(j)) for j in fleet_jobs])]


def newest_job() -> OtaJob:
    fleet_jobs = sample_fleet().jobs_for(PRODUCT, DEVICE, FIRMWARE)
    return newest_first([OtaJob.from_api(job_info(j)) for j in fleet_jobs])[0]


def reader_time(moment: datetime) -> str:
    """How an en-US reader in READER_ZONE sees a time: ``3:07 PM``."""
    local = moment.astimezone(ZoneInfo(READER_ZONE))
    return f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


@pytest.fixture
def errors(page: Any) -> list[str]:
    """The page's uncaught errors and console errors, as they come."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def type_command(page: Any, text: str) -> None:
    page.fill("#composer", text)
    page.press("#composer", "Enter")


def shown_job_ids(message: Any) -> list[str]:
    """The JobIds in a message's job sections, top to bottom."""
    codes = message.locator(".bk-section .bk-text > code.inline-code").all_inner_texts()
    return [code for code in codes if code in set(expected_job_ids())]


@pytest.mark.browser
def test_a_lookup_pages_shares_and_reports_usage_in_a_real_browser(
    demo: DemoProcess, page: Any, errors: list[str]
) -> None:
    url = demo.wait_ready()
    page.goto(url)
    jobs = expected_job_ids()
    assert len(jobs) > 2 * PAGE_SIZE  # the showcase spans three pages

    # A lookup: the newest jobs, in an ephemeral message, with the reader's own times.
    type_command(page, LOOKUP)
    answer = page.locator("article.message.kind-app", has_text=f"OTA jobs · {DEVICE}").last
    answer.locator(".bk-header").wait_for()
    assert answer.get_attribute("data-visibility") == "ephemeral"
    assert "Only visible to you" in answer.inner_text()
    assert shown_job_ids(answer) == jobs[:PAGE_SIZE]
    created = answer.locator(".bk-section", has_text=jobs[0]).locator("time.slack-date").first
    assert created.inner_text().endswith(reader_time(newest_job().utc_create))

    # Next: the same message, replaced by page 2.
    message_id = answer.get_attribute("data-message-id")
    answer.locator("button[data-action-id=ota_next]").click()
    page2 = page.locator(f'article[data-message-id="{message_id}"][data-revision="2"]')
    page2.wait_for()
    assert "page 2 of 3" in page2.inner_text()
    assert shown_job_ids(page2) == jobs[PAGE_SIZE : 2 * PAGE_SIZE]
    assert page.locator("article.message.kind-app").count() == 1

    # Share: a new message everyone sees, naming who shared it, without buttons.
    page2.locator("button[data-action-id=ota_share]").click()
    shared = page.locator('article.message.kind-app[data-visibility="channel"]')
    shared.wait_for()
    assert "Shared by @Dana (on call)" in shared.inner_text()
    assert shown_job_ids(shared) == jobs[PAGE_SIZE : 2 * PAGE_SIZE]
    assert "Only visible to you" not in shared.inner_text()
    assert shared.locator("button").count() == 0

    # A jobs command without its firmware: the usage, only to the user, no lookup.
    type_command(page, f"/ota jobs light/{DEVICE}")
    usage = page.locator("article.message.kind-app", has=page.locator("pre")).last
    usage.wait_for()
    assert "missing FIRMWARE" in usage.inner_text()
    assert usage.get_attribute("data-visibility") == "ephemeral"
    assert usage.locator("svg.emoji[aria-label=':warning:']").count() == 1
    assert "/ota [jobs] DEVICE FIRMWARE" in usage.locator("pre").inner_text()

    page.screenshot(path=str(demo.stderr_path.parent / "jobs.png"))
    assert errors == []


def rollout_tasks() -> tuple[FleetTask, ...]:
    """The tasks of the sample fleet's rollout job, light1's among them."""
    rollout = sample_fleet().job(ROLLOUT_JOB_ID)
    assert rollout is not None
    return rollout.tasks


def failed_tasks() -> list[FleetTask]:
    """The rollout's failed tasks as the failed list shows them: most recently failed first."""
    failed = [task for task in rollout_tasks() if task.task_status == "FAILED"]
    return sorted(failed, key=lambda task: (task.utc_modified, task.device_name), reverse=True)


def app_message(page: Any, header: str) -> Any:
    """The newest app message whose header is ``header``, once it is shown."""
    message = page.locator(
        "article.message.kind-app", has=page.locator(".bk-header", has_text=header)
    )
    message.last.wait_for()
    return message.last


@pytest.mark.browser
def test_the_on_call_path_from_device_card_to_job_to_failed_devices_in_a_real_browser(
    demo: DemoProcess, page: Any, errors: list[str]
) -> None:
    page.goto(demo.wait_ready())
    counts = Counter(task.task_status for task in rollout_tasks())

    # The alert names light1: its card shows the rollout it is in the middle of.
    type_command(page, f"/ota light/{DEVICE}")
    card = app_message(page, f"OTA · {DEVICE}")
    task = card.locator(".bk-section", has_text="in progress")
    assert ROLLOUT_JOB_ID in task.inner_text() and "2.0.0 → 2.1.0" in task.inner_text()

    # Job: a new message, the job card with its task counts and light1's task at 40 %.
    card.locator("button[data-action-id=ota_job]").click()
    job = app_message(page, f"OTA job · {ROLLOUT_JOB_ID}")
    text = job.inner_text()
    assert f"{counts['SUCCEEDED']} succeeded" in text and f"{counts['FAILED']} failed" in text
    assert f"… of {counts.total()}" in text
    assert f"Device {DEVICE}:" in text and "IN_PROGRESS · 40 %" in text
    assert page.locator("article.message.kind-app").count() == 2  # the device card stays

    # Failed devices: the most recent failures first, each with its reason quoted.
    job.locator("button[data-action-id=ota_failed]").click()
    failed = app_message(page, f"Failed devices · {ROLLOUT_JOB_ID}")
    rows = failed.locator(".bk-section", has=page.locator("blockquote.quote"))
    shown = failed_tasks()[:PAGE_SIZE]
    assert rows.count() == len(shown)
    for row, expected in zip(rows.all(), shown, strict=True):
        assert row.locator("code.inline-code").first.inner_text() == expected.device_name
        assert row.locator("blockquote.quote").inner_text() == expected.task_desc
    assert f"{counts['FAILED']} failed devices of {counts.total()} devices" in failed.inner_text()

    screenshot = REPO / "docs" / "demo.png"
    if os.environ.get("OTABOT_UPDATE_SCREENSHOT") != "1":
        screenshot = demo.stderr_path.parent / "demo.png"
    page.set_viewport_size(SCREENSHOT_VIEWPORT)  # the whole path, device card to reasons
    page.screenshot(path=str(screenshot))
    assert errors == []


def test_sigterm_stops_the_demo_cleanly_with_exit_0(demo: DemoProcess) -> None:
    url = demo.wait_ready()
    assert requests.get(url + "healthz", timeout=5).json() == {"ok": True}

    demo.process.send_signal(signal.SIGTERM)

    assert demo.process.wait(15) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "healthz", timeout=2)


def test_ctrl_c_stops_the_demo_cleanly_with_exit_0(demo: DemoProcess) -> None:
    demo.wait_ready()

    demo.process.send_signal(signal.SIGINT)

    assert demo.process.wait(15) == 0
    assert "Traceback" not in demo.stderr_path.read_text()


def test_a_port_in_use_gives_one_clear_line_and_exit_1(demo: DemoProcess, tmp_path: Path) -> None:
    demo.wait_ready()

    second = subprocess.run(
        [sys.executable, "-m", "otabot", "demo", "--port", str(demo.port)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )

    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"otabot demo: 127.0.0.1:{demo.port} is already in use (choose another with --port)"
    ]
