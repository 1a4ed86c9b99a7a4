"""What can go wrong talking to IoT Platform, as one tree of exceptions.

::

    OtabotError
    └── IotError                      code, message, request_id, http_status, retryable, action
        ├── ThrottledError            Throttling, Throttling.User, Throttling.Api   (retryable)
        │   └── QuotaBusyError        our own quota could not give a slot in time   (retryable)
        ├── AuthenticationError       the account cannot make this call
        │   ├── SignatureError        SignatureDoesNotMatch, IncompleteSignature,
        │   │                         InvalidTimeStamp.*, SignatureNonceUsed
        │   ├── AccessKeyError        InvalidAccessKeyId.NotFound / .Inactive
        │   └── ForbiddenError        Forbidden.RAM, iot.common.*PermissionDeny   (ram_action)
        ├── NotFoundError
        │   ├── ProductNotFoundError  iot.prod.NotExistedProduct
        │   ├── DeviceNotFoundError   iot.device.NotExistedDevice
        │   ├── FirmwareNotFoundError iot.firmware.FirmwareNotFound, iot.ota.FirmwareNotFound,
        │   │   │                     iot.ota.InvalidFirmwareId
        │   │   └── FirmwareProductMismatchError   iot.ota.FirmwareAndProductKeyMismatch
        │   ├── JobNotFoundError      iot.ota.JobNotFound, iot.ota.InvalidJobId
        │   └── InstanceNotFoundError iot.system.InstanceNotFound
        ├── InvalidRequestError       Missing*, Invalid*, iot.common.InvalidPageParams, …
        └── UpstreamUnavailableError  5xx, timeout, connection error, a body that is not the
            │                         API's JSON, iot.system.SystemException   (retryable)
            └── CredentialsUnavailableError   the credential source found at start could
                                      not give current credentials (STS refresh)  (retryable)

Both error shapes of the API end here: the gateway's (HTTP 4xx/5xx with
``Code``/``Message``/``HostId``/``Recommend``) and IoT's (``Success: false`` with
``Code: iot.…`` and ``ErrorMessage``). ``action`` is the API action the error was about
(``QueryDeviceDetail``), set by the client on every error a call raises, so a RAM
refusal can name what an operator must allow (``ForbiddenError.ram_action``).

No exception ever carries a secret: messages come from the API or from us, and the
server's string-to-sign (which names the AccessKeyId but holds no secret) is kept out
of ``str()``.
"""

from __future__ import annotations

import copy
from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class OtabotError(Exception):
    """Base of every error otabot raises on purpose."""


class IotError(OtabotError):
    """An IoT Platform call failed; says what the API said and whether a retry can help."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        request_id: str | None = None,
        http_status: int | None = None,
        retryable: bool | None = None,
        action: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.http_status = http_status
        self.action = action
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.request_id:
            parts.append(f"(RequestId {self.request_id})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"request_id={self.request_id!r}, http_status={self.http_status!r}, "
            f"action={self.action!r})"
        )


class ThrottledError(IotError):
    """The API (or our own quota) refused the call for rate; waiting helps."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class QuotaBusyError(ThrottledError):
    """Our own account-wide quota had no slot for this call before its deadline."""


class AuthenticationError(IotError):
    """The credentials cannot make this call; only an operator can fix it."""


class SignatureError(AuthenticationError):
    """The signature, timestamp or nonce was refused."""


class AccessKeyError(AuthenticationError):
    """The AccessKeyId is unknown or disabled."""


class ForbiddenError(AuthenticationError):
    """The key is valid but RAM policy does not allow this call on this resource."""

    @property
    def ram_action(self) -> str | None:
        """The RAM action an operator must allow (``iot:QueryDeviceDetail``); None when the
        action is unknown or RAM is not the cause (the resource is another account's)."""
        if not self.action or self.code == "iot.common.AuthActionPermissionDeny":
            return None
        return f"iot:{self.action}"


class NotFoundError(IotError):
    """Something the query names does not exist (for this account)."""


class ProductNotFoundError(NotFoundError):
    pass


class DeviceNotFoundError(NotFoundError):
    pass


class FirmwareNotFoundError(NotFoundError):
    pass


class FirmwareProductMismatchError(FirmwareNotFoundError):
    """The firmware exists but belongs to another product."""


class JobNotFoundError(NotFoundError):
    """No update batch has this JobId (for this account and instance)."""


class InstanceNotFoundError(NotFoundError):
    pass


class InvalidRequestError(IotError):
    """The request itself was malformed; retrying the same request cannot help."""


class UpstreamUnavailableError(IotError):
    """The API was down, slow, unreachable or answered something that is not its JSON."""

    retryable = True


class CredentialsUnavailableError(UpstreamUnavailableError):
    """No attempt could be signed: the credential source (a credentials URI, RRSA, the ECS
    metadata service) could not give current credentials. Raised before anything is sent."""

    def __init__(self, message: str, **kwargs: object) -> None:
        kwargs.setdefault("code", "otabot.CredentialsUnavailable")
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


_EXACT: dict[str, type[IotError]] = {
    "Throttling": ThrottledError,
    "Throttling.User": ThrottledError,
    "Throttling.Api": ThrottledError,
    "Throttling.Api.Concurrency": ThrottledError,
    "ServiceUnavailable": UpstreamUnavailableError,
    "InternalError": UpstreamUnavailableError,
    "iot.system.SystemException": UpstreamUnavailableError,
    "SignatureDoesNotMatch": SignatureError,
    "IncompleteSignature": SignatureError,
    "SignatureNonceUsed": SignatureError,
    "InvalidTimeStamp.Format": SignatureError,
    "InvalidTimeStamp.Expired": SignatureError,
    "InvalidAccessKeyId.NotFound": AccessKeyError,
    "InvalidAccessKeyId.Inactive": AccessKeyError,
    "InvalidSecurityToken.Expired": AccessKeyError,
    "InvalidSecurityToken.Malformed": AccessKeyError,
    "InvalidSecurityToken.MismatchWithAccessKey": AccessKeyError,
    "Forbidden.RAM": ForbiddenError,
    "Forbidden": ForbiddenError,
    "iot.common.AuthActionPermissionDeny": ForbiddenError,
    "iot.common.RamActionPermissionDeny": ForbiddenError,
    "iot.prod.NotExistedProduct": ProductNotFoundError,
    "iot.device.NotExistedDevice": DeviceNotFoundError,
    "iot.firmware.FirmwareNotFound": FirmwareNotFoundError,
    "iot.ota.FirmwareNotFound": FirmwareNotFoundError,
    "iot.ota.InvalidFirmwareId": FirmwareNotFoundError,
    "iot.ota.JobNotFound": JobNotFoundError,
    "iot.ota.InvalidJobId": JobNotFoundError,
    "iot.ota.FirmwareAndProductKeyMismatch": FirmwareProductMismatchError,
    "iot.system.InstanceNotFound": InstanceNotFoundError,
    "iot.prod.InvalidFormattedProductkey": InvalidRequestError,
    "iot.device.InvalidFormattedDeviceName": InvalidRequestError,
    "iot.common.InvalidPageParams": InvalidRequestError,
}


def error_for(
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    http_status: int | None = None,
) -> IotError:
    """The exception for an error code the API answered, shaped either way."""
    cls = _EXACT.get(code)
    if cls is None:
        if code.startswith("Throttling"):
            cls = ThrottledError
        elif code.startswith(("Missing", "Invalid", "iot.common.Invalid")):
            cls = InvalidRequestError
        elif http_status is not None and http_status >= 500:
            cls = UpstreamUnavailableError
        elif http_status in (401, 403):
            cls = ForbiddenError
        elif code.startswith("iot.") and code.endswith(("NotFound", "NotExisted")):
            cls = NotFoundError
        else:
            cls = InvalidRequestError
    if code == "SignatureDoesNotMatch":
        # The server appends its string-to-sign; keep the words, not the material.
        message = message.split(" server string to sign is:", 1)[0].strip()
    return cls(message or code, code=code, request_id=request_id, http_status=http_status)


def fresh_copy(error: E) -> E:
    """An equal exception for one more raiser (a single-flight waiter, a cached not-found).

    Raising one object in many threads, or many times, grafts every raiser's frames onto
    its one ``__traceback__``; each raiser gets its own copy instead, chain included.
    """
    try:
        fresh = copy.copy(error)
    except TypeError:  # a constructor that cannot be replayed from ``args``
        return error
    fresh.__cause__ = error.__cause__
    fresh.__context__ = error.__context__
    fresh.__suppress_context__ = error.__suppress_context__
    fresh.__traceback__ = None
    return fresh
