"""The Slack side of otabot: ``/ota`` answered as Block Kit pages with buttons.

``build_app`` builds the Bolt app; ``create_wsgi_app`` serves it over HTTP; ``runner``
runs it in Socket Mode or HTTP mode.
"""

from __future__ import annotations
