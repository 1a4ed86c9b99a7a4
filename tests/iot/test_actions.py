"""The actions table and the ``N,Action=M`` quota form shared by OTABOT_API_QPS and --qps."""

from __future__ import annotations

import pytest

from otabot.iot.actions import ACTIONS, documented_qps, parse_qps_spec


def test_every_action_has_its_documented_account_quota() -> None:
    assert documented_qps() == {
        "ListOTAJobByDevice": 10,
        "ListOTAUnfinishedTaskByDevice": 10,
        "QueryDeviceDetail": 50,
        "ListOTAFirmware": 10,
        "QueryOTAJob": 10,
        "ListOTATaskByJob": 10,
        "ListOTAJobByFirmware": 10,
    }


def test_an_empty_spec_keeps_the_documented_limits() -> None:
    assert parse_qps_spec("") == {name: float(qps) for name, qps in documented_qps().items()}


def test_a_bare_number_applies_to_every_action_and_a_named_one_overrides_it() -> None:
    limits = parse_qps_spec("8, QueryDeviceDetail=40")
    assert limits["QueryDeviceDetail"] == 40
    assert {limits[name] for name in ACTIONS if name != "QueryDeviceDetail"} == {8}


def test_a_named_action_alone_leaves_the_others_documented() -> None:
    limits = parse_qps_spec("ListOTAFirmware=2.5")
    assert limits["ListOTAFirmware"] == 2.5
    assert limits["QueryDeviceDetail"] == 50


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("ten", "is not a number"),
        ("0", "above 0"),
        ("-1", "above 0"),
        ("nan", "above 0"),
        ("inf", "above 0"),
        ("Pub=3", "Pub is not an action otabot calls"),
        ("1,2", "given twice"),
        ("QueryOTAJob=1,QueryOTAJob=2", "QueryOTAJob is given twice"),
    ],
)
def test_a_bad_item_is_named(spec: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_qps_spec(spec)
