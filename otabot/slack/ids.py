"""The command and action IDs Slack routes on; ``manifest.yml`` and the listeners use these."""

from __future__ import annotations

COMMAND = "/ota"

ACTION_PREV = "ota_prev"
ACTION_NEXT = "ota_next"
ACTION_REFRESH = "ota_refresh"
ACTION_SHARE = "ota_share"
ACTION_RETRY = "ota_retry"
ACTION_JOB = "ota_job"
ACTION_JOBS = "ota_jobs"
ACTION_FAILED = "ota_failed"
ACTION_PICK = "ota_pick"
ACTION_FW_JOBS = "ota_fw_jobs"
ACTION_WATCH = "ota_watch"
ACTION_UNWATCH = "ota_unwatch"

ACTIONS = (
    ACTION_PREV,
    ACTION_NEXT,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_RETRY,
    ACTION_JOB,
    ACTION_JOBS,
    ACTION_FAILED,
    ACTION_PICK,
    ACTION_FW_JOBS,
    ACTION_WATCH,
    ACTION_UNWATCH,
)

BLOCK_NAVIGATION = "ota_navigation"
BLOCK_ERROR_ACTIONS = "ota_error_actions"
BLOCK_TASK = "ota_task"
BLOCK_WATCH = "ota_watch_actions"
