"""The one table that turns an IoT error into words, with what the user can try.

Slack and the CLI say the same sentence for the same failure; each only renders the
phrase (code spans and ``/ota`` in Slack, plain names and ``otabot`` in a terminal)
and adds the API's code and RequestId its own way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from otabot.iot import errors
from otabot.query import queries
from otabot.query.phrases import Code, Phrase, Typed, phrase

# The action each kind of query needs first: named when a refusal does not say which.
FIRST_ACTION: dict[type, str] = {
    queries.DeviceQuery: "QueryDeviceDetail",
    queries.JobsQuery: "ListOTAJobByDevice",
    queries.JobQuery: "QueryOTAJob",
    queries.FailedQuery: "ListOTATaskByJob",
    queries.FirmwareQuery: "ListOTAFirmware",
}


def first_action(query: queries.Query) -> str:
    if isinstance(query, queries.JobsQuery) and query.device_name is None:
        return "ListOTAJobByFirmware"
    return FIRST_ACTION[type(query)]


# AuthActionPermissionDeny: the resource is not this account's, whatever the RAM policy.
NOT_THIS_ACCOUNTS = "iot.common.AuthActionPermissionDeny"
MAX_WAIT_SECONDS = 3600


@dataclass(frozen=True)
class Explanation:
    """An error in words; whether a retry can help; the API's code and RequestId."""

    words: Phrase
    retryable: bool
    code: str | None
    request_id: str | None


def explain(error: errors.IotError, query: queries.Query) -> Explanation:
    """What went wrong with ``query``, in words, with what to try."""
    words, retryable = _words(error, query)
    return Explanation(words, retryable, error.code or None, error.request_id)


def busy_wait(error: errors.ThrottledError) -> int:
    """Whole seconds to wait, bounded whatever the upstream said (NaN or endless is no advice)."""
    after = error.retry_after
    return math.ceil(after) if after is not None and 1 <= after <= MAX_WAIT_SECONDS else 1


def allow_action(action: str) -> Phrase:
    """``ask your otabot admin to allow iot:ACTION in otabot's RAM policy``."""
    return ("ask your otabot admin to allow ", Code(f"iot:{action}"), " in otabot's RAM policy")


def forbidden_part(error: errors.IotError, what: str, action: str) -> Phrase:
    """A part of a card otabot may not read: ``what`` it is, and the action to allow."""
    if error.code == NOT_THIS_ACCOUNTS:
        return (f"IoT Platform would not show {what}: it is not this account's.",)
    return phrase(
        f"otabot may not read {what}: ",
        allow_action(error.action or action),
        ".",
    )


# The parts of a card a RAM policy may keep away, as both front ends name them.


def device_details_refused(error: errors.IotError) -> Phrase:
    return forbidden_part(error, "this device's details", "QueryDeviceDetail")


def device_tasks_refused(error: errors.IotError) -> Phrase:
    return forbidden_part(error, "this device's OTA tasks", "ListOTAUnfinishedTaskByDevice")


def job_tasks_refused(error: errors.IotError) -> Phrase:
    return forbidden_part(error, "this job's device tasks", "ListOTATaskByJob")


def _words(error: errors.IotError, query: queries.Query) -> tuple[Phrase, bool]:
    if isinstance(error, errors.ThrottledError):
        return (f"IoT API busy — try again in {busy_wait(error)} s.",), True
    if isinstance(error, errors.DeviceNotFoundError):
        device, product = _device_of(query)
        return (
            "Device ",
            Code(device or "?"),
            " not found in product ",
            Code(product or "?"),
            ". DeviceNames are case-sensitive: check the name and the product.",
        ), False
    if isinstance(error, errors.ProductNotFoundError):
        return (
            "Product ",
            Code(_product_of(query) or "?"),
            " not found: no such ProductKey and no alias of that name.",
        ), False
    if isinstance(error, errors.FirmwareProductMismatchError):
        product = _product_of(query) or "?"
        return phrase(
            "Firmware ",
            Code(_firmware_of(query)),
            " does not belong to product ",
            Code(product),
            ".",
            _packages_hint(query),
        ), False
    if isinstance(error, errors.FirmwareNotFoundError):
        return phrase(
            "Firmware ", Code(_firmware_of(query)), " not found.", _packages_hint(query)
        ), False
    if isinstance(error, errors.JobNotFoundError):
        return phrase("Job ", Code(_job_of(query)), " not found.", _job_hint(query)), False
    if isinstance(error, errors.InstanceNotFoundError):
        instance = getattr(query, "instance", None)
        if instance:
            return ("IoT instance ", Code(instance), " not found."), False
        return ("This account needs an IoT instance ID — add instance=ID.",), False
    if isinstance(error, errors.ForbiddenError):
        action = error.action or first_action(query)
        if error.code == NOT_THIS_ACCOUNTS:
            return ("IoT Platform refused: what this asks for is not this account's.",), False
        return phrase(
            "otabot's credentials may not call ", Code(action), ": ", allow_action(action), "."
        ), False
    if isinstance(error, errors.AuthenticationError):
        return ("IoT Platform rejected otabot's credentials — tell your otabot admin.",), False
    if isinstance(error, errors.UpstreamUnavailableError):
        # Why, in the system's words: "could not reach IoT Platform at <url> (timed out)".
        return (
            "IoT Platform is not answering right now: ",
            Code(_sentence(error.message)),
            " — try again in a moment.",
        ), True
    if isinstance(error, errors.InvalidRequestError):
        return ("IoT Platform refused the query: ", Code(_sentence(error.message)), "."), False
    return ("IoT Platform call failed: ", Code(_sentence(error.message)), "."), error.retryable


def _sentence(message: str) -> str:
    """The API's message without its own full stop (ours ends the sentence)."""
    return message.rstrip(". ") or message


def _device_of(query: queries.Query) -> tuple[str | None, str | None]:
    return getattr(query, "device_name", None), getattr(query, "product_key", None)


def _product_of(query: queries.Query) -> str | None:
    product: str | None = getattr(query, "product_key", None)
    return product


def _firmware_of(query: queries.Query) -> str:
    firmware = getattr(query, "firmware_id", None) or getattr(query, "version", None)
    return firmware or "?"


def _job_of(query: queries.Query) -> str:
    return getattr(query, "job_id", None) or "?"


def _packages_hint(query: queries.Query) -> Phrase:
    product = _product_of(query)
    if product is None:
        return ()
    instance = getattr(query, "instance", None)
    return (
        " ",
        Typed(queries.FirmwareQuery(product, instance=instance)),
        " lists the product's packages.",
    )


def _job_hint(query: queries.Query) -> Phrase:
    if isinstance(query, queries.JobQuery) and query.product_key and query.device_name:
        device = queries.DeviceQuery(query.product_key, query.device_name, query.instance)
        return (" ", Typed(device), " shows the updates running on the device.")
    return (" Check the JobId: the device card shows the jobs a device is in.",)
