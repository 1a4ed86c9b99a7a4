"""The IoT Platform actions otabot calls, with the facts every layer needs about them.

One table for the client (what to call), the quota (each action's own account-wide
limit), the emulator (the same limits and page sizes), the settings (which names
``OTABOT_API_QPS`` accepts) and the RAM policy an operator grants (``iot:<Action>``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """One read action: its name, documented calls per second per account, largest page."""

    name: str
    qps: int
    max_page_size: int | None = None  # None: the action does not page


LIST_OTA_JOB_BY_DEVICE = Action("ListOTAJobByDevice", 10, 100)
LIST_OTA_UNFINISHED_TASK_BY_DEVICE = Action("ListOTAUnfinishedTaskByDevice", 10)
QUERY_DEVICE_DETAIL = Action("QueryDeviceDetail", 50)
LIST_OTA_FIRMWARE = Action("ListOTAFirmware", 10, 100)
QUERY_OTA_JOB = Action("QueryOTAJob", 10)
LIST_OTA_TASK_BY_JOB = Action("ListOTATaskByJob", 10, 100)
LIST_OTA_JOB_BY_FIRMWARE = Action("ListOTAJobByFirmware", 10, 200)

ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        LIST_OTA_JOB_BY_DEVICE,
        LIST_OTA_UNFINISHED_TASK_BY_DEVICE,
        QUERY_DEVICE_DETAIL,
        LIST_OTA_FIRMWARE,
        QUERY_OTA_JOB,
        LIST_OTA_TASK_BY_JOB,
        LIST_OTA_JOB_BY_FIRMWARE,
    )
}

# ListOTATaskByJob refuses a page whose end lies past this many tasks.
MAX_TASK_WINDOW = 100_000


def documented_qps() -> dict[str, int]:
    """Each action's documented account quota, by name."""
    return {name: action.qps for name, action in ACTIONS.items()}


def parse_qps_spec(text: str) -> dict[str, float]:
    """Calls per second per action from ``N`` and ``Action=M`` items: ``8,QueryDeviceDetail=40``.

    ``N`` applies to every action not named; an action not covered keeps its documented
    quota. The same form serves ``OTABOT_API_QPS`` and ``otabot emulator --qps``.
    ``ValueError`` says which item is wrong.
    """
    limits: dict[str, float] = {name: float(qps) for name, qps in documented_qps().items()}
    named: dict[str, float] = {}
    every: float | None = None
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, equals, number = (piece.strip() for piece in item.partition("="))
        if not equals:
            name, number = "", name
        try:
            value = float(number)
        except ValueError:
            raise ValueError(f"{item!r}: {number!r} is not a number") from None
        if not 0 < value <= 10_000:  # also false for nan
            raise ValueError(f"{item!r}: calls per second must be above 0 and at most 10000")
        if not name:
            if every is not None:
                raise ValueError(f"{item!r}: a rate for every action is given twice")
            every = value
        elif name not in ACTIONS:
            known = ", ".join(ACTIONS)
            raise ValueError(f"{item!r}: {name} is not an action otabot calls ({known})")
        elif name in named:
            raise ValueError(f"{item!r}: {name} is given twice")
        else:
            named[name] = value
    if every is not None:
        limits = dict.fromkeys(ACTIONS, every)
    limits.update(named)
    return limits
