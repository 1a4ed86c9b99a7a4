"""Slack's ``v0`` request signature, checked by slack_sdk's ``SignatureVerifier`` over the
raw bytes: Slack's published example, the five-minute window, bodies that are not UTF-8,
and header values the SDK alone would raise on."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from slack_sdk.signature import SignatureVerifier

from otabot.slack.http import RawBodySignatureVerifier

# "Verifying requests from Slack": the signing secret, timestamp, body and signature of
# the walk-through (a /webhook-collect command).
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = "1531420618"
SLACK_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    "%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def verifier_at(now: float, secret: str = SLACK_SECRET) -> RawBodySignatureVerifier:
    return RawBodySignatureVerifier(secret, wall_clock=lambda: now)


def sign_bytes(body: bytes, timestamp: str, secret: str = SLACK_SECRET) -> str:
    """Slack's rule written out, independently of the code under test."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def test_slack_s_published_example_is_valid_as_bytes_and_as_text() -> None:
    verifier = verifier_at(int(SLACK_TIMESTAMP))
    assert verifier.is_valid(SLACK_BODY.encode(), SLACK_TIMESTAMP, SLACK_SIGNATURE)
    assert verifier.is_valid(SLACK_BODY, SLACK_TIMESTAMP, SLACK_SIGNATURE)
    assert verifier.generate_signature(timestamp=SLACK_TIMESTAMP, body=SLACK_BODY.encode()) == (
        SLACK_SIGNATURE
    )
    assert isinstance(verifier, SignatureVerifier)  # the SDK's, not a check of our own


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("body", SLACK_BODY.replace("roadrunner", "wileecoyote")),
        ("timestamp", str(int(SLACK_TIMESTAMP) + 1)),
        ("signature", SLACK_SIGNATURE[:-1] + "4"),
        ("secret", SLACK_SECRET.replace("8", "9")),
    ],
)
def test_any_change_to_slack_s_example_is_not_valid(change: str, value: str) -> None:
    given = {"body": SLACK_BODY, "timestamp": SLACK_TIMESTAMP, "signature": SLACK_SIGNATURE}
    secret = value if change == "secret" else SLACK_SECRET
    given[change] = value
    verifier = verifier_at(int(SLACK_TIMESTAMP), secret)
    assert not verifier.is_valid(given["body"].encode(), given["timestamp"], given["signature"])


@pytest.mark.parametrize(
    ("skew", "valid"), [(-301, False), (-300, True), (300, True), (301, False)]
)
def test_a_timestamp_is_valid_within_five_minutes_either_way(skew: int, valid: bool) -> None:
    verifier = verifier_at(int(SLACK_TIMESTAMP) + skew)
    assert verifier.is_valid(SLACK_BODY.encode(), SLACK_TIMESTAMP, SLACK_SIGNATURE) is valid


def test_the_window_follows_the_wall_clock_it_is_given() -> None:
    now = [int(SLACK_TIMESTAMP)]
    verifier = RawBodySignatureVerifier(SLACK_SECRET, wall_clock=lambda: now[0])
    assert verifier.is_valid(SLACK_BODY, SLACK_TIMESTAMP, SLACK_SIGNATURE)
    now[0] += 301
    assert not verifier.is_valid(SLACK_BODY, SLACK_TIMESTAMP, SLACK_SIGNATURE)


@pytest.mark.parametrize("body", [b"command=%2Fota&text=\xff", b"\xfe\xff\x00", b"\xc3\x28"])
def test_a_body_that_is_not_utf8_is_verified_on_its_bytes(body: bytes) -> None:
    verifier = verifier_at(int(SLACK_TIMESTAMP))
    signature = sign_bytes(body, SLACK_TIMESTAMP)
    assert verifier.is_valid(body, SLACK_TIMESTAMP, signature)
    assert not verifier.is_valid(body + b"x", SLACK_TIMESTAMP, signature)
    assert not verifier.is_valid(body, SLACK_TIMESTAMP, sign_bytes(body, SLACK_TIMESTAMP, "x"))
    with pytest.raises(UnicodeDecodeError):  # what the SDK alone does with it
        SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=SLACK_TIMESTAMP, body=body)


@pytest.mark.parametrize(
    "timestamp",
    [None, "", "abc", " 1531420618", "1531420618 ", "+1531420618", "1531_420618",
     "\u0661\u0665\u0663\u0661\u0664\u0662\u0660\u0666\u0661\u0668", "1" * 13, "9" * 5000],
)  # fmt: skip
def test_a_timestamp_that_is_not_ascii_digits_is_not_valid(timestamp: str | None) -> None:
    verifier = verifier_at(int(SLACK_TIMESTAMP))
    body = SLACK_BODY.encode()
    signature = sign_bytes(body, timestamp) if timestamp else SLACK_SIGNATURE
    assert not verifier.is_valid(body, timestamp, signature)


@pytest.mark.parametrize("signature", [None, "", "v0=", "v0=é" + SLACK_SIGNATURE[4:], "\udcff"])
def test_a_signature_of_any_odd_value_is_not_valid_and_raises_nothing(
    signature: str | None,
) -> None:
    verifier = verifier_at(int(SLACK_TIMESTAMP))
    assert not verifier.is_valid(SLACK_BODY.encode(), SLACK_TIMESTAMP, signature)
