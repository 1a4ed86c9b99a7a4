"""Reading a signed request's body: a form by its fields, a payload only when it has one
(found by the HTTP property test)."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest

from otabot.slack.http import FieldReadRequest, read_body

FORM = {"content-type": "application/x-www-form-urlencoded"}
COMMAND = {"command": "/ota", "text": "light/light1", "channel_name": "incident"}


@pytest.mark.parametrize(
    "fields",
    [
        COMMAND | {"text": "payload"},
        COMMAND | {"channel_name": "payload-team"},
        COMMAND | {"user_name": "payloads", "text": "payload=1"},
    ],
)
def test_a_form_with_the_word_payload_in_it_is_read_by_its_fields(fields: dict[str, str]) -> None:
    body = urlencode(fields)
    assert read_body(body, FORM["content-type"]) == fields
    request = FieldReadRequest(body=body, headers=FORM)
    assert request.body == fields
    copy = request.to_copyable()  # what a lazy listener reads
    assert copy.body == fields and copy.raw_body == body


def test_a_form_with_a_payload_field_is_that_payload() -> None:
    payload = {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U1"}}
    body = "payload=" + quote(json.dumps(payload))
    request = FieldReadRequest(body=body, headers=FORM)
    assert request.body == payload and request.context.team_id == "T1"
    assert request.to_copyable().body == payload


def test_a_json_body_is_json_and_a_payload_that_is_not_json_is_a_value_error() -> None:
    assert read_body('{"type": "url_verification"}', "application/json") == {
        "type": "url_verification"
    }
    assert read_body("", None) == {}
    with pytest.raises(ValueError):
        read_body("payload=notjson", FORM["content-type"])
