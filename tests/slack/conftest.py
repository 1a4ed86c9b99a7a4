"""Slack-side test helpers: a recording stand-in for response_url and the Web API, signed requests.

``SlackRecorder`` is a real HTTP server on port 0: response URLs and the Web API
(``auth.test``, ``chat.postMessage``) both point at it, and it records every JSON body.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from otabot.config import Settings
from otabot.iot.models import OtaJob
from otabot.service import JobsLookup, JobsResult
from otabot.service.fetching import WouldCall
from otabot.service.results import Provenance, newest_first
from otabot.slack.app import build_app
from otabot.slack.deferred import DeferredLookups
from otabot.slack.responder import ResponseUrlPoster
from tests.world import CachedView, RecordingService

SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-token"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
PRODUCT = "a19mzPZabcd"
FIRMWARE = "FJFx8JzpnhpIsKftRjjm030100"


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]


@dataclass
class Fault:
    """The next ``count`` calls of a Web API method fail: Slack's ``error`` word, with HTTP
    ``status`` (429 carries ``Retry-After: retry_after``)."""

    error: str
    count: int = 1
    status: int = 200
    retry_after: str | None = None


class _BackloggedServer(ThreadingHTTPServer):
    """Slack takes many posts at once (a stopping replica tells every waiting lookup);
    the default listen backlog of 5 would refuse some."""

    request_queue_size = 128
    daemon_threads = True


class SlackRecorder:
    """Records what the app posts to response URLs and the Web API; answers like Slack.

    ``chat.postMessage`` gives each message a ts of its own; ``faults`` makes a method fail.
    """

    def __init__(self) -> None:
        self.posts: list[Recorded] = []
        self.auth_error: str | None = None
        self.socket_url: str | None = None
        self.faults: dict[str, Fault] = {}
        self._messages = 0
        self._changed = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = dict(parse_qsl(raw))
                self._answer(self.path, body)

            def _answer(self, path: str, body: dict[str, Any]) -> None:
                reply: Any = "ok"
                status, headers = 200, {}
                if path.startswith("/api/"):
                    method = path[len("/api/") :]
                    fault = recorder.fault(method)
                    if fault is not None:
                        reply, status = {"ok": False, "error": fault.error}, fault.status
                        if fault.retry_after is not None:
                            headers["Retry-After"] = fault.retry_after
                    else:
                        reply = recorder.web_api(method)
                recorder.record(Recorded(path, body))
                data = (json.dumps(reply) if isinstance(reply, dict) else reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _BackloggedServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = self.url + "/api/"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> SlackRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def web_api(self, method: str) -> dict[str, Any]:
        if method == "auth.test":
            if self.auth_error:
                return {"ok": False, "error": self.auth_error}
            return {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "Test Team",
                "user": "otabot",
                "team_id": "T0001",
                "user_id": "UBOT",
                "bot_id": "B0001",
            }
        if method == "apps.connections.open":
            if self.socket_url is None:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": self.socket_url}
        if method == "chat.postMessage":
            with self._changed:
                self._messages += 1
                ts = f"1700000000.{self._messages:06d}"
            return {"ok": True, "channel": "C0001", "ts": ts}
        if method == "chat.update":
            return {"ok": True, "channel": "C0001", "ts": "1700000000.000001"}
        if method == "chat.getPermalink":
            return {"ok": True, "permalink": "https://test.slack.com/archives/C0001/p1700000000"}
        return {"ok": False, "error": "unknown_method"}

    def fault(self, method: str) -> Fault | None:
        """The fault this call of ``method`` meets (counted down), or None."""
        with self._changed:
            fault = self.faults.get(method)
            if fault is None:
                return None
            fault.count -= 1
            if fault.count <= 0:
                del self.faults[method]
            return fault

    def calls(self, method: str) -> list[dict[str, Any]]:
        """The bodies of the Web API calls of ``method``, in order."""
        with self._changed:
            return [item.body for item in self.posts if item.path == f"/api/{method}"]

    def wait_for_calls(
        self, method: str, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until ``count`` calls of ``method`` arrived (bounded), then return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.calls(method)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} {method} call(s): {self.calls(method)}")
                self._changed.wait(left)
            return self.calls(method)

    def record(self, item: Recorded) -> None:
        with self._changed:
            self.posts.append(item)
            self._changed.notify_all()

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/response/{name}"

    def responses(self) -> list[dict[str, Any]]:
        with self._changed:
            return [item.body for item in self.posts if item.path.startswith("/response/")]

    def wait_for_responses(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until ``count`` response_url posts arrived (bounded), then return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.responses()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} response(s), got {self.responses()}")
                self._changed.wait(left)
            return self.responses()


def job(
    job_id: str,
    status: str = "IN_PROGRESS",
    created: str = "2024-04-01T10:00:00.000Z",
    **extra: Any,
) -> OtaJob:
    """An OtaJob as the API would describe it (API field names)."""
    item: dict[str, Any] = {
        "JobId": job_id,
        "FirmwareId": FIRMWARE,
        "ProductKey": PRODUCT,
        "JobStatus": status,
        "JobType": "UPGRADE_FIRMWARE",
        "SelectionType": "STATIC",
        "TargetSelection": "SPECIFIC",
        "UtcCreate": created,
        "UtcModified": created,
        "UtcStartTime": created,
        "Tags": {"OtaTagDTO": [{"Key": "team", "Value": "lights"}]},
    }
    item.update(extra)
    return OtaJob.from_api(item)


def result_of(
    lookup: JobsLookup, jobs: list[OtaJob], total: int | None = None, **provenance: Any
) -> JobsResult:
    """The service's answer with these jobs (of ``total``, when the cap cut the list);
    ``provenance`` overrides fetched_at, from_cache, upstream_calls or request_ids."""
    ordered = newest_first(jobs)
    fields = {"fetched_at": NOW, "from_cache": False, "upstream_calls": 1, "request_ids": ("R1",)}
    origin = Provenance(**(fields | provenance))
    return JobsResult(ordered, len(ordered) if total is None else total, origin, lookup=lookup)


def many_jobs(count: int) -> list[OtaJob]:
    statuses = ("IN_PROGRESS", "COMPLETED", "CANCELED")
    return [
        job(
            f"JOB{index:04d}",
            statuses[index % 3],
            f"2024-04-{1 + index % 28:02d}T10:{index % 60:02d}:00.000Z",
        )
        for index in range(count)
    ]


class FakeLookupService(RecordingService):
    """The recording service, with the jobs lists of ``answers`` by device name (or the
    error a lookup of that device raises), cached like the real one."""

    def __init__(self, answers: dict[str, list[OtaJob] | Exception] | None = None) -> None:
        super().__init__()
        self.answers = answers or {}
        self.jobs_fetched = 0
        self._cache: dict[JobsLookup, JobsResult] = {}

    @property
    def upstream(self) -> int:
        return super().upstream + self.jobs_fetched

    def cached(self, *, counted: bool = True) -> Any:
        return CachedJobs(self)

    def jobs(self, lookup: JobsLookup, refresh: bool = False) -> JobsResult:
        with self._lock:
            self.calls.append(("jobs", lookup))
            self.refreshes.append(refresh)
            if not refresh and lookup in self._cache:
                cached = self._cache[lookup]
                origin = dataclasses.replace(cached.provenance, from_cache=True, upstream_calls=0)
                return dataclasses.replace(cached, provenance=origin)
            answer = self.answers.get(lookup.device_name, [])
            self.jobs_fetched += 1
            if isinstance(answer, Exception):
                raise answer
            result = result_of(lookup, answer)
            self._cache[lookup] = result
            return result


class CachedJobs(CachedView):
    """``FakeLookupService`` answering from its caches only: its own jobs lists, the world's
    other answers."""

    def __init__(self, fake: FakeLookupService) -> None:
        super().__init__(fake)
        self._fake = fake

    def jobs(self, lookup: JobsLookup, refresh: bool = False) -> JobsResult:
        with self._fake._lock:
            if refresh or lookup not in self._fake._cache:
                raise WouldCall("ListOTAJobByDevice")
        return self._fake.jobs(lookup)


def settings_for(recorder: SlackRecorder, **changes: Any) -> Settings:
    base = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": recorder.api_url,
            "OTABOT_PRODUCT_ALIASES": f"light={PRODUCT}",
            "OTABOT_PAGE_SIZE": "5",
        }
    )
    return dataclasses.replace(base, **changes) if changes else base


@dataclass
class SlackHarness:
    """The real Bolt app around a service, with its lookup pool exposed so tests can drain it."""

    app: App
    service: Any
    recorder: SlackRecorder
    executor: ThreadPoolExecutor
    deferred: DeferredLookups

    def drain(self) -> None:
        """Wait for every lazy listener started so far, and every lookup they deferred."""
        self.executor.shutdown(wait=True)
        assert self.deferred.wait_idle(time.monotonic() + 10), "a deferred lookup hung"

    def command(self, text: str, **fields: Any) -> Any:
        return self.app.dispatch(signed_command(text, self.recorder.response_url(), **fields))

    def click(self, action_id: str, value: str, **fields: Any) -> Any:
        return self.app.dispatch(
            signed_action(action_id, value, self.recorder.response_url("click"), **fields)
        )


def harness_for(
    settings: Settings, service: Any, recorder: SlackRecorder, *, notice_after: float = 2.5
) -> SlackHarness:
    executor = ThreadPoolExecutor(max_workers=4)
    poster = ResponseUrlPoster()
    deferred = DeferredLookups(poster, notice_after=notice_after)
    app = build_app(
        settings,
        service,
        client=WebClient(base_url=recorder.api_url, token=BOT_TOKEN),
        listener_executor=executor,
        poster=poster,
        deferred=deferred,
        wall_clock=NOW.timestamp,
    )
    return SlackHarness(app, service, recorder, executor, deferred)


@pytest.fixture
def fake_service() -> FakeLookupService:
    return FakeLookupService(
        answers={"light1": many_jobs(12), "light2": [job("JOBA")], "light3": []}
    )


@pytest.fixture
def harness(recorder: SlackRecorder, fake_service: FakeLookupService) -> Iterator[SlackHarness]:
    built = harness_for(settings_for(recorder), fake_service, recorder)
    yield built
    built.executor.shutdown(wait=True)


def sign(
    body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, list[str]]:
    """Headers Slack would send with ``body`` (form-encoded), signed with ``secret``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-signature": [signature],
        "x-slack-request-timestamp": [ts],
    }


def command_body(
    text: str,
    response_url: str,
    *,
    team: str = "T0001",
    channel: str = "C0001",
    user: str = "U0001",
) -> str:
    return urlencode(
        {
            "token": "deprecated",
            "team_id": team,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "incident",
            "user_id": user,
            "user_name": "oncall",
            "command": "/ota",
            "text": text,
            "api_app_id": "A0001",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def action_body(
    action_id: str,
    value: str,
    response_url: str,
    *,
    team: str = "T0001",
    channel: str = "C0001",
    user: str = "U0001",
) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": team, "domain": "test"},
        "user": {"id": user, "username": "oncall", "team_id": team},
        "api_app_id": "A0001",
        "token": "deprecated",
        "container": {"type": "message", "is_ephemeral": True, "channel_id": channel},
        "channel": {"id": channel, "name": "incident"},
        "trigger_id": "1.2.3",
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "ota_navigation",
                "value": value,
                "action_ts": "1.2",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def signed_command(
    text: str,
    response_url: str,
    *,
    timestamp: int | None = None,
    secret: str = SIGNING_SECRET,
    retry: int | None = None,
    **fields: Any,
) -> BoltRequest:
    body = command_body(text, response_url, **fields)
    headers = sign(body, timestamp, secret)
    if retry is not None:
        headers["x-slack-retry-num"] = [str(retry)]
        headers["x-slack-retry-reason"] = ["http_timeout"]
    return BoltRequest(body=body, headers=headers)


def signed_action(action_id: str, value: str, response_url: str, **fields: Any) -> BoltRequest:
    body = action_body(action_id, value, response_url, **fields)
    return BoltRequest(body=body, headers=sign(body))
