"""Who may ask: ``OTABOT_ALLOWED_TEAMS/CHANNELS/USERS/PRODUCTS`` (empty means everyone)."""

from __future__ import annotations

from dataclasses import dataclass

from otabot.config import Settings


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
