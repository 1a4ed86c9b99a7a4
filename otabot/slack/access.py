"""Who may ask: ``OTABOT_ALLOWED_TEAMS/CHANNELS/USERS/PRODUCTS`` (empty means everyone)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from otabot.config import Settings

# Where Slack's response_urls live (commercial and GovSlack); nothing else gets our posts.
SLACK_RESPONSE_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
# A URL as it goes on the wire: printable ASCII, no spaces. http.client raises on anything
# else (a control character, a letter outside ASCII) in the middle of posting the answer.
_WIRE_URL = re.compile(r"[!-~]+")


@dataclass(frozen=True)
class Requester:
    """Where a command or click came from, by Slack IDs (never names)."""

    team_id: str | None
    channel_id: str | None
    user_id: str | None

    @classmethod
    def from_body(cls, body: dict[str, object]) -> Requester:
        """Read the IDs from a slash command body or a ``block_actions`` payload."""

        def nested(key: str, field: str) -> str | None:
            value = body.get(key)
            if isinstance(value, dict):
                item = value.get(field)
                return item if isinstance(item, str) else None
            return None

        def flat(key: str) -> str | None:
            value = body.get(key)
            return value if isinstance(value, str) else None

        return cls(
            team_id=flat("team_id") or nested("team", "id") or nested("user", "team_id"),
            channel_id=flat("channel_id") or nested("channel", "id"),
            user_id=flat("user_id") or nested("user", "id"),
        )


def refusal(settings: Settings, requester: Requester) -> str | None:
    """Why this requester may not use otabot here, or None when allowed."""
    checks = (
        (settings.allowed_teams, requester.team_id, "this workspace"),
        (settings.allowed_channels, requester.channel_id, "this channel"),
        (settings.allowed_users, requester.user_id, "you"),
    )
    for allowed, value, who in checks:
        if allowed and value not in allowed:
            return f"otabot is not enabled for {who}. Ask your otabot admin to allow it."
    return None


def product_refusal(settings: Settings, product_key: str) -> str | None:
    """Why this product may not be looked up, or None when allowed."""
    if settings.allowed_products and product_key not in settings.allowed_products:
        return f"otabot may not look up product {product_key}. Ask your otabot admin to allow it."
    return None


def response_url_refusal(settings: Settings, url: object) -> str | None:
    """Why otabot will not post to this ``response_url``, or None when it is Slack's.

    Real Slack hands out ``https://hooks.slack.com/…`` only; a request naming any other
    URL would make otabot post wherever it says (SSRF). A local stand-in for Slack
    (tests, the demo) is allowed where ``SLACK_API_URL`` points: same scheme, host, port.
    """
    refused = "its response_url is not a Slack URL, so otabot will not post to it"
    if not isinstance(url, str) or not _WIRE_URL.fullmatch(url):
        return refused
    try:
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname, parts.port)
    except ValueError:
        return refused
    if parts.username is not None or parts.password is not None:
        return refused
    if (
        parts.scheme == "https"
        and parts.hostname in SLACK_RESPONSE_HOSTS
        and parts.port in (None, 443)
    ):
        return None
    if settings.slack_api_url:
        api = urlsplit(settings.slack_api_url)
        if parts.hostname and origin == (api.scheme, api.hostname, api.port):
            return None
    return refused
