"""`partybot demo`: the fake WeChat API and partybot (server, worker) in one process, on SQLite, on the
demo's own clock (bot.clock.TravelClock, moved by `partybot clock` and `partybot jobs run … --now`)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import secrets
import signal
import sys
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.clock import Clock, TravelClock
from bot.content import load_content
from bot.dev.chat import DEMO_OPENID_PREFIX, demo_state_path, read_demo_state
from bot.dev.demo_dues import demo_dues_start, seed_dues
from bot.dev.demo_mobile import seed_mobile
from bot.dev.demo_requests import DEMO_RESIDENTS, seed_requests
from bot.dev.fake_wechat import FakeConfig, FakeWeChat
from bot.domain.attendance import answer
from bot.domain.importing import import_members, import_org, import_staff
from bot.domain.privacy import Vault, new_key
from bot.domain.study import SHIPPED, record_read
from bot.domain.theme_day import Holders, Schedule, invite, load_units, notice_moments
from bot.settings import AccountKind, Settings
from bot.sim.web import sim_enabled
from models import Admin, Binding, Event, EventStatus, Member, OrgUnit, Staff, StudyMaterial
from models.db import Database
from models.migrate import upgrade
from scheduler.jobs import JobDeps, job_named

log = logging.getLogger("partybot.demo")

DEMO_APPID = "wxdemo0000000000"
DEMO_SECRET = "demo-secret"
DEMO_TOKEN = "partybot-demo"
DEMO_TEMPLATE = "DEMO-NOTICE"
# Left unbound so that a newcomer can try binding (by code, or `绑定 郑国平 8009` and the secretary's 同意).
DEMO_UNBOUND = frozenset({"YX-009", "YX-010", "YX-037"})
# The month already under way when the demo is first started: a couple of members of each branch have
# answered their branch's coming theme day, and a few have confirmed study materials (their points give
# 积分 a ranking to show). The members a walk-through plays (YX-002, YX-004, YX-006, YX-007) are left to it.
DEMO_ANSWERS: dict[str, tuple[str, str | None]] = {
    "YX-008": ("yes", None),
    "YX-005": ("leave", "腿脚不便"),
    "YX-012": ("yes", None),
    "YX-016": ("leave", "外出探亲"),
    "YX-026": ("yes", None),
    "YX-029": ("leave", "单位加班"),
}
DEMO_READS = {"YX-008": 2, "YX-005": 1, "YX-003": 2, "YX-012": 1, "YX-020": 3, "YX-027": 1}
# Whose theme day the banner walks through: 第一网格党支部 (林晓梅 its secretary, 王秀兰 its elderly member).
WALK_BRANCH = "青禾街道党工委/银杏社区党委/第一网格党支部"
CLOCK_FILE = "partybot-demo.clock"
DATA_DIR = "partybot-demo-data"  # records' photos, beside the database (not wherever the demo was started)


def demo_keys(state: dict[str, Any] | None) -> str:
    """The demo's EncodingAESKey: kept across restarts, so the demo always runs in safe mode."""
    if state and isinstance(state.get("aes_key"), str) and len(state["aes_key"]) == 43:
        return str(state["aes_key"])
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=").replace("+", "A").replace("/", "B")


def demo_data_key(workdir: Path) -> str:
    """The demo's PARTYBOT_DATA_KEY, kept beside its database (the phones in it are encrypted with it)."""
    path = workdir / "partybot-demo.key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = new_key()
    path.write_text(key, encoding="utf-8")
    path.chmod(0o600)
    return key


async def seed_demo(settings: Settings, now: datetime) -> bool:
    """Load the demo community (content/demo) into an empty database through the normal import, and bind
    every member and grid worker to `o-demo-<编号>`, plus an administrator `o-demo-admin`. Returns
    whether it seeded (False when the database already has an organisation tree)."""
    assert settings.data_key is not None
    db = Database(settings.database_url)
    try:
        async with db.read() as session:
            if await session.scalar(select(OrgUnit.id).limit(1)) is not None:
                return False
        vault = Vault(settings.data_key)
        files = Path(str(resources.files("content"))) / "demo"
        for report in (
            await import_org(db, files / "org.csv", now=now),
            await import_members(db, vault, files / "roster.csv", now=now),
            await import_staff(db, vault, files / "staff.csv", now=now),
        ):
            if not report.written:
                raise RuntimeError("the demo community did not load:\n" + "\n".join(report.lines()))

        def bind(session: Session) -> None:
            for member_id, number in session.execute(select(Member.id, Member.number)).all():
                if number in DEMO_UNBOUND:
                    continue
                session.add(
                    Binding(openid=f"o-demo-{number}", member_id=member_id, method="demo", bound_at=now)
                )
            for staff_id, number in session.execute(select(Staff.id, Staff.number)).all():
                session.add(
                    Binding(openid=f"o-demo-{number}", staff_id=staff_id, method="demo", bound_at=now)
                )
            session.add(Admin(name="演示管理员", openid="o-demo-admin", created_at=now))

        await db.run(bind)
        return True
    finally:
        await db.dispose()


async def has_community(settings: Settings) -> bool:
    db = Database(settings.database_url)
    try:
        async with db.read() as session:
            return await session.scalar(select(OrgUnit.id).limit(1)) is not None
    finally:
        await db.dispose()


async def start_month(settings: Settings, now: datetime, *, answers: bool) -> str:
    """What the scheduler would have done by `now`: this month's and next month's theme days for every
    branch, with the notices already due (the theme_day job as of start-up; it is idempotent). With
    `answers`, the demo members of DEMO_ANSWERS answer their branch's coming theme day."""
    db = Database(settings.database_url)
    try:
        summary = await job_named("theme_day").run(JobDeps(db, settings, load_content()), now)
        if answers:
            await db.run(lambda session: _answer_coming(session, now))
        return summary
    finally:
        await db.dispose()


def _answer_coming(session: Session, now: datetime) -> None:
    holder_of_unit = Holders.of(load_units(session)).holder_of_unit
    for member_id, number, unit_id in session.execute(
        select(Member.id, Member.number, Member.unit_id).where(Member.number.in_(list(DEMO_ANSWERS)))
    ):
        event = session.scalar(
            select(Event)
            .where(
                Event.unit_id == holder_of_unit.get(unit_id),
                Event.kind == "theme_day",
                Event.status == EventStatus.PLANNED.value,
                Event.starts_at > now,
            )
            .order_by(Event.starts_at)
            .limit(1)
        )
        if event is None:
            continue
        invite(session, event, [member_id], now)
        what, reason = DEMO_ANSWERS[number]
        answer(session, member_id, what, reason, now)


async def seed_reads(settings: Settings, now: datetime) -> None:
    """DEMO_READS: members who confirmed (已学) that many of the shipped materials for everyone (a read and
    its points each, as `已学` records them). After the app has indexed the materials."""
    db = Database(settings.database_url)

    def write(session: Session) -> None:
        materials = list(
            session.scalars(
                select(StudyMaterial.id)
                .where(
                    StudyMaterial.source == SHIPPED,
                    StudyMaterial.active.is_(True),
                    StudyMaterial.audience == "all",
                )
                .order_by(StudyMaterial.slug)
            )
        )
        members: dict[str, int] = {
            number: member_id
            for number, member_id in session.execute(
                select(Member.number, Member.id).where(Member.number.in_(list(DEMO_READS)))
            )
        }
        for number, count in DEMO_READS.items():
            for material_id in materials[:count]:
                record_read(session, members[number], material_id, now)

    try:
        await db.run(write)
    finally:
        await db.dispose()


async def walk_through(settings: Settings, now: datetime) -> str:
    """The banner's "一个月走一遍": the moments to move the clock to for WALK_BRANCH's coming theme day (its
    three notices, the sign-in, the close), as commands to copy. Empty when it has none."""
    schedule = Schedule.of(settings)
    db = Database(settings.database_url)
    try:
        async with db.read() as session:
            event = await session.scalar(
                select(Event)
                .join(OrgUnit, OrgUnit.id == Event.unit_id)
                .where(
                    OrgUnit.path == WALK_BRANCH,
                    Event.kind == "theme_day",
                    Event.status == EventStatus.PLANNED.value,
                    Event.starts_at > now - schedule.sign_in_after,
                )
                .order_by(Event.starts_at)
                .limit(1)
            )
    finally:
        await db.dispose()
    if event is None:
        return ""
    moments = dict(notice_moments(event, schedule))
    window = schedule.window(event)
    steps = [
        (moments["week"], "提前7天的通知，王秀兰（YX-004）同时收到语音；回复“参加”、1 或“请假 原因”"),
        (moments["eve"], "前一天的提醒；书记林晓梅（YX-002）发“报名情况”"),
        (max(moments["day"], window.opens) + timedelta(minutes=10), "当天：书记发“签到码”，党员发“签到 码”"),
        (window.closes + timedelta(minutes=10), "签到结束：书记收到小结，没签到的收到补学"),
    ]
    start = schedule.local(event.starts_at)
    lines = [f"一个月走一遍（第一网格党支部的主题党日 {start:%Y-%m-%d %H:%M}），在这个文件夹里依次运行："]
    for moment, what in steps:
        if moment > now:
            at = f"{schedule.local(moment):%Y-%m-%dT%H:%M}"
            lines.append(f"  .venv/bin/partybot jobs run theme_day --now {at}   {what}")
    lines.append("  .venv/bin/partybot clock   看演示时钟（clock +3h 拨快3小时，clock --reset 回到真实时间）")
    return "\n".join(lines) + "\n"


def clock_line(clock: TravelClock, timezone: str) -> str:
    shown = datetime.fromtimestamp(clock.time(), ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
    if abs(clock.offset) < 60:
        return f"  演示时钟：{shown}（真实时间；partybot clock 或 partybot jobs run … --now 拨动它）\n"
    ahead = f"已拨{'快' if clock.offset > 0 else '慢'}约{abs(clock.offset) / 86400:.1f}天"
    return f"  演示时钟：{shown}（{ahead}；partybot clock --reset 回到真实时间）\n"


async def bound_openids(settings: Settings) -> list[str]:
    db = Database(settings.database_url)
    try:
        async with db.read() as session:
            return list((await session.scalars(select(Binding.openid))).all())
    finally:
        await db.dispose()


def demo_settings(
    workdir: Path, host: str, port: int, fake_port: int, aes_key: str, account: AccountKind
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{workdir / 'partybot-demo.db'}",
        wechat_token=DEMO_TOKEN,
        wechat_appid=DEMO_APPID,
        wechat_secret=DEMO_SECRET,
        wechat_aes_key=aes_key,
        wechat_account=account,
        wechat_api_base=f"http://127.0.0.1:{fake_port}",
        data_key=demo_data_key(workdir),
        clock_file=workdir / CLOCK_FILE,
        data_dir=workdir / DATA_DIR,
        # A service account has a notice template set up in its back office (the fake accepts any id): the
        # scheduler's notices reach members whose 48-hour window has closed, as they would for real.
        notice_template_id=DEMO_TEMPLATE,
        # 党费: counted from a few months back, so the demo has members behind (bot.dev.demo_dues).
        dues_start_month=demo_dues_start(date.today()),
        # 居民诉求: an urgent report's answer gives the gas company's emergency number beside 119/110/120
        # (an example number; each city's gas company has its own).
        request_gas_phone="96777",
        # The web phone simulator (/sim, bot/sim): the WeChat API here is the fake on this machine.
        sim=True,
        host=host,
        port=port,
    )


def console_line(settings: Settings, host: str, port: int) -> str:
    """The web console's address (bot/console), when it is switched on."""
    if not settings.console:
        return ""
    return f"  网页管理后台：http://{host}:{port}/console/   （用书记的微信发“登录 页面上的数字”登录）\n"


def sim_line(settings: Settings, host: str, port: int) -> str:
    """The web phone simulator's address (bot/sim), when it is switched on."""
    if not sim_enabled(settings):
        return ""
    return load_content().text("console_sim_demo_line", host=host, port=port)


# --- .env: every other `partybot` command in the demo's folder works against the running demo ---------

ENV_MARKER = "# partybot demo"
ENV_HEADER = (
    f"{ENV_MARKER}: written by `partybot demo` at each start (delete this line and it keeps your edits)"
)
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./:+=@-]*")


def demo_env_lines(settings: Settings) -> list[str]:
    """The settings another `partybot` command needs to work on the running demo, as .env lines."""
    values = {
        "PARTYBOT_WECHAT_TOKEN": settings.wechat_token,
        "PARTYBOT_WECHAT_APPID": settings.wechat_appid,
        "PARTYBOT_WECHAT_SECRET": settings.wechat_secret,
        "PARTYBOT_WECHAT_AES_KEY": settings.wechat_aes_key or "",
        "PARTYBOT_WECHAT_ACCOUNT": settings.wechat_account.value,
        "PARTYBOT_WECHAT_API_BASE": settings.wechat_api_base,
        "PARTYBOT_DATABASE_URL": settings.database_url,
        "PARTYBOT_DATA_KEY": settings.data_key or "",
        "PARTYBOT_CLOCK_FILE": str(settings.clock_file or ""),
        "PARTYBOT_DATA_DIR": str(settings.data_dir),
        "PARTYBOT_NOTICE_TEMPLATE_ID": settings.notice_template_id or "",
        "PARTYBOT_DUES_START_MONTH": settings.dues_start_month or "",
    }
    lines = []
    for name, value in values.items():
        if not _PLAIN_VALUE.fullmatch(value):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{name}={value}")
    return lines


def write_demo_env(path: Path, lines: list[str]) -> bool:
    """Write the demo's settings to `path` when it is absent or the demo wrote it (its first line is the
    marker); a .env someone else wrote is left alone. Returns whether it was written."""
    try:
        with path.open(encoding="utf-8") as existing:
            first = existing.readline()
    except FileNotFoundError:
        first = ENV_MARKER
    except (OSError, UnicodeDecodeError):
        return False
    if not first.startswith(ENV_MARKER):
        return False
    tmp = path.with_name(path.name + ".partybot-demo.tmp")
    tmp.write_text("\n".join([ENV_HEADER, *lines]) + "\n", encoding="utf-8")
    tmp.chmod(0o600)  # the app secret and the data key
    tmp.replace(path)
    return True


def env_notice(path: Path, written: bool, lines: list[str]) -> str:
    if written:
        return (
            f"  设置已写入 {path}：在这个文件夹里运行的其他 partybot 命令都连到这个演示，例如\n"
            "    .venv/bin/partybot outbox    .venv/bin/partybot audit\n"
            "    .venv/bin/partybot jobs run relay_unreached --now +1d\n"
        )
    shown = "".join(f"    {line}\n" for line in lines)
    return (
        f"  没有覆盖 {path}（它不是演示写的）。要让这个文件夹里的其他 partybot 命令连到演示，"
        f"请把下面几行加进去：\n{shown}"
    )


# --- the console: one line per message handled --------------------------------------------------------

_EVENTS = {
    "subscribe": "关注",
    "unsubscribe": "取消关注",
    "click": "点击",
    "view": "打开链接",
    "scan": "扫码",
    "location": "上报位置",
    "templatesendjobfinish": "模板消息回执",
    "masssendjobfinish": "群发回执",
}
_KINDS = {"image": "图片", "video": "视频", "shortvideo": "小视频", "file": "文件", "link": "链接"}


def short(text: str, width: int = 24) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def who(openid: str) -> str:
    """A demo user by number (o-demo-YX-004 → YX-004); anyone else with the openid masked."""
    if openid.startswith(DEMO_OPENID_PREFIX):
        return openid.removeprefix(DEMO_OPENID_PREFIX)
    return openid if len(openid) <= 10 else f"{openid[:5]}…{openid[-3:]}"


def what(kind: str, fields: dict[str, Any] | None, event: str = "", key: str = "") -> str:
    """What a user sent, as the console shows it."""
    fields = fields or {}
    event = str(fields.get("Event") or event).lower()
    if kind == "text":
        return "“" + short(str(fields.get("Content", ""))) + "”"
    if kind == "voice":
        heard = str(fields.get("Recognition") or "")
        return "[语音]" + (" “" + short(heard) + "”" if heard else "")
    if kind == "location":
        return "[位置] " + short(str(fields.get("Label") or ""))
    if kind == "event":
        name = _EVENTS.get(event, event)
        return f"[{name}{' ' + short(key) if key else ''}]"
    return f"[{_KINDS.get(kind, kind)}]"


# WeChat's job reports (a template or mass send's outcome) arrive as events for every send: not something
# a person did, and at the demo's start there are dozens. The log keeps them; the console line does not.
QUIET_ROUTES = frozenset({"events.template_finished", "events.mass_finished"})


class MessageLines(logging.Handler):
    """Prints the webhook's `message handled` records as one short line: time, who, what, the route."""

    def __init__(self, fake: FakeWeChat, timezone: str, clock: Clock) -> None:
        super().__init__(logging.INFO)
        self.fake, self.tz, self.clock = fake, ZoneInfo(timezone), clock

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() != "message handled":
            return
        if str(getattr(record, "route", "")) in QUIET_ROUTES:  # WeChat's own reports, not a person
            return
        try:
            key = str(getattr(record, "dedupe_key", ""))
            kind = str(getattr(record, "kind", ""))
            if key.startswith("m:"):  # m:<openid>:<MsgId>
                openid, _, msg_id = key[2:].rpartition(":")
                sent = what(kind, self.fake.received.get(int(msg_id)))
            else:  # e:<openid>:<time>:<event>:<key>
                openid, _, event, event_key = key[2:].rsplit(":", 3)
                sent = what(kind, None, event, event_key)
            # On the demo's clock (moved by `partybot clock`), with the date: it may be another day.
            at = datetime.fromtimestamp(self.clock.time(), self.tz).strftime("%m-%d %H:%M:%S")
            late = "（迟到，已转发件箱）" if getattr(record, "late", False) else ""
            line = f"{at}  {who(openid)}  {sent}  → {getattr(record, 'route', '?')}{late}"
            print(line, file=sys.stdout, flush=True)
        except Exception:
            self.handleError(record)


def show_messages(fake: FakeWeChat, timezone: str, clock: Clock) -> MessageLines:
    """Print one line per message handled on the demo's console; other logs stay at WARNING."""
    handler = MessageLines(fake, timezone, clock)
    for other in logging.getLogger().handlers:
        other.setLevel(max(other.level, logging.WARNING))
    webhook = logging.getLogger("partybot.webhook")
    webhook.setLevel(logging.INFO)
    webhook.addHandler(handler)
    return handler


async def run_demo(workdir: Path, host: str, port: int, fake_port: int, account: AccountKind) -> None:
    state_path = demo_state_path()
    settings = demo_settings(workdir, host, port, fake_port, demo_keys(read_demo_state()), account)
    await upgrade(settings.database_url)
    assert settings.clock_file is not None
    if not await has_community(settings):
        settings.clock_file.unlink(missing_ok=True)  # a new demo starts at real time
    # One clock for the server, its worker and scheduler, and the fake WeChat (signatures, windows, tokens).
    clock = TravelClock(settings.clock_file, settings.timezone)
    seeded = await seed_demo(settings, clock.now())
    await start_month(settings, clock.now(), answers=seeded)
    if seeded:
        await seed_dues(settings, clock.now())
        await seed_mobile(settings, clock.now())
        await seed_requests(settings, clock.now())

    fake = FakeWeChat(
        FakeConfig(
            token=DEMO_TOKEN,
            appid=DEMO_APPID,
            secret=DEMO_SECRET,
            webhook_url=f"http://127.0.0.1:{port}/wechat",
            aes_key=settings.wechat_aes_key,
            account=account,
        ),
        clock=clock,
    )
    # WeChat knows its followers: every bound demo member has followed the account (mass sends and
    # template notices reach only followers), and so have the demo's residents (居民诉求).
    fake.follow([*await bound_openids(settings), *DEMO_RESIDENTS])
    console = show_messages(fake, settings.timezone, clock)
    runners = [
        web.AppRunner(fake.app(), access_log=None),
        web.AppRunner(create_app(settings, clock=clock, run_worker=True), access_log=None),
    ]
    for runner in runners:
        await runner.setup()
    if seeded:
        await seed_reads(settings, clock.now())  # the app has indexed the shipped materials by now
    walk = await walk_through(settings, clock.now())
    await web.TCPSite(runners[0], "127.0.0.1", fake_port).start()
    await web.TCPSite(runners[1], host, port).start()

    state = {
        "fake_url": f"http://127.0.0.1:{fake_port}",
        "webhook_url": f"http://{host}:{port}/wechat",
        "aes_key": settings.wechat_aes_key,
        "account": account.value,
        "database": settings.database_url,
    }
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state, ensure_ascii=False, indent=2), encoding="utf-8")
    env_path = Path.cwd() / ".env"
    env_lines = demo_env_lines(settings)
    env_written = write_demo_env(env_path, env_lines)

    print(
        f"partybot 演示已启动（安全模式，{account.value} 账号，数据库 {workdir / 'partybot-demo.db'}"
        f"{'，已载入演示社区' if seeded else ''}）\n"
        f"  公众号服务：http://{host}:{port}/wechat   健康检查：http://{host}:{port}/healthz\n"
        f"  假微信 API：http://127.0.0.1:{fake_port}\n"
        f"{console_line(settings, host, port)}"
        f"{sim_line(settings, host, port)}"
        f"{clock_line(clock, settings.timezone)}"
        f"{env_notice(env_path, env_written, env_lines)}"
        f"在另一个终端里扮演微信用户，例如：\n"
        f"  .venv/bin/partybot chat --openid o-any      新用户：试试“报到”或“绑定 郑国平 8009”\n"
        f"  .venv/bin/partybot chat --as YX-004         王秀兰，85岁老党员，有联系人\n"
        f"  .venv/bin/partybot chat --as YX-002         林晓梅，第一网格党支部书记（成员、待审、绑定码）\n"
        f"  .venv/bin/partybot chat --as YX-007         李文博，流动党员：试试“流动报到 在余杭 做电工”\n"
        f"  .venv/bin/partybot chat --as YX-001         周建国，社区党委书记：发“公告 通知内容”再“确认”\n"
        f"  .venv/bin/partybot chat --as WG-01          韩磊，第一网格网格员：“待办”，“接单 工单号”\n"
        f"  .venv/bin/partybot chat --as WG-02          蒋雪，第二网格网格员：待办里有3位居民反映的电梯\n"
        f"  .venv/bin/partybot chat --openid o-demo-res-3  居民：“我的诉求”，回复1评价；“反映 问题”\n"
        f"  .venv/bin/partybot chat --openid o-demo-res-5  居民：邻里纠纷评了不满意，已重新办理\n"
        f"  .venv/bin/partybot chat --as YX-003         陈志强，第二网格党支部书记：“待答复建议”“诉求统计”\n"
        f"  .venv/bin/partybot chat --as YX-009         郑国平，还没有绑定微信：试试绑定\n"
        f"{walk}"
        f"下面每处理一条消息显示一行：时间、谁（演示编号）、发了什么、路由。按 Ctrl+C 结束。",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("正在停止……", flush=True)
    for runner in reversed(runners):
        await runner.cleanup()
    logging.getLogger("partybot.webhook").removeHandler(console)


async def run_fake(settings: Settings, port: int, webhook_url: str) -> None:
    fake = FakeWeChat(
        FakeConfig(
            token=settings.wechat_token,
            appid=settings.wechat_appid,
            secret=settings.wechat_secret,
            webhook_url=webhook_url,
            aes_key=settings.wechat_aes_key,
            account=settings.wechat_account,
        )
    )
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"假微信 API 已在 http://127.0.0.1:{port} 启动，转发到 {webhook_url}。按 Ctrl+C 结束。", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
