"""The command and action IDs Slack routes on; ``manifest.yml`` and the listeners use these."""

from __future__ import annotations

COMMAND = "/ota"

ACTION_PREV = "ota_prev"
ACTION_NEXT = "ota_next"
ACTION_REFRESH = "ota_refresh"
ACTION_SHARE = "ota_share"
ACTION_RETRY = "ota_retry"

ACTIONS = (ACTION_PREV, ACTION_NEXT, ACTION_REFRESH, ACTION_SHARE, ACTION_RETRY)

BLOCK_NAVIGATION = "ota_navigation"
BLOCK_ERROR_ACTIONS = "ota_error_actions"
