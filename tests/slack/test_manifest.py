"""manifest.yml is a valid Slack manifest and names exactly what the app listens to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from slack_bolt import BoltRequest

from otabot.query.grammar import KEYWORDS
from otabot.query.queries import JobsQuery, query_text
from otabot.slack import ids
from tests.helpers import LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from tests.slack.conftest import SlackHarness, command_body, sign

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "manifest.yml"
# Slack's published JSON schema for app manifests (1.0.0), kept here with its MIT licence.
SCHEMA = Path(__file__).resolve().parent / "manifest_schema" / "manifest.schema.1.0.0.json"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return loaded


def test_manifest_validates_against_slack_schema(manifest: dict[str, Any]) -> None:
    import jsonschema

    jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))


def test_manifest_asks_for_only_commands_and_chat_write(manifest: dict[str, Any]) -> None:
    # chat:write.public: a watched card goes to a public channel otabot was not invited to.
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == [
        "chat:write",
        "chat:write.public",
        "commands",
    ]


def test_manifest_turns_on_socket_mode_and_interactivity(manifest: dict[str, Any]) -> None:
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["org_deploy_enabled"] is False
    assert manifest["features"]["bot_user"]["display_name"]


def test_manifest_commands_are_the_ones_in_ids(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [command["command"] for command in commands] == [ids.COMMAND]
    assert all(command["description"] and command["usage_hint"] for command in commands)


def test_the_usage_hint_names_every_keyword_of_the_grammar(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    hint = {word.strip("[]") for word in command["usage_hint"].split()}
    assert set(KEYWORDS) <= hint
    assert {"DEVICE", "FIRMWARE", "JOBID", "PRODUCT"} <= hint
    assert len(command["usage_hint"]) <= 1000 and len(command["description"]) <= 2000


def test_every_manifest_command_has_a_listener(
    manifest: dict[str, Any], harness: SlackHarness
) -> None:
    for command in manifest["features"]["slash_commands"]:
        body = command_body("help", harness.recorder.response_url()).replace(
            urlencode({"command": "/ota"}), urlencode({"command": command["command"]})
        )
        response = harness.app.dispatch(BoltRequest(body=body, headers=sign(body)))
        assert response.status == 200 and "usage" in response.body


def test_a_command_not_in_the_manifest_has_no_listener(harness: SlackHarness) -> None:
    body = command_body("help", harness.recorder.response_url()).replace(
        urlencode({"command": "/ota"}), urlencode({"command": "/other"})
    )
    assert harness.app.dispatch(BoltRequest(body=body, headers=sign(body))).status == 404


@pytest.mark.parametrize("action_id", ids.ACTIONS)
def test_every_action_id_has_a_listener(harness: SlackHarness, action_id: str) -> None:
    value = query_text(JobsQuery(LIGHT_PRODUCT_KEY, "light1", SHOWCASE_FIRMWARE_ID))
    assert harness.click(action_id, value).status == 200
    harness.recorder.wait_for_responses(1)
