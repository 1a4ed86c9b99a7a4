"""``look_up``: the one place a query becomes service calls, the same for Slack and the CLI."""

from __future__ import annotations

import pytest

from otabot.query.answers import (
    FailedAnswer,
    FirmwareAnswer,
    JobAnswer,
    JobsAnswer,
    VersionChoice,
    VersionMissing,
    look_up,
    products_of,
)
from otabot.query.queries import (
    DeviceQuery,
    FailedQuery,
    FirmwareQuery,
    JobQuery,
    JobsQuery,
)
from otabot.service import FirmwareJobsLookup, JobsLookup, VersionLookup
from tests.helpers import EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from tests.world import RecordingService


@pytest.fixture
def service() -> RecordingService:
    return RecordingService()


def test_jobs_by_version_resolve_first_and_say_how_the_user_named_it(
    service: RecordingService,
) -> None:
    answer = look_up(service, JobsQuery(LIGHT_PRODUCT_KEY, "light1", None, "1.2.0"))
    assert isinstance(answer, JobsAnswer)
    assert answer.query == JobsQuery(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)
    assert answer.version is not None and answer.version.lookup.version == "1.2.0"
    assert service.calls == [
        ("resolve_version", VersionLookup(LIGHT_PRODUCT_KEY, "1.2.0")),
        ("jobs", JobsLookup(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID)),
    ]
    assert answer.provenance.upstream_calls == 2


def test_a_version_of_several_packages_asks_before_listing_any_job(
    service: RecordingService,
) -> None:
    answer = look_up(service, JobsQuery(LIGHT_PRODUCT_KEY, "light1", None, "2.5.0"))
    assert isinstance(answer, VersionChoice)
    assert [f.firmware_id for f in answer.version.matches] == ["FWdelta", "FWfull"]
    assert [use for use, _ in service.calls] == ["resolve_version"]


def test_a_version_no_package_has_lists_none(service: RecordingService) -> None:
    answer = look_up(service, JobsQuery(LIGHT_PRODUCT_KEY, None, None, "0.0.1"))
    assert isinstance(answer, VersionMissing)
    assert [use for use, _ in service.calls] == ["resolve_version"]


def test_jobs_of_a_package_by_version(service: RecordingService) -> None:
    answer = look_up(service, JobsQuery(LIGHT_PRODUCT_KEY, None, None, "1.2.0"))
    assert isinstance(answer, JobsAnswer) and len(answer.result.jobs) == 12
    assert service.calls[-1] == ("firmware_jobs", FirmwareJobsLookup(SHOWCASE_FIRMWARE_ID))


def test_the_firmware_list_by_version_is_the_versions_packages(service: RecordingService) -> None:
    answer = look_up(service, FirmwareQuery(LIGHT_PRODUCT_KEY, "2.5.0"))
    assert isinstance(answer, FirmwareAnswer) and answer.total == 2
    assert [use for use, _ in service.calls] == ["resolve_version"]


def test_the_failed_devices_come_with_their_job_card(service: RecordingService) -> None:
    answer = look_up(service, FailedQuery(EXAMPLE_JOB_ID))
    assert isinstance(answer, FailedAnswer)
    assert answer.job.job.job_id == EXAMPLE_JOB_ID and answer.result.total == 3
    assert answer.provenance.upstream_calls == 2  # a small job brings its failed list along


def test_refresh_reaches_every_use_case_a_query_makes(service: RecordingService) -> None:
    look_up(service, JobsQuery(LIGHT_PRODUCT_KEY, "light1", None, "1.2.0"), refresh=True)
    assert service.refreshes == [True, True]


def test_an_answer_names_every_product_it_shows(service: RecordingService) -> None:
    assert products_of(look_up(service, DeviceQuery(LIGHT_PRODUCT_KEY, "light1"))) == {
        LIGHT_PRODUCT_KEY
    }
    job = look_up(service, JobQuery(EXAMPLE_JOB_ID))
    assert isinstance(job, JobAnswer) and products_of(job) == {LIGHT_PRODUCT_KEY}
    assert products_of(look_up(service, FirmwareQuery(LIGHT_PRODUCT_KEY))) == {LIGHT_PRODUCT_KEY}
