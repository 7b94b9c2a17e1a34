"""Choosing and calling a channel for one claimed outbox row. The order, best first:

1. a customer-service message inside the user's allowance (text — a long one as several messages, when the
   allowance holds them all — then a voice-mode member's clips, no more than the allowance has left);
2. a template or subscription notice, where the account has one configured (notices only);
3. for an announcement that fits one message, and only then, a mass send (群发) to an openid list, within
   the monthly per-user cap less the community's reserve (bot.outbound.quota), with a `clientmsgid` (safe
   to retry; the worker gathers and sends those). Other notices never use the quota;
4. otherwise the row waits and goes out at the top of the member's next passive reply (a long one a part
   per reply, the rest pushed as soon as that reply opens the window);
5. a member not bound to WeChat (and, after PARTYBOT_RELAY_AFTER_H, an elderly member still waiting) is
   relayed: their helper is asked to pass the notice on (bot.outbound.notices.relay).

43004/45015/45047 close that channel for that user and the row falls through; -1, timeouts, 5xx back off;
45009 waits until 00:05 Beijing time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.content import Content
from bot.edge.replies import ImageReply, Reply, VoiceReply
from bot.outbound.media import NoticeVoice
from bot.outbound.notices import Channel, notice_body
from bot.outbound.sizes import NOTICE_PART_BYTES, split_text
from bot.settings import Settings
from bot.wechat.account import Capability
from bot.wechat.errors import (
    InvalidMessageType,
    NotFollowing,
    OutsideReplyWindow,
    ReplyCountExceeded,
    WeChatError,
)
from bot.wechat.gateway import WeChatGateway
from bot.wechat.window import Window
from models import OutboxStatus

log = logging.getLogger(__name__)

# Rows whose text is cut into parts when it is longer than one message ("text" rows are such parts).
SPLIT_KINDS = frozenset({"notice", "relay"})


@dataclass(slots=True)
class Job:
    """A claimed row with what choosing its channel needs."""

    id: int
    kind: str
    openid: str | None
    member_id: int | None
    notice_id: int | None
    notice_kind: str | None
    text: str
    reply: Reply | None
    wants_voice: bool
    attempts: int
    closed: set[str]
    window: Window
    channel: Channel | None = None


@dataclass(slots=True)
class Outcome:
    status: OutboxStatus
    channel: Channel
    error: str | None = None
    msgid: str | None = None
    used: int = 0  # customer-service sends used from the allowance
    close: str | None = None  # a channel WeChat refused for this user
    retry_at: datetime | None = None
    voice_sent: int = 0
    voice_follow: bool = False  # the voice goes with a later customer-service window
    # Parts of a long text still to go, numbered (a later part was refused: they go by another channel).
    rest: list[tuple[int, str]] = field(default_factory=list)


class Channels:
    """The channels open to a row and the call that sends it by one (no database: the worker records)."""

    def __init__(
        self,
        gateway: WeChatGateway,
        settings: Settings,
        content: Content,
        clock: Clock,
        voice: NoticeVoice | None = None,
    ) -> None:
        self._gateway, self._settings, self._content, self._clock = gateway, settings, content, clock
        self._voice = voice
        self._tz = ZoneInfo(settings.timezone)
        self._split: dict[str, list[str]] = {}

    def parts(self, job: Job) -> list[str]:
        """The messages a row's text takes: one, or a long notice's parts, each marked （第1条，共2条）."""
        if job.kind not in SPLIT_KINDS or len(job.text.encode()) <= NOTICE_PART_BYTES:
            return [job.text]
        found = self._split.get(job.text)
        if found is None:
            pieces = split_text(job.text)
            found = [
                piece + self._content.text("notice_part_mark", number=i, total=len(pieces))
                for i, piece in enumerate(pieces, 1)
            ]
            if len(self._split) > 64:
                self._split.clear()
            self._split[job.text] = found
        return found

    def _template_ready(self) -> bool:
        return bool(self._settings.notice_template_id) and self._gateway.can(Capability.TEMPLATE)

    def _subscription_ready(self) -> bool:
        return bool(self._settings.notice_subscription_id) and self._gateway.can(
            Capability.SUBSCRIPTION_NOTICE
        )

    def choose(self, job: Job, now: datetime) -> Channel:
        closed = job.closed
        if job.openid is None:
            return Channel.RELAY
        parts = len(self.parts(job))
        if (
            self._gateway.can(Capability.CUSTOMER_SERVICE)
            and Channel.CUSTOMER_SERVICE.value not in closed
            and job.window.is_open(now)
            and (job.kind == "voice" or job.window.left >= parts)
        ):
            return Channel.CUSTOMER_SERVICE
        if job.kind in ("late_reply", "voice", "text"):
            return Channel.NEXT_REPLY
        if self._template_ready() and Channel.TEMPLATE.value not in closed:
            return Channel.TEMPLATE
        if self._subscription_ready() and Channel.SUBSCRIPTION.value not in closed:
            return Channel.SUBSCRIPTION
        # The monthly mass-send quota is for announcements that fit one message (several parts would be
        # several mass sends); theme day, dues, report-in, study and system notices never use it.
        if (
            job.kind == "notice"
            and job.notice_kind == "announcement"
            and parts == 1
            and self._gateway.can(Capability.MASS_SEND)
            and Channel.MASS_SEND.value not in closed
        ):
            return Channel.MASS_SEND
        return Channel.NEXT_REPLY

    async def call(self, job: Job) -> Outcome:
        assert job.channel is not None and job.openid is not None
        try:
            if job.channel is Channel.CUSTOMER_SERVICE:
                return await self._customer_service(job)
            if job.channel is Channel.TEMPLATE:
                msgid = await self._gateway.send_template(
                    job.openid, str(self._settings.notice_template_id), self._notice_fields(job)
                )
                return Outcome(OutboxStatus.SENT, job.channel, msgid=str(msgid), voice_follow=job.wants_voice)
            await self._gateway.send_subscription(
                job.openid, str(self._settings.notice_subscription_id), self._notice_fields(job)
            )
            return Outcome(OutboxStatus.SENT, job.channel, voice_follow=job.wants_voice)
        except (OutsideReplyWindow, ReplyCountExceeded, NotFollowing) as exc:
            # WeChat disagrees with our model of this user: that channel is closed; fall through.
            return Outcome(OutboxStatus.QUEUED, job.channel, error=str(exc), close=job.channel.value)
        except WeChatError as exc:
            if exc.retryable:
                return Outcome(
                    OutboxStatus.QUEUED,
                    job.channel,
                    error=str(exc),
                    retry_at=self.backoff(job.attempts, exc),
                )
            if job.channel is not Channel.CUSTOMER_SERVICE or job.kind != "late_reply":
                # A refused notice (43101 refused subscription, bad template, ...): try the next channel.
                return Outcome(OutboxStatus.QUEUED, job.channel, error=str(exc), close=job.channel.value)
            return Outcome(OutboxStatus.FAILED, job.channel, error=str(exc))

    async def _customer_service(self, job: Job) -> Outcome:
        assert job.openid is not None
        outcome = Outcome(OutboxStatus.SENT, Channel.CUSTOMER_SERVICE)
        reply = job.reply
        if job.kind != "voice":
            if isinstance(reply, VoiceReply):
                await self._gateway.send_voice(job.openid, reply.media_id)
            elif isinstance(reply, ImageReply):
                await self._gateway.send_image(job.openid, reply.media_id)
            else:
                parts = self.parts(job)
                await self._gateway.send_text(job.openid, parts[0])
                outcome.used = 1
                for i, part in enumerate(parts[1:], 1):
                    try:
                        await self._gateway.send_text(job.openid, part)
                    except WeChatError as exc:
                        # The first part went: the rest are rows of their own, not a resend of it.
                        log.info("row %s: parts %d.. go later: %s", job.id, i + 1, exc)
                        outcome.rest = list(enumerate(parts[i:], i + 1))
                        break
                    outcome.used += 1
            outcome.used = max(outcome.used, 1)
        if job.wants_voice and job.notice_id is not None and self._voice is not None:
            left = job.window.left - outcome.used
            media = await self._voice.media_ids(job.notice_id, job.text) if left > 0 else []
            for media_id in media[:left]:
                try:
                    await self._gateway.send_voice(job.openid, media_id)
                except (InvalidMessageType, OutsideReplyWindow, ReplyCountExceeded) as exc:
                    log.info("voice clip not sent to row %s: %s", job.id, exc)
                    break
                except WeChatError as exc:
                    log.warning("voice clip not sent to row %s: %s", job.id, exc)
                    break
                outcome.used += 1
                outcome.voice_sent += 1
            if job.kind == "voice" and outcome.voice_sent == 0:
                outcome.status = OutboxStatus.FAILED
                outcome.error = "voice_unavailable: no clips could be made, or no customer-service send left"
        return outcome

    def _notice_fields(self, job: Job) -> dict[str, str]:
        names = [n.strip() for n in self._settings.notice_template_fields.split(",") if n.strip()]
        title = notice_body(job.text).replace("\n", " ")
        title = title if len(title) <= 20 else title[:19] + "…"
        source = job.text[1 : job.text.index("】")] if job.text.startswith("【") and "】" in job.text else ""
        local = self._clock.now().astimezone(self._tz)
        when = self._content.text(
            "notice_template_time", year=local.year, month=local.month, day=local.day, time=f"{local:%H:%M}"
        )
        values = [title, when, (source or self._content.community_name)[:20]]
        return dict(zip(names, values, strict=False))

    def backoff(self, attempts: int, exc: WeChatError) -> datetime:
        now = self._clock.now()
        if exc.errcode == 45009:
            # The daily quota resets at midnight Beijing time.
            local = now.astimezone(self._tz)
            return (local + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)
        return now + timedelta(seconds=min(5 * 2 ** max(attempts, 0), 600))
