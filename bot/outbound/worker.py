"""The delivery worker: the one way out for everything that is not a passive reply (DESIGN.md, Outbound
delivery).

Rows of the outbox (late answers, one row per recipient per notice, relay requests to helpers, voice that
follows a text) are claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several `partybot
worker` processes share the work), given the best channel open to that recipient (bot.outbound.channels:
customer service, template or subscription notice, mass send, the next passive reply, a helper's relay), sent
under a per-API rate, and their result recorded.

Customer-service and template sends carry no idempotency key, so they are at most once: a row is marked
`sending` (committed) just before its call; one found `sending` after its lease ran out was in flight when a
worker died and becomes `in-doubt` (shown in 公告状态 and `partybot outbox`, resent only by an operator).
Mass-send rows found so are retried with the same clientmsgid, which WeChat drops as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Integer, String, Table, and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.content import Content
from bot.edge.replies import TextReply, reply_from_json
from bot.metrics import Metrics
from bot.outbound.channels import Channels, Job, Outcome
from bot.outbound.media import NoticeVoice
from bot.outbound.notices import Channel, apply_early_reports, relay
from bot.outbound.quota import mass_room
from bot.outbound.ratelimit import RateLimiter
from bot.outbound.waiting import follow_voice, send_in_parts
from bot.settings import AccountKind
from bot.wechat.errors import WeChatError
from bot.wechat.gateway import WeChatGateway
from bot.wechat.window import Window
from models import Notice, OutboxRow, OutboxStatus, WeChatUser
from models.db import Database

log = logging.getLogger(__name__)

SENDING = OutboxStatus.SENDING.value
KINDS = ("late_reply", "notice", "relay", "voice", "text")
# Mass sends: WeChat wants at least 2 openids per call and takes at most 10 000.
MASS_MIN, MASS_MAX = 2, 10_000
# Mass candidates wait this long for the rest of their notice, so one call covers the audience.
MASS_GATHER = timedelta(seconds=30)

_OUTBOX = cast(Table, OutboxRow.__table__)
_USERS = cast(Table, WeChatUser.__table__)
# One wave's results as executemany statements (Core, by primary key).
RECORD = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        channel=bindparam("b_channel"),
        last_error=bindparam("b_error"),
        lease_owner=None,
        lease_until=None,
        updated_at=bindparam("b_now", type_=_OUTBOX.c.updated_at.type),
        wechat_msgid=func.coalesce(bindparam("b_msgid", type_=String), _OUTBOX.c.wechat_msgid),
        voice_clips_sent=_OUTBOX.c.voice_clips_sent + bindparam("b_voice", type_=Integer),
        next_attempt_at=func.coalesce(
            bindparam("b_next", type_=_OUTBOX.c.next_attempt_at.type), _OUTBOX.c.next_attempt_at
        ),
        closed_channels=bindparam("b_closed", type_=JSON),
    )
)
_LEFT = _USERS.c.window_left - bindparam("b_used", type_=Integer)
USE_ALLOWANCE = (
    update(_USERS)
    .where(_USERS.c.openid == bindparam("b_openid"), _USERS.c.window_left > 0)
    .values(window_left=case((_LEFT < 0, 0), else_=_LEFT))
)
CLOSE_ALLOWANCE = update(_USERS).where(_USERS.c.openid == bindparam("b_openid")).values(window_left=0)


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        gateway: WeChatGateway,
        clock: Clock,
        metrics: Metrics,
        worker_id: str,
        content: Content,
        *,
        voice: NoticeVoice | None = None,
        limiters: dict[str, RateLimiter] | None = None,
        lease_s: float = 60.0,
        on_waiting: Callable[[str], None] | None = None,
    ) -> None:
        settings = gateway.settings
        self._db, self._gateway, self._clock, self._metrics = db, gateway, clock, metrics
        self._id, self._content, self._lease = worker_id, content, lease_s
        self._channels = Channels(gateway, settings, content, clock, voice)
        self._settings = settings
        self._tz = ZoneInfo(settings.timezone)
        self._batch, self._concurrency = settings.delivery_batch, settings.delivery_concurrency
        self._on_waiting = on_waiting
        self._limiters = limiters or {
            "custom": RateLimiter("custom", settings.rate_customer_service_per_s),
            "template": RateLimiter("template", settings.rate_template_per_s),
            "mass": RateLimiter("mass", settings.rate_mass_per_min / 60),
        }

    async def run_forever(self, stop: asyncio.Event, interval_s: float = 0.5) -> None:
        while not stop.is_set():
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery failed; will retry")
                done = 0
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)
        await self.release()

    async def run_once(self) -> int:
        """Settle abandoned sends, then claim and deliver what is due. Returns rows handled."""
        await self._settle_abandoned()
        jobs = await self._claim()
        if jobs:
            await self._deliver(jobs)
        mass = await self._mass_step()
        return len(jobs) + mass

    async def drain(self, max_rounds: int = 10_000) -> int:
        """Run until nothing is due (tests, `partybot outbox --resend`, the benchmark)."""
        total = 0
        for _ in range(max_rounds):
            done = await self.run_once()
            total += done
            if done == 0:
                break
        return total

    async def release(self) -> None:
        """Graceful shutdown: give back claimed rows that were not started."""
        statement = (
            update(OutboxRow)
            .where(OutboxRow.lease_owner == self._id, OutboxRow.status == OutboxStatus.QUEUED.value)
            .values(lease_owner=None, lease_until=None)
        )
        await self._db.run(lambda session: session.execute(statement))

    def _waiting(self, openid: str) -> None:
        """Tell this process's index that something waits for the user's next message."""
        if self._on_waiting is not None:
            self._on_waiting(openid)

    # --- claiming ------------------------------------------------------------------------------

    async def _settle_abandoned(self) -> None:
        now = self._clock.now()
        abandoned = and_(OutboxRow.status == SENDING, OutboxRow.lease_until < now)

        def settle(session: Session) -> None:
            # A mass send carries its clientmsgid: send again, WeChat drops the duplicate.
            session.execute(
                update(OutboxRow)
                .where(abandoned, OutboxRow.channel == Channel.MASS_SEND.value)
                .values(status=OutboxStatus.QUEUED.value, lease_owner=None, lease_until=None, updated_at=now)
            )
            session.execute(
                update(OutboxRow)
                .where(abandoned)
                .values(
                    status=OutboxStatus.IN_DOUBT.value,
                    last_error="worker stopped during the API call",
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
            )

        await self._db.run(settle)

    async def _claim(self) -> list[Job]:
        now = self._clock.now()
        due = and_(
            OutboxRow.kind.in_(KINDS),
            OutboxRow.status == OutboxStatus.QUEUED.value,
            or_(OutboxRow.channel.is_(None), OutboxRow.channel != Channel.MASS_SEND.value),
            or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now),
            or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
        )
        lease_until = now + timedelta(seconds=self._lease)

        def claim(session: Session) -> list[Job]:
            query = select(OutboxRow).where(due).order_by(OutboxRow.id).limit(self._batch)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(session.scalars(query).all())
            if not rows:
                return []
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_([r.id for r in rows]))
                .values(lease_owner=self._id, lease_until=lease_until)
            )
            openids = {r.openid for r in rows if r.openid}
            users = {
                u.openid: u
                for u in session.scalars(select(WeChatUser).where(WeChatUser.openid.in_(openids))).all()
            }
            notice_ids = {r.notice_id for r in rows if r.notice_id is not None}
            notices = {
                n.id: (n.kind, n.text)
                for n in session.execute(
                    select(Notice.id, Notice.kind, Notice.text).where(Notice.id.in_(notice_ids))
                ).all()
            }
            jobs = []
            for r in rows:
                user = users.get(r.openid or "")
                window = (
                    Window(user.window_kind, user.window_expires_at, user.window_left) if user else Window()
                )
                notice_kind, notice_text = notices.get(r.notice_id or -1, (None, ""))
                reply = reply_from_json(r.payload["reply"]) if "reply" in r.payload else None
                text = str(r.payload.get("text") or notice_text)
                if isinstance(reply, TextReply):
                    text = reply.text
                jobs.append(
                    Job(
                        r.id,
                        r.kind,
                        r.openid,
                        r.member_id,
                        r.notice_id,
                        notice_kind,
                        text,
                        reply,
                        r.wants_voice,
                        r.attempts,
                        set(r.closed_channels or ()),
                        window,
                    )
                )
            return jobs

        return await self._db.run(claim)

    # --- the mass-send caps (the channel itself is chosen by bot.outbound.channels) ----------------

    def _day_start(self, now: datetime) -> datetime:
        return now.astimezone(self._tz).replace(hour=0, minute=0, second=0, microsecond=0)

    async def _mass_allowed(self, jobs: list[Job], now: datetime) -> set[int]:
        """Which mass candidates the caps allow: on a service account per member a month, less the reserve
        kept for the community when the notice is a branch's or a group's (bot.outbound.quota.mass_room);
        on a subscription account one a day for the account."""
        if not jobs:
            return set()
        if self._gateway.account is AccountKind.SUBSCRIPTION:
            day = self._day_start(now)
            async with self._db.read() as session:
                today = await session.scalar(
                    select(OutboxRow.id)
                    .where(
                        OutboxRow.channel == Channel.MASS_SEND.value,
                        OutboxRow.mass_batch.is_not(None),
                        OutboxRow.updated_at >= day,
                    )
                    .limit(1)
                )
            if today is not None:
                return set()
            return {j.id for j in jobs}
        settings = self._settings

        def allowed(session: Session) -> set[int]:
            notice_ids = sorted({j.notice_id for j in jobs if j.notice_id is not None})
            paths = dict(
                session.execute(select(Notice.id, Notice.unit_path).where(Notice.id.in_(notice_ids))).all()
            )
            granted: set[int] = set()
            taken: Counter[str] = Counter()  # sends this batch already grants each member
            for notice_id in notice_ids:
                mine = [j for j in jobs if j.notice_id == notice_id and j.openid]
                openids = [str(j.openid) for j in mine]
                room = mass_room(session, openids, now, settings, str(paths.get(notice_id, "")))
                for job in mine:
                    openid = str(job.openid)
                    if room[openid] - taken[openid] > 0:
                        taken[openid] += 1
                        granted.add(job.id)
            return granted

        return await self._db.run(allowed)

    # --- delivering ----------------------------------------------------------------------------

    async def _deliver(self, jobs: list[Job]) -> None:
        now = self._clock.now()
        for job in jobs:
            job.channel = self._channels.choose(job, now)
        mass = [j for j in jobs if j.channel is Channel.MASS_SEND]
        allowed = await self._mass_allowed(mass, now)
        for job in mass:
            if job.id not in allowed:
                job.channel = Channel.NEXT_REPLY
        local = [j for j in jobs if j.channel in (Channel.NEXT_REPLY, Channel.RELAY, Channel.MASS_SEND)]
        if local:
            await self._settle_locally(local, now)
        remote = [
            j for j in jobs if j.channel in (Channel.CUSTOMER_SERVICE, Channel.TEMPLATE, Channel.SUBSCRIPTION)
        ]
        for start in range(0, len(remote), self._concurrency):
            end = start + self._concurrency
            await self._wave(remote[start:end], [j.id for j in remote[end:]])

    async def _settle_locally(self, jobs: list[Job], now: datetime) -> None:
        """Channels that need no API call now: wait for the next reply, relay, gather for a mass send."""
        relay_text = self._content.text
        parts = {j.id: self._channels.parts(j) for j in jobs if j.channel is Channel.NEXT_REPLY}

        def write(session: Session) -> list[tuple[str, str]]:
            results: list[tuple[str, str]] = []
            for job in jobs:
                if job.channel is Channel.MASS_SEND:
                    session.execute(
                        update(OutboxRow)
                        .where(OutboxRow.id == job.id)
                        .values(
                            channel=Channel.MASS_SEND.value,
                            lease_owner=None,
                            lease_until=None,
                            next_attempt_at=now + MASS_GATHER,
                            updated_at=now,
                        )
                    )
                    results.append((Channel.MASS_SEND.value, "gathered"))
                elif job.channel is Channel.RELAY:
                    status = relay(session, job.id, relay_text, now)
                    results.append((Channel.RELAY.value, status.value))
                else:
                    session.execute(
                        update(OutboxRow)
                        .where(OutboxRow.id == job.id)
                        .values(
                            status=OutboxStatus.WAITING_NEXT_REPLY.value,
                            channel=Channel.NEXT_REPLY.value,
                            lease_owner=None,
                            lease_until=None,
                            updated_at=now,
                        )
                    )
                    if len(parts.get(job.id, ())) > 1:
                        send_in_parts(session, job.id, list(enumerate(parts[job.id], 1)), now, waiting=True)
                    results.append((Channel.NEXT_REPLY.value, OutboxStatus.WAITING_NEXT_REPLY.value))
            return results

        for channel, status in await self._db.run(write):
            self._metrics.delivery_results.labels(channel, status).inc()
        for job in jobs:
            if job.channel is Channel.NEXT_REPLY and job.openid:
                self._waiting(job.openid)

    async def _wave(self, jobs: list[Job], rest: list[int]) -> None:
        """Up to `delivery_concurrency` calls at once. Each row is marked `sending` (committed) only once its
        rate slot is granted, right before the calls: in doubt after a crash = calls in flight. Only rows
        still leased to this worker are marked (a batch that outlived its lease may have been claimed by
        another worker: those are left to it), and the lease of the batch's remaining rows is renewed."""
        for job in jobs:
            await self._limiters[
                "custom" if job.channel is Channel.CUSTOMER_SERVICE else "template"
            ].acquire()
        now = self._clock.now()
        lease_until = now + timedelta(seconds=self._lease)
        mine = and_(OutboxRow.lease_owner == self._id, OutboxRow.status == OutboxStatus.QUEUED.value)

        def mark(session: Session) -> set[int]:
            granted: set[int] = set()
            for channel in {j.channel for j in jobs}:
                assert channel is not None
                result = session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_([j.id for j in jobs if j.channel is channel]), mine)
                    .values(
                        status=SENDING,
                        channel=channel.value,
                        attempts=OutboxRow.attempts + 1,
                        lease_until=lease_until,
                        updated_at=now,
                    )
                    .returning(OutboxRow.id)
                    .execution_options(synchronize_session=False)
                )
                granted.update(result.scalars().all())
            if rest:
                session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(rest), mine)
                    .values(lease_until=lease_until)
                    .execution_options(synchronize_session=False)
                )
            return granted

        granted = await self._db.run(mark)
        if len(granted) < len(jobs):
            log.warning(
                "%d rows were taken over by another worker (their lease ran out)", len(jobs) - len(granted)
            )
        calls = [job for job in jobs if job.id in granted]
        outcomes = await asyncio.gather(*(self._channels.call(job) for job in calls), return_exceptions=True)
        results: list[tuple[Job, Outcome]] = []
        for job, outcome in zip(calls, outcomes, strict=True):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                # Not WeChat's answer but a failure here, maybe after the request went out: at most once.
                log.error("delivering row %s failed", job.id, exc_info=outcome)
                assert job.channel is not None
                outcome = Outcome(
                    OutboxStatus.IN_DOUBT, job.channel, error=f"unexpected error: {outcome!r}"[:500]
                )
            results.append((job, outcome))
        await self._record(results)

    async def _record(self, results: list[tuple[Job, Outcome]]) -> None:
        """Results of a wave in one transaction of a few executemany statements (not a statement per row)."""
        now = self._clock.now()
        rows = [
            {
                "b_id": job.id,
                "b_status": outcome.status.value,
                "b_channel": None if outcome.status is OutboxStatus.QUEUED else outcome.channel.value,
                "b_error": outcome.error,
                "b_msgid": outcome.msgid,
                "b_voice": outcome.voice_sent,
                "b_next": (outcome.retry_at or now) if outcome.status is OutboxStatus.QUEUED else None,
                "b_closed": sorted({*job.closed, outcome.close} if outcome.close else job.closed),
                "b_now": now,
            }
            for job, outcome in results
        ]
        used = [{"b_openid": job.openid, "b_used": o.used} for job, o in results if o.used and job.openid]
        closed = [
            {"b_openid": job.openid}
            for job, o in results
            if o.close == Channel.CUSTOMER_SERVICE.value and job.openid
        ]
        follow = [job.id for job, o in results if o.voice_follow]
        rest = [(job.id, o.rest) for job, o in results if o.rest]
        reported = [o.msgid for _, o in results if o.msgid and o.channel is Channel.TEMPLATE]

        def write(session: Session) -> None:
            if rows:
                session.execute(RECORD, rows)
            if used:
                session.execute(USE_ALLOWANCE, used)
            if closed:
                session.execute(CLOSE_ALLOWANCE, closed)
            for row_id in follow:
                follow_voice(session, row_id, now, waiting=True)
            for row_id, parts in rest:
                send_in_parts(session, row_id, parts, now, waiting=False)
            if reported:
                apply_early_reports(session, reported, now)

        await self._db.run(write)
        for job, outcome in results:
            label = "retry" if outcome.status is OutboxStatus.QUEUED else outcome.status.value
            self._metrics.delivery_results.labels(outcome.channel.value, label).inc()
            if outcome.voice_follow and job.openid:
                self._waiting(job.openid)

    # --- mass sends ----------------------------------------------------------------------------

    async def _mass_step(self) -> int:
        """Send gathered mass-send rows, one call per notice (up to 10 000 openids), once the notice has
        no rows left to route or its first row has waited MASS_GATHER."""
        now = self._clock.now()

        def pick(session: Session) -> tuple[int, str, str, list[tuple[int, str]]] | None:
            gathered = (
                select(OutboxRow.notice_id)
                .where(
                    OutboxRow.channel == Channel.MASS_SEND.value,
                    OutboxRow.status == OutboxStatus.QUEUED.value,
                    or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
                )
                .distinct()
            )
            for notice_id in session.scalars(gathered).all():
                unrouted = session.scalar(
                    select(OutboxRow.id)
                    .where(
                        OutboxRow.notice_id == notice_id,
                        OutboxRow.status == OutboxStatus.QUEUED.value,
                        OutboxRow.channel.is_(None),
                    )
                    .limit(1)
                )
                query = (
                    select(OutboxRow)
                    .where(
                        OutboxRow.notice_id == notice_id,
                        OutboxRow.channel == Channel.MASS_SEND.value,
                        OutboxRow.status == OutboxStatus.QUEUED.value,
                        or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
                    )
                    .order_by(OutboxRow.id)
                    .limit(MASS_MAX)
                )
                if session.get_bind().dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                rows = list(session.scalars(query).all())
                if not rows:
                    continue
                retrying = [r for r in rows if r.mass_batch]
                if retrying:
                    batch = str(retrying[0].mass_batch)
                    rows = [r for r in rows if r.mass_batch == batch]
                elif unrouted is not None and all(
                    r.next_attempt_at is not None and r.next_attempt_at > now for r in rows
                ):
                    continue  # the notice is still being routed: wait for the rest
                else:
                    batch = f"pb{notice_id}-{rows[0].id}-{len(rows)}"
                text = session.scalar(select(Notice.text).where(Notice.id == notice_id)) or ""
                for r in rows:
                    r.status, r.mass_batch, r.lease_owner = SENDING, batch, self._id
                    r.lease_until = now + timedelta(seconds=self._lease)
                    r.attempts += 1
                    r.updated_at = now
                return int(notice_id or 0), batch, text, [(r.id, str(r.openid)) for r in rows]
            return None

        picked = await self._db.run(pick)
        if picked is None:
            return 0
        notice_id, batch, text, rows = picked
        ids = [row_id for row_id, _ in rows]
        if len(rows) < MASS_MIN:
            await self._mass_fall_through(ids, "a mass send needs at least 2 recipients")
            return len(rows)
        await self._limiters["mass"].acquire()
        try:
            msgid: str | None = str(await self._gateway.mass_send_text([o for _, o in rows], text, batch))
        except WeChatError as exc:
            if exc.errcode == 45065:
                msgid = None  # this clientmsgid was sent before (a retry after a crash): done
            elif exc.retryable:
                retry = self._channels.backoff(2, exc)
                statement = (
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(ids))
                    .values(
                        status=OutboxStatus.QUEUED.value,
                        next_attempt_at=retry,
                        last_error=str(exc),
                        lease_owner=None,
                        lease_until=None,
                        updated_at=now,
                    )
                )
                await self._db.run(lambda session: session.execute(statement))
                self._metrics.delivery_results.labels(Channel.MASS_SEND.value, "retry").inc()
                return len(rows)
            else:
                await self._mass_fall_through(ids, str(exc))
                return len(rows)
        voice_ids = await self._voice_wanted(ids)

        def done(session: Session) -> None:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids))
                .values(
                    status=OutboxStatus.SENT.value,
                    wechat_msgid=msgid,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=self._clock.now(),
                )
            )
            for row_id in voice_ids:
                follow_voice(session, row_id, now, waiting=True)
            if msgid is not None:
                apply_early_reports(session, [msgid], now)

        await self._db.run(done)
        wanting = set(voice_ids)
        for row_id, openid in rows:
            if row_id in wanting:
                self._waiting(openid)
        self._metrics.delivery_results.labels(Channel.MASS_SEND.value, OutboxStatus.SENT.value).inc(len(ids))
        log.info("mass send for notice %s: %d recipients, msg_id %s", notice_id, len(ids), msgid)
        return len(rows)

    async def _voice_wanted(self, ids: Sequence[int]) -> list[int]:
        async with self._db.read() as session:
            return list(
                (
                    await session.scalars(
                        select(OutboxRow.id).where(
                            OutboxRow.id.in_(list(ids)), OutboxRow.wants_voice.is_(True)
                        )
                    )
                ).all()
            )

    async def _mass_fall_through(self, ids: list[int], error: str) -> None:
        now = self._clock.now()

        def write(session: Session) -> None:
            for row in session.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids))).all():
                row.closed_channels = sorted({*(row.closed_channels or ()), Channel.MASS_SEND.value})
                row.status, row.channel, row.mass_batch = OutboxStatus.QUEUED.value, None, None
                row.next_attempt_at, row.lease_owner, row.lease_until = now, None, None
                row.last_error, row.updated_at = error, now

        await self._db.run(write)
