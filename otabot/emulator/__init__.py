"""A local Alibaba Cloud IoT Platform for development, tests and the demo.

State and rules live in ``models``, the wire format in ``responses``, the routes and
control endpoints in ``app`` (a WSGI application), serving it in ``server``, the fleet
format and the built-in sample fleet in ``fleet``, the API's errors in ``exceptions``
(the layout of moto).
"""

from __future__ import annotations

from otabot.emulator.fleet import (
    SAMPLE_ACCESS_KEY_ID,
    SAMPLE_ACCESS_KEY_SECRET,
    Fleet,
    FleetError,
    load_fleet,
    sample_fleet,
)
from otabot.emulator.server import EmulatorServer

__all__ = [
    "SAMPLE_ACCESS_KEY_ID",
    "SAMPLE_ACCESS_KEY_SECRET",
    "EmulatorServer",
    "Fleet",
    "FleetError",
    "load_fleet",
    "sample_fleet",
]
