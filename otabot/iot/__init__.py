"""Talking to Alibaba Cloud IoT Platform (OpenAPI 2018-01-20): the one way out of otabot.

- ``otabot.iot.client``: ``IotClient`` (``list_ota_jobs_by_device -> JobPage``),
  ``RetryPolicy``, and the ``AttemptGate`` protocol the quota implements.
- ``otabot.iot.signing``: V1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256), pure functions and
  ``requests`` auth objects; the emulator verifies with the same functions.
- ``otabot.iot.models``: ``OtaJob``, ``JobPage``, open ``JobStatus``/``JobType`` enums.
- ``otabot.iot.errors``: the exception tree and ``error_for``.

Nothing is imported here, so ``otabot.iot.errors`` and ``models`` stay cheap to import.
"""
