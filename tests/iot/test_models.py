"""OtaJob and Page: the API's spellings, unknown values kept, UTC times, tags, page fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from otabot.iot.models import JobStatus, JobType, OtaJob, Page
from otabot.iot.times import format_utc, parse_optional_utc, parse_utc
from tests.helpers import EXAMPLE_JOB_ID, LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID


def _item(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "SelectionType": "STATIC",
        "TargetSelection": "SPECIFIC",
        "JobType": "UPGRADE_FIRMWARE",
        "FirmwareId": SHOWCASE_FIRMWARE_ID,
        "UtcStartTime": "2019-12-28T02:43:10.000Z",
        "ProductKey": LIGHT_PRODUCT_KEY,
        "JobId": EXAMPLE_JOB_ID,
        "UtcModified": "2019-12-28T02:43:10.000Z",
        "JobStatus": "IN_PROGRESS",
        "UtcCreate": "2019-12-28T02:43:10.000Z",
    }
    item.update(overrides)
    return item


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("IN_PROGRESS", JobStatus.IN_PROGRESS),
        ("COMPLETE", JobStatus.COMPLETED),
        ("COMPLETED", JobStatus.COMPLETED),
        ("CANCELED", JobStatus.CANCELED),
        ("CANCELLED", JobStatus.CANCELED),
        ("completed", JobStatus.COMPLETED),
    ],
)
def test_job_status_accepts_every_documented_spelling(raw: str, status: JobStatus) -> None:
    assert JobStatus(raw) is status


@pytest.mark.parametrize(
    ("raw", "job_type"),
    [
        ("VERFIY_FIRMWARE", JobType.VERIFY_FIRMWARE),
        ("VERIFY_FIRMWARE", JobType.VERIFY_FIRMWARE),
        ("UPGRADE_FIRMWARE", JobType.UPGRADE_FIRMWARE),
    ],
)
def test_job_type_accepts_the_misspelling_and_the_correct_spelling(
    raw: str, job_type: JobType
) -> None:
    assert JobType(raw) is job_type


def test_an_unknown_status_is_kept_as_it_is() -> None:
    status = JobStatus("PAUSED")
    assert (status.value, str(status), status.is_known) == ("PAUSED", "PAUSED", False)
    assert JobStatus.COMPLETED.is_known


def test_an_unknown_type_is_kept_as_it_is() -> None:
    job = OtaJob.from_api(_item(JobType="ROLLBACK_FIRMWARE"))
    assert job.job_type.value == "ROLLBACK_FIRMWARE"
    assert not job.job_type.is_known


def test_times_are_parsed_as_aware_utc_datetimes() -> None:
    job = OtaJob.from_api(_item(UtcEndTime="2019-12-29T02:43:10.123Z"))
    assert job.utc_create == datetime(2019, 12, 28, 2, 43, 10, tzinfo=UTC)
    assert job.utc_end_time == datetime(2019, 12, 29, 2, 43, 10, 123000, tzinfo=UTC)


def test_an_unfinished_job_has_no_end_time() -> None:
    assert OtaJob.from_api(_item()).utc_end_time is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2019-12-28T02:43:10Z", datetime(2019, 12, 28, 2, 43, 10, tzinfo=UTC)),
        ("2019-12-28T02:43:10.000Z", datetime(2019, 12, 28, 2, 43, 10, tzinfo=UTC)),
        ("2019-12-28T10:43:10+08:00", datetime(2019, 12, 28, 2, 43, 10, tzinfo=UTC)),
        ("2019-12-28T02:43:10", datetime(2019, 12, 28, 2, 43, 10, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_parse_utc_reads_the_api_forms(raw: str | None, expected: datetime | None) -> None:
    assert parse_optional_utc(raw) == expected


def test_parse_utc_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        parse_utc("yesterday")


def test_format_utc_writes_the_api_form_from_any_zone() -> None:
    value = datetime(2019, 12, 28, 10, 43, 10, 5000, tzinfo=timezone(timedelta(hours=8)))
    assert format_utc(value) == "2019-12-28T02:43:10.005Z"
    assert format_utc(None) is None


@pytest.mark.parametrize(
    "tags",
    [
        {"OtaTagDTO": [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v2"}]},
        [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v2"}],
    ],
    ids=["wrapped", "plain-list"],
)
def test_tags_become_a_tuple_of_key_value_pairs(tags: Any) -> None:
    assert OtaJob.from_api(_item(Tags=tags)).tags == (("k1", "v1"), ("k2", "v2"))


def test_a_single_wrapped_tag_object_is_one_tag() -> None:
    job = OtaJob.from_api(_item(Tags={"OtaTagDTO": {"Key": "k", "Value": "v"}}))
    assert job.tags == (("k", "v"),)


@pytest.mark.parametrize("tags", [None, {}, {"OtaTagDTO": []}, []])
def test_missing_or_empty_tags_are_no_tags(tags: Any) -> None:
    assert OtaJob.from_api(_item(Tags=tags)).tags == ()


def test_to_api_round_trips_through_from_api() -> None:
    job = OtaJob.from_api(
        _item(
            JobStatus="COMPLETE",
            JobType="VERFIY_FIRMWARE",
            UtcEndTime="2019-12-29T02:43:10.000Z",
            Tags={"OtaTagDTO": [{"Key": "k", "Value": "v"}]},
        )
    )
    assert OtaJob.from_api(job.to_api()) == job
    assert job.to_api()["JobStatus"] == "COMPLETED"


def test_job_page_reads_the_page_fields_and_request_id() -> None:
    body = {
        "Data": {"SimpleOTAJobInfo": [_item(), _item(JobId="J2")]},
        "Total": "12",
        "PageCount": 6,
        "PageSize": 2,
        "CurrentPage": 3,
        "RequestId": "R1",
        "Success": True,
    }
    result = jobs_page(body, 1, 100)
    assert (result.total, result.page_count, result.current_page, result.page_size) == (
        12,
        6,
        3,
        2,
    )
    assert result.request_id == "R1"
    assert len(result.items) == 2


def test_job_page_falls_back_to_what_was_asked_when_page_fields_are_missing() -> None:
    body = {"Data": {"SimpleOTAJobInfo": [_item()]}}
    result = jobs_page(body, 4, 10)
    assert (result.total, result.page_count, result.current_page, result.page_size) == (
        1,
        1,
        4,
        10,
    )


def test_job_page_accepts_data_as_the_list_itself() -> None:
    result = jobs_page({"Data": [_item()], "Total": 1}, 1, 10)
    assert len(result.items) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"Data": 7},
        {"Data": {"SimpleOTAJobInfo": ["not a job"]}},
        {"Data": {"SimpleOTAJobInfo": []}, "Total": "many"},
        {"Data": {"SimpleOTAJobInfo": [{"JobId": "J", "UtcCreate": "soon"}]}},
    ],
    ids=["data-number", "item-string", "total-word", "bad-time"],
)
def test_job_page_refuses_an_answer_not_shaped_as_documented(body: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        jobs_page(body, 1, 10)


def jobs_page(body: dict, current_page: int, page_size: int) -> Page[OtaJob]:
    return Page.from_api(
        body,
        OtaJob.from_api,
        container="Data",
        wrapper="SimpleOTAJobInfo",
        current_page=current_page,
        page_size=page_size,
    )
