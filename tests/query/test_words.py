"""The sentences both front ends say: when an answer was fetched, pages, sizes, versions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from otabot.query import words
from otabot.query.phrases import Code, Moment
from otabot.service.results import Provenance
from tests.service.fleet_source import firmware, job_detail

NOW = datetime(2024, 5, 1, 6, 49, 31, tzinfo=UTC)


def provenance(seconds_ago: float, from_cache: bool) -> Provenance:
    return Provenance(NOW - timedelta(seconds=seconds_ago), from_cache, 0 if from_cache else 1, ())


def test_a_fresh_answer_says_when_it_was_fetched() -> None:
    assert words.fetched(provenance(0, False), NOW) == (
        "fetched ",
        Moment(NOW, date=False, seconds=True),
    )


def test_a_cached_answer_says_how_old_it_is() -> None:
    assert words.fetched(provenance(26, True), NOW) == ("cached, fetched 26 s ago",)


def test_a_shared_answer_gives_the_date_and_time() -> None:
    said = words.fetched(provenance(26, True), NOW, shared=True)
    assert said == ("fetched ", Moment(NOW - timedelta(seconds=26), date=True, seconds=True))


def test_the_instance_in_words() -> None:
    assert words.instance(None) == ("default instance",)
    assert words.instance("iot-1") == ("instance ", Code("iot-1"))


@pytest.mark.parametrize(
    ("page", "pages", "asked", "said"),
    [
        (2, 3, 2, "page 2 of 3"),
        (3, 3, 9, "page 3 of 3 (there is no page 9; this is the last page)"),
    ],
)
def test_pages_in_words(page: int, pages: int, asked: int, said: str) -> None:
    assert words.page_of(page, pages, asked) == said


@pytest.mark.parametrize(
    ("size", "said"),
    [
        (None, "size unknown"),
        (512, "512 B"),
        (3482, "3.4 KiB"),
        (1048576, "1.0 MiB"),
        (5 * 2**40, "5120.0 GiB"),
    ],
)
def test_sizes_in_words(size: int | None, said: str) -> None:
    assert words.size_words(size) == said


def test_a_delta_package_shows_where_it_updates_from() -> None:
    assert words.versions(firmware("F", "2.0.0", delta=True)) == "1.0.0 → 2.0.0"
    assert words.versions(firmware("F", "2.0.0")) == "2.0.0"
    assert words.firmware_kind(firmware("F", "2.0.0", delta=True)) == "delta"


def test_retries_and_timeout_in_words() -> None:
    job = job_detail("J")
    assert words.retries(job) == "1 retry every 60 min · timeout 1440 min"
    assert (
        words.retries(dataclasses.replace(job, retry_count=0, timeout_in_minutes=None))
        == "no retries"
    )
