"""The emulator's errors: each class carries the API's own code, HTTP status and message.

Two shapes, as the real service answers (docs/iot-api.md, "Errors"):

* ``GatewayError``: refused by the API gateway before IoT sees the call; HTTP 4xx/5xx,
  body ``{"RequestId","HostId","Code","Message","Recommend"}``.
* ``IotBusinessError``: refused by IoT itself; HTTP 200, body
  ``{"RequestId","Success":false,"Code":"iot.…","ErrorMessage"}``.

The wire layer (``responses.py``) serialises either shape as JSON or XML.
"""

from __future__ import annotations


class EmulatorError(Exception):
    """An answer the emulated API gives instead of a result."""

    code: str = "InternalError"
    http_status: int = 500
    message: str = ""

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(f"{self.code}: {self.message}")


class GatewayError(EmulatorError):
    """A gateway refusal (authentication, throttling, parameters, availability)."""

    http_status = 400


class MissingParameter(GatewayError):
    """A required parameter is absent or empty: ``Missing<Param>``."""

    def __init__(self, parameter: str) -> None:
        self.code = f"Missing{parameter}"
        self.parameter = parameter
        super().__init__(f"{parameter} is mandatory for this action.")


class InvalidAccessKeyIdNotFound(GatewayError):
    code = "InvalidAccessKeyId.NotFound"
    http_status = 404
    message = "Specified access key is not found."


class SignatureDoesNotMatch(GatewayError):
    """Carries the server's string to sign, as the real gateway does (no secret in it)."""

    code = "SignatureDoesNotMatch"

    def __init__(self, string_to_sign: str) -> None:
        self.string_to_sign = string_to_sign
        super().__init__(
            "Specified signature is not matched with our calculation. "
            f"server string to sign is:{string_to_sign}"
        )


class IncompleteSignature(GatewayError):
    code = "IncompleteSignature"
    message = "The request signature does not conform to Aliyun standards."


class SignatureNonceUsed(GatewayError):
    code = "SignatureNonceUsed"
    message = "Specified signature nonce was used already."


class InvalidTimeStampExpired(GatewayError):
    code = "InvalidTimeStamp.Expired"
    message = "Specified time stamp or date value is expired."


class InvalidTimeStampFormat(GatewayError):
    code = "InvalidTimeStamp.Format"
    message = "Specified time stamp or date value is not well formatted."


class ThrottlingUser(GatewayError):
    code = "Throttling.User"
    message = "Request was denied due to user flow control."


class Throttling(GatewayError):
    code = "Throttling"
    message = "Request was denied due to request throttling."


class InvalidActionNotFound(GatewayError):
    code = "InvalidAction.NotFound"
    message = "Specified api is not found, please check your url and method."


class InvalidVersion(GatewayError):
    code = "InvalidVersion"
    message = "Specified parameter Version is not valid."


class InternalError(GatewayError):
    code = "InternalError"
    http_status = 500
    message = "The request processing has failed due to some unknown error, exception or failure."


class ServiceUnavailable(GatewayError):
    code = "ServiceUnavailable"
    http_status = 503
    message = "The request has failed due to a temporary failure of the server."


class IotBusinessError(EmulatorError):
    """A refusal by IoT Platform itself: HTTP 200 with ``Success: false``."""

    http_status = 200


class InvalidFormattedProductKey(IotBusinessError):
    code = "iot.prod.InvalidFormattedProductkey"
    message = "The product key is empty or malformed."


class InvalidFormattedDeviceName(IotBusinessError):
    code = "iot.device.InvalidFormattedDeviceName"
    message = "The device name is empty or malformed."


class NotExistedProduct(IotBusinessError):
    code = "iot.prod.NotExistedProduct"
    message = "The specified product does not exist."


class NotExistedDevice(IotBusinessError):
    code = "iot.device.NotExistedDevice"
    message = "The specified device does not exist."


class FirmwareNotFound(IotBusinessError):
    code = "iot.firmware.FirmwareNotFound"
    message = "The specified firmware does not exist."


class FirmwareAndProductKeyMismatch(IotBusinessError):
    code = "iot.ota.FirmwareAndProductKeyMismatch"
    message = "The firmware does not belong to the specified product."


class InvalidPageParams(IotBusinessError):
    code = "iot.common.InvalidPageParams"
    message = "The page parameters are invalid."


# No captured answer shows the codes for an unknown job or a task status out of range;
# these two are inferred from the API's naming (iot.<area>.<What>).
class JobNotFound(IotBusinessError):
    code = "iot.ota.JobNotFound"
    message = "The specified OTA job does not exist."


class InvalidTaskStatus(IotBusinessError):
    code = "iot.ota.InvalidTaskStatus"
    message = "The task status is missing or not one this action accepts."


class InstanceNotFound(IotBusinessError):
    code = "iot.system.InstanceNotFound"
    message = "The specified instance does not exist."
