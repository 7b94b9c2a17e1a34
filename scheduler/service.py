"""APScheduler's AsyncIOScheduler in the settings' time zone, started with the app. Every process runs
one, but jobs execute only in the process holding the database lease: exactly one across processes."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock
from bot.settings import Settings
from scheduler.jobs import JOBS, Job, JobDeps, job_named
from scheduler.lease import DatabaseLease

log = logging.getLogger("partybot.scheduler")

LEASE = "scheduler"
MISFIRE_GRACE_S = 3600  # a job missed by less than this (a restart) still runs once (coalesced)


def trigger(job: Job, timezone: str, settings: Settings | None = None) -> CronTrigger:
    return CronTrigger(timezone=ZoneInfo(timezone), **job.schedule(settings))


def next_runs(
    now: datetime, timezone: str, settings: Settings | None = None
) -> list[tuple[Job, datetime | None]]:
    return [(job, trigger(job, timezone, settings).get_next_fire_time(None, now)) for job in JOBS]


class Scheduler:
    def __init__(self, deps: JobDeps, clock: Clock, owner: str, lease_ttl_s: float = 60.0) -> None:
        self.deps, self.clock = deps, clock
        self.lease = DatabaseLease(deps.db, LEASE, owner, lease_ttl_s, clock)
        self._lease_ttl_s = lease_ttl_s
        self._aps: AsyncIOScheduler | None = None

    async def start(self) -> None:
        timezone = self.deps.settings.timezone
        aps = AsyncIOScheduler(timezone=ZoneInfo(timezone))
        for job in JOBS:
            aps.add_job(
                self._when_leader,
                trigger(job, timezone, self.deps.settings),
                args=[job],
                id=job.name,
                coalesce=True,
                misfire_grace_time=MISFIRE_GRACE_S,
                max_instances=1,
            )
        aps.add_job(self.renew, IntervalTrigger(seconds=self._lease_ttl_s / 3), id="lease", max_instances=1)
        await self.renew()
        aps.start()
        self._aps = aps

    async def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        await self.lease.release()

    async def renew(self) -> bool:
        was = self.lease.held
        try:
            held = await self.lease.acquire()
        except Exception:
            log.exception("scheduler lease renewal failed")
            self.lease.held = False
            return False
        if held != was:
            log.info("scheduler lease %s", "taken: running jobs here" if held else "lost")
        return held

    async def _when_leader(self, job: Job) -> None:
        if not self.lease.held:
            return
        await self.run(job.name, self.clock.now())

    async def run(self, name: str, now: datetime) -> str:
        """Run one job as of `now` (the schedule, `partybot jobs run`, and tests)."""
        job = job_named(name)
        try:
            summary = await job.run(self.deps, now)
        except Exception:
            log.exception("job %s failed", name)
            raise
        log.info("job %s: %s", name, summary, extra={"job": name, "as_of": now.isoformat()})
        return summary
