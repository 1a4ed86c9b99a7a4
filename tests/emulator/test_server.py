"""The server: control endpoints, injected faults, prompt stop, port handling."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from otabot.emulator.fleet import Fleet, sample_fleet
from otabot.emulator.server import EmulatorServer
from otabot.wsgi import PortInUseError
from tests.emulator.signed import call_action, call_v1, list_jobs, v1_params
from tests.helpers import ROLLOUT_JOB_ID


def control(server: EmulatorServer, name: str, body: object = None) -> requests.Response:
    url = f"{server.url}/__emulator/{name}"
    if body is None and name in ("health", "stats"):
        return requests.get(url, timeout=5)
    return requests.post(url, data=json.dumps(body) if body is not None else b"", timeout=5)


def call(server: EmulatorServer, timeout: float = 10) -> requests.Response:
    params = v1_params(list_jobs())
    return requests.post(f"{server.url}/", params=params, timeout=timeout)


def test_health_answers_with_the_fleet_size(emulator: EmulatorServer) -> None:
    body = control(emulator, "health").json()
    assert body == {"status": "ok", "products": 2, "firmwares": 8, "jobs": 29}


def test_stats_count_api_calls_by_action_and_code(emulator: EmulatorServer) -> None:
    call(emulator)
    call_v1(emulator.url, v1_params(list_jobs(DeviceName="light404")))
    call_v1(emulator.url, v1_params(list_jobs(), secret="wrong"))
    control(emulator, "health")
    stats = control(emulator, "stats").json()
    assert set(stats) == {
        "calls",
        "by_action",
        "by_code",
        "max_calls_in_any_second",
        "max_in_any_second_by_action",
        "span_seconds",
        "per_second",
        "throttled",
    }
    assert stats["calls"] == 3
    assert stats["by_action"] == {"ListOTAJobByDevice": 3}
    assert stats["by_code"] == {
        "OK": 1,
        "iot.device.NotExistedDevice": 1,
        "SignatureDoesNotMatch": 1,
    }
    assert stats["throttled"] == 0
    assert 1 <= stats["max_calls_in_any_second"] <= 3


def test_reset_clears_the_stats(emulator: EmulatorServer) -> None:
    call(emulator)
    assert control(emulator, "reset").status_code == 200
    assert control(emulator, "stats").json()["calls"] == 0


def test_posting_a_fleet_replaces_it(emulator: EmulatorServer) -> None:
    fleet = sample_fleet().to_dict()
    fleet["Jobs"] = fleet["Jobs"][:1]
    assert control(emulator, "fleet", fleet).status_code == 200
    device = fleet["Jobs"][0]["Devices"][0]["DeviceName"]
    body = call_v1(
        emulator.url,
        v1_params(list_jobs(DeviceName=device, FirmwareId=fleet["Jobs"][0]["FirmwareId"])),
    ).json()
    assert body["Total"] == 1


def test_a_bad_posted_fleet_is_refused_with_the_reason(emulator: EmulatorServer) -> None:
    fleet = sample_fleet().to_dict()
    fleet["Jobs"][3]["FirmwareId"] = "FWnope"
    response = control(emulator, "fleet", fleet)
    assert response.status_code == 400
    assert response.json()["error"] == "posted fleet: Jobs[3].FirmwareId: unknown firmware 'FWnope'"
    assert call(emulator).json()["Total"] == 14


def test_posted_fleet_that_is_not_json_names_the_line(emulator: EmulatorServer) -> None:
    response = requests.post(f"{emulator.url}/__emulator/fleet", data=b"{\n oops", timeout=5)
    assert response.status_code == 400
    assert response.json()["error"].startswith("posted fleet line 2 column 2:")


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        ("ServiceUnavailable", 503, "ServiceUnavailable"),
        ("InternalError", 500, "InternalError"),
        ("Throttling", 400, "Throttling"),
    ],
)
def test_error_faults_answer_the_gateway_error_for_count_calls(
    emulator: EmulatorServer, error: str, status: int, code: str
) -> None:
    control(emulator, "faults", {"error": error, "count": 2})
    answers = [call(emulator) for _ in range(3)]
    assert [r.status_code for r in answers] == [status, status, 200]
    assert answers[0].json()["Code"] == code
    assert control(emulator, "stats").json()["by_code"][code] == 2


def test_fault_without_count_lasts_until_reset(emulator: EmulatorServer) -> None:
    control(emulator, "faults", {"error": "ServiceUnavailable"})
    assert {call(emulator).status_code for _ in range(4)} == {503}
    control(emulator, "reset")
    assert call(emulator).status_code == 200


def test_malformed_fault_is_a_200_that_is_not_json(emulator: EmulatorServer) -> None:
    control(emulator, "faults", {"error": "malformed", "count": 1})
    response = call(emulator)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_reset_fault_closes_the_connection_without_an_answer(emulator: EmulatorServer) -> None:
    control(emulator, "faults", {"error": "reset", "count": 1})
    with pytest.raises(requests.ConnectionError):
        call(emulator)
    assert call(emulator).status_code == 200


def test_timeout_fault_trips_the_clients_read_timeout(emulator: EmulatorServer) -> None:
    control(emulator, "faults", {"error": "timeout", "count": 1})
    with pytest.raises(requests.ReadTimeout):
        call(emulator, timeout=0.3)
    assert control(emulator, "stats").json()["by_code"] == {"fault.timeout": 1}


def test_latency_applies_to_every_call(emulator: EmulatorServer) -> None:
    control(emulator, "faults", {"latency_ms": 150})
    started = time.monotonic()
    assert call(emulator).status_code == 200
    assert call(emulator).status_code == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("body", [{"error": "Boom"}, {"latency_ms": "slow"}, {"count": -2}])
def test_bad_faults_are_refused(emulator: EmulatorServer, body: object) -> None:
    response = control(emulator, "faults", body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("bad faults:")


def test_unknown_control_endpoint_and_wrong_method(emulator: EmulatorServer) -> None:
    assert control(emulator, "explode", {}).status_code == 404
    assert requests.get(f"{emulator.url}/__emulator/reset", timeout=5).status_code == 405


def test_other_paths_are_not_the_api(emulator: EmulatorServer) -> None:
    assert requests.get(f"{emulator.url}/favicon.ico", timeout=5).status_code == 404
    assert control(emulator, "stats").json()["calls"] == 0


def test_set_faults_refuses_an_unknown_error(emulator: EmulatorServer) -> None:
    with pytest.raises(ValueError):
        emulator.set_faults(error="Boom")


@pytest.mark.parametrize(
    ("faults", "ending"),
    [({"error": "timeout"}, "ConnectionError"), ({"latency_ms": 600_000}, "200")],
    ids=["timeout", "latency"],
)
def test_stop_is_prompt_while_a_call_sleeps_in_a_fault(faults: dict[str, Any], ending: str) -> None:
    """The held call ends at once (a timeout is dropped, a slowed call answered) and stop
    waits for no sleep to run out."""
    server = EmulatorServer().start()
    server.set_faults(**faults)
    endings: list[object] = []

    def stuck_call() -> None:
        try:
            endings.append(str(call(server, timeout=20).status_code))
        except requests.ConnectionError:
            endings.append("ConnectionError")

    caller = threading.Thread(target=stuck_call)
    caller.start()
    deadline = time.monotonic() + 5
    while server.stats()["calls"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    caller.join(timeout=5)
    assert time.monotonic() - started < 2
    assert not caller.is_alive()
    assert endings == [ending]


def test_a_taken_port_cannot_be_started_on(emulator: EmulatorServer) -> None:
    with pytest.raises(PortInUseError, match="already in use"):
        EmulatorServer(port=emulator.port).start()


def test_context_manager_starts_and_stops() -> None:
    with EmulatorServer() as server:
        assert control(server, "health").status_code == 200
        url = server.url
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/__emulator/health", timeout=2)


def test_keep_alive_calls_do_not_stall_on_nagle() -> None:
    """Headers and body leave in two writes; with Nagle on, each pooled call waits ~40 ms."""
    durations = []
    with EmulatorServer(qps=1000) as emulator, requests.Session() as session:
        for _ in range(15):
            params = v1_params(list_jobs())
            started = time.perf_counter()
            assert session.post(f"{emulator.url}/", params=params, timeout=5).ok
            durations.append(time.perf_counter() - started)
    assert sorted(durations)[len(durations) // 2] < 0.03


def test_the_fleet_can_be_read_back_in_the_file_format(emulator: EmulatorServer) -> None:
    response = requests.get(f"{emulator.url}/__emulator/fleet", timeout=5)
    assert response.status_code == 200
    assert Fleet.from_json(response.content) == emulator.fleet
    light1 = response.json()["Products"][0]["Devices"][0]
    assert {"DeviceName", "IotId", "DeviceSecret", "Status", "FirmwareVersion"} <= set(light1)


def test_a_fleet_read_back_and_posted_again_changes_nothing(emulator: EmulatorServer) -> None:
    before = emulator.fleet
    shown = requests.get(f"{emulator.url}/__emulator/fleet", timeout=5).content
    assert requests.post(f"{emulator.url}/__emulator/fleet", data=shown, timeout=5).ok
    assert emulator.fleet == before and emulator.fleet is not before


def test_a_running_job_can_be_advanced_by_posting_the_fleet(emulator: EmulatorServer) -> None:
    document = emulator.fleet.to_dict()
    rollout = next(job for job in document["Jobs"] if job["JobId"] == ROLLOUT_JOB_ID)
    rollout["Devices"][0].update(TaskStatus="SUCCEEDED", Progress="100")
    assert control(emulator, "fleet", document).status_code == 200
    body = call_action(
        emulator.url,
        "ListOTATaskByJob",
        {"JobId": ROLLOUT_JOB_ID, "DeviceNames.1": "light1"},
    ).json()
    assert body["Data"]["SimpleOTATaskInfo"][0]["Progress"] == "100"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"AccessKeys": {"testid": 1' + b"0" * 5000 + b"}}",
            "an integer has more than 20 digits",
        ),
        (b'{"AccessKeys": {"testid": "a"}, "Jobs": [], "Jobs": []}', "duplicate key 'Jobs'"),
    ],
)
def test_a_posted_fleet_json_cannot_hide_a_huge_number_or_a_repeated_key(
    emulator: EmulatorServer, body: bytes, message: str
) -> None:
    response = requests.post(f"{emulator.url}/__emulator/fleet", data=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == f"posted fleet: {message}"


def test_faults_of_one_action_leave_the_others_alone(emulator: EmulatorServer) -> None:
    body = {"error": "ServiceUnavailable", "count": 1, "action": "QueryOTAJob"}
    assert control(emulator, "faults", body).json()["faults"]["action"] == "QueryOTAJob"
    assert call(emulator).status_code == 200
    query = {"JobId": ROLLOUT_JOB_ID}
    assert call_action(emulator.url, "QueryOTAJob", query).status_code == 503
    assert call_action(emulator.url, "QueryOTAJob", query).status_code == 200


@pytest.mark.parametrize(
    "body", [{"action": "DeleteEverything"}, {"count": int("9" * 30)}, {"error": 1, "error ": 2}]
)
def test_faults_for_an_unknown_action_or_odd_json_are_refused(
    emulator: EmulatorServer, body: object
) -> None:
    assert control(emulator, "faults", body).status_code == 400


def test_faults_with_a_key_given_twice_are_refused(emulator: EmulatorServer) -> None:
    response = requests.post(
        f"{emulator.url}/__emulator/faults",
        data=b'{"error": "timeout", "error": "reset"}',
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad faults: duplicate key 'error'"


def test_twenty_calls_are_served_at_once() -> None:
    """The quota benches send ~20 concurrent calls: each gets a worker, none queues."""
    with EmulatorServer(qps=1000) as emulator, ThreadPoolExecutor(20) as pool:
        emulator.set_faults(latency_ms=60_000)
        answers = [pool.submit(call, emulator) for _ in range(20)]
        deadline = time.monotonic() + 10
        while emulator.stats()["calls"] < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emulator.stats()["calls"] == 20  # all twenty sleep in a worker together
        emulator.reset()  # wakes them
        assert [answer.result().status_code for answer in answers] == [200] * 20


def test_the_worker_count_is_a_constructor_parameter() -> None:
    with EmulatorServer(threads=1) as server:
        server.set_faults(latency_ms=60_000)
        with ThreadPoolExecutor(2) as pool:
            answers = [pool.submit(call, server) for _ in range(2)]
            deadline = time.monotonic() + 10
            while server.stats()["calls"] < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert server.stats()["calls"] == 1  # the second waits for the only worker
            server.set_faults()
            assert [answer.result().status_code for answer in answers] == [200, 200]
