"""`partybot broadcast`, `partybot outbox`, `partybot worker`: the outbound engine from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import secrets
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import click
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from bot.cli.common import cli_clock, fail, settings_or_exit
from bot.content import Content, load_content
from bot.metrics import Metrics
from bot.outbound.notices import (
    Audience,
    AudienceKind,
    enqueue_announcement,
    preview,
    preview_notes,
)
from bot.outbound.sizes import MAX_CHARS, MAX_PARTS, split_text
from bot.outbound.worker import DeliveryWorker
from bot.settings import Settings
from bot.wechat.gateway import DatabaseTokenStore, RedisTokenStore, TokenStore, WeChatGateway
from models import OrgUnit, OutboxRow, OutboxStatus
from models.db import Database

log = logging.getLogger("partybot.cli")


@dataclass
class OutboundStack:
    settings: Settings
    db: Database
    content: Content
    gateway: WeChatGateway
    redis: Redis | None
    metrics: Metrics


@contextlib.asynccontextmanager
async def outbound_stack(settings: Settings) -> AsyncIterator[OutboundStack]:
    """Database, gateway (shared token) and content, as `serve` builds them, for commands and workers."""
    db = Database(settings.database_url)
    redis = Redis.from_url(settings.redis_url, decode_responses=True) if settings.redis_url else None
    http = aiohttp.ClientSession()
    clock = cli_clock(settings)
    metrics = Metrics()
    tokens: TokenStore = (
        RedisTokenStore(redis, settings.redis_prefix, settings.wechat_appid)
        if redis is not None
        else DatabaseTokenStore(db, settings.wechat_appid, clock)
    )
    gateway = WeChatGateway(settings, http, tokens, clock, metrics)
    try:
        yield OutboundStack(settings, db, load_content(), gateway, redis, metrics)
    finally:
        await http.close()
        if redis is not None:
            await redis.aclose()
        await db.dispose()


def make_stack_worker(stack: OutboundStack, worker_id: str) -> DeliveryWorker:
    from bot.app import make_worker
    from bot.outbound.media import NoticeVoice
    from bot.voice.cloud import make_tts
    from bot.voice.speech import AmrEncoder, VoiceMaker

    clock = cli_clock(stack.settings)
    voice = NoticeVoice(
        stack.db, stack.gateway, VoiceMaker(make_tts(stack.settings, None), AmrEncoder()), clock
    )
    return make_worker(
        stack.settings,
        stack.db,
        stack.gateway,
        clock,
        stack.metrics,
        stack.content,
        worker_id,
        voice,
        stack.redis,
    )


def when(settings: Settings, at: datetime) -> str:
    """A moment as a secretary reads it: Beijing time (settings.timezone), zoned: 2026-12-02 14:13 CST."""
    return f"{at.astimezone(ZoneInfo(settings.timezone)):%Y-%m-%d %H:%M %Z}"


def now(settings: Settings) -> datetime:
    return cli_clock(settings).now()


def register(main: click.Group) -> None:

    @main.command()
    @click.option("--org", "org_path", required=True, help="The unit (path as in org.csv) to send to.")
    @click.option("--text", required=True, help="The announcement.")
    @click.option(
        "--audience",
        type=click.Choice([k.value for k in AudienceKind]),
        default="all",
        show_default=True,
        help="all, in_service (在职), elderly (语音模式), mobile (流动).",
    )
    @click.option("-y", "--yes", is_flag=True, help="Send without asking.")
    def broadcast(org_path: str, text: str, audience: str, yes: bool) -> None:
        """Send an announcement to every member of a unit's subtree (like 公告 in chat)."""
        settings = settings_or_exit()
        content = load_content()
        say = content.text
        text = text.strip()
        if not text:
            fail(say("cli_broadcast_text_empty"))

        async def run() -> str:
            async with outbound_stack(settings) as stack:
                async with stack.db.read() as session:
                    unit = await session.scalar(select(OrgUnit).where(OrgUnit.path == org_path))
                if unit is None:
                    fail(say("cli_broadcast_no_unit", org=org_path))
                now = cli_clock(settings).now()
                chosen = Audience(unit.path, AudienceKind(audience))
                source = stack.content.text("notice_source", unit=unit.name)
                full = stack.content.text("notice_push", source=source, text=text)
                if len(split_text(full)) > MAX_PARTS:
                    fail(say("cli_broadcast_too_long", length=len(text), limit=MAX_CHARS))
                found = await preview(stack.db, stack.content, chosen, now, settings, text=full)
                if not found.recipients:
                    fail(say("cli_broadcast_nobody", label=found.label))
                unbound = say("announce_unbound_part", unbound=found.unbound) if found.unbound else ""
                click.echo(
                    say(
                        "cli_broadcast_preview",
                        label=found.label,
                        total=found.total,
                        voice=found.voice,
                        unbound_part=unbound,
                    )
                )
                for note in preview_notes(stack.content, found):
                    click.echo(note)
                if not yes and not click.confirm(say("cli_broadcast_confirm"), default=False):
                    return say("cli_broadcast_not_sent")
                notice_id = await enqueue_announcement(
                    stack.db,
                    now,
                    text=full,
                    audience=chosen,
                    label=found.label,
                    author=f"cli:{getpass.getuser()}",
                    author_openid=None,
                    recipients=found.recipients,
                )
                return say(
                    "cli_broadcast_queued",
                    notice=notice_id,
                    total=len(found.recipients),
                    when=when(settings, now),
                )

        click.echo(asyncio.run(run()))

    @main.command()
    @click.option("--resend", "resend_id", type=int, default=None, help="Queue an in-doubt row again.")
    @click.option("--limit", default=20, show_default=True, help="How many in-doubt/failed rows to list.")
    def outbox(resend_id: int | None, limit: int) -> None:
        """The delivery queue: rows by kind and status, rows in doubt (a worker died during their API call:
        maybe delivered, maybe not) and failures. `--resend ID` is the operator's decision to send again."""
        settings = settings_or_exit()
        content = load_content()
        say = content.text
        kinds: dict[str, str] = content.texts.get("outbox_kinds", {})
        statuses: dict[str, str] = content.texts.get("outbox_statuses", {})

        def channel_name(channel: str | None) -> str:
            key = f"channel_{channel}"
            return say(key) if channel and key in content.texts else "-"

        async def run() -> None:
            db = Database(settings.database_url)
            try:
                if resend_id is not None:
                    await _resend(db, resend_id)
                    return
                async with db.read() as session:
                    counts = (
                        await session.execute(
                            select(OutboxRow.kind, OutboxRow.status, func.count())
                            .group_by(OutboxRow.kind, OutboxRow.status)
                            .order_by(OutboxRow.kind, OutboxRow.status)
                        )
                    ).all()
                    doubt = (
                        (
                            await session.execute(
                                select(OutboxRow)
                                .where(
                                    OutboxRow.status.in_(
                                        [OutboxStatus.IN_DOUBT.value, OutboxStatus.FAILED.value]
                                    )
                                )
                                .order_by(OutboxRow.id.desc())
                                .limit(limit)
                            )
                        )
                        .scalars()
                        .all()
                    )
                if not counts:
                    click.echo(say("cli_outbox_empty"))
                    return
                click.echo(say("cli_outbox_header", now=when(settings, cli_clock(settings).now())))
                for kind, status, n in counts:
                    click.echo(
                        say(
                            "cli_outbox_count",
                            kind=kinds.get(kind, kind),
                            status=statuses.get(status, status),
                            count=n,
                        )
                    )
                if doubt:
                    click.echo("\n" + say("cli_outbox_doubt_header"))
                    for row in doubt:
                        click.echo(
                            say(
                                "cli_outbox_row",
                                id=row.id,
                                kind=kinds.get(row.kind, row.kind),
                                status=statuses.get(row.status, row.status),
                                channel=channel_name(row.channel),
                                notice=row.notice_id or "-",
                                attempts=row.attempts,
                                when=when(settings, row.updated_at),
                                error=row.last_error or "",
                            ).rstrip()
                        )
                    click.echo("\n" + say("cli_outbox_resend_hint"))
            finally:
                await db.dispose()

        async def _resend(db: Database, row_id: int) -> None:
            now = cli_clock(settings).now()
            statement = (
                update(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status == OutboxStatus.IN_DOUBT.value)
                .values(
                    status=OutboxStatus.QUEUED.value,
                    channel=None,
                    next_attempt_at=now,
                    last_error="resent by an operator",
                    updated_at=now,
                )
            )
            result = await db.run(lambda session: session.execute(statement))
            if not getattr(result, "rowcount", 0):
                fail(say("cli_outbox_not_in_doubt", id=row_id))
            click.echo(say("cli_outbox_requeued", id=row_id))

        asyncio.run(run())

    @main.command()
    def worker() -> None:
        """An extra delivery worker: drains the outbox beside `serve` (PostgreSQL: any number of them
        share the work with FOR UPDATE SKIP LOCKED). SIGTERM finishes the calls in flight and gives
        back the rest."""
        from bot.logs import configure_logging

        settings = settings_or_exit()
        configure_logging(settings.log_format.value, settings.log_level)

        async def run() -> None:
            async with outbound_stack(settings) as stack:
                worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
                delivery = make_stack_worker(stack, worker_id)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, stop.set)
                log.info("delivery worker %s started", worker_id)
                click.echo(
                    stack.content.text("cli_worker_started", id=worker_id, when=when(settings, now(settings)))
                )
                await delivery.run_forever(stop)
                log.info("delivery worker %s stopped", worker_id)
                click.echo(
                    stack.content.text("cli_worker_stopped", id=worker_id, when=when(settings, now(settings)))
                )

        asyncio.run(run())
