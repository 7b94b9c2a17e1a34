"""The aiohttp application: `create_app(settings, ...)` with typed AppKeys and a cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Sequence

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy import func, select

from bot.clock import Clock, clock_for
from bot.console.app import console_app
from bot.console.deps import Wiring
from bot.content import Content, load_content
from bot.domain.binding import Binder
from bot.domain.identity import Identities
from bot.domain.privacy import Vault
from bot.domain.study import study_sources
from bot.domain.study_index import StudyLibrary
from bot.domain.study_index import fingerprint as study_fingerprint
from bot.edge.conversation import Conversations
from bot.edge.dedupe import DedupeStore, MemoryDedupe, RedisDedupe
from bot.edge.dispatcher import Dispatcher
from bot.edge.locks import UserLocks
from bot.edge.nlp import NLP, quiet_jieba
from bot.edge.router import Router
from bot.edge.webhook import Response, Webhook
from bot.edge.writebehind import WriteBehind
from bot.metrics import Metrics
from bot.outbound.media import NoticeVoice
from bot.outbound.ratelimit import RateLimiter
from bot.outbound.waiting import WaitingReplies
from bot.outbound.worker import DeliveryWorker
from bot.services import LateReplies, Services, Users
from bot.settings import Settings
from bot.sim.web import SimWiring, sim_app, sim_enabled
from bot.voice.cloud import make_asr, make_tts
from bot.voice.speech import AmrEncoder, VoiceMaker
from bot.wechat.gateway import DatabaseTokenStore, RedisTokenStore, TokenStore, WeChatGateway
from bot.wechat.wire import BadRequest, Forbidden
from models import OutboxRow
from models.db import Database
from scheduler.jobs import JobDeps
from scheduler.service import Scheduler

log = logging.getLogger("partybot.app")

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
CONTENT = web.AppKey("content", Content)
NLP_KEY = web.AppKey("nlp", NLP)
METRICS = web.AppKey("metrics", Metrics)
ROOT_ROUTER = web.AppKey("root_router", Router)
SERVICES = web.AppKey("services", Services)
WEBHOOK = web.AppKey("webhook", Webhook)
GATEWAY = web.AppKey("gateway", WeChatGateway)
WORKER = web.AppKey("delivery_worker", DeliveryWorker)
CONSOLE = web.AppKey("console", web.Application)  # the console's sub-app, when on
RUN_WORKER = web.AppKey("run_worker", bool)
VOICE = web.AppKey("voice", VoiceMaker)


def build_root_router(extra: Sequence[Router] = ()) -> Router:
    """The handler tree in priority order (DESIGN.md, How a message flows, step 6). `extra` routers
    (tests, plug-ins) go after cancel/help and before the fallback."""
    from handlers import (
        announce,
        binding,
        console_login,
        dual_report,
        dues,
        events,
        fallback,
        help,
        meetings,
        member,
        menu_items,
        mobile,
        points,
        records,
        request_staff,
        requests,
        staff,
        study,
        suggestions,
        theme_day,
        voice_messages,
    )

    root = Router("root")
    root.include(
        help.router(),
        # `登录 4821` (the web console's login page): before the steps that take free text.
        console_login.router(),
        # Right after help: their steps take free text (a record's text may well say 主题党日) and photos.
        records.router(),
        meetings.router(),
        # 反映问题's steps take free text (a description may well say 党费 or 学习) and photos.
        requests.steps_router(),
        # Before dual_report: `报到 …` from a mobile member is the monthly report-in.
        mobile.router(),
        dual_report.router(),
        # Before the generic ones: 建议's step takes free text (a suggestion may well name 主题党日 or 学习).
        suggestions.step_router(),
        dues.paging_router(),  # 党费情况's 下一页 (in its own conversation state)
        staff.router(),
        announce.router(),
        theme_day.scan_router(),
        binding.router(),
        member.router(),
        events.router(),
        voice_messages.router(),
        # Before theme_day: `已学` while reading a material confirms that material (theme_day's 已学 is 补学).
        study.router(),
        points.router(),
        theme_day.router(),
        dues.router(),
        # 居民诉求: the handlers' commands (接单 R…, 待办), then the residents' (反映 …, 进度, a rating).
        request_staff.router(),
        requests.router(),
        # After them: an open step of theirs (an announcement's body) takes `建议 …` / `答复 …` first.
        suggestions.router(),
    )
    for router in extra:
        root.include(router)
    root.include(staff.no_more_pages_router(), menu_items.router(), fallback.router())
    return root


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    nlp: NLP | None = None,
    routers: Sequence[Router] = (),
    run_worker: bool = False,
) -> web.Application:
    """Build the app. jieba and content load here, at start-up, never on the first message.

    run_worker: also deliver late replies in this process (`serve`, `demo`); tests drive the worker."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    content = nlp.content if nlp is not None else load_content()
    if nlp is None:
        quiet_jieba()
        nlp = NLP(content)
    app[SETTINGS] = settings
    if clock is None and settings.clock_file is not None:
        log.warning("PARTYBOT_CLOCK_FILE is set: time is read from %s (demo only)", settings.clock_file)
    app[CLOCK] = clock or clock_for(settings.clock_file, settings.timezone)
    app[CONTENT] = content
    app[NLP_KEY] = nlp
    app[METRICS] = Metrics()
    app[ROOT_ROUTER] = build_root_router(routers)
    app[RUN_WORKER] = run_worker
    app.cleanup_ctx.append(_resources)
    app.router.add_get("/wechat", _verify)
    app.router.add_post("/wechat", _receive)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    if settings.console:
        wiring = Wiring(services=SERVICES, content=CONTENT, settings=SETTINGS, clock=CLOCK)
        app[CONSOLE] = console_app(wiring, secure_cookies=settings.console_secure_cookies)
        app.add_subapp("/console", app[CONSOLE])
    if sim_enabled(settings):  # the web phone simulator: only against the fake WeChat (bot/sim)
        sim = SimWiring(services=SERVICES, content=CONTENT, settings=SETTINGS, clock=CLOCK, gateway=GATEWAY)
        app.add_subapp("/sim", sim_app(sim))
    return app


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings, clock, metrics = app[SETTINGS], app[CLOCK], app[METRICS]
    db = Database(settings.database_url)
    redis: Redis | None = None
    dedupe: DedupeStore
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        await redis.ping()
        # A pending marker outlives the budget and WeChat's retries (~15 s) but not much more, so a
        # killed process does not hold a message's key for the whole dedupe period.
        pending_ttl = int(max(30, settings.reply_budget_s * 5))
        dedupe = RedisDedupe(redis, settings.redis_prefix, settings.dedupe_ttl_s, pending_ttl)
    else:
        dedupe = MemoryDedupe(settings.dedupe_ttl_s)
    write_behind = WriteBehind(db, settings.write_behind_interval_s, metrics)
    conversations = Conversations(db, shared=redis is not None)
    await conversations.load_all(clock.now())
    # Separate `partybot worker` processes (PostgreSQL) may queue next-reply rows this process never sees.
    waiting = WaitingReplies(db, shared=redis is not None or not settings.is_sqlite)
    await waiting.load()
    identities = Identities(db, settings.identity_poll_s)
    loaded = await identities.load_all()
    log.info("identities loaded", extra={"bound": loaded})
    vault = Vault(settings.data_key) if settings.data_key else None
    binder = Binder(db, vault) if vault else None
    if vault is None:
        log.warning(
            "PARTYBOT_DATA_KEY is not set: members cannot bind their WeChat and phones cannot be shown "
            "(generate a key with `partybot keygen`)"
        )
    services = Services(
        db=db,
        clock=clock,
        metrics=metrics,
        dedupe=dedupe,
        locks=UserLocks(redis, settings.redis_prefix),
        write_behind=write_behind,
        conversations=conversations,
        waiting=waiting,
        identities=identities,
        vault=vault,
        binder=binder,
        users=Users(db, write_behind, conversations, identities, binder),
        late_replies=LateReplies(db, clock),
    )
    services.study = StudyLibrary(
        db,
        app[NLP_KEY].search_tokens,
        study_fingerprint(app[CONTENT].userdict_path),
        study_sources(settings.study_dir),
        timezone=settings.timezone,
        scan_s=settings.study_scan_s,
    )
    await services.study.refresh(clock.now(), force=True)
    log.info("study materials indexed", extra={"materials": len(services.study)})
    dispatcher = Dispatcher(app[ROOT_ROUTER], settings, app[CONTENT], app[NLP_KEY], services)
    app[SERVICES] = services
    app[WEBHOOK] = Webhook(settings, dispatcher, services)
    http = aiohttp.ClientSession()
    tokens: TokenStore = (
        RedisTokenStore(redis, settings.redis_prefix, settings.wechat_appid)
        if redis is not None
        else DatabaseTokenStore(db, settings.wechat_appid, clock)
    )
    app[GATEWAY] = gateway = WeChatGateway(settings, http, tokens, clock, metrics)
    services.gateway, services.asr = gateway, make_asr(settings, http)
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    voice = VoiceMaker(make_tts(settings, http), AmrEncoder())
    app[VOICE] = voice
    voice_problem = await voice.status()
    if voice_problem is not None:
        log.warning("voice disabled: %s", voice_problem)
    services.notice_voice = NoticeVoice(db, gateway, voice, clock)
    app[WORKER] = make_worker(
        settings,
        db,
        gateway,
        clock,
        metrics,
        app[CONTENT],
        worker_id,
        services.notice_voice,
        redis,
        on_waiting=waiting.add,
    )
    write_behind.start()
    scheduler: Scheduler | None = None
    if app[RUN_WORKER]:
        scheduler = Scheduler(
            JobDeps(db, settings, app[CONTENT], gateway, holidays=services.holidays), clock, worker_id
        )
        await scheduler.start()
    stop_worker = asyncio.Event()
    worker_task = asyncio.create_task(_background(app, worker_id, stop_worker)) if app[RUN_WORKER] else None
    # Everything loaded so far (jieba's dictionary alone is ~350k objects) lives as long as the process:
    # keep it out of the collector's full passes, which otherwise stall the event loop for tens of ms.
    gc.collect()
    gc.freeze()
    log.info(
        "partybot ready",
        extra={
            "mode": settings.message_mode.value,
            "redis": bool(redis),
            "account": settings.wechat_account.value,
            "worker": bool(worker_task),
        },
    )
    try:
        yield
    finally:
        await app[WEBHOOK].drain(settings.shutdown_grace_s)
        stop_worker.set()
        if worker_task is not None:
            await worker_task
        if scheduler is not None:
            await scheduler.stop()
        await http.close()
        await write_behind.stop()
        if redis is not None:
            await redis.aclose()
        await db.dispose()


def make_worker(
    settings: Settings,
    db: Database,
    gateway: WeChatGateway,
    clock: Clock,
    metrics: Metrics,
    content: Content,
    worker_id: str,
    voice: NoticeVoice | None,
    redis: Redis | None,
    on_waiting: Callable[[str], None] | None = None,
) -> DeliveryWorker:
    """The delivery worker of `serve`, `demo` and `partybot worker`: rates shared through Redis if any."""
    prefix = settings.redis_prefix
    limiters = {
        "custom": RateLimiter("custom", settings.rate_customer_service_per_s, redis, prefix),
        "template": RateLimiter("template", settings.rate_template_per_s, redis, prefix),
        "mass": RateLimiter("mass", settings.rate_mass_per_min / 60, redis, prefix),
    }
    return DeliveryWorker(
        db,
        gateway,
        clock,
        metrics,
        worker_id,
        content,
        voice=voice,
        limiters=limiters,
        lease_s=settings.delivery_lease_s,
        on_waiting=on_waiting,
    )


# A late handler still running after this long belongs to a process that died (handlers finish in seconds).
ABANDONED_AFTER_S = 600.0


async def _background(app: web.Application, worker_id: str, stop: asyncio.Event) -> None:
    """The in-process worker: re-answer abandoned late messages (at start and every few minutes), and
    deliver late replies."""

    async def recover() -> None:
        while not stop.is_set():
            try:
                await app[WEBHOOK].recover_abandoned(ABANDONED_AFTER_S, worker_id)
            except Exception:
                log.exception("recovering abandoned late messages failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 120)

    await asyncio.gather(recover(), app[WORKER].run_forever(stop))


def _respond(result: Response) -> web.Response:
    return web.Response(status=result.status, text=result.body, content_type=result.content_type)


async def _verify(request: web.Request) -> web.Response:
    return _respond(request.app[WEBHOOK].verify(request.query))


async def _receive(request: web.Request) -> web.Response:
    started = asyncio.get_running_loop().time()
    webhook = request.app[WEBHOOK]
    metrics = request.app[METRICS]
    if not webhook.accepting:
        return web.Response(status=503, text="shutting down")
    try:
        query = request.query
        webhook.check(query)
        body = await request.read()
        msg, envelope = webhook.open(query, body)
    except web.HTTPRequestEntityTooLarge:
        metrics.requests_413.inc()
        raise
    except Forbidden as exc:
        log.warning("request refused: %s", exc, extra={"remote": request.remote})
        metrics.requests_403.inc()
        return web.Response(status=403, text="forbidden")
    except BadRequest as exc:
        log.warning("bad request: %s", exc, extra={"remote": request.remote})
        metrics.requests_400.inc()
        return web.Response(status=400, text="bad request")
    result = await webhook.receive(query, msg, envelope, started)
    metrics.webhook_seconds.observe(asyncio.get_running_loop().time() - started)
    metrics.request_status(result.status).inc()
    return _respond(result)


async def _healthz(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICES].db.ping()
    except Exception as exc:
        log.error("health check: database unreachable: %s", exc)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.db.read() as session:
        rows = (
            await session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status))
        ).all()
    for status, count in rows:
        services.metrics.outbox_depth.labels(status).set(count)
    return web.Response(body=services.metrics.render(), content_type="text/plain", charset="utf-8")
