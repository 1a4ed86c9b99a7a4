"""The client tells its gate when each attempt's request was written whole: the quota
counts an attempt from the moment it reached the API, not from its slot."""

from __future__ import annotations

import time

from otabot.iot.errors import UpstreamUnavailableError
from tests.helpers import LIGHT_PRODUCT_KEY, SAMPLE_ACCESS_KEY_ID, SHOWCASE_FIRMWARE_ID
from tests.iot.answers import DEVICE, OK
from tests.iot.canned import CannedApi
from tests.iot.fakes import MakeClient, RecordingGate


def test_each_attempt_reports_when_its_request_was_written(
    api: CannedApi, make_client: MakeClient
) -> None:
    gate = RecordingGate()
    client = make_client(gate=gate, monotonic=time.monotonic, sleep=time.sleep)
    api.queue(OK)
    before = time.monotonic()
    client.list_ota_jobs_by_device(LIGHT_PRODUCT_KEY, DEVICE, SHOWCASE_FIRMWARE_ID)
    after = time.monotonic()
    (written,) = gate.written
    assert written is not None and before <= written <= after


def test_a_request_never_written_reports_none() -> None:
    from otabot.config import Credentials
    from otabot.iot.client import IotClient, RetryPolicy
    from tests.iot.answers import SECRET

    gate = RecordingGate()
    # Nothing listens on port 9 (discard) here: the connection is refused, nothing written.
    client = IotClient(
        "http://127.0.0.1:9",
        Credentials(SAMPLE_ACCESS_KEY_ID, SECRET),
        gate=gate,
        retry=RetryPolicy(max_attempts=1),
    )
    try:
        client.list_ota_jobs_by_device(LIGHT_PRODUCT_KEY, DEVICE, SHOWCASE_FIRMWARE_ID)
    except UpstreamUnavailableError:
        pass
    finally:
        client.close()
    assert gate.written == [None]
