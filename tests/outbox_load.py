"""A broadcast under load, for tests/test_worker_crash.py and bench/outbox_bench.py: many members inside
the customer-service allowance, one announcement to all of them, and real `partybot fake-wechat` and
`partybot worker` processes to deliver it.

The worker runs on the system clock, so the allowances are seeded relative to the real `now` (not a test's
FixedClock). Nothing here imports pytest: the benchmark uses it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import aiohttp
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from bot.outbound.notices import Audience, Recipient, enqueue_announcement
from bot.settings import Settings
from bot.wechat.window import MESSAGE_SENDS, MESSAGE_WINDOW
from models import AccessToken, Binding, Member, Notice, OrgUnit, OutboxRow, OutboxStatus, WeChatUser
from models.db import Database

# Not resolved: the venv's python is a symlink, and `partybot` lives beside the venv's name for it.
PARTYBOT = Path(sys.executable).with_name("partybot")

UNIT_PATH = "负载测试社区党委"
AUTHOR = "load-test"
TEXT = "【负载测试社区党委】本周六上午9点在社区党群服务中心开展主题党日活动，请准时参加。"
TOKEN = "loadtesttoken"
APPID = "wxload0000000000"
SECRET = "load-test-secret"
CHUNK = 1000  # rows per INSERT: well under SQLite's and asyncpg's bound-parameter limits

FINAL = frozenset({OutboxStatus.SENT.value, OutboxStatus.FAILED.value, OutboxStatus.IN_DOUBT.value})
UNSETTLED = (OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value)


def load_openid(i: int) -> str:
    return f"o-load-{i}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- seeding ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Broadcast:
    notice_id: int
    openids: list[str]


async def seed_broadcast(db: Database, recipients: int, now: datetime, *, text: str = TEXT) -> Broadcast:
    """`recipients` members in one unit, each bound to `o-load-<i>` and inside a fresh customer-service
    allowance (a message `now`: 5 sends for 48 h), then one announcement to all of them (no voice)."""
    openids = [load_openid(i) for i in range(recipients)]

    def write(session: Session) -> list[Recipient]:
        unit = OrgUnit(
            path=UNIT_PATH,
            name=UNIT_PATH,
            kind="社区党委",
            depth=0,
            buildings=[],
            created_at=now,
            updated_at=now,
        )
        session.add(unit)
        session.flush()
        members = [
            {
                "number": f"LOAD-{i:06d}",
                "name": f"党员{i}",
                "unit_id": unit.id,
                "status": "正式",
                "kind": "在职",
                "birth_year": 1985,
                "voice_mode": False,
                "volunteer_posts": [],
                "chat_preferences": [],
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(recipients)
        ]
        for start in range(0, len(members), CHUNK):
            session.execute(insert(Member), members[start : start + CHUNK])
        ids = {
            number: member_id
            for number, member_id in session.execute(
                select(Member.number, Member.id).where(Member.unit_id == unit.id)
            )
        }
        found = [
            Recipient(ids[f"LOAD-{i:06d}"], f"党员{i}", openid, False) for i, openid in enumerate(openids)
        ]
        bindings = [
            {"openid": r.openid, "member_id": r.member_id, "method": "demo", "bound_at": now} for r in found
        ]
        users = [
            {
                "openid": openid,
                "subscribed": True,
                "first_seen_at": now,
                "last_seen_at": now,
                "subscribed_at": now,
                "last_message_at": now,
                "window_kind": "message",
                "window_expires_at": now + MESSAGE_WINDOW,
                "window_left": MESSAGE_SENDS,
            }
            for openid in openids
        ]
        for start in range(0, recipients, CHUNK):
            session.execute(insert(Binding), bindings[start : start + CHUNK])
            session.execute(insert(WeChatUser), users[start : start + CHUNK])
        return found

    found = await db.run(write)
    notice_id = await enqueue_announcement(
        db,
        now,
        text=text,
        audience=Audience(UNIT_PATH),
        label=UNIT_PATH,
        author=AUTHOR,
        author_openid=None,
        recipients=found,
    )
    return Broadcast(notice_id, openids)


async def clear_load(db: Database) -> None:
    """Remove what seed_broadcast wrote (and the access token a previous fake issued), so a database can be
    used again (the benchmark on a PostgreSQL database it was given)."""

    def write(session: Session) -> None:
        unit_id = session.scalar(select(OrgUnit.id).where(OrgUnit.path == UNIT_PATH))
        notices = select(Notice.id).where(Notice.author == AUTHOR).scalar_subquery()
        session.execute(delete(OutboxRow).where(OutboxRow.notice_id.in_(notices)))
        session.execute(delete(Notice).where(Notice.author == AUTHOR))
        session.execute(delete(Binding).where(Binding.openid.like("o-load-%")))
        session.execute(delete(WeChatUser).where(WeChatUser.openid.like("o-load-%")))
        session.execute(delete(AccessToken).where(AccessToken.appid == APPID))
        if unit_id is not None:
            session.execute(delete(Member).where(Member.unit_id == unit_id))
            session.execute(delete(OrgUnit).where(OrgUnit.id == unit_id))

    await db.run(write)


# --- reading the outcome ----------------------------------------------------------------------------


async def status_counts(db: Database, notice_id: int) -> Counter[str]:
    """The notice's rows by status."""
    async with db.read() as session:
        rows = (
            await session.execute(
                select(OutboxRow.status, func.count())
                .where(OutboxRow.notice_id == notice_id)
                .group_by(OutboxRow.status)
            )
        ).all()
    return Counter({str(status): int(n) for status, n in rows})


async def stable_counts(db: Database, notice_id: int, *, interval_s: float = 0.05) -> Counter[str]:
    """The notice's rows by status once two reads agree: right after a SIGKILL, the dead process's last
    COMMIT may still be on its way to a PostgreSQL server."""
    counts = await status_counts(db, notice_id)
    for _ in range(100):
        await asyncio.sleep(interval_s)
        again = await status_counts(db, notice_id)
        if again == counts:
            return counts
        counts = again
    raise AssertionError(f"the rows kept changing with no worker running: {dict(counts)}")


async def openids_by_status(db: Database, notice_id: int) -> dict[str, set[str]]:
    async with db.read() as session:
        rows = (
            await session.execute(
                select(OutboxRow.status, OutboxRow.openid).where(OutboxRow.notice_id == notice_id)
            )
        ).all()
    found: dict[str, set[str]] = {}
    for status, openid in rows:
        found.setdefault(str(status), set()).add(str(openid))
    return found


async def failed_without_reason(db: Database, notice_id: int) -> int:
    async with db.read() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.notice_id == notice_id,
                    OutboxRow.status == OutboxStatus.FAILED.value,
                    func.coalesce(OutboxRow.last_error, "") == "",
                )
            )
            or 0
        )


def unsettled(counts: Counter[str]) -> int:
    return sum(counts[s] for s in UNSETTLED)


async def custom_sends(http: aiohttp.ClientSession, fake_base: str) -> list[dict[str, Any]]:
    """Every customer-service send the fake accepted, in order (openid, msgtype, content, at)."""
    async with http.get(f"{fake_base}/sim/sends", params={"api": "custom"}) as resp:
        resp.raise_for_status()
        found: list[dict[str, Any]] = await resp.json()
    return found


async def custom_send_counts(http: aiohttp.ClientSession, fake_base: str) -> Counter[str]:
    """Customer-service sends the fake accepted, per openid."""
    return Counter(str(s["openid"]) for s in await custom_sends(http, fake_base))


# --- processes --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """The settings both processes get. None: the setting's own default."""

    database_url: str
    concurrency: int | None = 10
    rate_per_s: float | None = 1000.0
    lease_s: float | None = None
    batch: int | None = None
    redis_url: str | None = None
    redis_prefix: str | None = None
    log_level: str = "WARNING"

    def values(self, api_base: str) -> dict[str, str]:
        """Settings by name (without the PARTYBOT_ prefix)."""
        values = {
            "DATABASE_URL": self.database_url,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_APPID": APPID,
            "WECHAT_SECRET": SECRET,
            "WECHAT_API_BASE": api_base,
            "LOG_LEVEL": self.log_level,
            "TTS_BACKEND": "none",  # no voice in these broadcasts
        }
        optional: dict[str, object | None] = {
            "DELIVERY_CONCURRENCY": self.concurrency,
            "RATE_CUSTOMER_SERVICE_PER_S": self.rate_per_s,
            "DELIVERY_LEASE_S": self.lease_s,
            "DELIVERY_BATCH": self.batch,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.redis_prefix if self.redis_url else None,
        }
        values |= {name: str(value) for name, value in optional.items() if value is not None}
        return values

    def env(self, api_base: str) -> dict[str, str]:
        """The environment of a subprocess: the caller's, minus any PARTYBOT_*, plus these settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")}
        return env | {f"PARTYBOT_{name}": value for name, value in self.values(api_base).items()}

    def settings(self, api_base: str) -> Settings:
        """The same settings for an in-process worker."""
        # Strings, as from the environment: pydantic parses them the same way.
        values: dict[str, Any] = {name.lower(): value for name, value in self.values(api_base).items()}
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass(slots=True)
class Process:
    """A partybot subprocess, its output in a log file."""

    name: str
    proc: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def status(self) -> dict[str, int]:
        """VmRSS, VmHWM (peak RSS), ... from /proc/<pid>/status, in kB; {} once the process is gone."""
        found: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                name, _, value = line.partition(":")
                if value.strip().endswith("kB"):
                    found[name] = int(value.split()[0])
        return found

    def cpu_seconds(self) -> float | None:
        """User + system CPU time so far (all threads); None once the process is gone."""
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return None

    async def kill(self) -> None:
        """SIGKILL: no graceful anything, as `kill -9`."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM (a worker finishes its calls in flight and gives back the rest); SIGKILL if it hangs."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout_s)
            except TimeoutError:
                await self.kill()
        await self.proc.wait()
        return int(self.proc.returncode or 0)


async def _spawn(name: str, argv: Sequence[str], env: dict[str, str], workdir: Path) -> Process:
    log_path = workdir / f"{name}.log"
    # The child writes to its own copy of the descriptor; ours is closed once it has started.
    with _open_log(log_path) as log:
        # cwd: a directory without a .env, so only the environment's settings apply.
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=workdir, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    return Process(name, proc, log_path)


def _open_log(path: Path) -> IO[bytes]:
    return path.open("ab")


@dataclass(slots=True)
class Fake:
    process: Process
    base: str


async def start_fake(
    http: aiohttp.ClientSession,
    config: LoadConfig,
    workdir: Path,
    *,
    latency_s: float,
    followers: Sequence[str],
) -> Fake:
    """`partybot fake-wechat` on a free port, listening, with `latency_s` per API call and `followers`
    following the account inside a message-opened customer-service allowance."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The fake forwards users' messages to a webhook; these tests send none (the port is closed).
    args = ["fake-wechat", "--port", str(port), "--webhook", f"http://127.0.0.1:{free_port()}/wechat"]
    process = await _spawn("fake-wechat", [str(PARTYBOT), *args], config.env(base), workdir)
    fake = Fake(process, base)
    try:
        await _wait_listening(http, fake)
        async with http.post(f"{base}/sim/config", json={"latency_s": latency_s}) as resp:
            resp.raise_for_status()
        async with http.post(
            f"{base}/sim/followers", json={"openids": list(followers), "window": "message"}
        ) as resp:
            resp.raise_for_status()
    except BaseException:
        await process.kill()
        raise
    return fake


async def _wait_listening(http: aiohttp.ClientSession, fake: Fake) -> None:
    # Waiting for a real process to listen: bounded polling.
    for _ in range(600):
        if not fake.process.running:
            raise AssertionError(
                f"fake-wechat exited with {fake.process.proc.returncode}:\n{fake.process.log_tail()}"
            )
        try:
            async with http.get(f"{fake.base}/sim/stats") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"fake-wechat did not listen within 30 s:\n{fake.process.log_tail()}")


async def start_worker(
    config: LoadConfig,
    fake: Fake,
    workdir: Path,
    name: str = "worker",
    *,
    argv: Sequence[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Process:
    """`partybot worker` against the fake (or `argv`, e.g. the worker under a profiler)."""
    env = config.env(fake.base) | (extra_env or {})
    return await _spawn(name, argv or [str(PARTYBOT), "worker"], env, workdir)


async def poll(
    check: Callable[[], Awaitable[bool]],
    *,
    timeout_s: float,
    interval_s: float = 0.02,
    watch: Sequence[Process] = (),
    what: str = "the condition",
) -> None:
    """Bounded polling of a real process's progress; fails early, with its log, if a watched process
    exits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if await check():
            return
        for process in watch:
            if not process.running:
                raise AssertionError(
                    f"{process.name} exited with {process.proc.returncode} before {what}:\n"
                    f"{process.log_tail()}"
                )
        if loop.time() >= deadline:
            tails = "\n".join(f"--- {p.name}:\n{p.log_tail()}" for p in watch)
            raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s\n{tails}")
        await asyncio.sleep(interval_s)
