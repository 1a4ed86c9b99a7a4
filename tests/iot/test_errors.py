"""error_for: every code docs/iot-api.md lists lands on its branch of the tree, retryable or not."""

from __future__ import annotations

import pytest

from otabot.iot import errors
from otabot.iot.errors import error_for, fresh_copy

CLASSIFICATION: list[tuple[str, int, type[errors.IotError]]] = [
    ("MissingFirmwareId", 400, errors.InvalidRequestError),
    ("MissingProductKey", 400, errors.InvalidRequestError),
    ("InvalidAccessKeyId.NotFound", 404, errors.AccessKeyError),
    ("InvalidAccessKeyId.Inactive", 400, errors.AccessKeyError),
    ("InvalidTimeStamp.Format", 400, errors.SignatureError),
    ("InvalidTimeStamp.Expired", 400, errors.SignatureError),
    ("SignatureNonceUsed", 400, errors.SignatureError),
    ("SignatureDoesNotMatch", 400, errors.SignatureError),
    ("IncompleteSignature", 400, errors.SignatureError),
    ("Throttling", 400, errors.ThrottledError),
    ("Throttling.User", 400, errors.ThrottledError),
    ("Throttling.Api", 400, errors.ThrottledError),
    ("Forbidden.RAM", 403, errors.ForbiddenError),
    ("InternalError", 500, errors.UpstreamUnavailableError),
    ("ServiceUnavailable", 503, errors.UpstreamUnavailableError),
    ("iot.prod.NotExistedProduct", 200, errors.ProductNotFoundError),
    ("iot.prod.InvalidFormattedProductkey", 200, errors.InvalidRequestError),
    ("iot.device.NotExistedDevice", 200, errors.DeviceNotFoundError),
    ("iot.device.InvalidFormattedDeviceName", 200, errors.InvalidRequestError),
    ("iot.firmware.FirmwareNotFound", 200, errors.FirmwareNotFoundError),
    ("iot.ota.InvalidFirmwareId", 200, errors.FirmwareNotFoundError),
    ("iot.ota.FirmwareNotFound", 200, errors.FirmwareNotFoundError),
    ("iot.ota.JobNotFound", 200, errors.JobNotFoundError),
    ("iot.ota.InvalidJobId", 200, errors.JobNotFoundError),
    ("iot.ota.FirmwareAndProductKeyMismatch", 200, errors.FirmwareProductMismatchError),
    ("iot.common.InvalidPageParams", 200, errors.InvalidRequestError),
    ("iot.common.AuthActionPermissionDeny", 200, errors.ForbiddenError),
    ("iot.common.RamActionPermissionDeny", 200, errors.ForbiddenError),
    ("iot.system.SystemException", 200, errors.UpstreamUnavailableError),
    ("iot.system.InstanceNotFound", 200, errors.InstanceNotFoundError),
]
RETRYABLE = (errors.ThrottledError, errors.UpstreamUnavailableError)


@pytest.mark.parametrize(("code", "status", "expected"), CLASSIFICATION)
def test_every_reference_code_gets_its_exact_class(
    code: str, status: int, expected: type[errors.IotError]
) -> None:
    assert type(error_for(code, "message", http_status=status)) is expected


@pytest.mark.parametrize(("code", "status", "expected"), CLASSIFICATION)
def test_only_throttling_and_transient_faults_are_retryable(
    code: str, status: int, expected: type[errors.IotError]
) -> None:
    error = error_for(code, "message", http_status=status)
    assert error.retryable is issubclass(expected, RETRYABLE)


def test_an_error_carries_code_message_request_id_and_status() -> None:
    error = error_for(
        "iot.device.NotExistedDevice", "no such device", request_id="R1", http_status=200
    )
    assert (error.code, error.message, error.request_id, error.http_status) == (
        "iot.device.NotExistedDevice",
        "no such device",
        "R1",
        200,
    )
    assert str(error) == "no such device [iot.device.NotExistedDevice] (RequestId R1)"


def test_the_server_string_to_sign_is_kept_out_of_a_signature_error() -> None:
    message = (
        "Specified signature is not matched with our calculation. server string to sign is:"
        "POST&%2F&AccessKeyId%3Dtestid%26Action%3DListOTAJobByDevice"
    )
    error = error_for("SignatureDoesNotMatch", message, http_status=400)
    assert error.message == "Specified signature is not matched with our calculation."
    assert "AccessKeyId" not in str(error) and "AccessKeyId" not in repr(error)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("Throttling.Api.Concurrency", 400, errors.ThrottledError),
        ("Throttling.Something.New", 400, errors.ThrottledError),
        ("MissingSomethingNew", 400, errors.InvalidRequestError),
        ("InvalidParameter", 400, errors.InvalidRequestError),
        ("SomethingBroke", 502, errors.UpstreamUnavailableError),
        ("NoPermission", 403, errors.ForbiddenError),
        ("iot.thing.NotExisted", 200, errors.NotFoundError),
        ("iot.whatever.Odd", 200, errors.InvalidRequestError),
    ],
)
def test_unknown_codes_fall_back_by_prefix_and_status(
    code: str, status: int, expected: type[errors.IotError]
) -> None:
    assert type(error_for(code, "m", http_status=status)) is expected


def test_an_empty_message_falls_back_to_the_code() -> None:
    assert error_for("InvalidAccessKeyId.Inactive", "", http_status=400).message == (
        "InvalidAccessKeyId.Inactive"
    )


def test_the_tree_has_the_documented_branches() -> None:
    assert issubclass(errors.IotError, errors.OtabotError)
    assert issubclass(errors.QuotaBusyError, errors.ThrottledError)
    assert errors.QuotaBusyError("busy").retryable
    for cls in (errors.SignatureError, errors.AccessKeyError, errors.ForbiddenError):
        assert issubclass(cls, errors.AuthenticationError)
    for cls in (
        errors.ProductNotFoundError,
        errors.DeviceNotFoundError,
        errors.FirmwareNotFoundError,
        errors.JobNotFoundError,
        errors.InstanceNotFoundError,
    ):
        assert issubclass(cls, errors.NotFoundError)


def test_retryable_can_be_overridden_per_instance() -> None:
    error = errors.UpstreamUnavailableError("odd answer", retryable=False)
    assert not error.retryable
    assert errors.UpstreamUnavailableError("down").retryable


def test_a_throttled_error_can_say_when_to_retry() -> None:
    assert errors.ThrottledError("slow down", code="Throttling", retry_after=2.0).retry_after == 2.0


def test_an_error_can_name_the_action_it_was_about() -> None:
    error = error_for("Forbidden.RAM", "denied", http_status=403)
    assert error.action is None
    error.action = "QueryDeviceDetail"
    assert "QueryDeviceDetail" in repr(error)
    assert "QueryDeviceDetail" not in str(error)  # the message people read is the API's
    assert errors.IotError("m", action="QueryOTAJob").action == "QueryOTAJob"


@pytest.mark.parametrize(
    ("code", "status"),
    [("Forbidden.RAM", 403), ("iot.common.RamActionPermissionDeny", 200), ("NoPermission", 403)],
)
def test_a_ram_refusal_names_the_ram_action_to_allow(code: str, status: int) -> None:
    error = error_for(code, "denied", http_status=status)
    assert isinstance(error, errors.ForbiddenError)
    assert error.ram_action is None  # not known until the client says which action
    error.action = "QueryDeviceDetail"
    assert error.ram_action == "iot:QueryDeviceDetail"


def test_a_device_of_another_account_is_no_ram_matter() -> None:
    error = error_for("iot.common.AuthActionPermissionDeny", "not yours", http_status=200)
    error.action = "QueryDeviceDetail"
    assert isinstance(error, errors.ForbiddenError) and error.ram_action is None


def test_a_copy_for_another_raiser_keeps_the_action() -> None:
    error = error_for("iot.ota.JobNotFound", "no such job", http_status=200)
    error.action = "QueryOTAJob"
    assert fresh_copy(error).action == "QueryOTAJob"
