"""Resident memory after 100,000 distinct lookups: bounded by the cache size, not the lookups.

Runs in-process over an in-memory job source (every device has a few jobs), prints RSS
as the lookups go, and the number of cached entries. Usage: ``python bench/memory.py``
(``--lookups N``, ``--cache-size N``).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otabot.emulator.fleet import LIGHT_PRODUCT_KEY, SHOWCASE_FIRMWARE_ID
from otabot.iot.models import JobStatus, JobType, OtaJob, Page
from otabot.service import JobsLookup, OtaService
from otabot.service.cache import MAX_WEIGHT
from tests.service.fleet_source import JobsByDevice, JobsCall


class InMemoryJobs(JobsByDevice):
    """A job source that answers instantly: three jobs for every device."""

    def __init__(self) -> None:
        start = datetime(2025, 1, 1, tzinfo=UTC)
        self._jobs = tuple(
            OtaJob(
                job_id=f"HvKuBpuk3rdk6E92CPQN0{i:05d}",
                firmware_id=SHOWCASE_FIRMWARE_ID,
                product_key=LIGHT_PRODUCT_KEY,
                status=JobStatus.COMPLETED,
                job_type=JobType.UPGRADE_FIRMWARE,
                selection_type="STATIC",
                target_selection="SPECIFIC",
                utc_create=start + timedelta(days=i),
                utc_modified=start + timedelta(days=i),
                utc_start_time=start + timedelta(days=i),
                utc_end_time=start + timedelta(days=i, hours=1),
                tags=(("batch", f"b{i}"),),
            )
            for i in range(3)
        )
        self.calls = 0

    def jobs_page(self, call: JobsCall) -> Page[OtaJob]:
        self.calls += 1
        # Fresh objects per call, as parsing a real answer would give.
        jobs = tuple(OtaJob(**vars(job)) for job in self._jobs)
        pages = math.ceil(len(jobs) / call.page_size)
        return Page(jobs, len(jobs), pages, call.current_page, call.page_size, f"REQ-{self.calls}")

    def close(self) -> None:
        """Nothing to release."""


def rss_mib() -> float:
    """Current resident set size of this process, in MiB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument(
        "--cache-weight", type=int, default=MAX_WEIGHT, help="the L1's bound (API items held)"
    )
    options = parser.parse_args()

    source = InMemoryJobs()
    service = OtaService(source, cache_ttl=3600, cache_weight=options.cache_weight)
    gc.collect()
    baseline = rss_mib()
    print(f"cache bound {options.cache_weight} (an entry weighs 1 + its items), ttl 3600 s")
    print(f"{'lookups':>8}  {'RSS MiB':>8}  {'growth':>7}  {'cached':>6}")
    checkpoints = {1_000, 5_000, 10_000, 25_000, 50_000, 75_000, options.lookups}
    seen: list[tuple[int, float, int]] = []
    for i in range(1, options.lookups + 1):
        service.jobs(JobsLookup(LIGHT_PRODUCT_KEY, f"dev-{i:07d}", SHOWCASE_FIRMWARE_ID))
        if i in checkpoints:
            gc.collect()
            now = rss_mib()
            cached = int(service.stats()["cached_entries"])
            seen.append((i, now, cached))
            print(f"{i:>8}  {now:>8.1f}  {now - baseline:>+7.1f}  {cached:>6}")
    stats = service.stats()
    print(
        f"upstream calls {stats['upstream_calls']}, cache misses {stats['cache_misses']}, "
        f"entries kept {stats['cached_entries']} (bounded by the cache's weight)"
    )
    full_at, full_rss, _ = next(point for point in seen if point[2] == seen[-1][2])
    print(
        f"growth from {full_at} lookups (cache full) to {options.lookups}: "
        f"{rss_mib() - full_rss:+.1f} MiB (bounded: ~0 once the cache is full)"
    )
    service.close()


if __name__ == "__main__":
    main()
