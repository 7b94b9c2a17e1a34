"""Webhook benchmark: `partybot serve` against a bare aiohttp app that returns fixed XML.

Scenarios, all in one run, each against a freshly started server (partybot: a fresh SQLite database):

  bare       bench/bare_app.py: no checks, one fixed reply the size of partybot's menu (the limit)
  plain      partybot, text `帮助` in plaintext: signature, dedupe, identity/conversation lookup, router
  safe       the same in safe mode: AES-decrypted request, encrypted and signed reply
  subscribe  partybot, `subscribe` events from new followers: the follower row is committed before
             the answer

The server runs pinned to one core (`taskset -c 0`), the load generator (wrk, one thread) to another,
so they never compete for a CPU. Every request is used once: each carries a fresh MsgId (events, which
have none, a fresh openid) and a fresh nonce, so a fresh signature, with a timestamp valid for the
server's clock. Signing and encryption are precomputed into a file just before each measurement
(bench/replay.lua replays it); if a file runs out, the measurement is repeated with a larger one, and
reported if it still runs out, instead of reusing requests. BENCHMARKS.md says more.

    .venv/bin/python bench/webhook_bench.py            # ~2.5 minutes
    .venv/bin/python bench/webhook_bench.py --quick    # under a minute, rougher figures
    .venv/bin/python bench/webhook_bench.py --write    # also rewrite the results in BENCHMARKS.md

Needs wrk (Debian: `apt-get install wrk`), taskset and at least two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import math
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import urlencode

from bot.content import Content, load_content
from bot.dev.simulate import ReplyError, read_reply, sign_request, user_fields
from bot.edge.replies import TextReply
from bot.wechat.wire import Cipher, Incoming, message_xml, render_reply

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
REPLAY_LUA = BENCH_DIR / "replay.lua"
BARE_APP = BENCH_DIR / "bare_app.py"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
# Not resolved: the venv's python is a symlink, and `partybot` lives beside the venv's name for it.
PYTHON = Path(sys.executable)
PARTYBOT = PYTHON.with_name("partybot")

RESULTS_START = "<!-- webhook-bench:results:start -->"
RESULTS_END = "<!-- webhook-bench:results:end -->"

TOKEN = "partybotbench"
APPID = "wxbench0000000000"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_0123456789ab"
OPENID_LENGTH = 28  # as WeChat's openids
# `帮助` comes from a pool of this many followers: many users, as in production, so the per-user lock
# is not one queue, yet each user writes more than once (the write-behind updates existing rows).
READERS = 2000
CONNECTIONS = 50
WRK_TIMEOUT_S = 10  # above the 4 s reply budget: a slow answer is measured, not dropped
SIGNATURE_MAX_AGE_S = 300  # partybot's default; every request must be used within it
SAMPLES = 3  # requests per scenario checked in full (decrypted, fields compared) before and after
IDLE_BUSY_MAX = 0.10  # a core busier than this before a scenario means something else is running
IDLE_WAIT_S = 20  # how long to wait for that to end before measuring all the same
SOURCE_DIRS = ("bot", "handlers", "models", "content")
MEASURE_ATTEMPTS = 3  # measured runs per scenario at most, when the precomputed requests run out


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    partybot: bool
    safe: bool = False
    subscribe: bool = False
    min_ratio: float | None = None  # of the bare app's requests/s
    max_p99_ms: float | None = None


SCENARIOS = (
    Scenario("bare", "bare aiohttp, fixed XML (the limit)", partybot=False),
    Scenario("plain", "partybot `帮助`, plaintext", partybot=True, min_ratio=0.30, max_p99_ms=50.0),
    Scenario(
        "safe", "partybot `帮助`, safe mode (AES)", partybot=True, safe=True, min_ratio=0.20, max_p99_ms=50.0
    ),
    Scenario(
        "subscribe", "partybot `subscribe`, row committed", partybot=True, subscribe=True, min_ratio=0.05
    ),
)


class BenchError(Exception):
    """The benchmark could not run (a server did not start, wrk failed, ...)."""


# --- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    path: str  # /wechat?signature=...
    body: bytes
    openid: str

    def raw(self, port: int) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(self.body)}\r\n\r\n"
        )
        return head.encode() + self.body


class RequestFactory:
    """Builds requests as WeChat's servers would, none ever the same: MsgIds, nonces and follower
    openids come from counters that only go up during a run."""

    def __init__(self, cipher: Cipher) -> None:
        self.cipher = cipher
        self._run = secrets.token_hex(3)  # keeps openids and nonces of separate runs apart
        self._msg_id = int(time.time()) * 1_000_000
        self._nonce = 0
        self._reader = 0
        self._follower = 0

    def _openid(self, kind: str, number: int) -> str:
        prefix = f"o{self._run}{kind}"
        return prefix + str(number).zfill(OPENID_LENGTH - len(prefix))

    def reader_openid(self, number: int) -> str:
        return self._openid("r", number % READERS)

    def build(self, scenario: Scenario, timestamp: int) -> Request:
        self._nonce += 1
        nonce = f"{self._run}{self._nonce:09d}"
        if scenario.subscribe:
            self._follower += 1
            openid = self._openid("f", self._follower)
            fields = user_fields("event", openid, ACCOUNT, timestamp, None, Event="subscribe")
        else:
            self._msg_id += 1
            self._reader += 1
            openid = self.reader_openid(self._reader)
            fields = user_fields("text", openid, ACCOUNT, timestamp, self._msg_id, Content="帮助")
        signed = sign_request(
            TOKEN, message_xml(fields), timestamp, cipher=self.cipher if scenario.safe else None, nonce=nonce
        )
        return Request(f"/wechat?{urlencode(signed.query)}", signed.body.encode(), openid)

    def write_records(self, path: Path, scenario: Scenario, port: int, count: int) -> float:
        """Write `count` fresh requests for bench/replay.lua; return the seconds it took."""
        started = time.perf_counter()
        timestamp = int(time.time())
        with path.open("wb") as out:
            for _ in range(count):
                raw = self.build(scenario, timestamp).raw(port)
                out.write(b"%08d" % len(raw))
                out.write(raw)
        return time.perf_counter() - started


# --- expected answers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expected:
    """What a correct answer holds: the full text (checked on samples in Python) and a marker that
    replay.lua looks for in every response."""

    text: str
    marker: str


def expected_answer(scenario: Scenario, content: Content) -> Expected:
    menu = content.render_menu("resident")
    if scenario.subscribe:
        welcome = content.text("welcome", community=content.community_name, menu=menu)
        # The greeting before the menu: the menu alone would also match a `帮助` answer.
        greeting = content.text("welcome", community=content.community_name, menu="")
        return Expected(welcome, greeting)
    if scenario.safe:
        # An encrypted body cannot be read in Lua; the samples are decrypted and checked in full.
        return Expected(menu, "]]></Encrypt><MsgSignature><![CDATA[")
    return Expected(menu, f"<Content><![CDATA[{menu}]]></Content>")


def bare_reply(content: Content, factory: RequestFactory) -> bytes:
    """partybot's menu reply as it renders it, so the bare app sends the same bytes."""
    msg = Incoming(openid=factory.reader_openid(0), account=ACCOUNT, kind="text", create_time=0)
    return render_reply(TextReply(content.render_menu("resident")), msg, time.time()).encode()


# --- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "text/xml"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass(slots=True)
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    database: Path | None

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process, all its threads (aiosqlite's included)."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        return ""

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_call(self.port, "GET", "/healthz")[0] == 200:
                    return
            time.sleep(0.1)
        raise BenchError(f"server not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (partybot drains and flushes its write-behind), then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_server(scenario: Scenario, workdir: Path, reply_file: Path, core: int) -> Server:
    port = free_port()
    # No PARTYBOT_* from the caller's environment, and a cwd without a .env: only these settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")}
    database: Path | None = None
    if scenario.partybot:
        database = workdir / "bench.db"
        env |= {
            "PARTYBOT_WECHAT_TOKEN": TOKEN,
            "PARTYBOT_DATABASE_URL": f"sqlite:///{database}",
            "PARTYBOT_LOG_LEVEL": "WARNING",
        }
        if scenario.safe:
            env |= {"PARTYBOT_WECHAT_APPID": APPID, "PARTYBOT_WECHAT_AES_KEY": AES_KEY}
        command = [str(PARTYBOT), "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [str(PYTHON), str(BARE_APP), "--port", str(port), "--reply-file", str(reply_file)]
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        # taskset execs the server, so proc.pid is the server's own pid (for its CPU time).
        proc = subprocess.Popen(
            ["taskset", "-c", str(core), *command], cwd=workdir, env=env, stdout=log, stderr=log
        )
    server = Server(proc, port, log_path, database)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


# --- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadResult:
    duration_s: float
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # connect/read/write errors and timeouts
    not_200: int
    bad_body: int
    sent: int
    exhausted: bool
    server_cpu: float  # the server process's CPU time, as a fraction of one core
    load_cpu: float  # wrk's
    server_core_busy: float  # the server's core, busy with anything (other processes, interrupts)
    load_core_busy: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s


def core_times() -> dict[int, tuple[int, int]]:
    """Per core: (busy, total) clock ticks since boot, from /proc/stat."""
    times: dict[int, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))
    return times


def busy_fraction(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], core: int) -> float:
    busy, total = (a - b for a, b in zip(after[core], before[core], strict=True))
    return busy / total if total else 0.0


def run_wrk(
    server: Server, records: Path, marker: str, duration_s: int, connections: int, cores: tuple[int, int]
) -> LoadResult:
    """Replay `records` for duration_s with wrk on cores[1] against the server on cores[0]."""
    server_core, core = cores
    command = [
        "taskset", "-c", str(core), "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s",
        "--timeout", f"{WRK_TIMEOUT_S}s", "-s", str(REPLAY_LUA), f"http://127.0.0.1:{server.port}/wechat",
        "--", str(records), marker,
    ]  # fmt: skip
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = server.cpu_seconds()
    cores_before = core_times()
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    cores_after = core_times()
    server_cpu = server.cpu_seconds() - server_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Only wrk is reaped between the two readings, so the difference is wrk's own CPU time.
    load_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    duration = data["duration_us"] / 1e6
    return LoadResult(
        duration_s=duration,
        requests=data["requests"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")),
        not_200=data["not_200"],
        bad_body=data["bad_body"],
        sent=data["sent"],
        exhausted=bool(data["exhausted"]),
        server_cpu=server_cpu / duration,
        load_cpu=load_cpu / duration,
        server_core_busy=busy_fraction(cores_before, cores_after, server_core),
        load_core_busy=busy_fraction(cores_before, cores_after, core),
    )


def check_samples(
    scenario: Scenario, server: Server, factory: RequestFactory, expected: Expected, bare: bytes
) -> tuple[list[str], int]:
    """Send SAMPLES fresh requests and check each answer in full; return problems and reply size."""
    problems: list[str] = []
    size = 0
    for _ in range(SAMPLES):
        request = factory.build(scenario, int(time.time()))
        status, body = http_call(server.port, "POST", request.path, request.body)
        size = len(body)
        if status != 200:
            problems.append(f"sample answered {status}: {body[:80]!r}")
            continue
        if not scenario.partybot:
            if body != bare:
                problems.append("bare app answered something else than its fixed reply")
            continue
        try:
            reply = read_reply(TOKEN, body.decode(), factory.cipher if scenario.safe else None)
        except (ReplyError, UnicodeDecodeError) as exc:
            problems.append(f"unreadable reply: {exc}")
            continue
        if (
            reply is None
            or reply.get("Content") != expected.text
            or reply.get("ToUserName") != request.openid
        ):
            problems.append(f"unexpected reply: {reply!r:.200}")
        elif scenario.safe and b"<Content>" in body:
            problems.append("safe-mode reply was not encrypted")
    return problems, size


def metric_values(port: int) -> dict[str, float]:
    """partybot's Prometheus counters, as {'name{labels}': value}."""
    status, body = http_call(port, "GET", "/metrics")
    if status != 200:
        return {}
    values: dict[str, float] = {}
    for line in body.decode().splitlines():
        match = re.fullmatch(r"(partybot_[a-z_]+_total(?:\{[^}]*\})?) (\S+)", line)
        if match:
            values[match[1]] = float(match[2])
    return values


def label(metric: str) -> str:
    """The label value of `name{key="value"}`."""
    return metric.partition('"')[2].rpartition('"')[0]


def count_followers(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM wechat_users WHERE subscribed = 1 AND subscribed_at IS NOT NULL"
        ).fetchone()
    return int(row[0])


# --- one scenario -------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    scenario: Scenario
    load: LoadResult
    warmup_rps: float
    planned: int  # requests written for the measured run
    reply_bytes: int
    problems: list[str] = field(default_factory=list)  # the figures cannot be trusted
    warnings: list[str] = field(default_factory=list)  # the figures may be off
    notes: list[str] = field(default_factory=list)
    ratio: float | None = None

    @property
    def valid(self) -> bool:
        return not self.problems

    def verdict(self) -> str:
        if not self.valid:
            return "INVALID"
        if self.scenario.min_ratio is None:
            return "limit"
        failed = self.ratio is None or self.ratio < self.scenario.min_ratio
        if self.scenario.max_p99_ms is not None and self.load.p99_ms >= self.scenario.max_p99_ms:
            failed = True
        return "FAIL" if failed else "pass"


@dataclass(frozen=True, slots=True)
class Settings:
    duration_s: int
    warmup_s: int
    connections: int
    max_rate: int
    server_core: int
    load_core: int

    @property
    def cores(self) -> tuple[int, int]:
        return self.server_core, self.load_core


def run_scenario(
    scenario: Scenario,
    settings: Settings,
    factory: RequestFactory,
    content: Content,
    bare: bytes,
    workdir: Path,
    rate_ceiling: float,
) -> Outcome:
    """Start the server, warm it up, check answers, measure, check again, stop it."""
    expected = expected_answer(scenario, content)
    workdir.mkdir(parents=True)
    reply_file = workdir / "reply.xml"
    reply_file.write_bytes(bare)
    records = workdir / "requests.bin"
    # The warm-up file is sized for the fastest rate possible here, so it does not run out.
    warm_count = math.ceil(rate_ceiling * settings.warmup_s) + 2 * settings.connections
    server = start_server(scenario, workdir, reply_file, settings.server_core)
    try:
        problems, reply_bytes = check_samples(scenario, server, factory, expected, bare)
        factory.write_records(records, scenario, server.port, warm_count)
        warm = run_wrk(
            server, records, expected.marker, settings.warmup_s, settings.connections, settings.cores
        )
        # Size the measured run from the warm-up's rate with room to spare (never above the ceiling):
        # a server still warming up then runs faster. If the file runs out all the same, measure again
        # with a larger one, a bounded number of times, rather than reuse requests.
        rate = rate_ceiling if warm.exhausted else min(rate_ceiling, max(3 * warm.rps, 200.0))
        for attempt in range(1, MEASURE_ATTEMPTS + 1):
            planned = math.ceil(rate * settings.duration_s) + 2 * settings.connections
            seconds = factory.write_records(records, scenario, server.port, planned)
            load = run_wrk(
                server, records, expected.marker, settings.duration_s, settings.connections, settings.cores
            )
            if not load.exhausted or rate >= rate_ceiling or attempt == MEASURE_ATTEMPTS:
                break
            print(f"   ran out after {load.sent} requests: measuring again with more", flush=True)
            rate = min(rate_ceiling, 3 * rate)
        more, _ = check_samples(scenario, server, factory, expected, bare)
        problems += more
        counters = metric_values(server.port) if scenario.partybot else {}
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            records.unlink()
    outcome = Outcome(scenario, load, warm.rps, planned, reply_bytes, problems)
    outcome.notes.append(f"{planned:,} requests precomputed in {seconds:.1f} s")
    outcome.notes.append(
        f"cores busy: server's {load.server_core_busy:.0%} (server process {load.server_cpu:.0%}), "
        f"wrk's {load.load_core_busy:.0%} (wrk {load.load_cpu:.0%})"
    )
    # Anything else on either core (another process, interrupts not charged to ours) takes CPU from
    # the server or the generator: say so next to the figures rather than hide it.
    for whose, busy, ours in (
        ("server", load.server_core_busy, load.server_cpu),
        ("load generator", load.load_core_busy, load.load_cpu),
    ):
        if busy - ours > 0.15:
            outcome.warnings.append(
                f"{busy - ours:.0%} of the {whose}'s core went to other work during the run: "
                "the figures may be low (was the machine idle?)"
            )
    if load.exhausted:
        outcome.problems.append(
            f"ran out of precomputed requests after {load.sent:,}: the figures undercount (raise --max-rate)"
        )
    if load.errors or load.not_200 or load.bad_body:
        outcome.problems.append(
            f"{load.errors} socket errors/timeouts, {load.not_200} non-200, {load.bad_body} 200s without "
            "the expected answer"
        )
    if counters:
        overruns = counters.get("partybot_budget_overruns_total", 0)
        errors = sum(v for k, v in counters.items() if k.startswith("partybot_handler_errors_total"))
        routes = {k: v for k, v in counters.items() if k.startswith("partybot_replies_total")}
        outcome.notes.append(
            "partybot's counters (warm-up and samples included): answers by route "
            + ", ".join(f"{label(k)} {v:,.0f}" for k, v in routes.items())
            + f"; budget overruns {overruns:.0f}; handler errors {errors:.0f}"
        )
        if overruns or errors:
            outcome.problems.append(
                f"partybot reports {overruns:.0f} budget overruns, {errors:.0f} handler errors"
            )
    if scenario.subscribe and server.database is not None:
        followers = count_followers(server.database)
        answered = load.requests - load.not_200 - load.bad_body
        outcome.notes.append(
            f"{followers:,} follower rows committed (≥ {answered:,} welcomes answered in the measured run)"
        )
        if followers < answered:
            outcome.problems.append(f"only {followers} follower rows for {answered} welcomes")
    return outcome


# --- report -------------------------------------------------------------------------------------


def machine_line() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout.split()
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("aiohttp", "sqlalchemy", "aiosqlite", "wechatpy")
    )
    return (
        f"{os.cpu_count()} cores (nproc), {cpu}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {versions}, wrk {wrk[1] if len(wrk) > 1 else '?'}"
    )


def target_text(scenario: Scenario) -> str:
    if scenario.min_ratio is None:
        return "—"
    text = f"≥ {scenario.min_ratio:.0%}"
    if scenario.max_p99_ms is not None:
        text += f", p99 < {scenario.max_p99_ms:.0f} ms"
    return text


def table(outcomes: list[Outcome]) -> str:
    rows = [
        "| scenario | req/s | p50 ms | p99 ms | of bare | target | result | non-200 | server CPU | wrk CPU |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for o in outcomes:
        load = o.load
        ratio = "—" if o.ratio is None else f"{o.ratio:.1%}"
        rows.append(
            f"| {o.scenario.title} | {load.rps:,.0f} | {load.p50_ms:.1f} | {load.p99_ms:.1f} | {ratio} | "
            f"{target_text(o.scenario)} | {o.verdict()} | {load.not_200} | {load.server_cpu:.0%} | "
            f"{load.load_cpu:.0%} |"
        )
    return "\n".join(rows)


def notes(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for o in outcomes:
        details = [
            f"{o.load.requests:,} answers in {o.load.duration_s:.1f} s",
            f"warm-up {o.warmup_rps:,.0f} req/s",
            f"reply {o.reply_bytes} bytes",
            *o.notes,
        ]
        lines.append(f"- {o.scenario.key}: " + "; ".join(details) + ".")
        lines += [f"  - **problem:** {p}" for p in o.problems]
        lines += [f"  - **warning:** {w}" for w in o.warnings]
    return lines


def results_section(result: Run, settings: Settings, command: str, started: dt.datetime) -> str:
    return "\n".join(
        [
            f"Run {started:%Y-%m-%d %H:%M} UTC: `{command}` ({settings.duration_s} s measured after "
            f"{settings.warmup_s} s warm-up per scenario, {settings.connections} connections, server on "
            f"core {settings.server_core}, wrk on core {settings.load_core}); partybot source "
            f"{result.fingerprint} (sha256 of {', '.join(f'{d}/' for d in SOURCE_DIRS)}).",
            "",
            f"Machine: {machine_line()}.",
            "",
            table(result.outcomes),
            "",
            *notes(result.outcomes),
            *(f"- **warning:** {w}" for w in result.warnings),
        ]
    )


def write_results(section: str) -> None:
    text = BENCHMARKS_MD.read_text(encoding="utf-8")
    start, end = text.find(RESULTS_START), text.find(RESULTS_END)
    if start < 0 or end < start:
        raise BenchError(f"{BENCHMARKS_MD} has no {RESULTS_START} ... {RESULTS_END} section")
    BENCHMARKS_MD.write_text(
        text[: start + len(RESULTS_START)] + "\n" + section + "\n" + text[end:], encoding="utf-8"
    )


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="See BENCHMARKS.md for what is measured and the latest figures.",
    )
    parser.add_argument("--duration", type=int, default=None, help="measured seconds per scenario (20)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up seconds per scenario (3)")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="concurrent connections (50)")
    parser.add_argument("--quick", action="store_true", help="5 s per scenario, 1 s warm-up: under a minute")
    parser.add_argument(
        "--max-rate",
        type=int,
        default=40_000,
        help="the highest req/s the precomputed requests are sized for (40000)",
    )
    parser.add_argument(
        "--only", default=None, help="comma-separated scenarios to run (bare,plain,safe,subscribe)"
    )
    parser.add_argument("--write", action="store_true", help="rewrite the results section of BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.duration = args.duration or (5 if args.quick else 20)
    args.warmup = args.warmup or (1 if args.quick else 3)
    if args.duration + args.warmup > SIGNATURE_MAX_AGE_S - 60:
        parser.error(
            f"--duration + --warmup must stay well inside the {SIGNATURE_MAX_AGE_S} s signature window"
        )
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    return args


def cores() -> tuple[int, int]:
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise BenchError("needs two cores: one for the server, one for the load generator")
    return allowed[0], allowed[1]


def selected(only: str | None) -> list[Scenario]:
    if only is None:
        return list(SCENARIOS)
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - {s.key for s in SCENARIOS}
    if unknown:
        raise BenchError(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return [s for s in SCENARIOS if s.key in wanted]


def source_fingerprint() -> str:
    """A digest of partybot's code and content, to tell which version a result belongs to."""
    digest = hashlib.sha256()
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def wait_idle(core_ids: tuple[int, int], max_wait_s: float) -> list[str]:
    """Other work on either core would be measured as partybot's slowness (this machine may be shared):
    wait, a bounded time, until both cores are idle; return a warning for each that is still busy."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = core_times()
        time.sleep(1.0)
        after = core_times()
        busy = {core: busy_fraction(before, after, core) for core in core_ids}
        if all(b <= IDLE_BUSY_MAX for b in busy.values()) or time.monotonic() >= deadline:
            break
    return [
        f"core {core} was {b:.0%} busy with other work just before the scenario started"
        for core, b in busy.items()
        if b > IDLE_BUSY_MAX
    ]


@dataclass(slots=True)
class Run:
    outcomes: list[Outcome]
    fingerprint: str
    warnings: list[str]


def run(args: argparse.Namespace, settings: Settings) -> Run:
    for tool, package in (("wrk", "wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found (Debian: apt-get install {package})")
    # This process precomputes requests between measurements: keep it off the server's core.
    os.sched_setaffinity(0, {settings.load_core})
    content = load_content()
    factory = RequestFactory(Cipher(APPID, AES_KEY))
    bare = bare_reply(content, factory)
    result = Run([], source_fingerprint(), [])
    bare_rps: float | None = None
    with tempfile.TemporaryDirectory(prefix="partybot-bench-") as tmp:
        for scenario in selected(args.only):
            print(f"== {scenario.key}: {scenario.title}", flush=True)
            busy = wait_idle(settings.cores, IDLE_WAIT_S)
            for warning in busy:
                print(f"   warning: {warning}", flush=True)
            # partybot does strictly more than the bare app on the same core, so the bare rate (with
            # margin) bounds what its files must hold.
            ceiling = float(settings.max_rate) if bare_rps is None else min(settings.max_rate, 1.3 * bare_rps)
            outcome = run_scenario(
                scenario, settings, factory, content, bare, Path(tmp) / scenario.key, ceiling
            )
            if not scenario.partybot and outcome.valid:
                bare_rps = outcome.load.rps
            if scenario.partybot and bare_rps:
                outcome.ratio = outcome.load.rps / bare_rps
            outcome.warnings[:0] = busy
            result.outcomes.append(outcome)
            load = outcome.load
            print(
                f"   {load.rps:,.0f} req/s, p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms"
                + ("" if outcome.valid else f"  INVALID: {'; '.join(outcome.problems)}"),
                flush=True,
            )
    if source_fingerprint() != result.fingerprint:
        result.warnings.append(
            "partybot's source changed during the run: the scenarios may have measured different code"
        )
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    command = shlex.join([".venv/bin/python", "bench/webhook_bench.py", *sys.argv[1:]])
    try:
        settings = Settings(args.duration, args.warmup, args.connections, args.max_rate, *cores())
        result = run(args, settings)
    except BenchError as exc:
        print(f"webhook_bench: {exc}", file=sys.stderr)
        return 2
    section = results_section(result, settings, command, started)
    print()
    print(section)
    if args.write:
        try:
            write_results(section)
        except BenchError as exc:
            print(f"webhook_bench: {exc}", file=sys.stderr)
            return 2
        print(f"\nwrote the results to {BENCHMARKS_MD.relative_to(ROOT)}")
    return 0 if all(o.valid for o in result.outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
