"""The scheduled jobs: plain async functions of explicit dependencies and the moment they run "as of".

Each is idempotent, so re-running one or catching up after downtime is safe (DESIGN.md, Scheduler).
"""

from __future__ import annotations

from scheduler.jobs.base import Job, JobDeps, JobFunction
from scheduler.jobs.dues import dues_reminders
from scheduler.jobs.housekeeping import housekeeping
from scheduler.jobs.mobile import report_in_reminders
from scheduler.jobs.outbound import expire_waiting_replies, refresh_voice_media, relay_unreached
from scheduler.jobs.records import record_photos
from scheduler.jobs.requests import request_deadlines, request_photos
from scheduler.jobs.study import push_cron, study_push
from scheduler.jobs.theme_day import theme_day

__all__ = [
    "JOBS",
    "Job",
    "JobDeps",
    "JobFunction",
    "dues_reminders",
    "expire_waiting_replies",
    "housekeeping",
    "job_named",
    "record_photos",
    "refresh_voice_media",
    "relay_unreached",
    "report_in_reminders",
    "request_deadlines",
    "request_photos",
    "study_push",
    "theme_day",
]


JOBS: tuple[Job, ...] = (
    Job(
        "dues_reminders",
        "remind members who have not paid this month's dues (党费) from 09:00 on the 5th and the 20th; after "
        "3 unpaid months a note to the member and their secretary, after 6 an alert citing Art. 9 (once per "
        "member, month and kind); in January ask members to confirm their base",
        {"minute": 0},  # hourly (a run at 100 000 members that finds nothing due: ~12 s)
        dues_reminders,
    ),
    Job(
        "theme_day",
        "create units' theme days, send their notices (7 days before, the day before, the morning), close "
        "sign-in (summary, 补学); on the 28th tell each community which units have not held theirs",
        {"minute": "*/10"},
        theme_day,
    ),
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
        "record_photos",
        "download the photos of records (纪实) from WeChat before its 3 days are over",
        {"minute": "*/10"},
        record_photos,
    ),
    Job(
        "request_deadlines",
        "residents' requests (居民诉求): remind handlers at 80 % of the time, escalate a ticket not taken or "
        "solved in time to the grid branch's secretary, then the community's (each once, the resident told; "
        "non-urgent ones 08:00-20:00); remind residents to rate, close unrated after 3 days",
        {"minute": "*/10"},
        request_deadlines,
    ),
    Job(
        "request_photos",
        "download the photos of residents' requests from WeChat before its 3 days are over; delete them "
        "after PARTYBOT_REQUEST_PHOTO_RETENTION_DAYS",
        {"minute": "*/10"},
        request_photos,
    ),
    Job(
        "expire_waiting_replies",
        "close late answers and notices that waited too long for the user's next message",
        {"hour": 3, "minute": 30},
        expire_waiting_replies,
    ),
    Job(
        "report_in_reminders",
        "from the 25th, remind mobile members (流动党员) who have not reported this month; after three "
        "silent months alert their secretaries and contact person (once per member and month)",
        {"day": 25, "hour": 9, "minute": 0},
        report_in_reminders,
    ),
    Job(
        "study_push",
        "push new study materials (学习园地) to their audience, weekly at PARTYBOT_STUDY_PUSH_WEEKDAY/_TIME",
        {"day_of_week": "mon", "hour": 19, "minute": 0},
        study_push,
        cron_from=push_cron,
    ),
)


def job_named(name: str) -> Job:
    for job in JOBS:
        if job.name == name:
            return job
    raise KeyError(name)
