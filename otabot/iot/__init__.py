"""Talking to Alibaba Cloud IoT Platform (OpenAPI 2018-01-20): the one way out of otabot.

- ``otabot.iot.client``: ``IotClient`` (one typed method per action, the retry loop),
  ``RetryPolicy``, and the ``AttemptGate`` protocol the quota implements.
- ``otabot.iot.transport``: one signed attempt on the wire, its answer read capped under
  the attempt's deadline, transport failures as typed errors.
- ``otabot.iot.decoding``: an answer's bytes, status and headers to the typed result or
  the typed error (both error shapes), with bounded fields.
- ``otabot.iot.redaction``: signed URLs kept out of logs and exception chains.
- ``otabot.iot.actions``: the actions otabot calls, their quotas and page sizes.
- ``otabot.iot.signing``: V1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256), pure functions and
  ``requests`` auth objects; the emulator verifies with the same functions.
- ``otabot.iot.models``: ``OtaJob``, ``JobDetail``, ``OtaTask``, ``DeviceDetail``, ``Firmware``,
  ``Page``, and open enums for the API's statuses.
- ``otabot.iot.times``, ``otabot.iot.paging``: the API's times and page counting.
- ``otabot.iot.errors``: the exception tree and ``error_for``.

Nothing is imported here, so ``otabot.iot.errors`` and ``models`` stay cheap to import.
"""
