"""``python -m otabot`` runs the ``otabot`` command."""

from __future__ import annotations

import sys

from otabot.cli import main

sys.exit(main())
