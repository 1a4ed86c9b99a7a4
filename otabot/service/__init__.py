"""The lookup use case: cached, single-flight, inside the account-wide quota."""

from __future__ import annotations

from otabot.service.lookup import Lookup, LookupResult
from otabot.service.quota import QuotaLimiter
from otabot.service.service import OtaService

__all__ = ["Lookup", "LookupResult", "OtaService", "QuotaLimiter"]
