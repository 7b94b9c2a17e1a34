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

import aiohttp
import click
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from bot.cli.common import fail, settings_or_exit
from bot.clock import SystemClock
from bot.content import Content, load_content
from bot.metrics import Metrics
from bot.outbound.notices import Audience, AudienceKind, enqueue_announcement, preview
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
    clock = SystemClock()
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

    clock = SystemClock()
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
        text = text.strip()
        if not text:
            fail("--text is empty")

        async def run() -> str | None:
            async with outbound_stack(settings) as stack:
                async with stack.db.read() as session:
                    unit = await session.scalar(select(OrgUnit).where(OrgUnit.path == org_path))
                if unit is None:
                    fail(f"no unit {org_path!r} (see the org import: paths like 青禾街道党工委/银杏社区党委)")
                now = SystemClock().now()
                chosen = Audience(unit.path, AudienceKind(audience))
                found = await preview(stack.db, stack.content, chosen, now)
                if not found.recipients:
                    fail(f"nobody to send to in {found.label}")
                click.echo(
                    f"{found.label}: {found.total} members, "
                    f"{found.voice} with voice, {found.unbound} not bound to WeChat (their helper is asked "
                    "to pass it on)."
                )
                if not yes and not click.confirm("Send?", default=False):
                    return None
                source = stack.content.text("notice_source", unit=unit.name)
                notice_id = await enqueue_announcement(
                    stack.db,
                    now,
                    text=stack.content.text("notice_push", source=source, text=text),
                    audience=chosen,
                    label=found.label,
                    author=f"cli:{getpass.getuser()}",
                    author_openid=None,
                    recipients=found.recipients,
                )
                return (
                    f"notice {notice_id} queued for {found.total} members; `partybot outbox` shows progress"
                )

        result = asyncio.run(run())
        click.echo(result or "not sent")

    @main.command()
    @click.option("--resend", "resend_id", type=int, default=None, help="Queue an in-doubt row again.")
    @click.option("--limit", default=20, show_default=True, help="How many in-doubt/failed rows to list.")
    def outbox(resend_id: int | None, limit: int) -> None:
        """The delivery queue: rows by kind and status, rows in doubt (a worker died during their API call:
        maybe delivered, maybe not) and failures. `--resend ID` is the operator's decision to send again."""
        settings = settings_or_exit()

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
                    click.echo("the outbox is empty")
                    return
                click.echo(f"{'kind':<12}{'status':<20}{'rows':>8}")
                for kind, status, n in counts:
                    click.echo(f"{kind:<12}{status:<20}{n:>8}")
                if doubt:
                    click.echo("\nin doubt / failed (newest first):")
                    for row in doubt:
                        click.echo(
                            f"  #{row.id} {row.kind} {row.status} channel={row.channel or '-'} "
                            f"notice={row.notice_id or '-'} attempts={row.attempts} {row.last_error or ''}"
                        )
                    click.echo(
                        "\n`partybot outbox --resend ID` sends an in-doubt row again (it may arrive twice)."
                    )
            finally:
                await db.dispose()

        async def _resend(db: Database, row_id: int) -> None:
            now = SystemClock().now()
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
                fail(f"row {row_id} is not in doubt (only in-doubt rows can be resent)")
            click.echo(f"row {row_id} queued again; a running worker sends it")

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
                await delivery.run_forever(stop)
                log.info("delivery worker %s stopped", worker_id)

        asyncio.run(run())
