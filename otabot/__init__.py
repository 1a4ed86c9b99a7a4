"""otabot: which OTA update batches has this IoT device been in, and where do they stand?"""

from __future__ import annotations

__version__ = "0.1.0"
