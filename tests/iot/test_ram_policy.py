"""docs/ram-policy.json, the RAM policy operators grant, allows exactly the actions otabot
calls (``otabot.iot.actions.ACTIONS``): no more, so a leaked key reads OTA data only, and
no fewer, so no lookup fails on a permission the README forgot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from otabot.iot.actions import ACTIONS

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "docs" / "ram-policy.json"


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in {POLICY.name}: {keys}"
    return dict(pairs)


def load_policy() -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(POLICY.read_text(), object_pairs_hook=no_duplicate_keys)
    return policy


def test_the_policy_is_one_allow_statement_of_version_1() -> None:
    policy = load_policy()
    assert set(policy) == {"Version", "Statement"}
    assert policy["Version"] == "1"
    (statement,) = policy["Statement"]
    assert set(statement) == {"Effect", "Action", "Resource"}
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "*"


def test_the_policy_allows_exactly_the_actions_otabot_calls() -> None:
    (statement,) = load_policy()["Statement"]
    actions = statement["Action"]
    assert len(actions) == len(set(actions))
    assert set(actions) == {f"iot:{name}" for name in ACTIONS}


def test_the_policy_allows_no_wildcard_and_no_write() -> None:
    (statement,) = load_policy()["Statement"]
    for action in statement["Action"]:
        assert "*" not in action
        assert action.startswith(("iot:List", "iot:Query")), action


def test_the_readme_tells_operators_to_grant_this_policy() -> None:
    readme = (REPO / "README.md").read_text()
    assert "## Least privilege" in readme
    assert "docs/ram-policy.json" in readme
