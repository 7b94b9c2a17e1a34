"""The scheduled jobs: plain async functions of explicit dependencies and the moment they run "as of".

Each is idempotent, so re-running one or catching up after downtime is safe (DESIGN.md, Scheduler).
"""

from __future__ import annotations

from scheduler.jobs.base import Job, JobDeps, JobFunction
from scheduler.jobs.housekeeping import housekeeping
from scheduler.jobs.outbound import expire_waiting_replies, refresh_voice_media, relay_unreached

__all__ = [
    "JOBS",
    "Job",
    "JobDeps",
    "JobFunction",
    "expire_waiting_replies",
    "housekeeping",
    "job_named",
    "refresh_voice_media",
    "relay_unreached",
]


JOBS: tuple[Job, ...] = (
    Job(
        "relay_unreached",
        "ask helpers to pass on notices elderly members have not received in time",
        {"minute": "*/10"},
        relay_unreached,
    ),
    Job(
        "refresh_voice_media",
        "upload again voice clips older than WeChat's 3 days that are still to be sent",
        {"minute": 17},
        refresh_voice_media,
    ),
    Job(
        "housekeeping",
        "delete expired conversations, old binding attempts and codes, old inbound log and voice messages",
        {"minute": "*/10"},
        housekeeping,
    ),
    Job(
        "expire_waiting_replies",
        "close late answers and notices that waited too long for the user's next message",
        {"hour": 3, "minute": 30},
        expire_waiting_replies,
    ),
)


def job_named(name: str) -> Job:
    for job in JOBS:
        if job.name == name:
            return job
    raise KeyError(name)
