"""The one table of error words: each failure in words, with what to try and whether a retry
can help."""

from __future__ import annotations

import math

import pytest

from otabot.iot import errors
from otabot.query.explain import busy_wait, explain
from otabot.query.phrases import Code, Typed
from otabot.query.queries import DeviceQuery, FirmwareQuery, JobQuery, JobsQuery, Query
from tests.helpers import LIGHT_PRODUCT_KEY

DEVICE = DeviceQuery(LIGHT_PRODUCT_KEY, "light9")
JOBS = JobsQuery(LIGHT_PRODUCT_KEY, "light9", "FW1")


def plain(error: errors.IotError, query: Query) -> str:
    return "".join(
        f"<{fragment.text}>" if isinstance(fragment, Code) else str(fragment)
        for fragment in explain(error, query).words
        if not isinstance(fragment, Typed)
    )


@pytest.mark.parametrize(
    ("error", "query", "words", "retry"),
    [
        (
            errors.ThrottledError("t", retry_after=2.2),
            DEVICE,
            "IoT API busy — try again in 3 s.",
            True,
        ),
        (errors.QuotaBusyError("q"), DEVICE, "IoT API busy — try again in 1 s.", True),
        (
            errors.DeviceNotFoundError("x"),
            DEVICE,
            f"Device <light9> not found in product <{LIGHT_PRODUCT_KEY}>."
            " DeviceNames are case-sensitive",
            False,
        ),
        (
            errors.ProductNotFoundError("x"),
            DEVICE,
            f"Product <{LIGHT_PRODUCT_KEY}> not found",
            False,
        ),
        (
            errors.FirmwareProductMismatchError("x"),
            JOBS,
            f"Firmware <FW1> does not belong to product <{LIGHT_PRODUCT_KEY}>.",
            False,
        ),
        (errors.FirmwareNotFoundError("x"), JOBS, "Firmware <FW1> not found.", False),
        (
            errors.JobNotFoundError("x"),
            JobQuery("J9"),
            "Job <J9> not found. Check the JobId",
            False,
        ),
        (
            errors.InstanceNotFoundError("x"),
            DeviceQuery(LIGHT_PRODUCT_KEY, "light9", "iot-1"),
            "IoT instance <iot-1> not found.",
            False,
        ),
        (
            errors.InstanceNotFoundError("x"),
            DEVICE,
            "needs an IoT instance ID — add instance=ID",
            False,
        ),
        (
            errors.AccessKeyError("x"),
            DEVICE,
            "rejected otabot's credentials — tell your otabot admin",
            False,
        ),
        (
            errors.UpstreamUnavailableError("x"),
            DEVICE,
            "not answering right now: <x> — try again",
            True,
        ),
        (
            errors.InvalidRequestError("PageSize is bad."),
            DEVICE,
            "refused the query: <PageSize is bad>.",
            False,
        ),
    ],
)
def test_each_failure_is_said_in_words(
    error: errors.IotError, query: Query, words: str, retry: bool
) -> None:
    assert words in plain(error, query)
    assert explain(error, query).retryable is retry


def test_a_ram_refusal_names_the_action_the_operator_must_allow() -> None:
    error = errors.ForbiddenError("no", code="iot.common.RamActionPermissionDeny", request_id="R1")
    error.action = "QueryDeviceDetail"
    said = explain(error, DEVICE)
    assert (
        "may not call <QueryDeviceDetail>: ask your otabot admin to allow <iot:QueryDeviceDetail>"
        in plain(error, DEVICE)
    )
    assert (said.code, said.request_id, said.retryable) == (error.code, "R1", False)


def test_a_ram_refusal_without_an_action_names_the_querys_first_action() -> None:
    assert "<iot:ListOTAFirmware>" in plain(
        errors.ForbiddenError("no"), FirmwareQuery(LIGHT_PRODUCT_KEY)
    )


def test_a_device_of_another_account_is_said_so() -> None:
    error = errors.ForbiddenError("no", code="iot.common.AuthActionPermissionDeny")
    assert "not this account's" in plain(error, DEVICE)


def test_firmware_not_found_suggests_the_products_packages() -> None:
    words = explain(errors.FirmwareNotFoundError("x"), JOBS).words
    assert Typed(FirmwareQuery(LIGHT_PRODUCT_KEY)) in words


def test_a_job_not_found_with_its_device_suggests_the_device_card() -> None:
    words = explain(errors.JobNotFoundError("x"), JobQuery("J9", LIGHT_PRODUCT_KEY, "light1")).words
    assert Typed(DeviceQuery(LIGHT_PRODUCT_KEY, "light1")) in words


@pytest.mark.parametrize(
    ("after", "wait"),
    [
        (0.2, 1),
        (1.0, 1),
        (2.2, 3),
        (3600.0, 3600),
        (math.inf, 1),
        (math.nan, 1),
        (-1.0, 1),
        (None, 1),
    ],
)
def test_the_wait_is_whole_seconds_and_bounded(after: float | None, wait: int) -> None:
    assert busy_wait(errors.ThrottledError("t", retry_after=after)) == wait
